package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portcullis-authz/portcullis/pipeline/match"
)

// Stable reasons set by Execute; handlers refine them with Error.ID.
const (
	ReasonAllowed          = "allowed"
	ReasonMalformed        = "malformed_request"
	ReasonNoRule           = "no_rule_match"
	ReasonAmbiguous        = "ambiguous_rule_match"
	ReasonPathCase         = "ambiguous_path_case"
	ReasonMatchError       = "rule_match_error"
	ReasonNoSnapshot       = "rules_not_loaded"
	ReasonCanceled         = "request_canceled"
	ReasonDeadline         = "deadline"
	ReasonNoAuthenticator  = "authentication_handler_no_match"
	ReasonAuthnFailed      = "authentication_failed"
	ReasonAuthzDenied      = "authorization_denied"
	ReasonMutationFailed   = "mutation_failed"
	ReasonErrorHandlerFail = "error_handler_failed"
)

// Execute runs r through the snapshot: normalise, match exactly one rule,
// authenticate (first responsible wins), authorize (all must allow),
// mutate (in order), and on failure render the denial with the rule's
// error handlers, then the fallback list. It never returns an allow for a
// request it could not fully evaluate. A nil snapshot denies with 503.
func (s *Snapshot) Execute(ctx context.Context, r *Request) (d Decision) {
	start := time.Now()
	s.execute(ctx, r, &d)
	d.Duration = time.Since(start)
	return d
}

// execute is Execute writing to d. Selecting the rule (route), running
// its handlers (Rule.run) and rendering a denial (refuse) are functions of
// their own, so that the frames of the code that only runs on a denial
// are not on the stack while the handlers run: a check often runs on a
// fresh goroutine, whose stack starts small, and every doubling of it is
// a copy.
func (s *Snapshot) execute(ctx context.Context, r *Request, d *Decision) {
	if s == nil {
		refuse(ctx, d, s, nil, r, "", Unavailable(ReasonNoSnapshot, "no rules loaded yet", nil), refuseBeforeRule)
		return
	}
	hit, err := s.route(ctx, r)
	if err != nil {
		refuse(ctx, d, s, nil, r, "", err, refuseBeforeRule)
		return
	}
	rule := s.rules[hit.Index]
	// One allocation for the session and its URL, none when a released
	// decision left one in the pool.
	blk := sessionPool.Get().(*sessionBlock)
	blk.url = r.url()
	sess := &blk.Session
	sess.MatchContext = MatchContext{
		RegexpCaptureGroups: hit.Captures,
		URL:                 &blk.url,
		Method:              r.Method,
		Header:              r.Header,
	}
	if sess.MatchContext.RegexpCaptureGroups == nil {
		sess.MatchContext.RegexpCaptureGroups = []string{}
	}
	// A denial drops the session without returning it to the pool: a
	// failed handler may still hold it (a call it gave up on).
	if name, err := rule.run(ctx, r, sess); err != nil {
		refuse(ctx, d, s, rule, r, name, err, refuseHandlerFailed)
		return
	}
	// A handler may have finished just after the deadline without
	// noticing it: an allow computed once the budget is spent is not one
	// we want to give.
	if err := interrupted(ctx, nil); err != nil {
		refuse(ctx, d, s, rule, r, "", err, refuseLate)
		return
	}
	d.Allowed, d.RuleID, d.Subject, d.Session, d.Reason = true, rule.ID, sess.Subject, sess, ReasonAllowed
	d.pooled = blk
	if rule.shadow {
		d.Shadow, d.WouldReason = true, ReasonAllowed
	}
}

// refuseStage says where execute failed, which decides how refuse renders
// the denial.
type refuseStage int

const (
	// refuseBeforeRule: no rule was selected (or no snapshot loaded).
	refuseBeforeRule refuseStage = iota
	// refuseHandlerFailed: a handler of the rule failed (Snapshot.failed).
	refuseHandlerFailed
	// refuseLate: every handler passed, but the check's context ended.
	refuseLate
)

