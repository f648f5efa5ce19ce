package authz_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/authz"
)

func TestDecisionAPI(t *testing.T) {
	st := &store{}
	st.s.Store(snapshot(t))
	c := authz.NewChecker(st, zap.NewNop(), nil, testBudget)
	srv := httptest.NewServer(authz.NewAPIHandler(st, nil, authz.APIOptions{Decisions: c.Decisions(authz.DecisionsOptions{})}))
	defer srv.Close()

	tests := []struct {
		name       string
		method     string
		path       string
		header     map[string]string
		wantStatus int
		wantHeader map[string]string
		wantBody   string
	}{
		{name: "envoy http mode: path prefix and Host", method: "GET", path: "/decisions/public/a?q=1",
			header: map[string]string{"Host": "api.test", "X-Forwarded-Proto": "https"}, wantStatus: 200, wantHeader: map[string]string{"X-User": "anonymous"}},
		{name: "nginx: forwarded headers", method: "GET", path: "/decisions",
			header:     map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.test", "X-Forwarded-Uri": "/public/b?x=y"},
			wantStatus: 200, wantHeader: map[string]string{"X-User": "anonymous"}},
		{name: "nginx: X-Original-Uri", method: "GET", path: "/decisions",
			header:     map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.test", "X-Original-Uri": "/admin/x"},
			wantStatus: 403, wantBody: `"code":403`},
		{name: "forwarded method is the one judged", method: "GET", path: "/decisions",
			header:     map[string]string{"X-Forwarded-Method": "DELETE", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.test", "X-Forwarded-Uri": "/public/b"},
			wantStatus: 404},
		{name: "traversal normalised", method: "GET", path: "/decisions",
			header:     map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.test", "X-Forwarded-Uri": "/public/../admin/x"},
			wantStatus: 403},
		{name: "encoded slash rejected", method: "GET", path: "/decisions",
			header:     map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.test", "X-Forwarded-Uri": "/public/..%2Fadmin"},
			wantStatus: 400},
		{name: "no rule", method: "POST", path: "/decisions/nowhere", header: map[string]string{"Host": "api.test", "X-Forwarded-Proto": "https"}, wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			for k, v := range tt.header {
				if k == "Host" {
					req.Host = v
				} else {
					req.Header.Set(k, v)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("body %s, want %q", body, tt.wantBody)
			}
		})
	}
}
