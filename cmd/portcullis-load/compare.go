package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// defaultReadyTimeout bounds the wait for a server child to report its
// address. Portcullis reports it only once its rules are applied, which
// takes seconds for 100,000 rules, and longer on a busy machine.
const defaultReadyTimeout = 2 * time.Minute

// maxStreamWorkers bounds -stream-workers.
const maxStreamWorkers = 1 << 16

// compareConfig is what the compare flags say.
type compareConfig struct {
	Scenario    string
	Duration    time.Duration // per server per round
	Rounds      int
	Concurrency int
	JSON        bool
	// StreamWorkers is the Portcullis child's num_stream_workers;
	// negative keeps the configuration's default.
	StreamWorkers int
	// CPUProfile, when set, is where the Portcullis child writes a CPU
	// profile of all its rounds.
	CPUProfile string
	// ReadyTimeout bounds each child's start (0: defaultReadyTimeout).
	ReadyTimeout time.Duration
	// CheckTimeout replaces Portcullis's serve.check_timeout (0: the
	// default); tests set it, the command line does not.
	CheckTimeout time.Duration
}

// serverResult is one server's medians over the rounds.
type serverResult struct {
	Server       string  `json:"server"`
	Requests     int     `json:"requests"`
	Allowed      int     `json:"allowed"`
	Failed       int     `json:"failed"`
	RPS          float64 `json:"rps"`
	P50Micros    float64 `json:"p50_us"`
	P99Micros    float64 `json:"p99_us"`
	CPUMicrosReq float64 `json:"cpu_us_per_request"`
	// ReadySeconds is the time from the child's start until it served
	// (Portcullis: its rules applied).
	ReadySeconds float64 `json:"ready_s"`
	// RSSMiB and PeakRSSMiB are the child's resident memory after the
	// last round and its peak (VmRSS, VmHWM).
	RSSMiB     float64 `json:"rss_mib"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

// comparison is the compare report.
type comparison struct {
	Scenario string `json:"scenario"`
	About    string `json:"about"`
	// Protocol is grpc (ext_authz Check) or http (the decision API).
	Protocol    string `json:"protocol"`
	Rounds      int    `json:"rounds"`
	Duration    string `json:"round_duration"`
	Concurrency int    `json:"concurrency"`
	// StreamWorkers is Portcullis's serve.grpc.num_stream_workers (0: a
	// goroutine per stream); grpc only.
	StreamWorkers uint32 `json:"stream_workers"`
	// CPUs and LoadAverage describe the machine when the run started
	// (LoadAverage: the 1, 5 and 15-minute figures of /proc/loadavg).
	CPUs        int            `json:"cpus"`
	LoadAverage string         `json:"load_average"`
	Servers     []serverResult `json:"servers"`
	// CPURatio is Portcullis's CPU per request over the no-op's.
	CPURatio float64 `json:"cpu_ratio"`
}

// compareMain runs `portcullis-load compare`.
func compareMain(ctx context.Context, args []string, stdout io.Writer) error {
	c, err := parseCompareFlags(args)
	if err != nil {
		return err
	}
	return runCompare(ctx, c, stdout)
}

// parseCompareFlags reads compare's command line.
func parseCompareFlags(args []string) (compareConfig, error) {
	var c compareConfig
	fs := flag.NewFlagSet("portcullis-load compare", flag.ContinueOnError)
	fs.StringVar(&c.Scenario, "scenario", "jwt", "scenario: "+scenarioNames()+", or rules-N for N rules")
	fs.DurationVar(&c.Duration, "duration", 5*time.Second, "load time per server per round")
	fs.IntVar(&c.Rounds, "rounds", 5, "interleaved rounds (the report gives medians)")
	fs.IntVar(&c.Concurrency, "concurrency", 50, "concurrent streams on one connection (http-api: keep-alive connections)")
	fs.BoolVar(&c.JSON, "json", false, "write the report as JSON")
	fs.IntVar(&c.StreamWorkers, "stream-workers", -1, "Portcullis's serve.grpc.num_stream_workers (0: a goroutine per stream; -1: the configuration's default)")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the Portcullis server over all rounds to this file")
	err := fs.Parse(args)
	return c, err
}

// runCompare runs the comparison c and writes its report to stdout.
func runCompare(ctx context.Context, c compareConfig, stdout io.Writer) error {
	rep, err := compare(ctx, c)
	if err != nil {
		return err
	}
	if c.JSON {
		e := json.NewEncoder(stdout)
		e.SetIndent("", "  ")
		return e.Encode(rep)
	}
	rep.print(stdout)
	return nil
}

// compare starts Portcullis with the scenario's rules and the no-op server
// as child processes of this binary, loads them in turn for c.Rounds
// rounds, and returns the medians.
func compare(ctx context.Context, c compareConfig) (*comparison, error) {
	sc, err := findScenario(c.Scenario)
	if err != nil {
		return nil, err
	}
	if c.Rounds < 1 || c.Duration <= 0 || c.Duration > MaxDuration || c.Concurrency < 1 {
		return nil, fmt.Errorf("rounds must be ≥ 1, duration in (0, %v], concurrency ≥ 1", MaxDuration)
	}
	if c.StreamWorkers > maxStreamWorkers {
		return nil, fmt.Errorf("stream-workers: at most %d, got %d", maxStreamWorkers, c.StreamWorkers)
	}
	opts := childOptions{StreamWorkers: max(c.StreamWorkers, -1), CheckTimeout: c.CheckTimeout}
	if c.CPUProfile != "" {
		// The child writes it: resolve it here, where the user named it.
		if opts.CPUProfile, err = filepath.Abs(c.CPUProfile); err != nil {
			return nil, fmt.Errorf("cpuprofile: %w", err)
		}
	}
	cfg, err := serviceConfig()
	if err != nil {
		return nil, err
	}
	rep := &comparison{Scenario: sc.Name, About: sc.About, Protocol: "grpc", Rounds: c.Rounds, Duration: c.Duration.String(),
		Concurrency: c.Concurrency, StreamWorkers: streamWorkers(cfg, opts), CPUs: runtime.NumCPU(), LoadAverage: loadAverage()}
	if sc.http {
		rep.Protocol, rep.StreamWorkers = "http", 0
	}

	dir, err := os.MkdirTemp("", "portcullis-compare-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	token, err := prepare(sc, dir)
	if err != nil {
		return nil, err
	}
	load := config{Duration: c.Duration, Concurrency: c.Concurrency, Method: "GET", Host: "demo", Path: sc.path, HTTP: sc.http}
	if token != "" {
		load.Headers = headerFlag{{"authorization", "Bearer " + token}}
	}
	ready := c.ReadyTimeout
	if ready <= 0 {
		ready = defaultReadyTimeout
	}
	names := []string{"portcullis", "noop"}
	children := make([]*child, len(names))
	for i, kind := range names {
		var args []string
		if kind == "portcullis" {
			args = opts.args()
		}
		if children[i], err = startChild(ctx, kind, sc.Name, dir, args, ready); err != nil {
			return nil, err
		}
		defer children[i].stop()
	}
	per := make([][]serverResult, len(names))
	for round := range c.Rounds {
		for j := range names {
			// Alternate which server goes first, so neither always
			// runs on a machine the other just warmed (or heated).
			i := (j + round) % len(names)
			r, err := children[i].round(ctx, load)
			if err != nil {
				return nil, fmt.Errorf("%s, round %d: %w", names[i], round+1, err)
			}
			per[i] = append(per[i], r)
		}
	}
	for i, rs := range per {
		s := median(names[i], rs)
		s.ReadySeconds = children[i].ready.Seconds()
		if s.RSSMiB, s.PeakRSSMiB, err = memory(children[i].cmd.Process.Pid); err != nil {
			return nil, err
		}
		rep.Servers = append(rep.Servers, s)
	}
	if noop := rep.Servers[1].CPUMicrosReq; noop > 0 {
		rep.CPURatio = rep.Servers[0].CPUMicrosReq / noop
	}
	return rep, nil
}

// child is a server process.
type child struct {
	cmd   *exec.Cmd
	stdin io.Closer
	addr  string
	ready time.Duration // from start to the address line
}

// startChild starts a server child and waits up to timeout for its
// address.
func startChild(ctx context.Context, kind, scenario, dir string, args []string, timeout time.Duration) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, append([]string{serveArg, kind, scenario, dir}, args...)...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s server: %w", kind, err)
	}
	c := &child{cmd: cmd, stdin: in}
	c.addr, err = readAddr(ctx, out, timeout)
	c.ready = time.Since(start)
	if err != nil {
		// Killed, not asked: one that is still loading rules would
		// not read its stdin before it is done.
		_ = cmd.Process.Kill()
		c.stop()
		return nil, fmt.Errorf("%s server (scenario %s): %w", kind, scenario, err)
	}
	return c, nil
}

// readAddr reads the child's first stdout line, which it writes once it
// is ready, waiting up to timeout.
func readAddr(ctx context.Context, r io.Reader, timeout time.Duration) (string, error) {
	type line struct {
		s   string
		err error
	}
	got := make(chan line, 1)
	go func() {
		s, err := bufio.NewReader(r).ReadString('\n')
		got <- line{s, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l := <-got:
		if l.err != nil {
			return "", fmt.Errorf("exited before it was ready (its error is above): %w", l.err)
		}
		return strings.TrimSpace(l.s), nil
	case <-t.C:
		return "", fmt.Errorf("not ready after %v; with many rules, loading takes long on a busy machine", timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// stop closes the child's stdin, on which it shuts down, and waits.
func (c *child) stop() {
	_ = c.stdin.Close()
	_ = c.cmd.Wait()
}

// round loads the child for load.Duration and measures it.
func (c *child) round(ctx context.Context, load config) (serverResult, error) {
	load.Addr = c.addr
	before, err := cpuTime(c.cmd.Process.Pid)
	if err != nil {
		return serverResult{}, err
	}
	r, err := run(ctx, load)
	if err != nil {
		return serverResult{}, err
	}
	after, err := cpuTime(c.cmd.Process.Pid)
	if err != nil {
		return serverResult{}, err
	}
	res := serverResult{
		Requests: r.Total(), Allowed: r.Allowed, Failed: r.Total() - r.Allowed,
		RPS:       float64(r.Total()) / r.Elapsed.Seconds(),
		P50Micros: micros(r.Percentile(50)), P99Micros: micros(r.Percentile(99)),
	}
	if r.Total() > 0 {
		res.CPUMicrosReq = micros(after-before) / float64(r.Total())
	}
	if r.Allowed == 0 {
		return res, fmt.Errorf("no request was allowed (denied %v, errors %v): the rules do not allow the scenario's request, or every check ran out of time (503)", r.Denied, r.Errors)
	}
	return res, nil
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// cpuTime is the user plus system CPU time of process pid so far, from
// /proc/<pid>/stat (fields 14 and 15, after the parenthesised command).
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read server CPU time (needs Linux /proc): %w", err)
	}
	i := strings.LastIndexByte(string(data), ')')
	f := strings.Fields(string(data[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// memory is the resident memory of process pid now and at its peak, in
// MiB, from /proc/<pid>/status.
func memory(pid int) (rss, peak float64, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("read server memory (needs Linux /proc): %w", err)
	}
	for line := range strings.Lines(string(data)) {
		name, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			rss = kb / 1024
		case "VmHWM":
			peak = kb / 1024
		}
	}
	return rss, peak, nil
}

// median takes each metric's median over the rounds (requests and
// outcomes are totals).
func median(name string, rs []serverResult) serverResult {
	out := serverResult{Server: name}
	pick := func(get func(serverResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	for _, r := range rs {
		out.Requests += r.Requests
		out.Allowed += r.Allowed
		out.Failed += r.Failed
	}
	out.RPS = pick(func(r serverResult) float64 { return r.RPS })
	out.P50Micros = pick(func(r serverResult) float64 { return r.P50Micros })
	out.P99Micros = pick(func(r serverResult) float64 { return r.P99Micros })
	out.CPUMicrosReq = pick(func(r serverResult) float64 { return r.CPUMicrosReq })
	return out
}

// print writes the report as a table.
func (c *comparison) print(w io.Writer) {
	fmt.Fprintf(w, "scenario %s: %s\n", c.Scenario, c.About)
	conns := fmt.Sprintf("%d streams, %d stream workers", c.Concurrency, c.StreamWorkers)
	if c.Protocol == "http" {
		conns = fmt.Sprintf("%d keep-alive connections", c.Concurrency)
	}
	fmt.Fprintf(w, "%d interleaved rounds of %s per server, %s; medians\n", c.Rounds, c.Duration, conns)
	fmt.Fprintf(w, "machine: %d CPUs, load average %s at the start\n", c.CPUs, c.LoadAverage)
	fmt.Fprintf(w, "%-11s %10s %10s %10s %10s %12s %8s %8s\n", "server", "requests", "req/s", "p50 µs", "p99 µs", "CPU µs/req", "ready s", "RSS MiB")
	for _, s := range c.Servers {
		fmt.Fprintf(w, "%-11s %10d %10.0f %10.0f %10.0f %12.1f %8.1f %8.0f\n",
			s.Server, s.Requests, s.RPS, s.P50Micros, s.P99Micros, s.CPUMicrosReq, s.ReadySeconds, s.RSSMiB)
	}
	fmt.Fprintf(w, "CPU ratio portcullis/noop: %.2f×\n", c.CPURatio)
}

// loadAverage is the 1, 5 and 15-minute load averages from /proc/loadavg,
// or "unknown".
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// scenarioNames lists the named scenarios.
func scenarioNames() string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}