// refuse writes to d the denial of r for err at stage. It is kept out of
// line so that the temporaries of rendering a denial are on the stack
// only when there is one.
//
//go:noinline
func refuse(ctx context.Context, d *Decision, s *Snapshot, rule *Rule, r *Request, handler string, err error, stage refuseStage) {
	switch {
	case s == nil:
		*d = lastResort(r, err)
	case stage == refuseHandlerFailed:
		*d = s.failed(ctx, rule, r, handler, err)
	case stage == refuseLate && rule.shadow:
		*d = shadowAllowed(rule, r, s.deny(ctx, rule, r, "", err))
	default:
		*d = s.deny(ctx, rule, r, "", err)
	}
}

// route canonicalizes r and selects the one rule that applies to it,
// returning its hit, or the failure to deny r with: a malformed request,
// an ended check, no rule, more than one, or a guard that found the
// selection unsafe.
func (s *Snapshot) route(ctx context.Context, r *Request) (match.Hit, error) {
	if err := s.canonicalize(r); err != nil {
		return match.Hit{}, err
	}
	if err := interrupted(ctx, nil); err != nil {
		return match.Hit{}, err
	}

	var buf [2]match.Hit
	var hits []match.Hit
	var err error
	routed := r.Context[ContextRuleID]
	if routed != "" {
		hits, err = s.byContext(routed, r, buf[:0])
	} else {
		hits, err = s.index.Lookup(r.Method, r.Scheme, r.Host, r.Path, buf[:0])
		if err == nil {
			hits, err = s.selectHits(r, hits)
		}
	}
	// The guards look for a broader rule the index could have picked;
	// a route that names its rule has none.
	if err == nil && len(hits) <= 1 && routed == "" && trailingSlashStripped(r) {
		hits, err = s.slashGuard(r, hits)
	}
	if err == nil && len(hits) == 1 && routed == "" && !s.caseSensitiveUpstreams {
		var other *Rule
		if other, err = s.caseGuard(r, hits[0].Index); other != nil {
			return match.Hit{}, NewError(http.StatusBadRequest, ReasonPathCase,
				fmt.Sprintf("path differs only in letter case from the path of rule %q, which an upstream that ignores case would apply; rule %q matched (set access_rules.case_sensitive_upstreams if no upstream ignores case)",
					other.ID, s.rules[hits[0].Index].ID), nil)
		}
	}
	switch {
	case ReasonOf(err, "") == ReasonRouteRuleMismatch:
		return match.Hit{}, err
	case err != nil:
		return match.Hit{}, Internal(ReasonMatchError, "rule matching failed", err)
	case len(hits) == 0:
		return match.Hit{}, s.noMatch(r)
	case len(hits) > 1:
		return match.Hit{}, Internal(ReasonAmbiguous,
			fmt.Sprintf("rules %q and %q both match", s.rules[hits[0].Index].ID, s.rules[hits[1].Index].ID), nil)
	}
	return hits[0], nil
}

// run runs the rule's handlers over sess: authenticators, authorizers,
// mutators. On failure it returns the handler's name and its error, with
// the reason of its stage if the handler gave none.
func (rule *Rule) run(ctx context.Context, r *Request, sess *Session) (string, error) {
	obs := stepObserver(ctx)
	if name, err := rule.authenticate(ctx, obs, r, sess); err != nil {
		return name, withReason(err, ReasonAuthnFailed)
	}
	for i, a := range rule.authorizers {
		sctx, done := startStep(ctx, obs, Step{Kind: StepAuthorizer, RuleID: rule.ID, Handler: a.name, Index: i})
		err := a.h.Authorize(sctx, r, sess)
		done(err)
		if err != nil {
			return a.name, withReason(err, ReasonAuthzDenied)
		}
	}
	for i, m := range rule.mutators {
		sctx, done := startStep(ctx, obs, Step{Kind: StepMutator, RuleID: rule.ID, Handler: m.name, Index: i})
		err := m.h.Mutate(sctx, r, sess)
		done(err)
		if err != nil {
			return m.name, withReason(err, ReasonMutationFailed)
		}
	}
	return "", nil
}

