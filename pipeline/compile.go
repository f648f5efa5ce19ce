package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/portcullis-authz/portcullis/pipeline/match"
)

// Rule is one compiled access rule: its pattern and handler instances,
// built once with their merged config. A Rule is immutable.
type Rule struct {
	// ID is the rule's id.
	ID string
	// Spec is the rule as loaded (for listing and explain tools). It
	// points into the specs given to Compile, which must not be modified
	// afterwards: a copy per rule would double what a large rule set keeps.
	Spec *RuleSpec

	index int
	// shadow: the rule never denies (RuleSpec.Mode, Config.ShadowRules).
	shadow bool
	// setsHeaders lists the request headers the rule's mutators set
	// upstream (HeaderSetter), removed when a shadow rule would deny.
	setsHeaders []string

	pattern *match.Pattern
	// slashGap is pattern's TrailingSlashGap, if any: kept so that a
	// recompile reusing the pattern warns without recomputing it.
	slashGap       *match.SlashGap
	headers        []match.HeaderCond
	authenticators []authnStep
	authorizers    []step[Authorizer]
	mutators       []step[Mutator]
	errorHandlers  []step[ErrorHandler]
}

type step[H any] struct {
	name string
	h    H
}

type authnStep struct {
	step[Authenticator]
	fallthrough_ bool
}

// Snapshot is an immutable, compiled rule set. It is safe for concurrent
// use; a new rule set means a new Snapshot, swapped atomically by the
// owner.
type Snapshot struct {
	// Version identifies the rule set (file hash, xDS version).
	Version string
	// Warnings lists non-fatal findings of Compile (ignored upstream
	// blocks, rules that can never match), for the loader to log once.
	Warnings []string
	// MoreWarnings counts the warnings left out of Warnings by
	// RecompileOptions.MaxWarnings, by the rule field they are about:
	// "match.url", "upstream", "mutators (header)".
	MoreWarnings map[string]int

	rules         []*Rule
	byID          map[string]*Rule
	index         *match.Index
	fallback      []step[ErrorHandler]
	noMatchStatus int
	closers       []io.Closer
	// matchExt is true when some rule uses match.headers or priority, so
	// that rule sets without them skip Index.Select.
	matchExt bool

	pathLimits             match.PathLimits
	caseSensitiveUpstreams bool
	// strategy compiled the rules' patterns (see Recompile).
	strategy match.Strategy
}

// Close releases the resources of handlers that hold some (io.Closer),
// such as registrations in shared caches. The owner calls it once the
// snapshot has been replaced; handlers must tolerate requests still in
// flight on it.
func (s *Snapshot) Close() {
	for _, c := range s.closers {
		_ = c.Close()
	}
	s.closers = nil
}

// Rules returns the compiled rules in load order. The slice must not be
// modified.
func (s *Snapshot) Rules() []*Rule { return s.rules }

// Rule returns the rule with the given id, or nil.
func (s *Snapshot) Rule(id string) *Rule { return s.byID[id] }

// Compile validates and compiles a complete rule set against the global
// handler config. The snapshot refers to specs, which must not be modified
// afterwards. It reports every problem it finds (errors.Join of
// *FieldError, each naming source file, rule and field) and returns no
// snapshot if there is any: a rule set is accepted or rejected whole.
//
// A rule's handler config deep-merges over the global one here, once: maps
// merge key by key, lists and scalars replace. Identical merged configs
// share one handler instance, and rules whose handler lists are one shared
// slice (see ShareHandlers) share their compiled steps too.
func Compile(specs []RuleSpec, cfg Config, reg *Registry) (*Snapshot, error) {
	return Recompile(nil, specs, cfg, reg, RecompileOptions{})
}

// RecompileOptions tunes Recompile for a long-running loader.
type RecompileOptions struct {
	// MaxWarnings, when positive, bounds Snapshot.Warnings: the warnings
	// after the first MaxWarnings are only counted (Snapshot.MoreWarnings),
	// never written out. A generated rule set can draw a warning per rule,
	// and 100,000 of them, written, are tens of megabytes on every reload.
	MaxWarnings int
}

