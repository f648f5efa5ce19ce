package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/portcullis-authz/portcullis/authz"
)

const (
	// connectTimeout bounds the wait for the first connection.
	connectTimeout = 5 * time.Second
	// callTimeout bounds one Check. Calls in flight when the duration
	// ends are allowed to finish, so they count as outcomes, not errors.
	callTimeout = 5 * time.Second
)

// report is the result of one run.
type report struct {
	Config  config
	Elapsed time.Duration
	Allowed int
	// Denied counts denials by gRPC status code and HTTP status, as
	// "PERMISSION_DENIED/404".
	Denied map[string]int
	// Errors counts failed calls by gRPC code.
	Errors map[string]int
	// Latencies are the service times of every call, sorted. They are
	// measured from the send, so at a fixed -rps a stalled server is
	// under-reported (coordinated omission); compare runs, not absolutes.
	Latencies []time.Duration
}

// Total is the number of calls made.
func (r *report) Total() int { return len(r.Latencies) }

// sample is one worker's tally.
type sample struct {
	allowed int
	denied  map[string]int
	errors  map[string]int
	lat     []time.Duration
}

// outcome is how one call ended: allowed when both keys are empty, else
// denied or failed under that key of report.Denied or report.Errors.
type outcome struct{ denied, failed string }

// target is the server under load: each worker gets its own call function
// from caller.
type target interface {
	caller() func(context.Context) outcome
	close()
}

// run validates c, connects, sends Checks (or decision API calls, with
// c.HTTP) from c.Concurrency workers until c.Duration has passed or ctx is
// done, and returns what happened.
func run(ctx context.Context, c config) (*report, error) {
	addr, err := c.validate(ctx)
	if err != nil {
		return nil, err
	}
	var t target
	if c.HTTP {
		t = newHTTPTarget(addr, &c)
	} else if t, err = dialGRPC(ctx, addr, &c); err != nil {
		return nil, err
	}
	defer t.close()

	stop, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()
	start := time.Now()
	next := pacer(stop, start, c.RPS)
	samples := make([]sample, c.Concurrency)
	var wg sync.WaitGroup
	for i := range samples {
		s := &samples[i]
		s.denied, s.errors = map[string]int{}, map[string]int{}
		call := t.caller()
		wg.Go(func() {
			for next() {
				ctx, done := context.WithTimeout(context.WithoutCancel(stop), callTimeout)
				t0 := time.Now()
				o := call(ctx)
				s.lat = append(s.lat, time.Since(t0))
				done()
				s.add(o)
			}
		})
	}
	wg.Wait()

	rep := &report{Config: c, Elapsed: time.Since(start), Denied: map[string]int{}, Errors: map[string]int{}}
	for _, s := range samples {
		rep.Allowed += s.allowed
		for k, n := range s.denied {
			rep.Denied[k] += n
		}
		for k, n := range s.errors {
			rep.Errors[k] += n
		}
		rep.Latencies = append(rep.Latencies, s.lat...)
	}
	slices.Sort(rep.Latencies)
	return rep, nil
}

func (s *sample) add(o outcome) {
	switch {
	case o.failed != "":
		s.errors[o.failed]++
	case o.denied != "":
		s.denied[o.denied]++
	default:
		s.allowed++
	}
}

// grpcTarget sends ext_authz Checks on one connection.
type grpcTarget struct {
	conn   *grpc.ClientConn
	client authv3.AuthorizationClient
	req    *authv3.CheckRequest
}

func dialGRPC(ctx context.Context, addr string, c *config) (*grpcTarget, error) {
	// passthrough: the validated address is dialled as is, never
	// re-resolved.
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	return &grpcTarget{conn: conn, client: authv3.NewAuthorizationClient(conn), req: checkRequest(c)}, nil
}

func (t *grpcTarget) caller() func(context.Context) outcome {
	req := proto.Clone(t.req).(*authv3.CheckRequest)
	return func(ctx context.Context) outcome {
		resp, err := t.client.Check(ctx, req)
		switch {
		case err != nil:
			return outcome{failed: status.Code(err).String()}
		case resp.GetStatus().GetCode() == int32(code.Code_OK):
			return outcome{}
		default:
			return outcome{denied: fmt.Sprintf("%s/%d", code.Code(resp.GetStatus().GetCode()), resp.GetDeniedResponse().GetStatus().GetCode())}
		}
	}
}

func (t *grpcTarget) close() { t.conn.Close() }

// httpTarget calls the HTTP decision API over keep-alive HTTP/1.1
// connections, one per worker at most.
type httpTarget struct {
	tr     *http.Transport
	client *http.Client
	url    string
	host   string
	method string
	header http.Header
}

func newHTTPTarget(addr string, c *config) *httpTarget {
	// No Proxy: the loopback address checked by validate is the one
	// dialled, whatever HTTP_PROXY says.
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: connectTimeout}).DialContext,
		MaxIdleConns:        c.Concurrency,
		MaxIdleConnsPerHost: c.Concurrency,
		MaxConnsPerHost:     c.Concurrency,
		DisableCompression:  true,
	}
	t := &httpTarget{
		tr: tr,
		client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is the decision, not a hop to follow
		}},
		url:    "http://" + addr + authz.DecisionsPath + c.Path,
		host:   c.Host,
		method: c.Method,
		header: http.Header{},
	}
	for _, kv := range c.Headers {
		t.header.Add(kv[0], kv[1])
	}
	return t
}

