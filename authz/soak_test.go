//go:build faults

// These tests assert answers within Envoy's 200ms deadline under -race,
// so they need the CPU to themselves: .ci/run runs them in their own step
// after the rest of the suite (go test -race -tags faults -run
// 'FaultInjection|Soak' ./authz/), where the machine is otherwise idle.

package authz_test

// Soak (issue #9 item 8): the real gRPC server at saturation, with mixed
// allowed, denied and malformed checks from many clients on one
// connection, while the rules are republished every 100ms and the remote
// authorizer of one rule keeps going down and coming back. Every answer is
// checked against the one answer its class has under every rule version
// (or, for the rule that needs the flapping dependency, "allow or 503"),
// no check may miss Envoy's 200ms deadline, and no goroutine may outlive
// the run. Heap and goroutine figures are logged; the heap is only held to
// a generous bound.
//
// The steady phase lasts 20s by default; -soak runs it longer (raise
// go test's own -timeout with it):
//
//	go test -race -run TestSoak -v -timeout 15m ./authz -soak=10m

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.uber.org/goleak"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/rulestore"
)

var soakDuration = flag.Duration("soak", 20*time.Second, "length of TestSoak's steady phase (issue #9 item 8), e.g. -soak=10m")

const (
	// soakReloadEvery is how often a new rule version is published.
	soakReloadEvery = 100 * time.Millisecond
	// soakFlapEvery is how long the dependency stays in each state.
	soakFlapEvery = 300 * time.Millisecond
	// soakWarmup runs before the heap is first measured, so caches,
	// connection pools and the breaker have reached their steady size.
	soakWarmup = 2 * time.Second
)

// soakRules is version n of the rule set. Every version answers each
// request class the same way; what changes is a header that names the
// version, a decoy rule per version, and the order of the rules.
func soakRules(n int64, jwksURL, depURL string) string {
	rules := []string{
		fmt.Sprintf(`
- id: R-pub
  match: {url: "https://api.test/public/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-Rule-Version: "%d"}}}]
`, n),
		fmt.Sprintf(`
- id: R-usr
  match: {url: "https://api.test/users/<[0-9]+>", methods: [GET]}
  authenticators: [{handler: jwt, config: {jwks_urls: ["%s"]}}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-User: "{{ .Subject }}"}}}]
`, jwksURL),
		`
- id: R-adm
  match: {url: "https://api.test/admin/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: deny}
  mutators: [{handler: noop}]
`,
		fmt.Sprintf(`
- id: R-dep
  match: {url: "https://api.test/dep/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: remote_json, config: {remote: "%s/authorize", payload: '{"subject":"{{ .Subject }}"}', decision_path: allow, circuit_breaker: %s}}
  mutators: [{handler: noop}]
`, depURL, faultBreaker),
		fmt.Sprintf(`
- id: R-decoy-%[1]d
  match: {url: "https://decoy.test/v%[1]d/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`, n),
	}
	// Rotate the order with the version: matching may not depend on it.
	k := int(n % int64(len(rules)))
	return strings.Join(append(rules[k:], rules[:k]...), "")
}

// soakClass is a kind of request and the answers that are correct for it.
type soakClass struct {
	name string
	req  *authv3.CheckRequest
	// check returns why r is wrong, or "" when it is right; lo and hi
	// bound the rule version that may have answered.
	check func(r secResult, lo, hi int64) string
}

// soakDeny is a class answered by one denial under every version.
func soakDeny(status int, reason string) func(secResult, int64, int64) string {
	return func(r secResult, _, _ int64) string {
		if r.allowed() || r.status() != status || r.reason() != reason {
			return fmt.Sprintf("got %v, want DENY-%d %s", r, status, reason)
		}
		return ""
	}
}

// soakAllow is a class allowed by rule with header name set to value
// under every version.
func soakAllow(rule, name, value string) func(secResult, int64, int64) string {
	return func(r secResult, _, _ int64) string {
		if !r.allowed() || r.ruleID() != rule {
			return fmt.Sprintf("got %v, want ALLOW by %s", r, rule)
		}
		if hs := secUpstream(r)[name]; len(hs) != 1 || hs[0].GetHeader().GetValue() != value {
			return fmt.Sprintf("got %v, want upstream %s: %s", r, name, value)
		}
		return ""
	}
}

// soakHistogram counts latencies in 100µs buckets up to 1s, so a long
// soak keeps no per-request samples (they would skew the heap figures).
type soakHistogram struct {
	buckets [10001]int64
	n       int64
}

