package json

import (
	"errors"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestHandlesFollowsWhenConditions drives the when list through the
// handler's own config keys, as a rule file would write them.
func TestHandlesFollowsWhenConditions(t *testing.T) {
	unauthorized := pipeline.Unauthorized("jwt_missing", "", nil)
	forbidden := pipeline.Forbidden("deny", "", nil)
	internal := errors.New("boom")
	cond := func(c map[string]any) map[string]any { return map[string]any{"when": []any{c}} }
	req := func(m map[string]any) map[string]any { return map[string]any{"request": m} }
	browser := &pipeline.Request{Header: pipeline.Header{"accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}}, Source: pipeline.Peer{Address: "203.0.113.7"}}
	api := &pipeline.Request{Header: pipeline.Header{"accept": {"application/json"}, "content-type": {"application/json; charset=utf-8"}}, Source: pipeline.Peer{Address: "10.1.2.3"}}
	proxied := &pipeline.Request{Header: pipeline.Header{"x-forwarded-for": {"198.51.100.9, 10.0.0.1"}}, Source: pipeline.Peer{Address: "10.0.0.1"}}
	bare := &pipeline.Request{}

	tests := []struct {
		name string
		cfg  map[string]any
		r    *pipeline.Request
		err  error
		want bool
	}{
		{"no conditions handle everything", map[string]any{}, bare, internal, true},
		{"error list matches the status key", cond(map[string]any{"error": []any{"unauthorized"}}), bare, unauthorized, true},
		{"error list rejects another status", cond(map[string]any{"error": []any{"unauthorized"}}), bare, forbidden, false},
		{"plain errors count as internal_server_error", cond(map[string]any{"error": []any{"internal_server_error"}}), bare, internal, true},
		{"accept matches an exact type", cond(req(map[string]any{"header": map[string]any{"accept": []any{"application/json"}}})), api, forbidden, true},
		{"accept type wildcard in config matches", cond(req(map[string]any{"header": map[string]any{"accept": []any{"text/*"}}})), browser, forbidden, true},
		{"accept wildcard in the request is literal", cond(req(map[string]any{"header": map[string]any{"accept": []any{"application/json"}}})), browser, forbidden, false},
		{"missing accept defaults to octet-stream", cond(req(map[string]any{"header": map[string]any{"accept": []any{"application/octet-stream"}}})), bare, forbidden, true},
		{"content_type ignores parameters", cond(req(map[string]any{"header": map[string]any{"content_type": []any{"application/json"}}})), api, forbidden, true},
		{"content_type mismatch", cond(req(map[string]any{"header": map[string]any{"content_type": []any{"application/xml"}}})), api, forbidden, false},
		{"content_type type wildcard", cond(req(map[string]any{"header": map[string]any{"content_type": []any{"application/*"}}})), api, forbidden, true},
		{"content_type wildcard for another type", cond(req(map[string]any{"header": map[string]any{"content_type": []any{"text/*"}}})), api, forbidden, false},
		{"remote_ip inside the cidr", cond(req(map[string]any{"remote_ip": map[string]any{"match": []any{"10.0.0.0/8"}}})), api, forbidden, true},
		{"remote_ip outside the cidr", cond(req(map[string]any{"remote_ip": map[string]any{"match": []any{"10.0.0.0/8"}}})), browser, forbidden, false},
		{"remote_ip single address", cond(req(map[string]any{"remote_ip": map[string]any{"match": []any{"203.0.113.7"}}})), browser, forbidden, true},
		{"cidr ignores x-forwarded-for by default", cond(req(map[string]any{"cidr": map[string]any{"match": []any{"198.51.100.0/24"}}})), proxied, forbidden, false},
		{"cidr honours x-forwarded-for when asked", cond(req(map[string]any{"cidr": map[string]any{"match": []any{"198.51.100.0/24"}, "respect_forwarded_for_header": true}})), proxied, forbidden, true},
		{"error and request are ANDed", cond(map[string]any{"error": []any{"unauthorized"}, "request": map[string]any{"header": map[string]any{"accept": []any{"application/json"}}}}), api, forbidden, false},
		{"entries are ORed", map[string]any{"when": []any{map[string]any{"error": []any{"forbidden"}}, map[string]any{"error": []any{"unauthorized"}}}}, bare, unauthorized, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustNew(t, tt.cfg).Handles(tt.r, tt.err); got != tt.want {
				t.Fatalf("Handles = %v, want %v", got, tt.want)
			}
		})
	}
}
