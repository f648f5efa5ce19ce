package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCompareReportIsWellFormed runs every scenario for a moment against
// real server children and checks the report's facts, never its timings.
// rules-100 stands for rules-100000, too slow to load under -race: the
// same generator, files and child start, with fewer rules.
func TestCompareReportIsWellFormed(t *testing.T) {
	tests := []struct {
		scenario string
		protocol string
		extra    []string // more flags
		workers  int      // -1: the configuration's default
	}{
		{scenario: "anonymous", protocol: "grpc", workers: -1},
		{scenario: "anonymous", protocol: "grpc", extra: []string{"-stream-workers", "3"}, workers: 3},
		{scenario: "jwt", protocol: "grpc", workers: -1},
		{scenario: "id-token", protocol: "grpc", workers: -1},
		{scenario: "rules-10", protocol: "grpc", workers: -1},
		{scenario: "rules-1000", protocol: "grpc", workers: -1},
		{scenario: "rules-100", protocol: "grpc", workers: -1},
		{scenario: "http-api", protocol: "http", workers: 0}, // no gRPC server: no workers
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{tt.scenario}, tt.extra...), " "), func(t *testing.T) {
			args := append([]string{"-scenario", tt.scenario, "-duration", "150ms", "-rounds", "2", "-concurrency", "2", "-json"}, tt.extra...)
			c, err := parseCompareFlags(args)
			if err != nil {
				t.Fatal(err)
			}
			// Under -race on a busy machine a check can outlast the
			// default check_timeout and be denied 503; every request
			// must be allowed here.
			c.CheckTimeout = time.Minute
			var out bytes.Buffer
			workers := uint32(tt.workers)
			if tt.workers < 0 {
				cfg, err := serviceConfig()
				if err != nil {
					t.Fatal(err)
				}
				workers = cfg.Serve.GRPC.NumStreamWorkers
			}
			if err := runCompare(context.Background(), c, &out); err != nil {
				t.Fatal(err)
			}
			assertFields(t, out.Bytes())
			var rep comparison
			dec := json.NewDecoder(&out)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&rep); err != nil {
				t.Fatalf("report is not the documented JSON: %v\n%s", err, out.String())
			}
			if rep.Scenario != tt.scenario || rep.Protocol != tt.protocol || rep.Rounds != 2 || rep.Concurrency != 2 ||
				rep.Duration != "150ms" || rep.StreamWorkers != workers || rep.CPUs < 1 || rep.LoadAverage == "" || len(rep.Servers) != 2 {
				t.Fatalf("report header: %+v", rep)
			}
			if rep.About == "" {
				t.Error("the report does not say what the scenario runs")
			}
			for i, want := range []string{"portcullis", "noop"} {
				s := rep.Servers[i]
				if s.Server != want || s.Requests == 0 || s.Allowed != s.Requests || s.Failed != 0 {
					t.Errorf("server %d: %+v, want %s with every request allowed", i, s, want)
				}
				if s.RPS <= 0 || s.P50Micros <= 0 || s.P99Micros < s.P50Micros || s.CPUMicrosReq < 0 ||
					s.ReadySeconds <= 0 || s.RSSMiB <= 0 || s.PeakRSSMiB < s.RSSMiB {
					t.Errorf("server %s: implausible metrics %+v", want, s)
				}
			}
			if rep.CPURatio < 0 {
				t.Errorf("cpu_ratio %v", rep.CPURatio)
			}
		})
	}
}