func (h *soakHistogram) add(d time.Duration) {
	i := int(d / (100 * time.Microsecond))
	h.buckets[min(i, len(h.buckets)-1)]++
	h.n++
}

func (h *soakHistogram) merge(o *soakHistogram) {
	for i, c := range o.buckets {
		h.buckets[i] += c
	}
	h.n += o.n
}

// quantile returns the upper bound of the bucket holding the q-quantile.
func (h *soakHistogram) quantile(q float64) time.Duration {
	rank := int64(q*float64(h.n) + 0.5)
	var seen int64
	for i, c := range h.buckets {
		if seen += c; seen >= max(rank, 1) {
			return time.Duration(i+1) * 100 * time.Microsecond
		}
	}
	return 0
}

// soakClient is one client goroutine's tally.
type soakClient struct {
	hist      soakHistogram
	answers   map[string]int64 // "class answer" → count
	late      int64            // client deadline exceeded, the process running
	excused   int64            // client deadline exceeded while the process stood still
	lateCalls []soakLateCall
	grpcErr   int64 // any other gRPC error
	wrong     int64
	outOfTime int64 // 503 deadline: the check ran out of budget and failed closed
}

// soakLateCall is a check the client gave up on at its deadline.
type soakLateCall struct {
	class  string
	sample faultSample
}

// soakLate counts tl's late calls as late, or as excused when the whole
// test process stood still for at least the margin between the server's
// budget and the client's deadline while the call was out: the server
// answers within its budget of running time, which a machine that stops
// the process (a busy CI host, a long GC pause under -race) takes away.
// A server that overruns its budget is still late in the calls no stall
// touched, which on a soak are nearly all of them.
func soakLate(tl *soakClient, stalls *stallWatch, fails *soakFailures) {
	for _, lc := range tl.lateCalls {
		s := lc.sample
		stood := stalls.during(s.at, s.at.Add(s.took))
		if stood >= faultClientDeadline-faultBudget {
			tl.excused++
			continue
		}
		tl.late++
		fails.add("%s: no answer within %s (%s; the process stood still %s meanwhile): %v", lc.class, faultClientDeadline, s.took, stood, s.err)
	}
}

// soakFailures keeps the first few wrong answers for the test log.
type soakFailures struct {
	mu   sync.Mutex
	msgs []string
}

func (f *soakFailures) add(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.msgs) < 20 {
		f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
	}
}

// TestSoak runs the soak; the leak check runs after every server,
// connection and dependency of the run has been closed.
func TestSoak(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Run("run", soakRun)
	goleak.VerifyNone(t, ignore)
}

