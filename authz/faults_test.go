//go:build faults

// These tests assert answers within Envoy's 200ms deadline under -race,
// so they need the CPU to themselves: .ci/run runs them in their own step
// after the rest of the suite (go test -race -tags faults -run
// 'FaultInjection|Soak' ./authz/), where the machine is otherwise idle.

package authz_test

// Fault injection end to end (issue #9 item 7): every remote dependency a
// rule can have (the JWKS endpoint, the introspection endpoint, the session
// store behind cookie_session and bearer_token, the remote and remote_json
// authorizers and the hydrator) is made slow, hanging, flapping, or made to
// answer a huge or a garbage body, or to refuse connections, while checks
// arrive through the real gRPC server with Envoy's default 200ms deadline.
// Every check must be answered in-band before that deadline with an answer
// that fits the fault (its own reason, the circuit breaker's once the
// failures opened it, or deadline when the budget ran out), the fault must
// show as its own reason at least once, and the rule must allow again by
// itself once the fault is cleared. Every rule sets a short
// circuit_breaker.open_for so that recovery takes a fraction of a second.
//
// The time to answer of each fault is logged (p50/p99 against the budget,
// next to the longest stall of the whole test process) but never asserted
// beyond "before the client deadline": the machine running the tests is
// shared.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	// faultClientDeadline is the deadline Envoy gives an ext_authz call
	// by default; the test client uses it for every check.
	faultClientDeadline = 200 * time.Millisecond
	// faultBudget is the server's default check budget
	// (serve.check_timeout), which answers are reported against.
	faultBudget = 180 * time.Millisecond
	// faultSlowDelay is how long a slow dependency takes to answer: well
	// past the budget and the client's deadline.
	faultSlowDelay = time.Second
	// faultSamples checks are sent per fault, faultConcurrency at a time.
	faultSamples     = 30
	faultConcurrency = 6
	// faultRecoveryLimit bounds the wait for a rule to allow again after
	// its fault is cleared. Recovery is expected within about a second
	// (the breaker's open period, the JWKS retry backoff); the limit only
	// keeps a broken recovery from hanging the suite.
	faultRecoveryLimit = 20 * time.Second
)

// faultReason is a denial: its reason id and HTTP status.
type faultReason struct {
	id     string
	status int
}

// faultDeadline is the answer of a check whose budget ran out. It is a
// correct answer to every fault: on a loaded machine any check may run
// out of time.
var faultDeadline = faultReason{"deadline", 503}

// faultOutcome is what a check may be answered with while a fault lasts.
type faultOutcome struct {
	// allow is true when an allow is correct too: a slow JWKS endpoint
	// still delivers its keys to the background refresh, and a flapping
	// dependency answers every other call.
	allow bool
	// sign is the denial that names the fault; at least one check of the
	// case must get it (an allow, when sign is the zero value).
	sign faultReason
	// also lists the other correct denials (the circuit breaker's, once
	// the failures have opened it).
	also []faultReason
}

// accepts reports whether r is a correct answer.
func (o faultOutcome) accepts(r secResult) bool {
	if r.allowed() {
		return o.allow
	}
	got := faultReason{r.reason(), r.status()}
	return got == o.sign || got == faultDeadline || slices.Contains(o.also, got)
}

func (o faultOutcome) String() string {
	return fmt.Sprintf("a denial with one of %v (allow correct: %v)", append([]faultReason{o.sign, faultDeadline}, o.also...), o.allow)
}

// faultReasons are a dependency's reasons for each kind of failure.
type faultReasons struct {
	timeout, unreachable, open, failed, tooLarge, invalid faultReason
}

// outcomes maps each fault to its outcome for a dependency called on each
// check through a circuit breaker.
func (r faultReasons) outcomes() map[fault]faultOutcome {
	return map[fault]faultOutcome{
		faultSlow: {sign: r.timeout, also: []faultReason{r.open}},
		faultHang: {sign: r.timeout, also: []faultReason{r.open}},
		faultFlap: {allow: true, also: []faultReason{r.failed, r.open}},
		// Reading a megabyte may outlast the call's timeout on a busy
		// machine: that is a dependency too slow to use, and its reason.
		faultHuge:    {sign: r.tooLarge, also: []faultReason{r.timeout}},
		faultGarbage: {sign: r.invalid},
		faultRefused: {sign: r.unreachable, also: []faultReason{r.open}},
	}
}

