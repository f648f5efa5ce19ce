package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// compareConfig is what the compare flags say.
type compareConfig struct {
	Scenario    string
	Duration    time.Duration // per server per round
	Rounds      int
	Concurrency int
	JSON        bool
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
}

// comparison is the compare report.
type comparison struct {
	Scenario    string         `json:"scenario"`
	About       string         `json:"about"`
	Rounds      int            `json:"rounds"`
	Duration    string         `json:"round_duration"`
	Concurrency int            `json:"concurrency"`
	Servers     []serverResult `json:"servers"`
	// CPURatio is Portcullis's CPU per request over the no-op's.
	CPURatio float64 `json:"cpu_ratio"`
}

// compareMain runs `portcullis-load compare`.
func compareMain(ctx context.Context, args []string, stdout io.Writer) error {
	var c compareConfig
	fs := flag.NewFlagSet("portcullis-load compare", flag.ContinueOnError)
	fs.StringVar(&c.Scenario, "scenario", "jwt", "scenario: anonymous, jwt, rules-10, rules-1000")
	fs.DurationVar(&c.Duration, "duration", 5*time.Second, "load time per server per round")
	fs.IntVar(&c.Rounds, "rounds", 5, "interleaved rounds (the report gives medians)")
	fs.IntVar(&c.Concurrency, "concurrency", 50, "concurrent streams on one connection")
	fs.BoolVar(&c.JSON, "json", false, "write the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
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
	dir, err := os.MkdirTemp("", "portcullis-compare-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	load := config{Duration: c.Duration, Concurrency: c.Concurrency, Method: "GET", Host: "demo", Path: sc.path}
	if sc.jwt {
		token, err := writeKeys(dir)
		if err != nil {
			return nil, err
		}
		load.Headers = headerFlag{{"authorization", "Bearer " + token}}
	}
	names := []string{"portcullis", "noop"}
	children := make([]*child, len(names))
	for i, kind := range names {
		if children[i], err = startChild(kind, sc.Name, dir); err != nil {
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
	rep := &comparison{Scenario: sc.Name, About: sc.About, Rounds: c.Rounds, Duration: c.Duration.String(), Concurrency: c.Concurrency}
	for i, rs := range per {
		rep.Servers = append(rep.Servers, median(names[i], rs))
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
}

func startChild(kind, scenario, dir string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, serveArg, kind, scenario, dir)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s server: %w", kind, err)
	}
	c := &child{cmd: cmd, stdin: in}
	if c.addr, err = readAddr(out); err != nil {
		c.stop()
		return nil, fmt.Errorf("%s server: %w", kind, err)
	}
	return c, nil
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
		return res, errors.New("no request was allowed: the scenario is broken")
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
	fmt.Fprintf(w, "%d interleaved rounds of %s per server, %d streams; medians\n", c.Rounds, c.Duration, c.Concurrency)
	fmt.Fprintf(w, "%-11s %10s %10s %10s %10s %12s\n", "server", "requests", "req/s", "p50 µs", "p99 µs", "CPU µs/req")
	for _, s := range c.Servers {
		fmt.Fprintf(w, "%-11s %10d %10.0f %10.0f %10.0f %12.1f\n", s.Server, s.Requests, s.RPS, s.P50Micros, s.P99Micros, s.CPUMicrosReq)
	}
	fmt.Fprintf(w, "CPU ratio portcullis/noop: %.2f×\n", c.CPURatio)
}
