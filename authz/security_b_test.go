package authz_test

import (
	"strings"
	"testing"
)

// secPathCase is one request of category B and its acceptable outcomes.
type secPathCase struct {
	name    string
	method  string // default GET
	host    string // default api.test
	path    string
	headers map[string]string
	// want lists the acceptable DENY statuses (never an allow).
	want []int
	// notRule is a rule that must not have decided the request.
	notRule string
	// allowBy, when set, also accepts an ALLOW by that rule (B-03's
	// "decode exactly once and treat the result literally").
	allowBy string
}

func (c secPathCase) run(t *testing.T, w *secWorld) {
	t.Helper()
	t.Run(c.name, func(t *testing.T) {
		m, h := c.method, c.host
		if m == "" {
			m = "GET"
		}
		if h == "" {
			h = secHost
		}
		r := w.check(t, secCheck(m, h, c.path, c.headers))
		t.Logf("%s %s%s: %v", m, h, c.path, r)
		if c.notRule != "" && r.ruleID() == c.notRule {
			t.Fatalf("%s %s was decided by %s: %v", m, c.path, c.notRule, r)
		}
		if c.allowBy != "" && r.allowed() {
			secAllow(t, r, c.allowBy)
			return
		}
		secDeny(t, r, c.want...)
	})
}

