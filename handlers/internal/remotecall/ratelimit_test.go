package remotecall

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestRateLimitHeaderCopiesOnlyRateLimitFields(t *testing.T) {
	tests := []struct {
		name string
		in   http.Header
		want pipeline.Header
	}{
		{name: "none", in: http.Header{"X-Other": {"1"}}},
		{name: "legacy and IETF fields, every value", in: http.Header{
			"Retry-After": {"7"}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Type": {"user"},
			"Ratelimit": {`"default";r=0;t=7`}, "Ratelimit-Policy": {`"default";q=10;w=1`, `"burst";q=2;w=1`},
			"X-Secret": {"not copied"}, "Set-Cookie": {"a=b"},
		}, want: pipeline.Header{
			"retry-after": {"7"}, "x-ratelimit-remaining": {"0"}, "x-ratelimit-type": {"user"},
			"ratelimit": {`"default";r=0;t=7`}, "ratelimit-policy": {`"default";q=10;w=1`, `"burst";q=2;w=1`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, RateLimitHeader(tt.in)); diff != "" {
				t.Errorf("RateLimitHeader (-want +got):\n%s", diff)
			}
		})
	}
}