// assertFields checks that the JSON report has every documented field,
// for scripts that read it.
func assertFields(t *testing.T, data []byte) {
	t.Helper()
	var rep struct {
		Fields  map[string]any
		Servers []map[string]any `json:"servers"`
	}
	if err := json.Unmarshal(data, &rep.Fields); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenario", "about", "protocol", "rounds", "round_duration", "concurrency", "stream_workers",
		"cpus", "load_average", "servers", "cpu_ratio"} {
		if _, ok := rep.Fields[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	for _, s := range rep.Servers {
		for _, k := range []string{"server", "requests", "allowed", "failed", "rps", "p50_us", "p99_us", "cpu_us_per_request",
			"ready_s", "rss_mib", "peak_rss_mib"} {
			if _, ok := s[k]; !ok {
				t.Errorf("server %v lacks %q", s["server"], k)
			}
		}
	}
}

// TestCompareWritesTheCPUProfile: -cpuprofile makes the Portcullis child
// write a gzipped pprof profile, complete once compare returns.
func TestCompareWritesTheCPUProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	c, err := parseCompareFlags([]string{"-scenario", "anonymous", "-duration", "150ms", "-rounds", "1", "-concurrency", "2", "-cpuprofile", path})
	if err != nil {
		t.Fatal(err)
	}
	c.CheckTimeout = time.Minute
	if err := runCompare(context.Background(), c, io.Discard); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("the profile is not gzipped pprof data: %v", err)
	}
	if n, err := io.Copy(io.Discard, zr); err != nil || n == 0 {
		t.Fatalf("profile: %d bytes, %v; want a complete, non-empty profile", n, err)
	}
}

func TestCompareTable(t *testing.T) {
	tests := []struct {
		protocol string
		want     string
	}{
		{"grpc", "5 interleaved rounds of 5s per server, 50 streams, 2 stream workers"},
		{"http", "5 interleaved rounds of 5s per server, 50 keep-alive connections"},
	}
	for _, tt := range tests {
		t.Run(tt.protocol, func(t *testing.T) {
			rep := &comparison{Scenario: "jwt", About: "about", Protocol: tt.protocol, Rounds: 5, Duration: (5 * time.Second).String(),
				Concurrency: 50, StreamWorkers: 2, CPUs: 2, LoadAverage: "1.00 0.50 0.25",
				Servers: []serverResult{
					{Server: "portcullis", Requests: 100, RPS: 10, P50Micros: 5, P99Micros: 9, CPUMicrosReq: 30, ReadySeconds: 1.5, RSSMiB: 42},
					{Server: "noop", Requests: 200, RPS: 20, P50Micros: 2, P99Micros: 4, CPUMicrosReq: 20},
				}, CPURatio: 1.5}
			var b strings.Builder
			rep.print(&b)
			for _, want := range []string{"scenario jwt: about", tt.want, "machine: 2 CPUs, load average 1.00 0.50 0.25",
				"CPU µs/req", "ready s", "RSS MiB", "portcullis", "noop", "CPU ratio portcullis/noop: 1.50×"} {
				if !strings.Contains(b.String(), want) {
					t.Errorf("table lacks %q:\n%s", want, b.String())
				}
			}
		})
	}
}

func TestCompareRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-scenario", "nope"}, {"-scenario", "rules-0"}, {"-scenario", "rules-1000001"}, {"-scenario", "rules-x"},
		{"-rounds", "0"}, {"-duration", "0s"}, {"-concurrency", "0"}, {"-stream-workers", "65537"},
	} {
		if err := compareMain(context.Background(), args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestReadAddrWaitsForReadinessWithABound: a child that never reports its
// address fails the start with the reason, as does one that exits first.
func TestReadAddrWaitsForReadinessWithABound(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	if _, err := readAddr(context.Background(), pr, time.Millisecond); err == nil || !strings.Contains(err.Error(), "not ready after 1ms") {
		t.Errorf("silent child: %v", err)
	}
	if _, err := readAddr(context.Background(), strings.NewReader(""), time.Minute); err == nil || !strings.Contains(err.Error(), "exited before it was ready") {
		t.Errorf("child that exited: %v", err)
	}
	if addr, err := readAddr(context.Background(), strings.NewReader("127.0.0.1:1234\n"), time.Minute); err != nil || addr != "127.0.0.1:1234" {
		t.Errorf("ready child: %q, %v", addr, err)
	}
}
