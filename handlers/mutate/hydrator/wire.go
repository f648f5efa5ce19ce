package hydrator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// wireSession is Oathkeeper's AuthenticationSession as its hydrator sends
// and reads it. Headers are http.Header with canonical keys, as Oathkeeper
// writes them, while pipeline.Header keeps Envoy's lower-case keys.
type wireSession struct {
	Subject      string         `json:"subject"`
	Extra        map[string]any `json:"extra"`
	Header       http.Header    `json:"header"`
	MatchContext wireMatch      `json:"match_context"`
}

// wireMatch is Oathkeeper's MatchContext. URL is encoded by encoding/json
// as Go's url.URL struct ({"Scheme":...,"Host":...,"Path":...}), which is
// what Oathkeeper's hydrator sends.
type wireMatch struct {
	RegexpCaptureGroups []string    `json:"regexp_capture_groups"`
	URL                 *url.URL    `json:"url"`
	Method              string      `json:"method"`
	Header              http.Header `json:"header"`
}

// wireAnswer is the part of the API's answer the hydrator reads.
type wireAnswer struct {
	Subject string         `json:"subject"`
	Extra   map[string]any `json:"extra"`
	Header  http.Header    `json:"header"`
}

// traceHeaders differ on every request without changing what the API
// answers; they are left out of the cache key (but still sent).
var traceHeaders = map[string]bool{
	"traceparent": true, "tracestate": true, "baggage": true, "x-request-id": true,
	"b3": true, "x-b3-traceid": true, "x-b3-spanid": true, "x-b3-parentspanid": true,
	"x-b3-sampled": true, "x-b3-flags": true, "x-ot-span-context": true, "uber-trace-id": true,
	"x-cloud-trace-context": true, "x-amzn-trace-id": true, "grpc-trace-bin": true,
	"sentry-trace": true, "x-datadog-trace-id": true, "x-datadog-parent-id": true,
	"x-datadog-sampling-priority": true, "x-envoy-attempt-count": true,
}

// unforwarded are request headers the call never copies besides the
// pseudo-headers and those net/http writes itself (remotecall.ReservedHeader):
// those this mutator sets, and Accept-Encoding, dropped so the transport
// can negotiate (and decode) compression on its own.
var unforwarded = map[string]bool{"content-type": true, "accept-encoding": true, "expect": true}

// forwardable reports whether the request header with lower-case name k is
// sent to the API.
func forwardable(k string) bool {
	return (len(k) == 0 || k[0] != ':') && !unforwarded[k] && !remotecall.ReservedHeader(k)
}

// document renders the session as the API receives it. With forKey, the
// per-request trace headers are left out so equal sessions hash equally.
func document(r *pipeline.Request, s *pipeline.Session, forKey bool) ([]byte, error) {
	u := s.MatchContext.URL
	if u == nil {
		u = r.URL()
	}
	reqHeader := s.MatchContext.Header
	if reqHeader == nil {
		reqHeader = r.Header
	}
	method := s.MatchContext.Method
	if method == "" {
		method = r.Method
	}
	return json.Marshal(wireSession{
		Subject: s.Subject,
		Extra:   s.Extra,
		Header:  canonical(s.Header, forKey),
		MatchContext: wireMatch{
			RegexpCaptureGroups: s.MatchContext.RegexpCaptureGroups,
			URL:                 u,
			Method:              method,
			Header:              canonical(reqHeader, forKey),
		},
	})
}

// canonical converts to http.Header, dropping pseudo-headers (which
// Oathkeeper never saw) and, with skipTrace, the trace headers. Nil stays
// nil and encodes as null, as Oathkeeper's unset headers do.
func canonical(h pipeline.Header, skipTrace bool) http.Header {
	if h == nil {
		return nil
	}
	out := make(http.Header, len(h))
	for k, vs := range h {
		if len(k) > 0 && k[0] == ':' || skipTrace && traceHeaders[strings.ToLower(k)] {
			continue
		}
		ck := http.CanonicalHeaderKey(k)
		out[ck] = append(out[ck], vs...)
	}
	return out
}

// forwarded returns the original request headers to send to the API.
func forwarded(r *pipeline.Request) http.Header {
	out := make(http.Header, len(r.Header)+3)
	for k, vs := range r.Header {
		if !forwardable(strings.ToLower(k)) {
			continue
		}
		ck := http.CanonicalHeaderKey(k)
		out[ck] = append(out[ck], vs...)
	}
	return out
}

// query merges the original request's query with the configured one; the
// configured parameters win, so a client cannot override them.
func query(base *url.URL, baseQuery url.Values, raw string) string {
	if raw == "" {
		return base.RawQuery
	}
	q, _ := url.ParseQuery(raw) // keep what parses, as Oathkeeper's r.URL.Query()
	for k, vs := range baseQuery {
		q[k] = vs
	}
	return q.Encode()
}
