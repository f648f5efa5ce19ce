package hydrator

import (
	"context"
	"errors"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Issue #8 item 6 at run time: a hydrator answer cannot add a header no
// mutator may set. It may keep the headers earlier mutators set, and a Host
// it adds is dropped as the header mutator drops it.
func TestAnswerHeadersFollowTheMutatorPolicy(t *testing.T) {
	tests := []struct {
		name       string
		header     string // the answer's header object
		prior      pipeline.Header
		wantErr    string // pipeline.Error ID; "" = accepted
		wantHeader pipeline.Header
	}{
		{name: "ordinary header", header: `{"X-Role":["admin"]}`, wantHeader: pipeline.Header{"x-role": {"admin"}}},
		{name: "x-envoy header", header: `{"X-Envoy-Original-Path":["/public"]}`, wantErr: "hydrator_header_forbidden"},
		{name: "content-length", header: `{"Content-Length":["0"]}`, wantErr: "hydrator_header_forbidden"},
		{name: "transfer-encoding", header: `{"Transfer-Encoding":["chunked"]}`, wantErr: "hydrator_header_forbidden"},
		{name: "connection", header: `{"Connection":["close"]}`, wantErr: "hydrator_header_forbidden"},
		{name: "host is dropped", header: `{"Host":["internal"],"X-Role":["a"]}`, wantHeader: pipeline.Header{"x-role": {"a"}}},
		{name: "an allowed x-envoy header set earlier may stay", header: `{"X-Envoy-Retry-On":["5xx"]}`,
			prior: pipeline.Header{"x-envoy-retry-on": {"5xx"}}, wantHeader: pipeline.Header{"x-envoy-retry-on": {"5xx"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, reply(200, `{"subject":"alice","header":`+tt.header+`}`))
			r, s := fixture()
			if tt.prior != nil {
				s.Header = tt.prior
			}
			err := build(t, map[string]any{"api": map[string]any{"url": rec.srv.URL}}, nil, nil).Mutate(context.Background(), r, s)
			if tt.wantErr != "" {
				var pe *pipeline.Error
				if !errors.As(err, &pe) || pe.ID != tt.wantErr || pe.Status != 500 {
					t.Fatalf("err = %v, want 500 %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Header) != len(tt.wantHeader) {
				t.Fatalf("header = %v, want %v", s.Header, tt.wantHeader)
			}
			for k, v := range tt.wantHeader {
				if got := s.Header.Values(k); len(got) != len(v) || got[0] != v[0] {
					t.Fatalf("header = %v, want %v", s.Header, tt.wantHeader)
				}
			}
		})
	}
}
