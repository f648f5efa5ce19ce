// Package ruleproto converts access rules between pipeline.RuleSpec, the
// form every source produces and the compiler reads, and rulesv1.Rule, the
// form they travel in over xDS. It holds no state and does no I/O.
package ruleproto

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portcullis-authz/portcullis/pipeline"
	rulesv1 "github.com/portcullis-authz/portcullis/proto/portcullis/rules/v1"
)

// TypeURL is the xDS type URL of a rule resource.
const TypeURL = "type.googleapis.com/portcullis.rules.v1.Rule"

// FromSpec returns s as a Rule. It fails only on a handler config that
// has no protobuf Struct form (a value that is not JSON, a string that is
// not UTF-8), naming the rule and the handler.
func FromSpec(s *pipeline.RuleSpec) (*rulesv1.Rule, error) {
	r := &rulesv1.Rule{Id: s.ID, Version: s.Version, Description: s.Description, Priority: int64(s.Priority), Mode: s.Mode}
	if s.Match != nil {
		r.Match = &rulesv1.Match{Url: s.Match.URL, Methods: s.Match.Methods, Headers: s.Match.Headers}
	}
	if s.Line > 0 || s.Index > 0 || s.Source != "" {
		r.Origin = &rulesv1.Origin{Source: s.Source, Line: clampUint32(s.Line), Index: clampUint32(s.Index)}
	}
	var err error
	handlers := func(field string, hs []pipeline.HandlerSpec) []*rulesv1.Handler {
		if err != nil || len(hs) == 0 {
			return nil
		}
		out := make([]*rulesv1.Handler, len(hs))
		for i := range hs {
			if out[i], err = fromHandler(&hs[i]); err != nil {
				err = fmt.Errorf("%s: %s[%d] (%s): config: %w", s.Where(), field, i, hs[i].Handler, err)
				return nil
			}
		}
		return out
	}
	r.Authenticators = handlers("authenticators", s.Authenticators)
	r.Authorizers = handlers("authorizers", s.Authorizers)
	r.Mutators = handlers("mutators", s.Mutators)
	r.Errors = handlers("errors", s.Errors)
	if s.Authorizer != nil && err == nil {
		if r.Authorizer, err = fromHandler(s.Authorizer); err != nil {
			err = fmt.Errorf("%s: authorizer (%s): config: %w", s.Where(), s.Authorizer.Handler, err)
		}
	}
	if err != nil {
		return nil, err
	}
	if u := s.Upstream; u != nil {
		r.Upstream = &rulesv1.Upstream{Url: u.URL, PreserveHost: u.PreserveHost, StripPath: u.StripPath}
	}
	return r, nil
}

func fromHandler(h *pipeline.HandlerSpec) (*rulesv1.Handler, error) {
	out := &rulesv1.Handler{Handler: h.Handler, Fallthrough: h.Fallthrough}
	if h.Config != nil {
		c, err := structpb.NewStruct(h.Config)
		if err != nil {
			return nil, err
		}
		out.Config = c
	}
	return out, nil
}

// ToSpec returns r as a RuleSpec. Handler configs come back as JSON
// decoding would give them (numbers as float64), so a spec read from a
// file and the same spec after a trip through a Rule compile alike.
func ToSpec(r *rulesv1.Rule) pipeline.RuleSpec {
	s := pipeline.RuleSpec{ID: r.GetId(), Version: r.GetVersion(), Description: r.GetDescription(), Priority: int(r.GetPriority()), Mode: r.GetMode()}
	if m := r.GetMatch(); m != nil {
		s.Match = &pipeline.MatchSpec{URL: m.GetUrl(), Methods: m.GetMethods()}
		if len(m.GetHeaders()) > 0 {
			s.Match.Headers = m.GetHeaders()
		}
	}
	if o := r.GetOrigin(); o != nil {
		s.Source, s.Line, s.Index = o.GetSource(), int(o.GetLine()), int(o.GetIndex())
	}
	s.Authenticators = toHandlers(r.GetAuthenticators())
	s.Authorizers = toHandlers(r.GetAuthorizers())
	s.Mutators = toHandlers(r.GetMutators())
	s.Errors = toHandlers(r.GetErrors())
	if h := r.GetAuthorizer(); h != nil {
		a := toHandler(h)
		s.Authorizer = &a
	}
	if u := r.GetUpstream(); u != nil {
		s.Upstream = &pipeline.UpstreamSpec{URL: u.GetUrl(), PreserveHost: u.GetPreserveHost(), StripPath: u.GetStripPath()}
	}
	return s
}

func toHandlers(hs []*rulesv1.Handler) []pipeline.HandlerSpec {
	if len(hs) == 0 {
		return nil
	}
	out := make([]pipeline.HandlerSpec, len(hs))
	for i, h := range hs {
		out[i] = toHandler(h)
	}
	return out
}

func toHandler(h *rulesv1.Handler) pipeline.HandlerSpec {
	out := pipeline.HandlerSpec{Handler: h.GetHandler(), Fallthrough: h.GetFallthrough()}
	if h.GetConfig() != nil {
		out.Config = h.GetConfig().AsMap()
	}
	return out
}

// PrepareSet readies specs converted by ToSpec, a whole rule set the
// caller owns, for compiling, as DecodeRules readies a file's: in file
// order (SortSpecs), and with equal handler lists made one shared list
// (pipeline.ShareHandlers), so that 100,000 rules received with the same
// handlers hold one copy of their config and compile their steps once.
// The specs must not be modified afterwards.
func PrepareSet(specs []pipeline.RuleSpec) {
	SortSpecs(specs)
	pipeline.ShareHandlers(specs)
}

// SortSpecs puts specs in the order their files give them: by source,
// then position. A set that arrives as resources has no order of its own,
// and the compiler's warnings and error messages read best in file order.
func SortSpecs(specs []pipeline.RuleSpec) {
	slices.SortStableFunc(specs, func(a, b pipeline.RuleSpec) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Index, b.Index), cmp.Compare(a.ID, b.ID))
	})
}

func clampUint32(n int) uint32 {
	if n < 0 {
		return 0
	}
	if n > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(n)
}