// sessionBlock is the session of one check with the URL its MatchContext
// points to, allocated together.
type sessionBlock struct {
	Session
	url url.URL
}

// sessionPool holds the session blocks of released decisions.
var sessionPool = sync.Pool{New: func() any { return new(sessionBlock) }}

// canonicalize puts the identity of r in the one form rules are matched
// against, the same for both front doors, before any rule runs: the host
// in match.CanonicalHost form, a path within the snapshot's limits and
// normalised by match.NormalizePath (unless the caller set Path), and no
// '#' anywhere in the target. Anything else is a 400 malformed_request.
func (s *Snapshot) canonicalize(r *Request) error {
	h, err := match.CanonicalHost(r.Scheme, r.Host)
	if err != nil {
		return NewError(http.StatusBadRequest, ReasonMalformed, "malformed request host", err)
	}
	r.Host = h
	if strings.IndexByte(r.RawQuery, '#') >= 0 {
		return NewError(http.StatusBadRequest, ReasonMalformed, "malformed request query",
			errors.New("'#' in the query: a request target has no fragment"))
	}
	if err := s.pathLimits.Check(r.RawPath); err != nil {
		return NewError(http.StatusBadRequest, ReasonMalformed, "malformed request path", err)
	}
	if r.Path == "" && r.RawPath != "" {
		p, err := match.NormalizePath(r.RawPath)
		if err != nil {
			return NewError(http.StatusBadRequest, ReasonMalformed, "malformed request path", err)
		}
		r.Path = p
	}
	return nil
}

// caseGuard closes the gap that case-sensitive rules open in front of an
// upstream that serves paths case-insensitively: /ADMIN/x misses the rule
// for /admin/<.*>, a broader rule may catch it, and the upstream serves
// /admin/x. It returns a rule other than the selected one (index sel)
// that would apply if the path were cased like that rule's literal path
// prefix (match.Index.CaseVariants), or nil. A trailing slash that
// normalisation removed is put back for a second look, as in slashGuard.
func (s *Snapshot) caseGuard(r *Request, sel int) (*Rule, error) {
	var buf [1]match.Hit
	paths := [2]string{r.Path}
	if trailingSlashStripped(r) {
		paths[1] = r.Path + "/"
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		alt, err := s.index.CaseVariants(r.Method, r.Scheme, r.Host, p, sel, buf[:0])
		switch {
		case err != nil:
			return nil, err
		case len(alt) > 0:
			return s.rules[alt[0].Index], nil
		}
	}
	return nil, nil
}

// trailingSlashStripped reports whether normalisation removed a trailing
// slash the upstream will still see.
func trailingSlashStripped(r *Request) bool {
	return len(r.RawPath) > 1 && r.RawPath[len(r.RawPath)-1] == '/' && r.Path != "" && r.Path[len(r.Path)-1] != '/'
}

// slashGuard closes a gap that Oathkeeper's path cleaning opens: /admin/
// is matched as /admin, so a rule for /admin/<.*> misses it and a broader
// rule may catch it, while the upstream serves /admin/. If the path with
// its slash would have selected a different rule, the request is
// ambiguous and denied rather than judged by the broader rule
// (SECURITY_CASES B-10).
func (s *Snapshot) slashGuard(r *Request, hits []match.Hit) ([]match.Hit, error) {
	var buf [2]match.Hit
	alt, err := s.index.Lookup(r.Method, r.Scheme, r.Host, r.Path+"/", buf[:0])
	if err == nil {
		alt, err = s.selectHits(r, alt)
	}
	if err != nil || len(alt) == 0 || len(hits) == 0 {
		return hits, err
	}
	for _, a := range alt {
		if a.Index != hits[0].Index {
			return append(hits, a), nil
		}
	}
	return hits, nil
}

