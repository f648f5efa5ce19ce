package authz_test

// The deadline budget (issue #9 item 1) at the front doors: every check
// runs under min(caller's deadline − margin, check_timeout), remote calls
// and waits take their deadline from what is left, and a spent budget is
// an in-band 503 with reason deadline that reaches the caller before its
// own deadline. Dependencies here hang until the test ends, so the budget
// is the only thing that can end a check: no outcome depends on timing,
// and no elapsed time is asserted.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// budgetConfig enables every handler the budget tests use.
const budgetConfig = `
authenticators:
  anonymous: {enabled: true}
  jwt: {enabled: true}
  oauth2_introspection: {enabled: true}
  cookie_session: {enabled: true}
  bearer_token: {enabled: true}
  oauth2_client_credentials: {enabled: true}
  hang: {enabled: true}
  deadline: {enabled: true}
authorizers:
  allow: {enabled: true}
  remote: {enabled: true}
  remote_json: {enabled: true}
  keto_engine_acp_ory: {enabled: true}
mutators:
  noop: {enabled: true}
  hydrator: {enabled: true}
`

// budgetHooks tell a test what its test authenticators did.
type budgetHooks struct {
	// seen receives the deadline the "deadline" authenticator saw.
	seen chan time.Time
	// started receives a value when "hang" starts waiting.
	started chan struct{}
}

// budgetWorld compiles rules with the builtin handlers plus two test
// authenticators: hang, which waits until its context ends and then fails
// with reason hang_gave_up, as a handler cut off by its deadline would,
// and deadline, which reports its context's deadline and allows.
func budgetWorld(tb testing.TB, rules string, hooks budgetHooks) (*builtin.Deps, authz.Snapshots) {
	tb.Helper()
	deps := builtin.NewDeps(nil)
	tb.Cleanup(deps.Close)
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	pipeline.RegisterAuthenticator(reg, "hang", func(struct{}) (pipeline.Authenticator, error) {
		return pipeline.AuthenticatorFunc(func(ctx context.Context, _ *pipeline.Request, _ *pipeline.Session) error {
			if hooks.started != nil {
				hooks.started <- struct{}{}
			}
			<-ctx.Done()
			return pipeline.Unavailable("hang_gave_up", "the dependency did not answer", ctx.Err())
		}), nil
	})
	pipeline.RegisterAuthenticator(reg, "deadline", func(struct{}) (pipeline.Authenticator, error) {
		return pipeline.AuthenticatorFunc(func(ctx context.Context, _ *pipeline.Request, s *pipeline.Session) error {
			dl, ok := ctx.Deadline()
			if !ok {
				return errors.New("the check has no deadline")
			}
			hooks.seen <- dl
			s.Subject = "anonymous"
			return nil
		}), nil
	})
	cfg, _, err := config.Load("budget.yaml", []byte(budgetConfig), nil)
	if err != nil {
		tb.Fatal(err)
	}
	specs, err := rulestore.DecodeRules("budget-rules.yaml", []byte(rules))
	if err != nil {
		tb.Fatal(err)
	}
	snap, err := pipeline.Compile(specs, cfg.Pipeline(), reg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(snap.Close)
	st := &store{}
	st.s.Store(snap)
	return deps, st
}

// budgetServe serves checker on a real gRPC server on 127.0.0.1 until the
// test ends.
func budgetServe(tb testing.TB, checker *authz.Checker) authv3.AuthorizationClient {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := authz.NewGRPCServer(checker, nil, authz.GRPCOptions{StopTimeout: time.Second})
	srv.SetServing(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	})
	return authv3.NewAuthorizationClient(conn)
}

// budgetHangingServer answers nothing until the test ends; it reports the
// calls it gets on calls while calls has room.
func budgetHangingServer(tb testing.TB, calls chan<- string) *httptest.Server {
	tb.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case calls <- r.URL.Path:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	tb.Cleanup(srv.Close)
	tb.Cleanup(func() { close(release) }) // runs first: handlers return, then Close
	return srv
}

// budgetCheck sends req with the caller deadline Envoy would give it and
// fails unless the answer came in band, before that deadline.
func budgetCheck(tb testing.TB, c authv3.AuthorizationClient, deadline time.Duration, req *authv3.CheckRequest) secResult {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	resp, err := c.Check(ctx, req)
	if err != nil {
		tb.Fatalf("Check: gRPC error %v: the answer did not come in band before the caller's %s deadline", err, deadline)
	}
	return secResult{resp: resp}
}