// Recompile is Compile for a rule set that replaces prev (nil: none). A
// rule whose id and match.url are unchanged reuses prev's compiled
// pattern, which is immutable, so the two snapshots share it: compiling
// regexps is most of the time and memory of a large rule set, and a
// one-line change then costs one pattern. Handler instances are never
// reused, since closing prev releases them.
func Recompile(prev *Snapshot, specs []RuleSpec, cfg Config, reg *Registry, opts RecompileOptions) (*Snapshot, error) {
	strategy, err := match.ParseStrategy(cfg.MatchingStrategy)
	if err != nil {
		return nil, &FieldError{Path: "access_rules.matching_strategy", Err: err}
	}
	c := compiler{cfg: &cfg, reg: reg, strategy: strategy, instances: map[string]any{}, chains: map[listKey]*chain{},
		maxWarnings: opts.MaxWarnings}
	urls := compileURLs(prev, strategy, specs)
	s := &Snapshot{rules: make([]*Rule, 0, len(specs)), byID: make(map[string]*Rule, len(specs)),
		noMatchStatus: cfg.NoMatchStatus, strategy: strategy}
	switch s.noMatchStatus {
	case 0:
		s.noMatchStatus = http.StatusNotFound
	case http.StatusNotFound, http.StatusUnauthorized, http.StatusForbidden:
	default:
		c.fail("access_rules.no_match_status", fmt.Errorf("must be 401, 403 or 404, not %d", cfg.NoMatchStatus))
	}
	s.caseSensitiveUpstreams = cfg.CaseSensitiveUpstreams
	s.pathLimits = match.PathLimits{
		MaxLength:   c.limit("access_rules.max_path_length", cfg.MaxPathLength, DefaultMaxPathLength),
		MaxSegments: c.limit("access_rules.max_path_segments", cfg.MaxPathSegments, DefaultMaxPathSegments),
	}

	// The first rule of each method and pattern; its location is only
	// written out for a conflict.
	patterns := make(map[conflictKey]*RuleSpec, len(specs))
	entries := make([]match.Entry, 0, len(specs))
	for i := range specs {
		spec := &specs[i]
		r := c.rule(spec, urls[i])
		if r == nil {
			continue
		}
		if prev, dup := s.byID[r.ID]; dup {
			c.fail(spec.Where(), fmt.Errorf("duplicate rule id %q (also %s)", r.ID, prev.Spec.Where()))
			continue
		}
		// A URL without a scheme never matches (Oathkeeper's test-stub
		// rules share one such URL), so it cannot conflict either.
		methods := spec.Match.Methods
		if !strings.Contains(spec.Match.URL, "://") {
			methods = nil
		}
		for _, m := range methods {
			// Canonical: https://API.test/x and https://api.test/x are
			// one pattern.
			// Rules that differ by match.headers or priority do not
			// conflict: Select tells them apart, or reports a tie.
			key := conflictKey{method: strings.ToUpper(m), pattern: r.pattern.Canonical(), priority: spec.Priority}
			if len(r.headers) > 0 {
				key.headers = match.HeadersKey(r.headers)
			}
			if prev, dup := patterns[key]; dup {
				c.fail(spec.Where(), fmt.Errorf("match %s %s conflicts with %s", strings.ToUpper(m), spec.Match.URL, prev.Where()))
				continue
			}
			patterns[key] = spec
		}
		r.index = len(s.rules)
		s.byID[r.ID] = r
		s.rules = append(s.rules, r)
		entries = append(entries, match.Entry{Pattern: r.pattern, Methods: spec.Match.Methods, Headers: r.headers, Priority: spec.Priority})
		if len(r.headers) > 0 || spec.Priority != 0 {
			s.matchExt = true
		}
	}
	for i, id := range cfg.ShadowRules {
		r, ok := s.byID[id]
		if !ok {
			c.fail(fmt.Sprintf("access_rules.shadow_rules[%d]", i), fmt.Errorf("no rule has id %q", id))
			continue
		}
		r.shadow = true
	}

	fallback := cfg.ErrorFallback
	if len(fallback) == 0 {
		fallback = []string{"json"}
	}
	for i, name := range fallback {
		h, err := c.handler(KindErrorHandler, name, nil)
		if err != nil {
			c.fail(fmt.Sprintf("errors.fallback[%d] (%s)", i, name), err)
			continue
		}
		s.fallback = append(s.fallback, step[ErrorHandler]{name, h.(ErrorHandler)})
	}

	for _, h := range c.instances {
		if cl, ok := h.(io.Closer); ok {
			s.closers = append(s.closers, cl)
		}
	}
	if len(c.errs) > 0 {
		s.Close() // release what the rejected set registered (JWKS URLs, ...)
		return nil, errors.Join(c.errs...)
	}
	s.index = match.NewIndex(entries)
	s.Warnings, s.MoreWarnings = c.warnings, c.moreWarnings
	return s, nil
}

