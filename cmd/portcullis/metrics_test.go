package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// metricsRig is the service's metrics wiring around a real gRPC server,
// with an IdP (JWKS) and a policy server (remote_json) on 127.0.0.1.
type metricsRig struct {
	sm     *serverMetrics
	client authv3.AuthorizationClient
	scrape *httptest.Server // the metrics listener's handler
	level  zap.AtomicLevel
	token  string // signed by the IdP, for the api rule
	down   string // the base URL of the policy server that is down
}

func newMetricsRig(t *testing.T) *metricsRig {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.FromRaw(priv)
	if err != nil {
		t.Fatal(err)
	}
	_ = key.Set(jwk.KeyIDKey, "k1")
	_ = key.Set(jwk.AlgorithmKey, jwa.ES256)
	pub, err := key.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	jwks, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.NewBuilder().Subject("alice").IssuedAt(time.Now()).Expiration(time.Now().Add(time.Hour)).Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, key))
	if err != nil {
		t.Fatal(err)
	}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(idp.Close)
	policy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(policy.Close)
	// A policy server that is down: a port that was just free.
	dl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + dl.Addr().String()
	dl.Close()

	cfg, _, err := config.Load(filepath.Join("testdata", "metrics", "config.yaml"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("testdata", "metrics", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.ReplaceAll(data, []byte("@JWKS_URL@"), []byte(idp.URL+"/jwks.json"))
	data = bytes.ReplaceAll(data, []byte("@REMOTE_URL@"), []byte(policy.URL+"/allow"))
	data = bytes.ReplaceAll(data, []byte("@DOWN_URL@"), []byte(down+"/allow"))
	specs, err := rulestore.DecodeRules("rules.yaml", data)
	if err != nil {
		t.Fatal(err)
	}

	reg := pipeline.NewRegistry()
	deps := builtin.NewDeps(nil)
	t.Cleanup(deps.Close)
	builtin.Register(reg, deps)
	store := rulestore.NewStore(cfg.Pipeline(), reg, nil)
	now := time.Now()
	sm := newServerMetrics(store, deps, buildInfo{Version: "v9.9.9", Revision: "abc123", GoVersion: "go1.99"},
		func() time.Time { return now.Add(time.Hour) }) // key sets are then an hour old
	if err := store.Apply(specs, "v1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s := store.Current(); s != nil {
			s.Close()
		}
	})

	// No check may end for lack of time (serve.check_timeout's 180ms can
	// pass on a busy machine): the run's series are counted exactly.
	opts := append(sm.checkerOptions(), authz.WithBudget(time.Minute, authz.DefaultDeadlineMargin))
	checker := authz.NewChecker(store, zaptest.NewLogger(t), sm.decisions, opts...)
	srv := authz.NewGRPCServer(checker, nil, authz.GRPCOptions{ServerOptions: sm.grpc})
	srv.SetServing(true)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() { cancel(); <-done })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	level := zap.NewAtomicLevelAt(zap.InfoLevel)
	scrape := httptest.NewServer(withLogLevel(authz.NewDebugHandler(sm.reg, store, nil), level, zap.NewNop()))
	t.Cleanup(scrape.Close)
	return &metricsRig{sm: sm, client: authv3.NewAuthorizationClient(conn), scrape: scrape, level: level, token: string(signed), down: down}
}

// check sends one Check for GET http://app.test+path and returns the
// gRPC status code of the decision (0 allows) and the denial's body.
func (r *metricsRig) check(t *testing.T, path, authorization string) (int32, string) {
	t.Helper()
	h := map[string]string{":method": "GET", ":path": path, ":authority": "app.test", ":scheme": "http"}
	if authorization != "" {
		h["authorization"] = authorization
	}
	resp, err := r.client.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: path, Host: "app.test", Scheme: "http", Protocol: "HTTP/1.1", Headers: h,
		}},
	}})
	if err != nil {
		t.Fatalf("Check %s: %v", path, err)
	}
	return resp.GetStatus().GetCode(), resp.GetDeniedResponse().GetBody()
}

