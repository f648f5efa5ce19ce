package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/pipeline"
)

var update = flag.Bool("update", false, "rewrite the golden files of the explain and rules test tests")

// golden compares got with testdata/<name>.golden, or rewrites it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestExplainGolden runs `portcullis explain` on a match, a near miss of
// each kind (method, host, path segment, pattern), a chain whose second
// authorizer denies, a route whose rule disagrees with the URL, and an
// offline run, comparing the text and JSON output with golden files.
func TestExplainGolden(t *testing.T) {
	base := []string{"explain", "--config", "testdata/explain/config.yaml"}
	tests := []struct {
		name string
		args []string
	}{
		{"match", []string{"--url", "https://api.test/orders/7"}},
		{"miss_method", []string{"-X", "DELETE", "--url", "https://api.test/orders/7"}},
		{"miss_host", []string{"--url", "https://api.example/orders/7"}},
		{"miss_segment", []string{"--url", "https://api.test/order/7"}},
		{"miss_pattern", []string{"--url", "https://api.test/orders/seven"}},
		{"chain_denied", []string{"--url", "https://api.test/reports/q1", "-H", "Accept: text/plain"}},
		{"route_mismatch", []string{"--route-rule", "orders-read", "--url", "https://api.test/reports/q1"}},
		{"offline", []string{"--offline", "--url", "https://api.test/orders/7"}},
	}
	for _, tt := range tests {
		for _, format := range []string{"txt", "json"} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				args := append(append([]string{}, base...), tt.args...)
				if format == "json" {
					args = append(args, "--json")
				}
				var out, errb bytes.Buffer
				if code := run(context.Background(), args, &out, &errb); code != 0 {
					t.Fatalf("exit %d: %s", code, errb.String())
				}
				golden(t, "explain/"+tt.name+"."+format, out.Bytes())
			})
		}
	}
}

// TestExplainUsageErrors covers the flags a person gets wrong.
func TestExplainUsageErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"no scheme":  {"--url", "api.test/orders/7"},
		"bad header": {"--url", "https://api.test/x", "-H", "no-colon"},
		"no url":     {},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), append([]string{"explain", "--config", "testdata/explain/config.yaml"}, args...), &out, &errb); code != 1 || errb.Len() == 0 {
				t.Errorf("exit %d, stderr %q: want 1 and a message", code, errb.String())
			}
		})
	}
}

// TestDebugExplain serves POST /debug/explain as the metrics listener
// would: off unless enabled, a JSON request in, the explanation out, a
// bad body refused, and every other path left to the debug handler.
func TestDebugExplain(t *testing.T) {
	env, err := loadRuleEnv("testdata/explain/config.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.close()
	debug := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	snaps := func() *pipeline.Snapshot { return env.snap }
	post := func(t *testing.T, srv *httptest.Server, body string) (int, []byte) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/debug/explain", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	off := httptest.NewServer(withExplain(debug, false, snaps, time.Second))
	defer off.Close()
	if code, _ := post(t, off, `{"method":"GET","url":"https://api.test/orders/7"}`); code != http.StatusTeapot {
		t.Errorf("disabled: status %d, want the debug handler's", code)
	}

	on := httptest.NewServer(withExplain(debug, true, snaps, 5*time.Second))
	defer on.Close()
	code, body := post(t, on, `{"method":"DELETE","url":"https://api.test/orders/7","headers":{"Accept":"*/*"}}`)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var e pipeline.Explanation
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	if e.Answer.Reason != pipeline.ReasonMethodNotAllowed || len(e.Candidates) == 0 || e.Candidates[0].Rule != "orders-read" {
		t.Errorf("explanation %s", body)
	}
	code, body = post(t, on, `{"method":"GET","url":"https://api.test/orders/7","offline":true}`)
	if err := json.Unmarshal(body, &e); err != nil || code != http.StatusOK || e.Rule != "orders-read" || e.Answer.Decision != pipeline.OutcomeNotEvaluated {
		t.Errorf("offline: status %d %s", code, body)
	}
	for _, bad := range []string{`{"url":"no-scheme"}`, `{"methd":"GET"}`, `not json`} {
		if code, body := post(t, on, bad); code != http.StatusBadRequest {
			t.Errorf("%s: status %d %s, want 400", bad, code, body)
		}
	}
	resp, err := http.Get(on.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot {
		t.Errorf("/metrics: status %d, want the debug handler's", resp.StatusCode)
	}
}