// budgetSpent fails unless r is the in-band answer of a spent budget.
func budgetSpent(tb testing.TB, r secResult) {
	tb.Helper()
	if r.allowed() || r.status() != http.StatusServiceUnavailable || r.reason() != pipeline.ReasonDeadline ||
		r.resp.GetStatus().GetCode() != int32(code.Code_UNAVAILABLE) {
		tb.Fatalf("got %v, want DENY-503 reason %q with gRPC status UNAVAILABLE", r, pipeline.ReasonDeadline)
	}
}

const budgetHangRule = `
- id: hang
  match: {url: "https://api.test/hang", methods: [GET]}
  authenticators: [{handler: hang}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`

// A check whose handler never finishes is answered in band, 503 with
// reason deadline, before the caller's deadline: Envoy gets a denial it
// can pass on instead of an error that status_on_error or
// failure_mode_allow would decide. The margins are wider than the
// defaults so that a loaded machine running -race delivers the answer
// in time; the budget that ends each check is the one named.
func TestSpentBudgetIsAnsweredInBandBeforeTheCallerGivesUp(t *testing.T) {
	_, st := budgetWorld(t, budgetHangRule, budgetHooks{})
	tests := []struct {
		name     string
		checker  *authz.Checker
		deadline time.Duration
	}{
		{"check_timeout ends it", authz.NewChecker(st, nil, nil), 5 * time.Second},
		{"caller deadline less the margin ends it", authz.NewChecker(st, nil, nil, authz.WithBudget(time.Hour, time.Second)), 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := budgetServe(t, tt.checker)
			budgetSpent(t, budgetCheck(t, c, tt.deadline, secCheck("GET", secHost, "/hang", nil)))
		})
	}
}

// The budget a handler sees is the earlier of check_timeout after the
// check starts and margin before the caller's deadline.
func TestBudgetIsTheEarlierOfCheckTimeoutAndCallerDeadline(t *testing.T) {
	seen := make(chan time.Time, 1)
	_, st := budgetWorld(t, `
- id: deadline
  match: {url: "https://api.test/deadline", methods: [GET]}
  authenticators: [{handler: deadline}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`, budgetHooks{seen: seen})
	const timeout, margin = 2 * time.Second, 15 * time.Millisecond
	checker := authz.NewChecker(st, nil, nil, authz.WithBudget(timeout, margin))
	req := func() *authv3.CheckRequest { return secCheck("GET", secHost, "/deadline", nil) }

	t.Run("caller deadline first", func(t *testing.T) {
		callerDeadline := time.Now().Add(time.Second)
		ctx, cancel := context.WithDeadline(context.Background(), callerDeadline)
		defer cancel()
		if resp, err := checker.Check(ctx, req()); err != nil || resp.GetStatus().GetCode() != 0 {
			t.Fatalf("check: %v %v", resp, err)
		}
		if got, want := <-seen, callerDeadline.Add(-margin); !got.Equal(want) {
			t.Fatalf("handler deadline %v, want %v (margin before the caller's)", got, want)
		}
	})
	for name, ctx := range map[string]context.Context{"no caller deadline": context.Background(), "later caller deadline": farContext(t)} {
		t.Run(name, func(t *testing.T) {
			before := time.Now()
			if resp, err := checker.Check(ctx, req()); err != nil || resp.GetStatus().GetCode() != 0 {
				t.Fatalf("check: %v %v", resp, err)
			}
			after := time.Now()
			if got := <-seen; got.Before(before.Add(timeout)) || got.After(after.Add(timeout)) {
				t.Fatalf("handler deadline %v, want check_timeout after the check began (%v .. %v)", got, before.Add(timeout), after.Add(timeout))
			}
		})
	}
	t.Run("caller deadline within the margin", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(margin/2))
		defer cancel()
		resp, err := checker.Check(ctx, req())
		if err != nil {
			t.Fatal(err)
		}
		budgetSpent(t, secResult{resp: resp})
		select {
		case dl := <-seen:
			t.Fatalf("the handler ran (deadline %v) though no time was left", dl)
		default:
		}
	})
}

func farContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	t.Cleanup(cancel)
	return ctx
}

