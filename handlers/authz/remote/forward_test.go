package remote

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestClientCredentialsReachTheRemoteOnlyWhenAsked is the regression test
// of issue #8 item 4: Oathkeeper sent the client's Authorization to every
// remote authorizer. Here the client's headers, Authorization and Cookie
// included, are sent only when forward_http_headers names them.
func TestClientCredentialsReachTheRemoteOnlyWhenAsked(t *testing.T) {
	tests := []struct {
		name    string
		forward []string
		headers map[string]string
		want    http.Header
	}{
		{name: "nothing by default", want: http.Header{"Authorization": nil, "Cookie": nil, "X-Client": nil}},
		{name: "authorization when listed", forward: []string{"Authorization"},
			want: http.Header{"Authorization": {"Bearer abc.def.ghi"}, "Cookie": nil}},
		{name: "cookie when listed, any case", forward: []string{"cookie"},
			want: http.Header{"Authorization": nil, "Cookie": {"sid=1", "theme=dark"}}},
		{name: "other headers, every value", forward: []string{"X-Client", "Cookie", "Authorization"},
			want: http.Header{"Authorization": {"Bearer abc.def.ghi"}, "Cookie": {"sid=1", "theme=dark"}, "X-Client": {"client-value"}}},
		{name: "a header template wins over a forwarded value", forward: []string{"Authorization"},
			headers: map[string]string{"Authorization": "Bearer {{ .Subject }}"}, want: http.Header{"Authorization": {"Bearer alice"}}},
		{name: "a listed header the request lacks is not sent", forward: []string{"X-Missing"}, want: http.Header{"X-Missing": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeRemote(t, status(http.StatusOK))
			a := newAuthorizer(t, Config{Remote: f.URL, ForwardHTTPHeaders: tt.forward, Headers: tt.headers})
			r := testRequest()
			r.Header["cookie"] = []string{"sid=1", "theme=dark"}
			if err := a.Authorize(context.Background(), r, testSession()); err != nil {
				t.Fatal(err)
			}
			got := f.seen().header
			for k, want := range tt.want {
				if diff := cmp.Diff(want, got[k]); diff != "" {
					t.Errorf("%s (-want +got):\n%s", k, diff)
				}
			}
			if got.Get("Content-Type") != "application/xml" {
				t.Errorf("Content-Type = %q, want the body's", got.Get("Content-Type"))
			}
		})
	}
}

// TestPartialBodyIsNeverSentAsTheWholeBody is the regression test of issue
// #8 item 4: with allow_partial_message Envoy sends only the first
// max_request_bytes of a larger body and marks the check with
// x-envoy-auth-partial-body: true. The remote authorizer judges the body,
// so a cut one is never sent as if whole: the request is denied with 413
// before any call.
func TestPartialBodyIsNeverSentAsTheWholeBody(t *testing.T) {
	tests := []struct {
		name      string
		values    []string
		wantCalls int32
	}{
		{name: "true", values: []string{"true"}, wantCalls: 0},
		{name: "TRUE", values: []string{"TRUE"}, wantCalls: 0},
		{name: "merged duplicates", values: []string{"false,true"}, wantCalls: 0},
		{name: "two values, one true", values: []string{"false", "true"}, wantCalls: 0},
		{name: "unknown value fails closed", values: []string{"1"}, wantCalls: 0},
		{name: "false is the whole body", values: []string{"false"}, wantCalls: 1},
		{name: "absent (no body buffering or a whole body)", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeRemote(t, status(http.StatusOK))
			a := newAuthorizer(t, Config{Remote: f.URL})
			r := testRequest()
			if tt.values != nil {
				r.Header["x-envoy-auth-partial-body"] = tt.values
			}
			err := a.Authorize(context.Background(), r, testSession())
			if n := f.calls.Load(); n != tt.wantCalls {
				t.Fatalf("remote calls = %d, want %d", n, tt.wantCalls)
			}
			if tt.wantCalls == 1 {
				if err != nil || f.seen().body != string(r.Body) {
					t.Fatalf("err = %v, body sent %q", err, f.seen().body)
				}
				return
			}
			if pipeline.StatusOf(err) != http.StatusRequestEntityTooLarge || pipeline.ReasonOf(err, "") != "remote_body_partial" {
				t.Fatalf("err = %v, want 413 remote_body_partial", err)
			}
		})
	}
}