// faultDep is one dependency put through every fault.
type faultDep struct {
	name string
	// ok is the dependency's healthy answer.
	ok http.HandlerFunc
	// rules is the rule list; %[1]s is the fault server's base URL.
	rules string
	// check returns the i-th check request of a case.
	check func(tb testing.TB, i int) *authv3.CheckRequest
	// want is the outcome of each fault.
	want map[fault]faultOutcome
}

// faultJSON writes a 200 JSON answer.
func faultJSON(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

// faultBreaker is the circuit_breaker block of every rule: an open
// period short enough that recovering from each fault takes a fraction of
// a second.
const faultBreaker = `{open_for: 250ms}`

// faultDeps lists the dependencies.
func faultDeps(tb testing.TB) []faultDep {
	tb.Helper()
	secKeys(tb)
	jwks := secIdPKeys(tb)
	token := secToken(tb, nil, map[string]any{"exp": time.Now().Add(time.Hour).Unix()})
	get := func(path string, headers map[string]string) func(testing.TB, int) *authv3.CheckRequest {
		return func(testing.TB, int) *authv3.CheckRequest { return secCheck("GET", secHost, path, headers) }
	}
	session := `{"subject":"alice","extra":{"tier":"gold"}}`
	introspected := fmt.Sprintf(`{"active":true,"sub":"alice","exp":%d}`, time.Now().Add(time.Hour).Unix())
	jwksDown := faultReason{"jwks_unavailable", 503}
	remote := func(prefix string) faultReasons {
		return faultReasons{
			timeout:     faultReason{prefix + "_unavailable", 503},
			unreachable: faultReason{prefix + "_unavailable", 503},
			open:        faultReason{prefix + "_circuit_open", 503},
			failed:      faultReason{prefix + "_unexpected_status", 500},
			tooLarge:    faultReason{prefix + "_response_too_large", 500},
			invalid:     faultReason{prefix + "_response_invalid", 500},
		}
	}
	remoteWant := remote("remote").outcomes()
	// remote decides by the status alone and never reads a 200's body,
	// as in Oathkeeper: garbage after a 200 is an allow.
	remoteWant[faultGarbage] = faultOutcome{allow: true}
	sessionWant := faultReasons{
		timeout:     faultReason{"session_store_timeout", 403},
		unreachable: faultReason{"session_store_unreachable", 403},
		open:        faultReason{"session_store_circuit_open", 503},
		failed:      faultReason{"session_rejected", 401},
		tooLarge:    faultReason{"session_response_too_large", 500},
		invalid:     faultReason{"session_response_invalid", 403},
	}.outcomes()
	return []faultDep{
		{
			name: "jwks",
			ok:   faultJSON(string(jwks)),
			rules: `
- id: F-jwks
  match: {url: "https://api.test/jwks/<.*>", methods: [GET]}
  authenticators: [{handler: jwt, config: {jwks_urls: ["%[1]s/.well-known/jwks.json"], jwks_ttl: 1s}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`,
			check: get("/jwks/a", secBearer(token)),
			// The keys are fetched in the background, never by a check:
			// a check that finds none answers jwks_unavailable whatever
			// the fault. A slow endpoint delivers them in the end, and
			// a flapping one at its second fetch.
			want: map[fault]faultOutcome{
				faultSlow:    {allow: true, sign: jwksDown},
				faultHang:    {sign: jwksDown},
				faultFlap:    {allow: true, sign: jwksDown},
				faultHuge:    {sign: jwksDown},
				faultGarbage: {sign: jwksDown},
				faultRefused: {sign: jwksDown},
			},
		},
		{
			name: "introspection",
			ok:   faultJSON(introspected),
			rules: `
- id: F-introspection
  match: {url: "https://api.test/introspection/<.*>", methods: [GET]}
  authenticators: [{handler: oauth2_introspection, config: {introspection_url: "%[1]s/oauth2/introspect", circuit_breaker: ` + faultBreaker + `}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`,
			// A token per check: each is its own call, never coalesced
			// with another.
			check: func(_ testing.TB, i int) *authv3.CheckRequest {
				return secCheck("GET", secHost, "/introspection/a", secBearer(fmt.Sprintf("opaque-%d-%s", i, secNonce())))
			},
			want: faultReasons{
				timeout:     faultReason{"introspection_timeout", 503},
				unreachable: faultReason{"introspection_unavailable", 503},
				open:        faultReason{"introspection_circuit_open", 503},
				failed:      faultReason{"introspection_failed", 500},
				tooLarge:    faultReason{"introspection_response_invalid", 500},
				invalid:     faultReason{"introspection_response_invalid", 500},
			}.outcomes(),
		},
		{
			name: "cookie_session",
			ok:   faultJSON(session),
			rules: `
- id: F-cookie-session
  match: {url: "https://api.test/cookie/<.*>", methods: [GET]}
  authenticators: [{handler: cookie_session, config: {check_session_url: "%[1]s/sessions/whoami", circuit_breaker: ` + faultBreaker + `}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`,
			check: func(_ testing.TB, i int) *authv3.CheckRequest {
				return secCheck("GET", secHost, "/cookie/a", map[string]string{"cookie": fmt.Sprintf("session=s-%d-%s", i, secNonce())})
			},
			want: sessionWant,
		},
		{
			name: "bearer_token",
			ok:   faultJSON(session),
			rules: `
- id: F-bearer-token
  match: {url: "https://api.test/bearer/<.*>", methods: [GET]}
  authenticators: [{handler: bearer_token, config: {check_session_url: "%[1]s/sessions/whoami", circuit_breaker: ` + faultBreaker + `}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`,
			check: func(_ testing.TB, i int) *authv3.CheckRequest {
				return secCheck("GET", secHost, "/bearer/a", secBearer(fmt.Sprintf("session-token-%d-%s", i, secNonce())))
			},
			want: sessionWant,
		},
		{
			name: "remote",
			ok:   func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) },
			rules: `
- id: F-remote
  match: {url: "https://api.test/remote/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: remote, config: {remote: "%[1]s/authorize", circuit_breaker: ` + faultBreaker + `}}
  mutators: [{handler: noop}]
`,
			check: get("/remote/a", nil),
			want:  remoteWant,
		},
		{
			name: "remote_json",
			ok:   faultJSON(`{"allow":true}`),
			rules: `
- id: F-remote-json
  match: {url: "https://api.test/remote-json/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: remote_json, config: {remote: "%[1]s/authorize", payload: '{"subject":"{{ .Subject }}"}', decision_path: allow, circuit_breaker: ` + faultBreaker + `}}
  mutators: [{handler: noop}]
`,
			check: get("/remote-json/a", nil),
			want:  remote("remote_json").outcomes(),
		},
		{
			name: "hydrator",
			// The hydrator answers with the session it was sent.
			ok: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.Copy(w, r.Body)
			},
			rules: `
- id: F-hydrator
  match: {url: "https://api.test/hydrator/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: hydrator, config: {api: {url: "%[1]s/hydrate", circuit_breaker: ` + faultBreaker + `}}}]
`,
			check: get("/hydrator/a", nil),
			want: faultReasons{
				timeout:     faultReason{"hydrator_unavailable", 503},
				unreachable: faultReason{"hydrator_unreachable", 503},
				open:        faultReason{"hydrator_circuit_open", 503},
				failed:      faultReason{"hydrator_unexpected_status", 500},
				tooLarge:    faultReason{"hydrator_response_too_large", 500},
				invalid:     faultReason{"hydrator_response_invalid", 500},
			}.outcomes(),
		},
	}
}

