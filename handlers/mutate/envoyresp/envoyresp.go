package envoyresp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/pipeline/tmpl"
)

// Mutator records Envoy response mutations in the session. It is immutable
// and safe for concurrent use.
type Mutator struct {
	remove      []string
	respHeaders []entry
	querySet    []entry
	queryRemove []string
	metadata    []entry
	claims      []string
	maxValue    int
}

// entry is one compiled template and where its output goes.
type entry struct {
	key string // header name (lower-case), parameter or metadata key
	t   *tmpl.Template
}

// New returns the mutator for c with every template parsed. It validates c
// itself, so it is safe to call without the registry.
func New(c Config) (pipeline.Mutator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := &Mutator{
		remove:      append([]string(nil), c.Remove...),
		queryRemove: append([]string(nil), c.QueryRemove...),
		claims:      append([]string(nil), c.MetadataClaims...),
		maxValue:    c.MaxValueBytes,
	}
	var err error
	if m.respHeaders, err = compile("response_headers", c.ResponseHeaders); err != nil {
		return nil, err
	}
	if m.querySet, err = compile("query_set", c.QuerySet); err != nil {
		return nil, err
	}
	if m.metadata, err = compile("metadata", c.Metadata); err != nil {
		return nil, err
	}
	return m, nil
}

func compile(section string, src map[string]string) ([]entry, error) {
	out := make([]entry, 0, len(src))
	for _, k := range sortedKeys(src) {
		t, err := tmpl.Parse(section+":"+k, src[k])
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", section, k, err)
		}
		out = append(out, entry{key: k, t: t})
	}
	return out, nil
}

// Mutate renders every value, checks it, and only then writes to s, so a
// failure leaves the session as it was.
func (m *Mutator) Mutate(_ context.Context, _ *pipeline.Request, s *pipeline.Session) error {
	hdr, err := m.render("response_headers", m.respHeaders, s)
	if err != nil {
		return err
	}
	query, err := m.render("query_set", m.querySet, s)
	if err != nil {
		return err
	}
	meta, err := m.render("metadata", m.metadata, s)
	if err != nil {
		return err
	}
	for _, k := range m.claims {
		v, ok := s.Extra[k]
		if !ok {
			continue
		}
		if err := m.checkClaim(k, v); err != nil {
			return err
		}
	}

	s.RemoveHeaders = appendMissing(s.RemoveHeaders, m.remove)
	s.RemoveQuery = appendMissing(s.RemoveQuery, m.queryRemove)
	if len(hdr) > 0 && s.ResponseHeader == nil {
		s.ResponseHeader = make(pipeline.Header, len(hdr))
	}
	for i, v := range hdr {
		s.ResponseHeader.Set(m.respHeaders[i].key, v)
	}
	if len(query) > 0 && s.SetQuery == nil {
		s.SetQuery = make(map[string]string, len(query))
	}
	for i, v := range query {
		s.SetQuery[m.querySet[i].key] = v // already encoded by render
	}
	if (len(meta) > 0 || len(m.claims) > 0) && s.Metadata == nil {
		s.Metadata = make(map[string]any, len(meta)+len(m.claims))
	}
	for i, v := range meta {
		s.Metadata[m.metadata[i].key] = v
	}
	for _, k := range m.claims {
		if v, ok := s.Extra[k]; ok {
			s.Metadata[k] = v
		}
	}
	return nil
}

// render executes each template and checks the result (C-05, C-15); query
// values are then percent-encoded, and the cap applies to what goes on the
// wire. The error names the key, never the value.
func (m *Mutator) render(section string, entries []entry, s *pipeline.Session) ([]string, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	out := make([]string, len(entries))
	for i, e := range entries {
		v, err := e.t.Execute(s)
		if err != nil {
			return nil, pipeline.Internal("mutation_template_failed", section+"."+e.key+": template failed", err)
		}
		if !httpguts.ValidHeaderFieldValue(v) || !utf8.ValidString(v) {
			return nil, pipeline.Internal("mutation_value_invalid", section+"."+e.key+": rendered value contains a control character or invalid UTF-8", nil)
		}
		if section == "query_set" {
			v = escapeQuery(v)
		}
		if len(v) > m.maxValue {
			return nil, tooLarge(section+"."+e.key, len(v), m.maxValue)
		}
		out[i] = v
	}
	return out, nil
}

// checkClaim bounds a copied claim by its JSON size, which is what Envoy's
// Struct and the access log will carry.
func (m *Mutator) checkClaim(k string, v any) error {
	n := 0
	if str, ok := v.(string); ok {
		n = len(str)
	} else {
		raw, err := json.Marshal(v)
		if err != nil {
			return pipeline.Internal("mutation_value_invalid", "metadata_claims."+k+": claim cannot be encoded", err)
		}
		n = len(raw)
	}
	if n > m.maxValue {
		return tooLarge("metadata_claims."+k, n, m.maxValue)
	}
	return nil
}

func tooLarge(where string, n, limit int) error {
	return pipeline.Internal("mutation_value_too_large", fmt.Sprintf("%s: value is %d bytes (limit %d)", where, n, limit), nil)
}

// escapeQuery percent-encodes a query value. Envoy splices
// query_parameters_to_set into :path without encoding them, so a raw "&" or
// "#" would add parameters or cut the query short. Spaces become %20, not
// "+", which some upstreams read literally.
func escapeQuery(v string) string {
	return strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
}

// appendMissing appends the names of add that dst does not hold yet.
func appendMissing(dst, add []string) []string {
next:
	for _, n := range add {
		for _, d := range dst {
			if d == n {
				continue next
			}
		}
		dst = append(dst, n)
	}
	return dst
}

var _ pipeline.Mutator = (*Mutator)(nil)
