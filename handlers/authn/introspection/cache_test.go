package introspection

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/pipeline"
)

var cacheOn = map[string]any{"enabled": true, "ttl": "5m"}

func TestStricterRuleDoesNotReuseALooserRulesSuccess(t *testing.T) {
	// SECURITY D-07, GHSA-qvp4-rpmr-xwrr: rule A needs read, rule B write;
	// the token only has read. B must fail although A cached the answer.
	d := newDeps()
	p := newIDP(t, map[string]string{"t": `{"active":true,"sub":"alice","scope":"read","aud":["api"]}`})
	rule := func(extra map[string]any) *Authenticator {
		raw := map[string]any{"introspection_url": p.URL, "cache": cacheOn, "scope_strategy": "exact"}
		for k, v := range extra {
			raw[k] = v
		}
		a, err := d.build(t, raw)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := rule(map[string]any{"required_scope": []any{"read"}})
	b := rule(map[string]any{"required_scope": []any{"write"}})
	c := rule(map[string]any{"target_audience": []any{"admin"}})
	for i, step := range []struct {
		a      *Authenticator
		status int
		id     string
	}{{a, 200, ""}, {b, 403, IDScope}, {c, 403, IDAudience}, {a, 200, ""}} {
		err := step.a.Authenticate(context.Background(), bearer("t"), &pipeline.Session{})
		if pipeline.StatusOf(err) != step.status || step.id != "" && pipeline.ReasonOf(err, "") != step.id {
			t.Fatalf("step %d: err = %v, want %d %s", i, err, step.status, step.id)
		}
	}
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("introspection calls = %d, want 1 (all rules share the cached answer)", n)
	}
}

func TestCacheKeyCoversTheCall(t *testing.T) {
	// GHSA-4mq7-pvjg-xp2r: another endpoint, or another scope sent to the
	// endpoint, must not be answered from an entry made for this one.
	p1 := newIDP(t, map[string]string{"t": `{"active":true,"sub":"alice"}`})
	p2 := newIDP(t, map[string]string{"t": `{"active":false}`})
	tests := []struct {
		name    string
		first   map[string]any
		second  map[string]any
		want2   int
		calls   int32
		counter *idp
	}{
		{name: "other introspection url", first: map[string]any{"introspection_url": p1.URL},
			second: map[string]any{"introspection_url": p2.URL}, want2: 401, calls: 1, counter: p2},
		{name: "other scope sent under strategy none", first: map[string]any{"introspection_url": p1.URL, "required_scope": []any{"read"}},
			second: map[string]any{"introspection_url": p1.URL, "required_scope": []any{"admin"}}, want2: 200, calls: 2, counter: p1},
		{name: "other request headers", first: map[string]any{"introspection_url": p1.URL},
			second: map[string]any{"introspection_url": p1.URL, "introspection_request_headers": map[string]any{"X-Tenant": "b"}},
			want2:  200, calls: 2, counter: p1},
		{name: "rules differing only in checks share the call", first: map[string]any{"introspection_url": p1.URL, "scope_strategy": "exact"},
			second: map[string]any{"introspection_url": p1.URL}, want2: 200, calls: 1, counter: p1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeps()
			before := tt.counter.calls.Load()
			tt.first["cache"], tt.second["cache"] = cacheOn, cacheOn
			a1, err1 := d.build(t, tt.first)
			a2, err2 := d.build(t, tt.second)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if err := a1.Authenticate(context.Background(), bearer("t"), &pipeline.Session{}); err != nil {
				t.Fatal(err)
			}
			err := a2.Authenticate(context.Background(), bearer("t"), &pipeline.Session{})
			if pipeline.StatusOf(err) != tt.want2 {
				t.Fatalf("second rule: %v, want %d", err, tt.want2)
			}
			if n := tt.counter.calls.Load() - before; n != tt.calls {
				t.Fatalf("calls = %d, want %d", n, tt.calls)
			}
		})
	}
}