// TestSecurityB covers category B (path and URL confusion in rule
// matching) of SECURITY_CASES.md at the gRPC front door.
func TestSecurityB(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t)
	// R-search is B-14's backtracking pattern; R-api-anon and R-api-admin
	// overlap for B-23.
	w := e.world(t, secWorldOpts{rules: secRulesBase + `
- id: R-search
  match: {url: "https://api.test/search/<(a+)+b>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: R-api-anon
  match: {url: "https://api.test/api/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: R-api-admin
  match: {url: "https://api.test/api/admin/<.*>", methods: [GET]}
  authenticators: [{handler: jwt}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`})
	notPub := func(name, path string) secPathCase {
		// Not authorized by R-pub: 400, or the normalised /admin/... path
		// (401 without a token).
		return secPathCase{name: name, path: path, want: []int{400, 401}, notRule: "R-pub"}
	}

	t.Run("control R-pub allows and R-adm needs a token", func(t *testing.T) {
		secAllow(t, w.check(t, secCheck("GET", secHost, "/public/a", nil)), "R-pub")
		secDeny(t, w.check(t, secCheck("GET", secHost, "/admin/secrets", nil)), 401)
	})

	t.Run("B-01 dot-segment traversal", func(t *testing.T) {
		for _, c := range []secPathCase{
			notPub("/public/../admin/secrets", "/public/../admin/secrets"),
			notPub("/public/./../admin/secrets", "/public/./../admin/secrets"),
			notPub("/public/x/../../admin/secrets", "/public/x/../../admin/secrets"),
		} {
			c.run(t, w)
		}
	})

	t.Run("B-03 double percent-encoding", func(t *testing.T) {
		// DENY-400, or decoded exactly once and matched literally (then
		// R-pub may allow the literal /public/%2e%2e/... path); never
		// decoded twice into /admin (R-adm's 401).
		for _, p := range []string{"/public/%252e%252e/admin/secrets", "/public/..%252fadmin/secrets", "/public/%25%32%65%25%32%65/admin"} {
			secPathCase{name: p, path: p, want: []int{400}, notRule: "R-adm", allowBy: "R-pub"}.run(t, w)
		}
	})

	t.Run("B-04 escaped slashes and backslashes", func(t *testing.T) {
		for _, p := range []string{"/public%2F..%2Fadmin/secrets", "/public/..%2fadmin/secrets", "/public/..%5Cadmin/secrets", `/public\..\admin/secrets`} {
			notPub(p, p).run(t, w)
		}
	})

	t.Run("B-06 query string smuggled into the path match", func(t *testing.T) {
		for _, p := range []string{"/admin/secrets?x=/public/a", "/admin/secrets?/public/"} {
			c := secPathCase{name: p, path: p, want: []int{401}, notRule: "R-pub"}
			c.run(t, w)
		}
		// With an unanchored .*public.* rule too, R-adm still applies.
		wu := e.world(t, secWorldOpts{rules: secRulePub + secRuleAdm + `
- id: R-unanchored
  match: {url: "<.*public.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`})
		for _, p := range []string{"/admin/secrets?x=/public/a", "/admin/secrets?/public/"} {
			r := wu.check(t, secCheck("GET", secHost, p, nil))
			if r.ruleID() != "R-adm" {
				t.Errorf("%s with an unanchored .*public.* rule: %v, want R-adm's 401", p, r)
				continue
			}
			secDeny(t, r, 401)
		}
	})

	t.Run("B-08 semicolon path parameters", func(t *testing.T) {
		for _, p := range []string{"/public/..;/admin/secrets", "/public;x=1/../admin/secrets", "/admin;jsessionid=1/secrets", "/public/..%3b/admin/secrets"} {
			notPub(p, p).run(t, w)
		}
	})

	t.Run("B-10 trailing slash, trailing dot, white space", func(t *testing.T) {
		// With the catch-all R-any present. A 500 ambiguous_rule_match is
		// Portcullis's documented deny when R-adm and R-any both match
		// (B-23); an ALLOW by R-any is the fall-through this case detects.
		wa := e.world(t, secWorldOpts{rules: secRulesBase + secRuleAny})
		// "/admin" alone is not covered by .../admin/<.*> (Oathkeeper
		// matches without the trailing slash); the case asks that this be
		// documented. Portcullis warns at load and the README gives the
		// form that covers both: .../admin<(/.*)?>.
		var warned bool
		for _, w := range wa.snap.Warnings {
			warned = warned || strings.Contains(w, "write https://api.test/admin<(/.*)?> to cover both")
		}
		if !warned {
			t.Errorf("no load warning for R-adm's uncovered bare path: %q", wa.snap.Warnings)
		}
		documented := e.world(t, secWorldOpts{rules: strings.Replace(secRulesBase, "https://api.test/admin/<.*>", "https://api.test/admin<(/.*)?>", 1) + secRuleAny})
		if r := documented.check(t, secCheck("GET", secHost, "/admin", nil)); r.allowed() {
			t.Errorf("/admin fell through with the documented pattern: %v", r)
		}
		for _, p := range []string{"/admin/", "/admin/secrets/", "/admin%20/secrets", "/admin./secrets", "/admin%09/secrets"} {
			t.Run(p, func(t *testing.T) {
				r := wa.check(t, secCheck("GET", secHost, p, nil))
				if r.allowed() {
					t.Fatalf("%s fell through to %s: %v", p, r.ruleID(), r)
				}
				if r.status() == 500 && r.reason() == "ambiguous_rule_match" {
					return
				}
				secDeny(t, r, 400, 401)
			})
		}
	})

	t.Run("B-12 regexp anchoring and unescaped dots", func(t *testing.T) {
		for _, c := range []secPathCase{
			{name: "query holding the R-pub URL", path: "/admin/x?y=https://api.test/public/", want: []int{401}, notRule: "R-pub"},
			{name: "host apiXtest", host: "apiXtest", path: "/public/x", want: []int{404}, notRule: "R-pub"},
			{name: "/admin/public/x", path: "/admin/public/x", want: []int{401}, notRule: "R-pub"},
		} {
			c.run(t, w)
		}
	})

	t.Run("B-14 catastrophic backtracking pattern", func(t *testing.T) {
		// A backtracking match of this path would take 2^40 steps: an
		// answer at all (within secTry's guard) shows the pattern ran on RE2.
		// How fast is not asserted; pipeline/match checks the engine.
		r := w.check(t, secCheck("GET", secHost, "/search/"+strings.Repeat("a", 40)+"!", nil))
		secDeny(t, r, 404)
	})

	t.Run("B-16 Unicode compatibility forms and overlong UTF-8", func(t *testing.T) {
		for _, c := range []secPathCase{
			// Never NFKC-folded into /admin (R-adm's 401): no rule or 400.
			{name: "fullwidth a", path: "/%EF%BD%81dmin/secrets", want: []int{400, 404}, notRule: "R-adm"},
			{name: "fullwidth solidus", path: "/admin%EF%BC%8Fsecrets", want: []int{400, 404}, notRule: "R-adm"},
			{name: "overlong dots", path: "/public/%C0%AE%C0%AE/admin", want: []int{400}},
			{name: "invalid UTF-8", path: "/admin%FF", want: []int{400}},
		} {
			c.run(t, w)
		}
	})

	t.Run("B-20 client-supplied forwarded and original-URL headers", func(t *testing.T) {
		r := w.check(t, secCheck("POST", secHost, "/admin/secrets", map[string]string{
			"x-forwarded-uri": "/public/x", "x-forwarded-method": "GET", "x-forwarded-proto": "https",
			"x-original-url": "/public/x", "x-rewrite-url": "/public/x", "x-forwarded-prefix": "/public",
			"x-envoy-original-path": "/public/x",
		}))
		if r.ruleID() != "R-adm" {
			t.Fatalf("got %v, want R-adm", r)
		}
		secDeny(t, r, 401)
	})

	t.Run("B-23 overlapping rules", func(t *testing.T) {
		var first secResult
		for i := range 3 {
			r := w.check(t, secCheck("GET", secHost, "/api/admin/x", nil))
			if r.allowed() {
				t.Fatalf("the anonymous rule allowed /api/admin/x: %v", r)
			}
			ok := r.status() == 500 && r.reason() == "ambiguous_rule_match" || r.status() == 401 && r.ruleID() == "R-api-admin"
			if !ok {
				t.Fatalf("got %v, want 500 ambiguous_rule_match or R-api-admin's 401", r)
			}
			if i == 0 {
				first = r
			} else if r.status() != first.status() || r.reason() != first.reason() {
				t.Fatalf("not deterministic: %v then %v", first, r)
			}
		}
		secAllow(t, w.check(t, secCheck("GET", secHost, "/api/other", nil)), "R-api-anon")
	})

	t.Run("B-24 no matching rule", func(t *testing.T) {
		for _, c := range []secPathCase{
			{name: "/unknown", path: "/unknown", want: []int{404}},
			{name: "other.test /public/x", host: "other.test", path: "/public/x", want: []int{404}},
		} {
			c.run(t, w)
		}
	})

	t.Run("B-26 encoded unreserved characters", func(t *testing.T) {
		// Treated as /admin/secrets (R-adm's 401) or DENY-400; upper- and
		// lower-case hex alike.
		for _, p := range []string{"/adm%69n/secrets", "/%61dmin/secrets", "/admin/%73ecrets", "/admi%6E/secrets", "/admi%6e/secrets"} {
			t.Run(p, func(t *testing.T) {
				r := w.check(t, secCheck("GET", secHost, p, nil))
				if r.status() == 400 {
					return
				}
				if r.ruleID() != "R-adm" {
					t.Fatalf("got %v, want R-adm's 401 or 400", r)
				}
				secDeny(t, r, 401)
			})
		}
	})
}