// families scrapes /metrics through the real handler and parses it.
func (r *metricsRig) families(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(r.scrape.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// series renders the label sets of mf's series with value v (counters,
// gauges) or count v (histograms), as "k=v,k=v" sorted by name.
func series(mf *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range mf.GetMetric() {
		var kv []string
		for _, l := range m.GetLabel() {
			kv = append(kv, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(kv)
		v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		out[strings.Join(kv, ",")] = v
	}
	return out
}

// labelNames returns the sorted label names of mf's first series.
func labelNames(mf *dto.MetricFamily) []string {
	var out []string
	if ms := mf.GetMetric(); len(ms) > 0 {
		for _, l := range ms[0].GetLabel() {
			out = append(out, l.GetName())
		}
	}
	sort.Strings(out)
	return out
}

// scriptedRun sends a few checks that touch every kind of metric and
// returns the scrape that follows.
func (r *metricsRig) scriptedRun(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	steps := []struct {
		path, auth string
		allowed    bool
	}{
		{"/public/a", "", true},
		{"/public/b", "", true},
		{"/api/me", "Bearer " + r.token, true},
		{"/api/me", "Bearer " + r.token, true}, // verified-token cache hit
		{"/api/me", "", false},                 // jwt not responsible: 401
		{"/orders/7", "", true},                // remote_json call
		{"/billing/7", "", false},              // remote_json call to a server that is down
		{"/nowhere", "", false},                // no rule
	}
	for _, s := range steps {
		if code, body := r.check(t, s.path, s.auth); (code == 0) != s.allowed {
			t.Fatalf("GET %s (auth %v): code %d (%s), want allowed=%v", s.path, s.auth != "", code, body, s.allowed)
		}
	}
	return r.families(t)
}

// TestMetricsAfterScriptedRun: after a few checks over the real gRPC
// server, /metrics exports every documented family with its type and
// bounded labels, and the series the run must have produced.
func TestMetricsAfterScriptedRun(t *testing.T) {
	r := newMetricsRig(t)
	mfs := r.scriptedRun(t)

	want := []struct {
		name   string
		typ    dto.MetricType
		labels string // sorted label names of every series
	}{
		{"portcullis_decisions_total", dto.MetricType_COUNTER, "decision,reason,rule_id"},
		{"portcullis_decision_duration_seconds", dto.MetricType_HISTOGRAM, "decision"},
		{"portcullis_handler_duration_seconds", dto.MetricType_HISTOGRAM, "handler,kind,outcome"},
		{"portcullis_remote_call_duration_seconds", dto.MetricType_HISTOGRAM, "host,outcome"},
		{"portcullis_remote_call_errors_total", dto.MetricType_COUNTER, "error,host"},
		{"portcullis_cache_hits_total", dto.MetricType_COUNTER, "cache"},
		{"portcullis_cache_misses_total", dto.MetricType_COUNTER, "cache"},
		{"portcullis_cache_evictions_total", dto.MetricType_COUNTER, "cache"},
		{"portcullis_cache_entries", dto.MetricType_GAUGE, "cache"},
		{"portcullis_circuit_breakers", dto.MetricType_GAUGE, "host,state"},
		{"portcullis_keyset_age_seconds", dto.MetricType_GAUGE, "url,use"},
		{"portcullis_keyset_keys", dto.MetricType_GAUGE, "url,use"},
		{"portcullis_keyset_state", dto.MetricType_GAUGE, "state,url,use"},
		{"portcullis_keyset_refresh_errors_total", dto.MetricType_COUNTER, "url,use"},
		{"portcullis_rules_loaded", dto.MetricType_GAUGE, ""},
		{"portcullis_rules_version_info", dto.MetricType_GAUGE, "version"},
		{"portcullis_rule_reloads_total", dto.MetricType_COUNTER, ""},
		{"portcullis_rule_reload_failures_total", dto.MetricType_COUNTER, ""},
		{"portcullis_rule_last_reload_success_timestamp_seconds", dto.MetricType_GAUGE, ""},
		{"portcullis_build_info", dto.MetricType_GAUGE, "go_version,revision,version"},
		{"grpc_server_handled_total", dto.MetricType_COUNTER, "grpc_code,grpc_method,grpc_service,grpc_type"},
		{"grpc_server_handling_seconds", dto.MetricType_HISTOGRAM, "grpc_method,grpc_service,grpc_type"},
		{"go_goroutines", dto.MetricType_GAUGE, ""},
		{"process_resident_memory_bytes", dto.MetricType_GAUGE, ""},
	}
	for _, w := range want {
		mf, ok := mfs[w.name]
		if !ok {
			t.Errorf("%s not exported", w.name)
			continue
		}
		if mf.GetType() != w.typ {
			t.Errorf("%s is a %v, want %v", w.name, mf.GetType(), w.typ)
		}
		for _, m := range mf.GetMetric() {
			var names []string
			for _, l := range m.GetLabel() {
				names = append(names, l.GetName())
			}
			sort.Strings(names)
			if got := strings.Join(names, ","); got != w.labels {
				t.Errorf("%s has labels %q, want %q", w.name, got, w.labels)
				break
			}
		}
	}

	// The series this run must have produced, with their counts.
	wantSeries := []struct {
		name, labels string
		value        float64
	}{
		{"portcullis_decisions_total", "decision=allow,reason=allowed,rule_id=public", 2},
		{"portcullis_decisions_total", "decision=allow,reason=allowed,rule_id=api", 2},
		{"portcullis_decisions_total", "decision=deny,reason=authentication_handler_no_match,rule_id=api", 1},
		{"portcullis_decisions_total", "decision=allow,reason=allowed,rule_id=orders", 1},
		{"portcullis_decisions_total", "decision=deny,reason=no_rule_match,rule_id=", 1},
		{"portcullis_decisions_total", "decision=deny,reason=remote_json_unavailable,rule_id=billing", 1},
		{"portcullis_decision_duration_seconds", "decision=allow", 5},
		{"portcullis_decision_duration_seconds", "decision=deny", 3},
		{"portcullis_handler_duration_seconds", "handler=jwt,kind=authenticator,outcome=ok", 2},
		{"portcullis_handler_duration_seconds", "handler=jwt,kind=authenticator,outcome=skip", 1},
		{"portcullis_handler_duration_seconds", "handler=remote_json,kind=authorizer,outcome=ok", 1},
		{"portcullis_handler_duration_seconds", "handler=anonymous,kind=authenticator,outcome=ok", 4},
		{"portcullis_handler_duration_seconds", "handler=remote_json,kind=authorizer,outcome=error", 1},
		{"portcullis_cache_hits_total", "cache=jwt_tokens", 1},
		{"portcullis_cache_misses_total", "cache=jwt_tokens", 1},
		{"portcullis_cache_entries", "cache=jwt_tokens", 1},
		{"portcullis_keyset_keys", "url=" + r.idpURL(t, mfs) + ",use=verify", 1},
		{"portcullis_keyset_state", "state=present,url=" + r.idpURL(t, mfs) + ",use=verify", 1},
		{"portcullis_keyset_state", "state=stale,url=" + r.idpURL(t, mfs) + ",use=verify", 0},
		{"portcullis_keyset_refresh_errors_total", "url=" + r.idpURL(t, mfs) + ",use=verify", 0},
		{"portcullis_rules_loaded", "", 4},
		{"portcullis_rule_reloads_total", "", 1},
		{"portcullis_build_info", "go_version=go1.99,revision=abc123,version=v9.9.9", 1},
		{"grpc_server_handled_total", "grpc_code=OK,grpc_method=Check,grpc_service=envoy.service.auth.v3.Authorization,grpc_type=unary", 8},
	}
	for _, w := range wantSeries {
		got, ok := series(mfs[w.name])[w.labels]
		if !ok || got != w.value {
			t.Errorf("%s{%s} = %v (present %v), want %v; series: %v", w.name, w.labels, got, ok, w.value, series(mfs[w.name]))
		}
	}

	// One remote call to the IdP and one to the policy server, answered 2xx.
	calls := series(mfs["portcullis_remote_call_duration_seconds"])
	hosts := 0
	for labels, n := range calls {
		if strings.HasSuffix(labels, "outcome=2xx") && strings.HasPrefix(labels, "host=127.0.0.1:") && n >= 1 {
			hosts++
		}
	}
	if hosts != 2 {
		t.Errorf("remote call series %v, want 2xx calls to two hosts", calls)
	}
	// The call to the server that is down failed without an answer.
	if errs := series(mfs["portcullis_remote_call_errors_total"]); len(errs) != 1 || errs["error=error,host="+strings.TrimPrefix(r.down, "http://")] != 1 {
		t.Errorf("remote call errors %v, want one to %s", errs, r.down)
	}
	// Both policy servers' breakers are closed (one failure is not enough
	// to open one).
	closed := 0.0
	for labels, v := range series(mfs["portcullis_circuit_breakers"]) {
		if strings.HasSuffix(labels, "state=closed") {
			closed += v
		}
	}
	if closed != 2 {
		t.Errorf("circuit breakers %v, want two closed", series(mfs["portcullis_circuit_breakers"]))
	}
	// The key set loaded before the rig's clock, which is an hour ahead.
	for labels, age := range series(mfs["portcullis_keyset_age_seconds"]) {
		if age < 3500 || age > 3700 {
			t.Errorf("portcullis_keyset_age_seconds{%s} = %v, want about 3600", labels, age)
		}
	}
}

// idpURL is the one key set URL the run registered.
func (r *metricsRig) idpURL(t *testing.T, mfs map[string]*dto.MetricFamily) string {
	t.Helper()
	for _, m := range mfs["portcullis_keyset_keys"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "url" {
				return l.GetValue()
			}
		}
	}
	t.Fatal("no key set exported")
	return ""
}

// The log level changes at run time through the metrics listener, and
// the change is logged; a bad level or method changes nothing.
func TestLogLevelEndpoint(t *testing.T) {
	level := zap.NewAtomicLevelAt(zap.InfoLevel)
	core, logs := observer.New(zap.InfoLevel)
	srv := httptest.NewServer(withLogLevel(http.NotFoundHandler(), level, zap.New(core)))
	t.Cleanup(srv.Close)
	do := func(method, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+"/debug/log/level", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	steps := []struct {
		method, body string
		wantCode     int
		wantLevel    zapcore.Level
	}{
		{"GET", "", 200, zap.InfoLevel},
		{"PUT", `{"level":"debug"}`, 200, zap.DebugLevel},
		{"PUT", `{"level":"loud"}`, 400, zap.DebugLevel},
		{"POST", `{"level":"error"}`, 405, zap.DebugLevel},
		{"PUT", `{"level":"warn"}`, 200, zap.WarnLevel},
	}
	for _, s := range steps {
		if code, body := do(s.method, s.body); code != s.wantCode || level.Level() != s.wantLevel {
			t.Errorf("%s %s: %d %s, level %v; want %d, level %v", s.method, s.body, code, body, level.Level(), s.wantCode, s.wantLevel)
		}
	}
	if code, body := do("GET", ""); code != 200 || body != `{"level":"warn"}` {
		t.Errorf("GET after the changes: %d %s", code, body)
	}
	if n := logs.FilterMessage("log level changed").Len(); n != 2 {
		t.Errorf("%d 'log level changed' lines, want 2", n)
	}
	// The rest of the metrics listener is still served.
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("other paths: %s, want the wrapped handler's 404", resp.Status)
	}
}

// timeoutErr is a net.Error that timed out, as a dial or read deadline
// gives.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// Remote call outcomes are a closed set: status classes or failure
// classes, never an error text.
func TestCallOutcome(t *testing.T) {
	tests := []struct {
		status int
		err    error
		want   string
	}{
		{200, nil, "2xx"},
		{404, nil, "4xx"},
		{503, nil, "5xx"},
		{0, fmt.Errorf("GET https://idp/jwks: %w", context.DeadlineExceeded), "timeout"},
		{0, fmt.Errorf("GET https://idp/jwks: %w", timeoutErr{}), "timeout"},
		{0, context.Canceled, "canceled"},
		{0, errors.New("GET https://idp/jwks: connection refused"), "error"},
		{0, errors.New("GET https://idp/jwks: status 302: redirect refused"), "error"},
	}
	for _, tt := range tests {
		if got := callOutcome(tt.status, tt.err); got != tt.want {
			t.Errorf("callOutcome(%d, %v) = %q, want %q", tt.status, tt.err, got, tt.want)
		}
	}
}