// ContextRuleID is the Envoy context_extensions key that names the rule
// for a route directly (set per route in Envoy's ExtAuthzPerRoute), so
// URL matching is skipped. It comes from Envoy's config, never from the
// client.
const ContextRuleID = "rule_id"

// byContext selects the rule named by the route. An unknown id matches
// nothing (the no-match status). A request the rule's match.url or
// match.methods do not cover is a route_rule_mismatch (routeMismatch):
// the route and the rule disagree, and the request is denied rather than
// judged by a rule that was not written for it.
func (s *Snapshot) byContext(id string, r *Request, dst []match.Hit) ([]match.Hit, error) {
	rule, ok := s.byID[id]
	if !ok || rule.Spec.Match == nil {
		return dst, nil
	}
	methodOK := methodAllowed(rule.Spec.Match.Methods, r.Method)
	caps, urlOK, err := rule.pattern.Match(match.MatchString(r.Scheme, r.Host, r.Path))
	switch {
	case err != nil:
		return dst, err
	case !methodOK || !urlOK:
		return dst, s.routeMismatch(rule, r, urlOK)
	}
	hits, err := s.selectHits(r, append(dst, match.Hit{Index: rule.index, Captures: caps}))
	if err == nil && len(hits) == 0 {
		// The rule's match.headers rule the request out: as for its url.
		err = NewError(s.noMatchStatus, ReasonRouteRuleMismatch,
			fmt.Sprintf("the route names rule %q, but the request lacks the headers its match.headers requires", rule.ID), nil)
	}
	return hits, err
}

func methodAllowed(methods []string, m string) bool {
	for _, x := range methods {
		if strings.EqualFold(x, m) {
			return true
		}
	}
	return false
}

// authenticate runs the chain: ErrSkip passes on, the first success wins,
// any other error stops it unless the entry falls through. It returns the
// name of the handler that refused the credential with its error, or, when
// every handler skipped, a 401 whose reason is the most specific "why not
// responsible" one gave (mtls_required, ...) and whose cause names each
// handler's reason, for the decision log.
func (rule *Rule) authenticate(ctx context.Context, obs StepObserver, r *Request, s *Session) (string, error) {
	var last error = ErrSkip
	lastName := ""
	var skipped [maxListed]error // no allocation unless every handler skips
	for i, a := range rule.authenticators {
		sctx, done := startStep(ctx, obs, Step{Kind: StepAuthenticator, RuleID: rule.ID, Handler: a.name, Index: i})
		err := a.h.Authenticate(sctx, r, s)
		done(err)
		switch {
		case err == nil:
			return a.name, nil
		case errors.Is(err, ErrSkip):
			if errors.Is(last, ErrSkip) && ReasonOf(last, "") == "" {
				last = err
			}
			if i < maxListed {
				skipped[i] = err
			}
			continue
		case a.fallthrough_:
			// Keep the failure to report if nobody later succeeds, and
			// clear whatever the failed handler may have half-written.
			last, lastName = err, a.name
			s.Subject, s.Extra = "", nil
			continue
		default:
			return a.name, err
		}
	}
	if lastName == "" {
		return "", Unauthorized(ReasonOf(last, ReasonNoAuthenticator), "access credentials are missing or not supported by this rule",
			noneResponsible(rule, skipped[:min(len(rule.authenticators), maxListed)]))
	}
	return lastName, last
}

// withReason makes sure err carries a reason id, wrapping plain errors
// into a 500 (an authenticator returning a bare error is an internal fault,
// not a client error).
func withReason(err error, reason string) error {
	var pe *Error
	if errors.As(err, &pe) {
		if pe.ID == "" {
			c := *pe
			c.ID = reason
			return &c
		}
		return err
	}
	return Internal(reason, "", err)
}