// faultConfig enables the handlers the dependencies need on top of the
// security suite's service config.
func faultConfig(c map[string]any) {
	on := map[string]any{"enabled": true}
	c["authenticators"].(map[string]any)["bearer_token"] = on
	c["authorizers"].(map[string]any)["remote"] = on
	c["mutators"].(map[string]any)["hydrator"] = on
}

// faultSample is one check: how long it took and what it got.
type faultSample struct {
	at   time.Time // sent
	took time.Duration
	res  secResult
	err  error
}

// faultCall sends req with Envoy's deadline.
func faultCall(c authv3.AuthorizationClient, req *authv3.CheckRequest) faultSample {
	start := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(faultClientDeadline))
	defer cancel()
	resp, err := c.Check(ctx, req)
	return faultSample{at: start, took: time.Since(start), res: secResult{resp: resp}, err: err}
}

// isDeadline reports whether err is the client giving up at its deadline.
func isDeadline(err error) bool {
	return status.Code(err) == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded)
}

// faultBurst sends n checks, conc at a time.
func faultBurst(tb testing.TB, c authv3.AuthorizationClient, check func(testing.TB, int) *authv3.CheckRequest, n, conc int) []faultSample {
	tb.Helper()
	reqs := make([]*authv3.CheckRequest, n)
	for i := range reqs {
		reqs[i] = check(tb, i)
	}
	out := make([]faultSample, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = faultCall(c, reqs[i])
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// faultStats summarises one fault's samples for the report.
type faultStats struct {
	name             string
	n                int
	p50, p99, max    time.Duration
	answers          map[string]int // "DENY-503 reason" or "ALLOW" → count
	recovery         time.Duration
	recoveryAttempts int
	hits             int64
	stall            time.Duration // the longest stall of the whole process
}

func (s faultStats) String() string {
	keys := make([]string, 0, len(s.answers))
	for k := range s.answers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, s.answers[k])
	}
	recovery := ""
	if s.recoveryAttempts > 0 {
		recovery = fmt.Sprintf(" recovered-after=%s (%d checks)", s.recovery.Round(time.Millisecond), s.recoveryAttempts)
	}
	return fmt.Sprintf("%-30s n=%d p50=%-7s p99=%-7s max=%-7s budget=%s process-stall=%-5s dependency-hits=%d%s  %s",
		s.name, s.n, s.p50.Round(100*time.Microsecond), s.p99.Round(100*time.Microsecond), s.max.Round(100*time.Microsecond),
		faultBudget, s.stall, s.hits, recovery, strings.Join(parts, " "))
}