func TestCacheEntryNeverOutlivesTheToken(t *testing.T) {
	// SECURITY D-09: exp now+5s, cache ttl 300s, request again at now+6s.
	d := newDeps()
	exp := d.now.Unix() + 5
	p := newIDP(t, map[string]string{"t": fmt.Sprintf(`{"active":true,"sub":"alice","exp":%d}`, exp)})
	a, err := d.build(t, map[string]any{"introspection_url": p.URL, "cache": map[string]any{"enabled": true, "ttl": "300s"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Authenticate(context.Background(), bearer("t"), &pipeline.Session{}); err != nil {
		t.Fatal(err)
	}
	d.now = d.now.Add(6 * time.Second)
	err = a.Authenticate(context.Background(), bearer("t"), &pipeline.Session{})
	if pipeline.ReasonOf(err, "") != IDExpired {
		t.Fatalf("at exp+1s: %v, want %s", err, IDExpired)
	}
	if d.cache.Len() != 0 {
		t.Fatal("an expired token stayed in the cache")
	}
}

func TestCacheTTLBoundsRevocation(t *testing.T) {
	d := newDeps()
	p := newIDP(t, map[string]string{"t": `{"active":true,"sub":"alice"}`})
	a, err := d.build(t, map[string]any{"introspection_url": p.URL, "cache": map[string]any{"enabled": true, "ttl": "10s"}})
	if err != nil {
		t.Fatal(err)
	}
	auth := func() error { return a.Authenticate(context.Background(), bearer("t"), &pipeline.Session{}) }
	if err := auth(); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.answers["t"] = `{"active":false}` // revoked at the IdP
	p.mu.Unlock()
	d.now = d.now.Add(9 * time.Second)
	if err := auth(); err != nil {
		t.Fatalf("within the ttl: %v (the cached answer should serve)", err)
	}
	d.now = d.now.Add(2 * time.Second)
	if err := auth(); pipeline.ReasonOf(err, "") != IDInactive {
		t.Fatalf("after the ttl: %v, want %s", err, IDInactive)
	}
	if err := auth(); pipeline.ReasonOf(err, "") != IDInactive || p.calls.Load() != 3 {
		t.Fatalf("inactive answers must not be cached: %v after %d calls", err, p.calls.Load())
	}
}

func TestCachedAnswerIsNotChangedThroughTheSession(t *testing.T) {
	d := newDeps()
	p := newIDP(t, map[string]string{"t": `{"active":true,"sub":"alice","aud":["api"],"ext":{"groups":["a"],"org":{"id":1}}}`})
	a, err := d.build(t, map[string]any{"introspection_url": p.URL, "cache": cacheOn})
	if err != nil {
		t.Fatal(err)
	}
	s := &pipeline.Session{}
	if err := a.Authenticate(context.Background(), bearer("t"), s); err != nil {
		t.Fatal(err)
	}
	s.Extra["groups"].([]any)[0] = "admin"
	s.Extra["org"].(map[string]any)["id"] = 2
	s.Extra["aud"].([]string)[0] = "evil"
	s2 := &pipeline.Session{}
	if err := a.Authenticate(context.Background(), bearer("t"), s2); err != nil {
		t.Fatal(err)
	}
	if s2.Extra["groups"].([]any)[0] != "a" || s2.Extra["org"].(map[string]any)["id"] != float64(1) || s2.Extra["aud"].([]string)[0] != "api" {
		t.Fatalf("cached answer changed: %v", s2.Extra)
	}
}

func TestCacheDisabledCallsEveryTime(t *testing.T) {
	d := newDeps()
	p := newIDP(t, map[string]string{"t": `{"active":true}`})
	a, err := d.build(t, map[string]any{"introspection_url": p.URL, "cache": map[string]any{"enabled": false, "ttl": "1m"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := a.Authenticate(context.Background(), bearer("t"), &pipeline.Session{}); err != nil {
			t.Fatal(err)
		}
	}
	if p.calls.Load() != 3 || d.cache.Len() != 0 {
		t.Fatalf("calls %d, cache entries %d", p.calls.Load(), d.cache.Len())
	}
}

// TestCachePolicyFollowsOathkeeper is issue #10 item 7 (and #8 item 4):
// which answers are cached follows Oathkeeper's rules. Only an answer that
// passed the checks of the rule that fetched it is stored (so rejected
// token types, expired tokens and answers failing a rule's audience are
// asked again, as in Oathkeeper's "does not use cache for refresh tokens"
// test), and under scope_strategy none with required_scope the endpoint
// decides the scope on every call, so the cache is not used at all.
func TestCachePolicyFollowsOathkeeper(t *testing.T) {
	tests := []struct {
		name      string
		answer    string
		config    map[string]any
		wantID    string // of both requests; "" allows
		wantCalls int32
	}{
		{name: "token_use refresh_token is never cached (strategy wildcard)", answer: `{"active":true,"scope":"a","token_use":"refresh_token"}`,
			config: map[string]any{"scope_strategy": "wildcard", "required_scope": []any{"a"}}, wantID: IDTokenUse, wantCalls: 2},
		{name: "token_use refresh_token is never cached (strategy none)", answer: `{"active":true,"scope":"a","token_use":"refresh_token"}`,
			config: map[string]any{"required_scope": []any{"a"}}, wantID: IDTokenUse, wantCalls: 2},
		{name: "token_type refresh_token is never cached", answer: `{"active":true,"token_type":"refresh_token"}`,
			wantID: IDTokenType, wantCalls: 2},
		{name: "strategy none with required scopes asks every time", answer: `{"active":true,"sub":"alice"}`,
			config: map[string]any{"required_scope": []any{"a"}}, wantCalls: 2},
		{name: "strategy none without required scopes caches", answer: `{"active":true,"sub":"alice"}`, wantCalls: 1},
		{name: "local strategy with required scopes caches", answer: `{"active":true,"scope":"a"}`,
			config: map[string]any{"scope_strategy": "exact", "required_scope": []any{"a"}}, wantCalls: 1},
		{name: "an answer failing the rule's audience is not cached", answer: `{"active":true,"aud":["web"]}`,
			config: map[string]any{"target_audience": []any{"api"}}, wantID: IDAudience, wantCalls: 2},
		{name: "an answer expired on arrival is not cached", answer: `{"active":true,"exp":1000}`, wantID: IDExpired, wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeps()
			p := newIDP(t, map[string]string{"t": tt.answer})
			raw := map[string]any{"introspection_url": p.URL, "cache": cacheOn}
			for k, v := range tt.config {
				raw[k] = v
			}
			a, err := d.build(t, raw)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				err := a.Authenticate(context.Background(), bearer("t"), &pipeline.Session{})
				if got := pipeline.ReasonOf(err, ""); got != tt.wantID || (tt.wantID == "") != (err == nil) {
					t.Fatalf("request %d: err = %v, want reason %q", i+1, err, tt.wantID)
				}
			}
			if n := p.calls.Load(); n != tt.wantCalls {
				t.Fatalf("introspection calls = %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

// TestCachedAnswerIsCheckedForTheTokenTypeOfEachRule: a rule that allows
// refresh tokens may cache one; a rule sharing the call but allowing only
// access tokens must still refuse it from the cache.
func TestCachedAnswerIsCheckedForTheTokenTypeOfEachRule(t *testing.T) {
	d := newDeps()
	p := newIDP(t, map[string]string{"t": `{"active":true,"sub":"alice","token_type":"refresh_token"}`})
	lenient, err := d.build(t, map[string]any{"introspection_url": p.URL, "cache": cacheOn,
		"allowed_token_types": []any{"access_token", "refresh_token"}})
	if err != nil {
		t.Fatal(err)
	}
	strict, err := d.build(t, map[string]any{"introspection_url": p.URL, "cache": cacheOn})
	if err != nil {
		t.Fatal(err)
	}
	if err := lenient.Authenticate(context.Background(), bearer("t"), &pipeline.Session{}); err != nil {
		t.Fatal(err)
	}
	err = strict.Authenticate(context.Background(), bearer("t"), &pipeline.Session{})
	if pipeline.ReasonOf(err, "") != IDTokenType || p.calls.Load() != 1 {
		t.Fatalf("strict rule from the cache: %v after %d calls, want %s after 1", err, p.calls.Load(), IDTokenType)
	}
}
