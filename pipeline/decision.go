package pipeline

import "time"

// Denial is the response a denied client receives.
type Denial struct {
	Status int
	Header Header
	Body   []byte
}

// Decision is the outcome of one check, ready for a front door to put on
// the wire.
type Decision struct {
	// Allowed is true when the request may go upstream.
	Allowed bool
	// RuleID is the matched rule ("" when none matched).
	RuleID string
	// Subject is the authenticated subject, if any.
	Subject string
	// Session holds the mutations for the upstream (nil when denied). It
	// is valid until Release.
	Session *Session
	// Denial is the client response when not allowed.
	Denial Denial
	// Reason is a stable snake_case id for logs and metrics: "allowed",
	// "no_rule_match", "ambiguous_rule_match", "malformed_request",
	// "authentication_failed", ... or a handler's own Error.ID.
	Reason string
	// Handler names the handler that decided a denial ("jwt", "deny").
	Handler string
	// Err is the underlying failure (for logs; never sent to clients).
	Err error
	// Duration is the time Execute took.
	Duration time.Duration
	// Shadow is true when the rule ran in shadow mode. Allowed is then
	// true and WouldReason, WouldStatus say what enforcing would have
	// answered (ReasonAllowed and 0 for an allow).
	Shadow      bool
	WouldReason string
	WouldStatus int
	// RulesVersion is the version of the rule snapshot that decided (a
	// file hash or the control plane's version), for the decision log; ""
	// when no rules were loaded. The caller sets it.
	RulesVersion string

	// pooled is the session block of an allow, for Release.
	pooled *sessionBlock
}

// Release lets a later check reuse the session of an allow (and the
// header map its mutators filled), saving the allocations of making
// them, and clears d.Session. A front door calls it once the decision is
// done with: its response written and its log line made. Nothing may use
// d.Session, or the maps and slices reached through it, afterwards,
// through d or a copy of d; strings taken from them stay valid. Release
// one copy of a decision only: releasing two would hand one session to
// two checks. A decision that is kept (explain, tests) is simply never
// released. Release is a no-op for a denial and on a second call on d.
func (d *Decision) Release() {
	b := d.pooled
	if b == nil {
		return
	}
	d.pooled, d.Session = nil, nil
	m := b.made
	if m != nil && len(m) <= maxReusedHeaders {
		clear(m)
	} else {
		m = nil // a map grown big by an unusual rule is left to the GC
	}
	*b = sessionBlock{}
	b.made = m
	sessionPool.Put(b)
}

// maxReusedHeaders bounds the header map a released session keeps.
const maxReusedHeaders = 32