// conflictKey is what two rules that conflict have in common: a method,
// a pattern in canonical form, match.headers and priority. Its strings
// are the rule's own, so that the check allocates no key per rule.
type conflictKey struct {
	method, pattern, headers string
	priority                 int
}

type compiler struct {
	cfg       *Config
	reg       *Registry
	strategy  match.Strategy
	instances map[string]any
	chains    map[listKey]*chain
	errs      []error
	warnings  []string
	// maxWarnings and moreWarnings: RecompileOptions.MaxWarnings and
	// Snapshot.MoreWarnings.
	maxWarnings  int
	moreWarnings map[string]int
}

// warn records the warning msg writes, about the rule field named, or
// only counts it once maxWarnings are recorded: msg is not called then.
func (c *compiler) warn(field string, msg func() string) {
	if c.maxWarnings > 0 && len(c.warnings) >= c.maxWarnings {
		if c.moreWarnings == nil {
			c.moreWarnings = map[string]int{}
		}
		c.moreWarnings[field]++
		return
	}
	c.warnings = append(c.warnings, msg())
}

func (c *compiler) fail(path string, err error) {
	c.errs = append(c.errs, &FieldError{Path: path, Err: err})
}

// limit returns v, or def when v is 0; a negative v is an error.
func (c *compiler) limit(key string, v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		c.fail(key, fmt.Errorf("must be positive, not %d", v))
	}
	return v
}

// lazyWhere returns spec.Where, computed on first use and then kept: most
// rules have nothing to report, and the string costs more than the rule.
func lazyWhere(spec *RuleSpec) func() string {
	var where string
	return func() string {
		if where == "" {
			where = spec.Where()
		}
		return where
	}
}

