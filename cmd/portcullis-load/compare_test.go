package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestCompareReportIsWellFormed runs every scenario for a moment against
// real server children and checks the report's shape, never its timings.
func TestCompareReportIsWellFormed(t *testing.T) {
	for _, sc := range []string{"anonymous", "jwt", "rules-10"} {
		t.Run(sc, func(t *testing.T) {
			var out bytes.Buffer
			args := []string{"-scenario", sc, "-duration", "150ms", "-rounds", "2", "-concurrency", "2", "-json"}
			if err := compareMain(context.Background(), args, &out); err != nil {
				t.Fatal(err)
			}
			var rep comparison
			dec := json.NewDecoder(&out)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&rep); err != nil {
				t.Fatalf("report is not the documented JSON: %v\n%s", err, out.String())
			}
			if rep.Scenario != sc || rep.Rounds != 2 || rep.Concurrency != 2 || rep.Duration != "150ms" || len(rep.Servers) != 2 {
				t.Fatalf("report header: %+v", rep)
			}
			for i, want := range []string{"portcullis", "noop"} {
				s := rep.Servers[i]
				if s.Server != want || s.Requests == 0 || s.Allowed != s.Requests || s.Failed != 0 {
					t.Errorf("server %d: %+v, want %s with every request allowed", i, s, want)
				}
				if s.RPS <= 0 || s.P50Micros <= 0 || s.P99Micros < s.P50Micros || s.CPUMicrosReq < 0 {
					t.Errorf("server %s: implausible metrics %+v", want, s)
				}
			}
			if rep.CPURatio < 0 {
				t.Errorf("cpu_ratio %v", rep.CPURatio)
			}
		})
	}
}

func TestCompareTable(t *testing.T) {
	rep := &comparison{Scenario: "jwt", About: "about", Rounds: 5, Duration: (5 * time.Second).String(), Concurrency: 50,
		Servers: []serverResult{
			{Server: "portcullis", Requests: 100, RPS: 10, P50Micros: 5, P99Micros: 9, CPUMicrosReq: 30},
			{Server: "noop", Requests: 200, RPS: 20, P50Micros: 2, P99Micros: 4, CPUMicrosReq: 20},
		}, CPURatio: 1.5}
	var b strings.Builder
	rep.print(&b)
	for _, want := range []string{"scenario jwt: about", "5 interleaved rounds of 5s", "CPU µs/req", "portcullis", "noop", "CPU ratio portcullis/noop: 1.50×"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestCompareRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-scenario", "nope"}, {"-rounds", "0"}, {"-duration", "0s"}, {"-concurrency", "0"},
	} {
		if err := compareMain(context.Background(), args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
