package outbound

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestDoEnforcesLimits(t *testing.T) {
	var gotTrace string
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotTrace = r.Header.Get("traceparent")
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte("hello"))
		case "/big":
			w.Write([]byte(strings.Repeat("x", 2048)))
		case "/redirect":
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
		case "/slow":
			// The body never ends: only the client's timeout can.
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	defer srv.Close()
	defer close(release) // runs first, so that Close does not wait
	// The timeout is a minute, which no answer reaches however busy the
	// machine, except for the body that never ends.
	c := New(Options{Timeout: time.Minute, MaxBodyBytes: 1024})
	short := New(Options{Timeout: 300 * time.Millisecond, MaxBodyBytes: 1024})
	in := &pipeline.Request{Header: pipeline.Header{"traceparent": {"00-abc-def-01"}}}

	tests := []struct {
		name    string
		path    string
		wantErr error
		timeout bool
	}{
		{name: "ok", path: "/ok?secret=s3cr3t"},
		{name: "body over limit", path: "/big", wantErr: ErrBodyTooLarge},
		{name: "redirect refused", path: "/redirect", wantErr: ErrRedirect},
		{name: "slow body times out", path: "/slow?token=s3cr3t", timeout: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
			client := c
			if tt.timeout {
				client = short
			}
			resp, err := client.Do(context.Background(), req, in)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case tt.timeout:
				if err == nil || !IsTimeout(err) {
					t.Fatalf("err = %v, want timeout", err)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Fatalf("error leaks the query: %v", err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if string(resp.Body) != "hello" || gotTrace != "00-abc-def-01" {
					t.Fatalf("body %q trace %q", resp.Body, gotTrace)
				}
			}
		})
	}
}
