package pipeline

import "net/url"

// Session is what the handlers of one request learn and decide. It has the
// shape of Oathkeeper's AuthenticationSession, so rule templates and the
// hydrator wire format carry over unchanged; the fields after MatchContext
// are Portcullis extensions that reach Envoy's OkHttpResponse.
//
// A Session belongs to one request and one goroutine: handlers mutate it in
// chain order, no locking.
type Session struct {
	// Subject is the authenticated identity ("" for noop).
	Subject string `json:"subject"`
	// Extra holds identity attributes, e.g. the JWT claims.
	Extra map[string]any `json:"extra"`
	// Header holds the headers to set on the upstream request (and to return
	// from the decision API). A mutator that sets a header owns it: the
	// front door overwrites any client-sent copy.
	Header Header `json:"header"`
	// MatchContext describes the matched request.
	MatchContext MatchContext `json:"match_context"`

	// RemoveHeaders names request headers to strip before the request goes
	// upstream (e.g. the inbound Authorization after an id_token swap).
	RemoveHeaders []string `json:"-"`
	// ResponseHeader holds headers to add to the client response on allow.
	ResponseHeader Header `json:"-"`
	// SetQuery holds query parameters to set (overwrite) upstream.
	SetQuery map[string]string `json:"-"`
	// RemoveQuery names query parameters to remove upstream.
	RemoveQuery []string `json:"-"`
	// Metadata holds fields for Envoy's dynamic_metadata (access logs, rate
	// limits, RBAC), in addition to rule_id and subject.
	Metadata map[string]any `json:"-"`

	// vals backs the values of the first headers SetHeader sets, so that
	// the few headers of a typical rule cost no allocation of their own;
	// nvals counts the slots used. Each value is handed out as a slice of
	// capacity one, so Header.Add copies it instead of writing into the
	// next slot, and a slot is never reused.
	vals  [sessionVals]string
	nvals int
	// made is the header map SetHeader made, which a session reused
	// after Decision.Release keeps (empty) for the next check.
	made Header
}

// sessionVals is how many header values a Session stores inline: enough
// for the header mutators rules usually have (a subject, a tenant, an
// email, roles).
const sessionVals = 4

// MatchContext is the matched request as templates see it.
type MatchContext struct {
	// RegexpCaptureGroups holds every capture group of the matched rule's
	// regexp, nested groups included; empty for the glob strategy.
	RegexpCaptureGroups []string `json:"regexp_capture_groups"`
	// URL is the normalised request URL; its query is kept in RawQuery.
	URL *url.URL `json:"url"`
	// Method is the request method.
	Method string `json:"method"`
	// Header holds the original request headers.
	Header Header `json:"header"`
}

// SetHeader sets an upstream header, replacing an earlier value.
func (s *Session) SetHeader(key, value string) {
	if s.Header == nil {
		// A map this session made before is reused only while empty: a
		// handler may have dropped it (Header = nil) after filling it.
		if len(s.made) != 0 || s.made == nil {
			s.made = make(Header, 4)
		}
		s.Header = s.made
	}
	if s.nvals == len(s.vals) {
		s.Header.Set(key, value)
		return
	}
	n := s.nvals
	s.vals[n] = value
	s.nvals++
	s.Header[lowerASCII(key)] = s.vals[n : n+1 : n+1]
}