// interrupted returns the denial for a check whose context has ended, or
// nil while it runs: 503 deadline when its deadline passed (the front
// door's budget, see authz), 503 request_canceled when the caller went
// away. cause, if not nil, is the handler failure it stands for, kept for
// the decision log.
func interrupted(ctx context.Context, cause error) error {
	err := ctx.Err()
	if err == nil {
		// A call cut at the check's deadline by a timer of its own may
		// return a moment before the context's timer fires.
		if dl, ok := ctx.Deadline(); !ok || time.Now().Before(dl) {
			return nil
		}
		err = context.DeadlineExceeded
	}
	if cause == nil {
		cause = err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Unavailable(ReasonDeadline, "the check ran out of time", cause)
	}
	return Unavailable(ReasonCanceled, "request canceled", cause)
}

// failed denies after a handler failed. If the check's context ended
// meanwhile, the failure is almost always that end seen through the
// handler (a remote call cut short, a wait given up), so the answer is
// interrupted's: one reason for a spent budget, whichever handler was
// running, rather than each dependency's own timeout or outage reason.
func (s *Snapshot) failed(ctx context.Context, rule *Rule, r *Request, handler string, err error) Decision {
	if ie := interrupted(ctx, err); ie != nil {
		err = ie
	}
	if rule != nil && rule.shadow {
		return shadowAllowed(rule, r, s.deny(ctx, rule, r, handler, err))
	}
	return s.deny(ctx, rule, r, handler, err)
}

func (s *Snapshot) deny(ctx context.Context, rule *Rule, r *Request, handler string, err error) Decision {
	d := Decision{RuleID: "", Handler: handler, Err: err, Reason: ReasonOf(err, ReasonAuthnFailed)}
	var handlers []step[ErrorHandler]
	if rule != nil {
		d.RuleID = rule.ID
		handlers = rule.errorHandlers
	}
	obs := stepObserver(ctx)
	for _, list := range [2][]step[ErrorHandler]{handlers, s.fallback} {
		for i, eh := range list {
			if !eh.h.Handles(r, err) {
				continue
			}
			sctx, done := startStep(ctx, obs, Step{Kind: StepErrorHandler, RuleID: d.RuleID, Handler: eh.name, Index: i})
			den, herr := eh.h.HandleError(sctx, r, err)
			done(herr)
			if herr != nil {
				ld := lastResort(r, Internal(ReasonErrorHandlerFail, "error handler "+eh.name+" failed", herr))
				ld.RuleID, ld.Handler, ld.Reason = d.RuleID, handler, d.Reason
				return ld
			}
			d.Denial = den
			return d
		}
	}
	// Every handler's when list ruled the failure out. Oathkeeper answers
	// 500 then, whatever the failure was, and so does Portcullis (issue #10
	// item 5); the decision keeps the failure's reason, and its error says
	// why the status is 500.
	d.Err = fmt.Errorf("no error handler matched, answering 500: %w", err)
	d.Denial = Denial{Status: http.StatusInternalServerError, Header: Header{"content-type": {"application/json"}}, Body: []byte(noHandlerBody)}
	return d
}

// noHandlerBody is the herodot-shaped 500 Oathkeeper writes when no error
// handler matches.
const noHandlerBody = `{"error":{"code":500,"status":"Internal Server Error","message":"An internal server error occurred, please contact the system administrator"}}`

// lastResort renders a minimal JSON denial when no error handler applies.
func lastResort(r *Request, err error) Decision {
	status := StatusOf(err)
	body := `{"error":{"code":` + strconv.Itoa(status) + `,"status":` + strconv.Quote(http.StatusText(status)) + `}}`
	return Decision{
		Err:    err,
		Reason: ReasonOf(err, "denied"),
		Denial: Denial{Status: status, Header: Header{"content-type": {"application/json"}}, Body: []byte(body)},
	}
}

// Reject renders the denial for a request that failed before rule
// matching (a malformed check), through the fallback error handlers. It is
// safe on a nil snapshot.
func (s *Snapshot) Reject(ctx context.Context, r *Request, err error) Decision {
	if s == nil {
		return lastResort(r, err)
	}
	return s.deny(ctx, nil, r, "", err)
}
