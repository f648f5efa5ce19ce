// Command portcullis-load sends ext_authz CheckRequests to a Portcullis
// gRPC server on this machine (or, with -http, calls its HTTP decision
// API) for a fixed time and reports throughput, outcomes and latency:
//
//	go run ./cmd/portcullis-load -duration 10s -host demo -path /public/x
//
// `portcullis-load compare -scenario jwt` instead runs Portcullis (with the
// scenario's rules, at the default log level) and a built-in no-op
// ext_authz server (for http-api, the decision API and a no-op HTTP/1.1
// server) as child processes, loads each in interleaved rounds, and
// reports throughput, latency, start time, memory and each server's own
// CPU time per request, as a table or with -json. -stream-workers sets
// Portcullis's serve.grpc.num_stream_workers and -cpuprofile writes a CPU
// profile of the Portcullis server.
//
// It only ever targets loopback addresses (127.0.0.0/8, ::1, localhost):
// it is a benchmarking aid, not a way to put load on someone else's
// server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// MaxDuration bounds -duration.
const MaxDuration = 5 * time.Minute

// config is what the flags say.
type config struct {
	Addr        string
	Duration    time.Duration
	Concurrency int
	RPS         int // 0: as fast as the workers go
	Method      string
	Host        string
	Path        string
	Headers     headerFlag
	Raw         bool // header_map (encode_raw_headers) instead of the headers map
	// HTTP calls the HTTP decision API (method addr/decisions<path>)
	// instead of gRPC Check.
	HTTP bool
}

// headerFlag collects repeated -header k=v flags in order.
type headerFlag [][2]string

func (h *headerFlag) String() string {
	parts := make([]string, len(*h))
	for i, kv := range *h {
		parts[i] = kv[0] + "=" + kv[1]
	}
	return strings.Join(parts, ",")
}

func (h *headerFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want name=value, got %q", s)
	}
	*h = append(*h, [2]string{strings.ToLower(strings.TrimSpace(k)), v})
	return nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == serveArg {
		if err := serveChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "portcullis-load server:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "compare" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		if err := compareMain(ctx, os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "portcullis-load compare:", err)
			os.Exit(1)
		}
		return
	}
	var c config
	fs := flag.NewFlagSet("portcullis-load", flag.ExitOnError)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:9191", "gRPC address of the server (loopback only)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to send (at most 5m)")
	fs.IntVar(&c.Concurrency, "concurrency", 32, "number of concurrent callers")
	fs.IntVar(&c.RPS, "rps", 0, "total requests per second (0 = unlimited)")
	fs.StringVar(&c.Method, "method", "GET", "HTTP method of the checked request")
	fs.StringVar(&c.Host, "host", "demo", "host (:authority) of the checked request")
	fs.StringVar(&c.Path, "path", "/public/x", "path and query of the checked request")
	fs.Var(&c.Headers, "header", "request header name=value (repeatable)")
	fs.BoolVar(&c.Raw, "raw", false, "send headers as header_map (Envoy's encode_raw_headers form)")
	fs.BoolVar(&c.HTTP, "http", false, "call the HTTP decision API (addr is the API listener; the request goes to /decisions<path>)")
	_ = fs.Parse(os.Args[1:])

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "portcullis-load:", err)
		os.Exit(1)
	}
	rep.print(os.Stdout)
}

// validate checks c and returns the address to dial: addr itself, or for
// localhost the loopback address it resolves to.
func (c *config) validate(ctx context.Context) (string, error) {
	var errs []error
	if c.Duration <= 0 || c.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration: must be in (0, %v], got %v", MaxDuration, c.Duration))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency: must be at least 1, got %d", c.Concurrency))
	}
	if c.RPS < 0 {
		errs = append(errs, fmt.Errorf("rps: must not be negative, got %d", c.RPS))
	}
	if c.Method == "" || c.Host == "" || !strings.HasPrefix(c.Path, "/") {
		errs = append(errs, errors.New("method and host must be set and path must start with /"))
	}
	addr, err := loopbackAddr(ctx, c.Addr)
	if err != nil {
		errs = append(errs, err)
	}
	return addr, errors.Join(errs...)
}

// loopbackAddr accepts host:port where host is a loopback IP or
// "localhost", whose every resolved address must be loopback; anything
// else is refused before a connection is attempted.
func loopbackAddr(ctx context.Context, addr string) (string, error) {
	refuse := fmt.Errorf("addr %q: only loopback targets (127.0.0.0/8, ::1, localhost) are allowed", addr)
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return "", refuse
	}
	if strings.EqualFold(host, "localhost") {
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil || len(ips) == 0 {
			return "", fmt.Errorf("addr %q: resolve localhost: %v", addr, err)
		}
		for _, ip := range ips {
			if !ip.Unmap().IsLoopback() {
				return "", refuse
			}
		}
		return net.JoinHostPort(ips[0].Unmap().String(), port), nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" || !ip.Unmap().IsLoopback() {
		return "", refuse
	}
	return net.JoinHostPort(ip.Unmap().String(), port), nil
}