func soakRun(t *testing.T) {
	e := newSecEnv(t)
	dep := newFaultServer(t, faultSlowDelay, faultJSON(`{"allow":true}`))
	depURL := dep.URL()

	_, reg, cfg := e.secBuild(t, secWorldOpts{config: faultConfig})
	store := rulestore.NewStore(cfg, reg, nil)
	t.Cleanup(func() {
		if s := store.Current(); s != nil {
			s.Close()
		}
	})
	// publishing is the version being published, published the last one
	// in force: a check sent after published = v is answered by v or a
	// later version, and one answered before publishing = w by w or an
	// earlier one.
	var publishing, published atomic.Int64
	publish := func(n int64) error {
		specs, err := rulestore.DecodeRules(fmt.Sprintf("soak-v%d.yaml", n), []byte(soakRules(n, e.jwksURL(), depURL)))
		if err != nil {
			return err
		}
		publishing.Store(n)
		if err := store.Apply(specs, "v"+strconv.FormatInt(n, 10)); err != nil {
			return err
		}
		published.Store(n)
		return nil
	}
	if err := publish(1); err != nil {
		t.Fatal(err)
	}
	client := secServe(t, store, nil, authz.GRPCOptions{})

	secKeys(t)
	exp := map[string]any{"exp": time.Now().Add(time.Hour).Unix()}
	forged := secJWT(t, "RS256", secKeyKA, secH0(), secWith(secC0(), exp))
	classes := []soakClass{
		{name: "allow-public", req: secCheck("GET", secHost, "/public/a", nil), check: func(r secResult, lo, hi int64) string {
			if !r.allowed() || r.ruleID() != "R-pub" {
				return fmt.Sprintf("got %v, want ALLOW by R-pub", r)
			}
			hs := secUpstream(r)["x-rule-version"]
			if len(hs) != 1 {
				return fmt.Sprintf("got %v, want one x-rule-version", r)
			}
			v, err := strconv.ParseInt(hs[0].GetHeader().GetValue(), 10, 64)
			if err != nil || v < lo || v > hi {
				return fmt.Sprintf("answered by rule version %q, want one in force during the check (%d..%d)", hs[0].GetHeader().GetValue(), lo, hi)
			}
			return ""
		}},
		{name: "allow-jwt", req: secCheck("GET", secHost, "/users/42", secBearer(secToken(t, nil, exp))), check: soakAllow("R-usr", "x-user", "alice")},
		{name: "deny-forged-jwt", req: secCheck("GET", secHost, "/users/42", secBearer(forged)), check: soakDeny(401, "jwt_signature_invalid")},
		{name: "deny-no-credential", req: secCheck("GET", secHost, "/users/42", nil), check: soakDeny(401, "authentication_handler_no_match")},
		{name: "deny-forbidden", req: secCheck("GET", secHost, "/admin/a", nil), check: soakDeny(403, "deny_handler")},
		{name: "deny-no-rule", req: secCheck("GET", secHost, "/nowhere", nil), check: soakDeny(404, "no_rule_match")},
		{name: "malformed-path", req: secCheck("GET", secHost, "nowhere", nil), check: soakDeny(400, "malformed_request")},
		{name: "malformed-empty", req: &authv3.CheckRequest{}, check: soakDeny(400, "malformed_request")},
		{name: "dependency", req: secCheck("GET", secHost, "/dep/a", nil), check: func(r secResult, _, _ int64) string {
			if r.allowed() {
				if r.ruleID() != "R-dep" {
					return fmt.Sprintf("got %v, want ALLOW by R-dep", r)
				}
				return ""
			}
			if r.status() != 503 || !soakDependencyReasons[r.reason()] {
				return fmt.Sprintf("got %v, want ALLOW or DENY-503 with one of %v", r, soakDependencyReasons)
			}
			return ""
		}},
	}
	// Every class answers as expected before the soak starts (the JWKS is
	// fetched, the dependency is up).
	for _, c := range classes {
		r := secDo(t, client, c.req)
		if msg := c.check(r, published.Load(), publishing.Load()); msg != "" {
			t.Fatalf("%s before the soak: %s", c.name, msg)
		}
	}

	var fails soakFailures
	ctx, stop := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	var reloadErrs atomic.Int64
	bg.Add(2)
	go func() { // rules reload
		defer bg.Done()
		tick := time.NewTicker(soakReloadEvery)
		defer tick.Stop()
		for n := int64(2); ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := publish(n); err != nil {
				reloadErrs.Add(1)
				fails.add("rule version %d: %v", n, err)
			}
		}
	}()
	go func() { // the dependency flaps
		defer bg.Done()
		modes := []fault{faultNone, faultRefused, faultNone, faultHang, faultNone, faultSlow}
		tick := time.NewTicker(soakFlapEvery)
		defer tick.Stop()
		for i := 1; ; i++ {
			select {
			case <-ctx.Done():
				dep.set(faultNone)
				return
			case <-tick.C:
			}
			dep.set(modes[i%len(modes)])
		}
	}()

	// Saturation: more clients than cores, each sending its next check as
	// soon as the last is answered, all on one connection.
	// Watched from the first check on, so that a late answer in the
	// warm-up can be told from a slow service too.
	stalls := startStallWatch()
	nClients := 4 * runtime.GOMAXPROCS(0)
	tallies := make([]*soakClient, nClients)
	var sent atomic.Int64
	var clients sync.WaitGroup
	for i := range nClients {
		tally := &soakClient{answers: map[string]int64{}}
		tallies[i] = tally
		clients.Add(1)
		go func() {
			defer clients.Done()
			for n := i; ctx.Err() == nil; n += nClients {
				c := classes[n%len(classes)]
				lo := published.Load()
				s := faultCall(client, c.req)
				hi := publishing.Load()
				sent.Add(1)
				tally.hist.add(s.took)
				switch {
				case isDeadline(s.err):
					// Judged once the stall watch has stopped (soakLate).
					tally.lateCalls = append(tally.lateCalls, soakLateCall{class: c.name, sample: s})
				case s.err != nil:
					tally.grpcErr++
					fails.add("%s: gRPC error after %s: %v", c.name, s.took, s.err)
				default:
					tally.answers[c.name+" "+faultAnswerKey(s.res)]++
					if !s.res.allowed() && s.res.status() == 503 && s.res.reason() == faultDeadline.id {
						// Any check may run out of its budget when the
						// machine stalls; it then fails closed, in band
						// and in time, which is never a wrong decision.
						tally.outOfTime++
						continue
					}
					if msg := c.check(s.res, lo, hi); msg != "" {
						tally.wrong++
						fails.add("%s: %s", c.name, msg)
					}
				}
			}
		}()
	}

	time.Sleep(soakWarmup)
	heap0, gor0 := soakHeap()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc0 := ms.NumGC
	sent0, start := sent.Load(), time.Now()
	time.Sleep(*soakDuration)
	heap1, gor1 := soakHeap()
	sent1, elapsed := sent.Load(), time.Since(start)
	stop()
	longestStall, stallsOver50ms := stalls.stop()
	clients.Wait()
	bg.Wait()
	runtime.ReadMemStats(&ms)
	gcPause := soakMaxPause(&ms, gc0)

	var all soakClient
	all.answers = map[string]int64{}
	for _, tl := range tallies {
		all.hist.merge(&tl.hist)
		soakLate(tl, stalls, &fails)
		all.late += tl.late
		all.excused += tl.excused
		all.grpcErr += tl.grpcErr
		all.wrong += tl.wrong
		all.outOfTime += tl.outOfTime
		for k, v := range tl.answers {
			all.answers[k] += v
		}
	}
	keys := make([]string, 0, len(all.answers))
	for k := range all.answers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("soak: %d clients on one connection for %s (+%s warm-up), rules republished every %s (%d versions, %d failed), dependency state changed every %s",
		nClients, elapsed.Round(time.Millisecond), soakWarmup, soakReloadEvery, published.Load(), reloadErrs.Load(), soakFlapEvery)
	t.Logf("soak: %d checks in the steady phase, %.0f checks/s; %d in all; p50 %s, p99 %s, max bucket %s (client deadline %s)",
		sent1-sent0, float64(sent1-sent0)/elapsed.Seconds(), all.hist.n, all.hist.quantile(0.5), all.hist.quantile(0.99), all.hist.quantile(1), faultClientDeadline)
	t.Logf("soak: wrong answers %d, answers after the deadline %d (and %d while the process stood still), other gRPC errors %d, checks out of budget (503 deadline) %d",
		all.wrong, all.late, all.excused, all.grpcErr, all.outOfTime)
	t.Logf("soak: longest stall of the whole process (a 10ms ticker's lag) %s, %d stalls over 50ms; longest GC pause %s",
		longestStall, stallsOver50ms, gcPause)
	t.Logf("soak: heap in use after GC %.1f MiB at the start of the steady phase, %.1f MiB at its end; goroutines %d → %d",
		float64(heap0)/(1<<20), float64(heap1)/(1<<20), gor0, gor1)
	for _, k := range keys {
		t.Logf("soak:   %-60s %d", k, all.answers[k])
	}
	for _, m := range fails.msgs {
		t.Error(m)
	}
	if all.wrong+all.late+all.grpcErr > 0 {
		t.Errorf("soak: %d wrong answers, %d answers after the %s deadline, %d gRPC errors (first ones above)", all.wrong, all.late, faultClientDeadline, all.grpcErr)
	}
	if reloadErrs.Load() > 0 {
		t.Errorf("soak: %d rule versions failed to publish", reloadErrs.Load())
	}
	if heap1 > 4*heap0+64<<20 {
		t.Errorf("soak: heap grew from %d to %d bytes over the steady phase", heap0, heap1)
	}
}

// soakDependencyReasons are the 503 reasons the rule that needs the
// flapping remote authorizer may deny with (besides deadline, which any
// check may answer).
var soakDependencyReasons = map[string]bool{"remote_json_unavailable": true, "remote_json_circuit_open": true}

// soakMaxPause returns the longest stop-the-world GC pause since the
// collection numbered gc0 (of the last 256, which MemStats keeps).
func soakMaxPause(ms *runtime.MemStats, gc0 uint32) time.Duration {
	var longest uint64
	for n := max(gc0+1, ms.NumGC-min(ms.NumGC, 255)); n <= ms.NumGC && n > 0; n++ {
		longest = max(longest, ms.PauseNs[(n+255)%256])
	}
	return time.Duration(longest).Round(10 * time.Microsecond)
}

// soakHeap returns the heap in use after a full collection and the
// number of goroutines.
func soakHeap() (uint64, int) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, runtime.NumGoroutine()
}