func (t *httpTarget) caller() func(context.Context) outcome {
	header := t.header.Clone()
	return func(ctx context.Context) outcome {
		req, err := http.NewRequestWithContext(ctx, t.method, t.url, nil)
		if err != nil {
			return outcome{failed: "bad request"}
		}
		req.Host, req.Header = t.host, header
		resp, err := t.client.Do(req)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return outcome{failed: "timeout"}
			}
			return outcome{failed: "connection"}
		}
		// Read to the end, so the connection is kept for the next call.
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return outcome{denied: "HTTP " + strconv.Itoa(resp.StatusCode)}
		}
		return outcome{}
	}
}

func (t *httpTarget) close() { t.tr.CloseIdleConnections() }

// waitReady connects conn and waits until it is ready.
func waitReady(ctx context.Context, conn *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn.Connect()
	for st := conn.GetState(); st != connectivity.Ready; st = conn.GetState() {
		if !conn.WaitForStateChange(ctx, st) {
			return fmt.Errorf("not ready after %v (state %v)", connectTimeout, st)
		}
	}
	return nil
}

// pacer returns the function workers call before each send: it reports
// false once stop is done and, when rps > 0, spaces sends from all workers
// 1/rps apart on a fixed schedule from start (a worker that falls behind
// sends at once).
func pacer(stop context.Context, start time.Time, rps int) func() bool {
	if rps <= 0 {
		return func() bool { return stop.Err() == nil }
	}
	interval := time.Second / time.Duration(rps)
	var seq atomic.Int64
	return func() bool {
		at := start.Add(time.Duration(seq.Add(1)-1) * interval)
		if d := time.Until(at); d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-stop.Done():
				return false
			case <-t.C:
			}
		}
		return stop.Err() == nil
	}
}

// checkRequest builds the request Envoy would send for c, in the headers
// map form or, with c.Raw, the header_map form (values in raw_value).
func checkRequest(c *config) *authv3.CheckRequest {
	headers := [][2]string{{":method", c.Method}, {":path", c.Path}, {":authority", c.Host}, {":scheme", "http"}}
	headers = append(headers, c.Headers...)
	h := &authv3.AttributeContext_HttpRequest{
		Method: c.Method, Host: c.Host, Path: c.Path, Scheme: "http", Protocol: "HTTP/1.1",
	}
	if c.Raw {
		h.HeaderMap = &corev3.HeaderMap{}
		for _, kv := range headers {
			h.HeaderMap.Headers = append(h.HeaderMap.Headers, &corev3.HeaderValue{Key: kv[0], RawValue: []byte(kv[1])})
		}
	} else {
		h.Headers = map[string]string{}
		for _, kv := range headers {
			if old, ok := h.Headers[kv[0]]; ok {
				h.Headers[kv[0]] = old + "," + kv[1] // as Envoy joins repeats
			} else {
				h.Headers[kv[0]] = kv[1]
			}
		}
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}},
		}}},
		Request: &authv3.AttributeContext_Request{Http: h},
	}}
}

// print writes the report for people.
func (r *report) print(w io.Writer) {
	c := r.Config
	rate, form := "unlimited", "headers map"
	if c.RPS > 0 {
		rate = fmt.Sprint(c.RPS, "/s")
	}
	switch {
	case c.HTTP:
		form = "HTTP decision API"
	case c.Raw:
		form = "header_map"
	}
	fmt.Fprintf(w, "target      %s  %s %s%s  (%s, %d headers)\n", c.Addr, c.Method, c.Host, c.Path, form, len(c.Headers))
	fmt.Fprintf(w, "load        concurrency %d, rate %s, for %v\n", c.Concurrency, rate, c.Duration)
	fmt.Fprintf(w, "requests    %d in %.2fs = %.0f req/s\n", r.Total(), r.Elapsed.Seconds(), float64(r.Total())/r.Elapsed.Seconds())
	fmt.Fprintf(w, "allowed     %d\n", r.Allowed)
	for _, k := range slices.Sorted(maps.Keys(r.Denied)) {
		fmt.Fprintf(w, "denied      %-28s %d\n", k, r.Denied[k])
	}
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		fmt.Fprintf(w, "error       %-28s %d\n", k, r.Errors[k])
	}
	if len(r.Denied) == 0 {
		fmt.Fprintln(w, "denied      0")
	}
	if len(r.Errors) == 0 {
		fmt.Fprintln(w, "errors      0")
	}
	fmt.Fprintf(w, "latency     p50 %v  p90 %v  p99 %v  max %v\n",
		us(r.Percentile(50)), us(r.Percentile(90)), us(r.Percentile(99)), us(r.Percentile(100)))
}

func us(d time.Duration) time.Duration { return d.Round(time.Microsecond) }

// Percentile returns the p-th percentile latency (nearest rank), or 0 when
// nothing was sent.
func (r *report) Percentile(p float64) time.Duration {
	n := len(r.Latencies)
	if n == 0 {
		return 0
	}
	i := int(math.Ceil(float64(n)*p/100)) - 1
	return r.Latencies[min(max(i, 0), n-1)]
}
