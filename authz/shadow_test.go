package authz_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
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

const shadowRules = `
- id: beta
  mode: shadow
  match: {url: "https://api.test/beta/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: deny}
  mutators: [{handler: header, config: {headers: {X-User: "{{ print .Subject }}"}}}]
- id: beta-ok
  mode: shadow
  match: {url: "https://api.test/ok", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-User: "{{ print .Subject }}"}}}]
- id: listed
  match: {url: "https://api.test/listed", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: deny}
  mutators: [{handler: noop}]
- id: enforced
  match: {url: "https://api.test/enforced", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: deny}
  mutators: [{handler: noop}]
`

// shadowWorld serves shadowRules (with access_rules.shadow_rules
// [listed]) on a real gRPC server whose checker logs to logs and counts
// into the returned registry.
func shadowWorld(t *testing.T) (authv3.AuthorizationClient, *observer.ObservedLogs, *prometheus.Registry) {
	t.Helper()
	deps := builtin.NewDeps(nil)
	t.Cleanup(deps.Close)
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	cfg, _, err := config.Load("shadow.yaml", []byte(`
authenticators: {anonymous: {enabled: true}}
authorizers: {allow: {enabled: true}, deny: {enabled: true}}
mutators: {noop: {enabled: true}, header: {enabled: true}}
access_rules: {shadow_rules: [listed]}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := rulestore.DecodeRules("shadow-rules.yaml", []byte(shadowRules))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := pipeline.Compile(specs, cfg.Pipeline(), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(snap.Close)
	st := &store{}
	st.s.Store(snap)

	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(core)
	metrics := prometheus.NewRegistry()
	checker := authz.NewChecker(st, log, authz.NewMetrics(metrics), testBudget)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := authz.NewGRPCServer(checker, log, authz.GRPCOptions{StopTimeout: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return authv3.NewAuthorizationClient(conn), logs, metrics
}

// TestShadowModeOverGRPC: a shadow rule (by mode or by shadow_rules)
// never denies; the decision line and portcullis_shadow_decisions_total
// record what enforcing it would have answered. A would-deny goes
// upstream without the rule's mutations; a would-allow with them. Rules
// not in shadow mode, and requests no rule matches, are denied as usual.
func TestShadowModeOverGRPC(t *testing.T) {
	client, logs, metrics := shadowWorld(t)
	tests := []struct {
		path          string
		wantCode      code.Code
		wantXUser     string
		wantWould     string // "" when the rule is not in shadow mode
		wantWouldWhy  string
		wantLogReason string
	}{
		{path: "/beta/x", wantCode: code.Code_OK, wantWould: "deny", wantWouldWhy: "deny_handler", wantLogReason: "allowed"},
		{path: "/ok", wantCode: code.Code_OK, wantXUser: "anonymous", wantWould: "allow", wantWouldWhy: "allowed", wantLogReason: "allowed"},
		{path: "/listed", wantCode: code.Code_OK, wantWould: "deny", wantWouldWhy: "deny_handler", wantLogReason: "allowed"},
		{path: "/enforced", wantCode: code.Code_PERMISSION_DENIED, wantLogReason: "deny_handler"},
		{path: "/nothing", wantCode: code.Code_PERMISSION_DENIED, wantLogReason: pipeline.ReasonNoRule},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			before := logs.Len()
			resp, err := client.Check(context.Background(), checkReq("GET", tt.path, map[string]string{"x-user": "forged"}))
			if err != nil {
				t.Fatal(err)
			}
			if got := code.Code(resp.GetStatus().GetCode()); got != tt.wantCode {
				t.Fatalf("status %v, want %v", got, tt.wantCode)
			}
			xUser := ""
			for _, h := range resp.GetOkResponse().GetHeaders() {
				if strings.EqualFold(h.GetHeader().GetKey(), "x-user") {
					xUser = h.GetHeader().GetValue()
				}
			}
			if xUser != tt.wantXUser {
				t.Fatalf("upstream x-user %q, want %q", xUser, tt.wantXUser)
			}
			// A would-deny removes the header the rule's mutator would
			// have set (only beta has a header mutator), so the client's
			// forged copy does not reach the upstream either.
			removed := slices.Contains(resp.GetOkResponse().GetHeadersToRemove(), "x-user")
			if want := tt.path == "/beta/x"; removed != want {
				t.Fatalf("x-user removed upstream: %v, want %v", removed, want)
			}
			lines := logs.FilterMessage("decision").All()[before:]
			if len(lines) != 1 {
				t.Fatalf("%d decision lines", len(lines))
			}
			f := lines[0].ContextMap()
			if f["reason"] != tt.wantLogReason {
				t.Fatalf("logged reason %v, want %q", f["reason"], tt.wantLogReason)
			}
			if tt.wantWould == "" {
				if _, ok := f["mode"]; ok {
					t.Fatalf("enforced decision logged as shadow: %v", f)
				}
				return
			}
			if f["mode"] != "shadow" || f["decision"] != "allow" || f["would_decision"] != tt.wantWould || f["would_reason"] != tt.wantWouldWhy {
				t.Fatalf("decision line %v", f)
			}
		})
	}
	want := []string{
		"reason=allowed,rule_id=beta-ok,would_decision=allow:1",
		"reason=deny_handler,rule_id=beta,would_decision=deny:1",
		"reason=deny_handler,rule_id=listed,would_decision=deny:1",
	}
	if got := shadowSeries(t, metrics); !slices.Equal(got, want) {
		t.Fatalf("portcullis_shadow_decisions_total:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// shadowSeries renders portcullis_shadow_decisions_total's series as
// "label=value,...:count" lines, sorted.
func shadowSeries(t *testing.T, reg prometheus.Gatherer) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != "portcullis_shadow_decisions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out = append(out, fmt.Sprintf("%s:%g", strings.Join(labels, ","), m.GetCounter().GetValue()))
		}
	}
	slices.Sort(out)
	return out
}