// faultQuantile is the q-quantile (nearest rank) of sorted durations.
func faultQuantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// faultAnswerKey names an answer in the statistics.
func faultAnswerKey(r secResult) string {
	if r.allowed() {
		return "ALLOW"
	}
	return fmt.Sprintf("DENY-%d:%s", r.status(), r.reason())
}

// faultCheckSamples asserts that every sample is an in-band answer given
// before the client's deadline and that it is one want allows, and
// returns the statistics.
func faultCheckSamples(tb testing.TB, name string, samples []faultSample, want faultOutcome, stalls *stallWatch) faultStats {
	tb.Helper()
	stall, _ := stalls.stop()
	st := faultStats{name: name, n: len(samples), answers: map[string]int{}, stall: stall}
	took := make([]time.Duration, 0, len(samples))
	signed := false
	for i, s := range samples {
		took = append(took, s.took)
		if s.err != nil {
			// A client DeadlineExceeded is exactly what Envoy would have
			// seen as a failed check, unless the whole test process stood
			// still for the margin between the budget and the deadline
			// meanwhile (see soakLate): the budget counts running time.
			stood := stalls.during(s.at, s.at.Add(s.took))
			if isDeadline(s.err) && stood >= faultClientDeadline-faultBudget {
				tb.Logf("check %d: no answer within %s (%s) while the process stood still %s", i, faultClientDeadline, s.took, stood)
				st.answers["LATE-PROCESS-STALLED"]++
				continue
			}
			tb.Errorf("check %d: gRPC error after %s: %v (want an in-band answer before the %s client deadline; the process stood still %s meanwhile)",
				i, s.took, s.err, faultClientDeadline, stood)
			st.answers["GRPC-ERROR"]++
			continue
		}
		secWellFormed(tb, s.res)
		st.answers[faultAnswerKey(s.res)]++
		if !want.accepts(s.res) {
			tb.Errorf("check %d: %v, want %v", i, s.res, want)
		}
		if s.res.allowed() && want.sign == (faultReason{}) || !s.res.allowed() && want.sign == (faultReason{s.res.reason(), s.res.status()}) {
			signed = true
		}
	}
	if !signed {
		// The fault must show as itself at least once: before the
		// breaker opens, each dependency failure has its own reason.
		tb.Errorf("no check was answered with %v: the fault never showed as itself", want.sign)
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	st.p50, st.p99, st.max = faultQuantile(took, 0.50), faultQuantile(took, 0.99), took[len(took)-1]
	return st
}

// faultRecover checks until the rule allows three times in a row, with a
// short pause between attempts, and returns how long that took and how
// many checks it needed. Until then every answer must still be one want
// accepts (the breaker is still open, the keys are not fetched yet).
func faultRecover(tb testing.TB, c authv3.AuthorizationClient, check func(testing.TB, int) *authv3.CheckRequest, want faultOutcome) (time.Duration, int) {
	tb.Helper()
	start := time.Now()
	var last faultSample
	for n, streak := 1, 0; time.Since(start) < faultRecoveryLimit; n++ {
		last = faultCall(c, check(tb, 1000+n))
		switch {
		case last.err != nil:
			tb.Errorf("recovery check %d: gRPC error after %s: %v", n, last.took, last.err)
			streak = 0
		case !last.res.allowed() && !want.accepts(last.res):
			tb.Errorf("recovery check %d: %v, want an allow or %v", n, last.res, want)
			streak = 0
		case last.res.allowed():
			if streak++; streak == 3 {
				return time.Since(start), n
			}
			continue
		default:
			streak = 0
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("the rule did not allow again within %s of the fault being cleared; last answer: %v %v", faultRecoveryLimit, last.res, last.err)
	return 0, 0
}

// TestFaultInjection puts every dependency through every fault.
func TestFaultInjection(t *testing.T) {
	var report []faultStats
	for _, dep := range faultDeps(t) {
		t.Run(dep.name, func(t *testing.T) {
			for _, f := range allFaults {
				want, ok := dep.want[f]
				if !ok {
					t.Fatalf("no expected outcome for %s", f)
				}
				t.Run(string(f), func(t *testing.T) {
					report = append(report, faultCase(t, dep, f, want))
				})
			}
		})
	}
	t.Logf("time to answer per fault (client deadline %s, budget %s):", faultClientDeadline, faultBudget)
	for _, st := range report {
		t.Logf("  %v", st)
	}
}

// faultCase puts dep through f: a burst of checks while the fault lasts,
// then checks until the rule allows again once it is cleared.
func faultCase(t *testing.T, dep faultDep, f fault, want faultOutcome) faultStats {
	fs := newFaultServer(t, faultSlowDelay, dep.ok)
	// The fault is in place before the rules load, so a JWKS endpoint
	// never delivers keys before it.
	fs.set(f)
	c := faultWorld(t, fmt.Sprintf(dep.rules, fs.URL()))
	conc := faultConcurrency
	if f == faultHuge {
		// Sending and reading a megabyte costs tens of milliseconds of CPU
		// under the race detector (a few without it): several at once
		// would measure the test machine's two cores, not the budget.
		conc = 1
	}
	stalls := startStallWatch()
	samples := faultBurst(t, c, dep.check, faultSamples, conc)
	st := faultCheckSamples(t, dep.name+"/"+string(f), samples, want, stalls)
	st.hits = fs.hits.Load()
	if (f == faultSlow || f == faultHang) && st.hits >= int64(st.n) {
		// A dependency that does not answer must not be waited for by
		// every check: the circuit breaker (or, for keys, the one
		// background fetch) keeps the others from calling it.
		t.Errorf("the unresponsive dependency was called %d times for %d checks", st.hits, st.n)
	}
	fs.set(faultNone)
	st.recovery, st.recoveryAttempts = faultRecover(t, c, dep.check, want)
	t.Log(st)
	return st
}

// faultWorld serves rules with the security suite's service config plus
// the handlers the fault cases use.
func faultWorld(tb testing.TB, rules string) authv3.AuthorizationClient {
	tb.Helper()
	e := newSecEnv(tb)
	return e.world(tb, secWorldOpts{rules: rules, config: faultConfig}).client
}