// The decision API runs under check_timeout too, and says why in its
// decision log line.
func TestDecisionsRunUnderTheBudget(t *testing.T) {
	_, st := budgetWorld(t, budgetHangRule, budgetHooks{})
	core, logs := observer.New(zap.InfoLevel)
	checker := authz.NewChecker(st, zap.New(core), nil, authz.WithBudget(50*time.Millisecond, 0))
	srv := httptest.NewServer(checker.Decisions(authz.DecisionsOptions{}))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/decisions/hang", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = secHost
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"code":503`) {
		t.Fatalf("decision %d %s, want a 503 body", resp.StatusCode, body)
	}
	entries := logs.FilterMessage("decision").All()
	if len(entries) != 1 || entries[0].ContextMap()["reason"] != pipeline.ReasonDeadline {
		t.Fatalf("decision log %v, want one line with reason deadline", entries)
	}
}

// A caller that goes away is not a spent budget: its check ends as
// request_canceled.
func TestCanceledCheckIsNotADeadline(t *testing.T) {
	started := make(chan struct{}, 1)
	_, st := budgetWorld(t, budgetHangRule, budgetHooks{started: started})
	core, logs := observer.New(zap.InfoLevel)
	c := budgetServe(t, authz.NewChecker(st, zap.New(core), nil, authz.WithBudget(time.Hour, 0)))

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := c.Check(ctx, secCheck("GET", secHost, "/hang", nil)); errc <- err }()
	<-started
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("a canceled call got an answer")
	}
	// The server logs its decision after the client saw the cancellation.
	secEventually(t, "the decision log line", func() bool { return logs.FilterMessage("decision").Len() > 0 })
	entries := logs.FilterMessage("decision").All()
	if len(entries) != 1 || entries[0].ContextMap()["reason"] != pipeline.ReasonCanceled {
		t.Fatalf("decision log %v, want one line with reason %s", entries, pipeline.ReasonCanceled)
	}
}

// Every handler that calls out stops at the budget, whatever timeout its
// rule sets, and the check answers deadline rather than the handler's
// own reason for the failure it saw. The budget is a second rather than
// the default 180ms so that each check reaches its dependency before the
// budget ends however busy the machine (a stall of a few hundred
// milliseconds is common under -race on two shared cores); the caller
// allows ten.
func TestRemoteCallsStopAtTheBudget(t *testing.T) {
	secKeys(t)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("client:secret"))
	tests := []struct {
		name    string
		handler string // the rule's handler entries; %[1]s is the hanging server
		headers map[string]string
	}{
		{"oauth2_introspection", `authenticators: [{handler: oauth2_introspection, config: {introspection_url: "%[1]s/introspect", timeout: 1h, retry: {give_up_after: 1h}}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]`, secBearer("opaque")},
		{"oauth2_introspection pre_authorization", `authenticators: [{handler: oauth2_introspection, config: {introspection_url: "%[1]s/introspect", retry: {give_up_after: 1h},
    pre_authorization: {enabled: true, client_id: c, client_secret: s, token_url: "%[1]s/token"}}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]`, secBearer("opaque")},
		{"cookie_session", `authenticators: [{handler: cookie_session, config: {check_session_url: "%[1]s/session", timeout: 1h}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]`, map[string]string{"cookie": "session=s1"}},
		{"bearer_token", `authenticators: [{handler: bearer_token, config: {check_session_url: "%[1]s/session", timeout: 1h}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]`, secBearer("session-token")},
		{"oauth2_client_credentials", `authenticators: [{handler: oauth2_client_credentials, config: {token_url: "%[1]s/token", retry: {give_up_after: 1h}}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]`, map[string]string{"authorization": basic}},
		{"jwt", `authenticators: [{handler: jwt, config: {jwks_urls: ["%[1]s/jwks.json"], jwks_max_wait: 30s}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]`, secBearer(secToken(t, nil, nil))},
		{"remote", `authenticators: [{handler: anonymous}]
  authorizer: {handler: remote, config: {remote: "%[1]s/authorize", timeout: 1h, retry: {give_up_after: 1h}}}
  mutators: [{handler: noop}]`, nil},
		{"remote_json", `authenticators: [{handler: anonymous}]
  authorizer: {handler: remote_json, config: {remote: "%[1]s/authorize", payload: "{}", timeout: 1h}}
  mutators: [{handler: noop}]`, nil},
		{"keto_engine_acp_ory", `authenticators: [{handler: anonymous}]
  authorizer: {handler: keto_engine_acp_ory, config: {base_url: "%[1]s", required_action: read, required_resource: doc, timeout: 1h}}
  mutators: [{handler: noop}]`, nil},
		{"hydrator", `authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: hydrator, config: {api: {url: "%[1]s/hydrate", retry: {give_up_after: 1h}}}}]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			calls := make(chan string, 16)
			dep := budgetHangingServer(t, calls)
			rules := "- id: remote\n  match: {url: \"https://api.test/r\", methods: [GET]}\n  " + fmt.Sprintf(tt.handler, dep.URL)
			_, st := budgetWorld(t, rules, budgetHooks{})
			c := budgetServe(t, authz.NewChecker(st, nil, nil, authz.WithBudget(time.Second, authz.DefaultDeadlineMargin)))
			budgetSpent(t, budgetCheck(t, c, 10*time.Second, secCheck("GET", secHost, "/r", tt.headers)))
			if len(calls) == 0 {
				t.Fatal("the dependency was never called: the test proves nothing")
			}
		})
	}
}