// rule compiles one spec, with its match.url compiled as u, recording
// every error; nil if any.
func (c *compiler) rule(spec *RuleSpec, u compiledURL) *Rule {
	where := lazyWhere(spec)
	before := len(c.errs)
	r := &Rule{ID: spec.ID, Spec: spec}
	if spec.ID == "" {
		c.fail(where(), errors.New("id: must not be empty"))
	}
	switch {
	case spec.Match == nil:
		c.fail(where(), errors.New("match: must be set"))
	case spec.Match.URL == "":
		c.fail(where(), errors.New("match.url: must not be empty"))
	default:
		p := u.pattern
		if u.err != nil {
			c.fail(where()+": match.url", u.err)
		}
		r.pattern, r.slashGap = p, u.gap
		switch {
		case p == nil:
		case p.HostError() != nil:
			c.warn("match.url", func() string { return fmt.Sprintf("%s: match.url never matches: %v", where(), p.HostError()) })
		case p.Canonical() != spec.Match.URL:
			c.warn("match.url", func() string {
				return fmt.Sprintf("%s: match.url is matched as %s (hosts and schemes are compared in canonical form)", where(), p.Canonical())
			})
		}
		if len(spec.Match.Methods) == 0 {
			c.warn("match.methods", func() string { return where() + ": match.methods is empty, the rule never matches" })
		}
		if u.gap != nil {
			c.warn("match.url", func() string { return slashGapWarning(where(), spec.Match.URL, *u.gap) })
		}
		if !strings.Contains(spec.Match.URL, "://") {
			c.warn("match.url", func() string { return where() + ": match.url has no scheme, the rule never matches" })
		}
		hs, err := match.CompileHeaders(c.strategy, spec.Match.Headers)
		if err != nil {
			c.fail(where()+": match.headers", err)
		}
		r.headers = hs
	}
	switch spec.Mode {
	case "", ModeEnforce:
	case ModeShadow:
		r.shadow = true
	default:
		c.fail(where()+": mode", fmt.Errorf("must be %q or %q, not %q", ModeEnforce, ModeShadow, spec.Mode))
	}
	if spec.Upstream != nil && (spec.Upstream.URL != "" || spec.Upstream.StripPath != "" || spec.Upstream.PreserveHost) {
		if spec.Upstream.URL != "" {
			if _, err := url.ParseRequestURI(spec.Upstream.URL); err != nil {
				c.fail(where()+": upstream.url", err)
			}
		}
		c.warn("upstream", func() string { return where() + ": upstream is ignored: Envoy routes the request" })
	}

	if len(spec.Authenticators) == 0 {
		c.fail(where(), errors.New("authenticators: must not be empty"))
	}
	if ch := c.chain(where, KindAuthenticator, "authenticators", spec.Authenticators, nil); ch != nil {
		r.authenticators = ch.authn
	}

	switch {
	case spec.Authorizer != nil && len(spec.Authorizers) > 0:
		c.fail(where(), errors.New("authorizer and authorizers: set one, not both"))
		c.chain(where, KindAuthorizer, "authorizers", spec.Authorizers, nil) // their own errors too
	case spec.Authorizer != nil:
		if ch := c.chain(where, KindAuthorizer, "authorizer", nil, spec.Authorizer); ch != nil {
			r.authorizers = ch.authz
		}
	case len(spec.Authorizers) == 0:
		c.fail(where(), errors.New("authorizer.handler: must not be empty"))
	default:
		if ch := c.chain(where, KindAuthorizer, "authorizers", spec.Authorizers, nil); ch != nil {
			r.authorizers = ch.authz
		}
	}

	if len(spec.Mutators) == 0 {
		c.fail(where(), errors.New("mutators: must not be empty"))
	}
	if ch := c.chain(where, KindMutator, "mutators", spec.Mutators, nil); ch != nil {
		r.mutators, r.setsHeaders = ch.mut, ch.sets
	}
	if ch := c.chain(where, KindErrorHandler, "errors", spec.Errors, nil); ch != nil {
		r.errorHandlers = ch.errs
	}
	if len(c.errs) > before {
		return nil
	}
	return r
}

// slashGapWarning says that a rule for /admin/<.*> never sees /admin nor
// /admin/ (matched as /admin), and how to write the rule so it does, in
// the syntax of the configured strategy.
func slashGapWarning(where, url string, gap match.SlashGap) string {
	msg := fmt.Sprintf("%s: match.url %s does not match %s or %s/ (a trailing slash is removed before matching)", where, url, gap.Bare, gap.Bare)
	if gap.Fix == "" {
		return msg + "; make its last part also match the bare path to cover both"
	}
	return msg + "; write " + gap.Fix + " to cover both"
}

// chain is one handler list of a rule, compiled.
type chain struct {
	authn []authnStep
	authz []step[Authorizer]
	mut   []step[Mutator]
	errs  []step[ErrorHandler]
	// sets lists the request headers the mutators set upstream.
	sets []string
	// warnings are the handlers' load warnings, each prefixed with the
	// field (`mutators[0] (header): ...`) but not the rule.
	warnings []chainWarning
}

// chainWarning is a handler's load warning: msg is prefixed with the
// handler's place in the rule, field names the field and handler
// ("mutators (header)"), for RecompileOptions.MaxWarnings.
type chainWarning struct{ field, msg string }

// noHandlers is the chain of an empty list.
var noHandlers chain

// listKey identifies a rule field's handler list by its backing array:
// rules sharing one list (ShareHandlers) share its compiled chain.
type listKey struct {
	field string
	first *HandlerSpec
	n     int
}

