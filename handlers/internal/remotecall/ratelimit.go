package remotecall

import (
	"net/http"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// rateLimitHeaders are the answer headers passed on with a 429: the ones
// Oathkeeper passes on, plus the IETF RateLimit fields.
var rateLimitHeaders = [...]string{
	"Retry-After",
	"RateLimit", "RateLimit-Policy", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
	"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Type",
}

// RateLimitHeader returns the rate-limit headers of a 429 answer, every
// value of each, for pipeline.Error.Header, so the client learns when to
// retry. No other header of the answer is copied. Nil when there are none.
func RateLimitHeader(h http.Header) pipeline.Header {
	var out pipeline.Header
	for _, name := range rateLimitHeaders {
		for _, v := range h.Values(name) {
			if out == nil {
				out = make(pipeline.Header, len(rateLimitHeaders))
			}
			out.Add(name, v)
		}
	}
	return out
}

// RateLimited returns a 429 *pipeline.Error with the answer's rate-limit
// headers.
func RateLimited(id, reason string, resp *outbound.Response) *pipeline.Error {
	e := pipeline.NewError(http.StatusTooManyRequests, id, reason, nil)
	e.Header = RateLimitHeader(resp.Header)
	return e
}