// chain compiles the handler list of a rule's field (or its single
// handler, for "authorizer"), recording every error with the rule's
// location; nil if any. Rules whose list is the same slice get the same
// chain, so 100,000 rules with identical handlers hold one set of steps.
func (c *compiler) chain(where func() string, k Kind, field string, list []HandlerSpec, single *HandlerSpec) *chain {
	key := listKey{field: field, n: len(list)}
	switch {
	case single != nil:
		key.first, key.n, list = single, 1, []HandlerSpec{*single}
	case len(list) > 0:
		key.first = &list[0]
	default:
		return &noHandlers
	}
	ch, ok := c.chains[key]
	if !ok {
		ch = &chain{}
		before := len(c.errs)
		for i, hs := range list {
			idx := i
			if single != nil {
				idx = -1
			}
			h, ok := c.build(where, k, field, idx, hs, &ch.warnings)
			if !ok {
				continue
			}
			switch k {
			case KindAuthenticator:
				ch.authn = append(ch.authn, authnStep{step[Authenticator]{hs.Handler, h.(Authenticator)}, hs.Fallthrough})
			case KindAuthorizer:
				ch.authz = append(ch.authz, step[Authorizer]{hs.Handler, h.(Authorizer)})
			case KindMutator:
				ch.mut = append(ch.mut, step[Mutator]{hs.Handler, h.(Mutator)})
				if hs, ok := h.(HeaderSetter); ok {
					for _, name := range hs.UpstreamHeaders() {
						if name = lowerASCII(name); !slices.Contains(ch.sets, name) {
							ch.sets = append(ch.sets, name)
						}
					}
				}
			case KindErrorHandler:
				ch.errs = append(ch.errs, step[ErrorHandler]{hs.Handler, h.(ErrorHandler)})
			}
		}
		if len(c.errs) > before {
			// Not kept: every rule with this list reports its errors.
			return nil
		}
		// Shared by rules: nobody may append into another rule's list.
		ch.authn, ch.authz, ch.mut = slices.Clip(ch.authn), slices.Clip(ch.authz), slices.Clip(ch.mut)
		ch.errs, ch.sets = slices.Clip(ch.errs), slices.Clip(ch.sets)
		c.chains[key] = ch
	}
	// Asked per rule, not per instance: each rule that uses a shared
	// instance is named in its own warning.
	for _, w := range ch.warnings {
		c.warn(w.field, func() string { return where() + ": " + w.msg })
	}
	return ch
}

// build builds one handler of a chain, recording an error with the
// rule's location; its load warnings go to warnings, prefixed with the
// field but not the rule.
func (c *compiler) build(where func() string, k Kind, field string, i int, hs HandlerSpec, warnings *[]chainWarning) (any, bool) {
	rel := fmt.Sprintf("%s[%d] (%s)", field, i, hs.Handler)
	if i < 0 {
		rel = fmt.Sprintf("%s (%s)", field, hs.Handler)
	}
	path := where() + ": " + rel // once per distinct chain
	if hs.Handler == "" {
		c.fail(path, errors.New("handler: must not be empty"))
		return nil, false
	}
	if hs.Fallthrough && k != KindAuthenticator {
		c.fail(path, errors.New("fallthrough: only authenticators may fall through"))
	}
	h, err := c.handler(k, hs.Handler, hs.Config)
	if err != nil {
		c.fail(path, err)
		return nil, false
	}
	if w, ok := h.(Warner); ok {
		for _, msg := range w.Warnings() {
			*warnings = append(*warnings, chainWarning{field: field + " (" + hs.Handler + ")", msg: rel + ": " + msg})
		}
	}
	return h, true
}

// handler builds (or reuses) the instance of a handler for one merged config.
func (c *compiler) handler(k Kind, name string, override map[string]any) (any, error) {
	global, ok := c.cfg.section(k)[name]
	if !c.reg.Has(k, name) {
		_, err := c.reg.build(k, name, nil)
		return nil, err
	}
	if !ok || !global.Enabled {
		return nil, fmt.Errorf("handler %q is disabled: enable it with %s.%s.enabled", name, configSection(k), name)
	}
	merged := MergeConfig(global.Config, override)
	key, err := json.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	ikey := k.String() + "/" + name + "/" + string(key)
	if h, ok := c.instances[ikey]; ok {
		return h, nil
	}
	h, err := c.reg.build(k, name, merged)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c.instances[ikey] = h
	return h, nil
}

func configSection(k Kind) string {
	if k == KindErrorHandler {
		return "errors.handlers"
	}
	return k.String()
}

// MergeConfig deep-merges override over base into a new map: nested maps
// merge key by key; lists and scalars in override replace those in base.
// Neither input is modified.
func MergeConfig(base, override map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(override))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range override {
		if om, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = MergeConfig(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}
