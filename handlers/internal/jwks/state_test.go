package jwks

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStatesFollowFetches walks one key set through every state readiness
// reports, driving each fetch on demand (no background Run) with a manual
// clock, so each step is one known fetch.
func TestStatesFollowFetches(t *testing.T) {
	srv := newJWKSServer(t, k1Doc(t))
	srv.set(nil, http.StatusNotFound)
	clk := newManualClock()
	c := newCache(t, Options{Now: clk.Now, MaxStale: time.Hour})
	src := mustRegister(t, c, srv.URL+"/jwks?api_key=SECRET")
	other := mustRegister(t, c, "file://./testdata/does-not-exist.json")
	wantURL := srv.URL + "/jwks"
	fetch := func() {
		clk.Advance(DefaultMinRefetchInterval)
		c.Refetch(context.Background(), []*Source{src}, time.Hour)
	}
	state := func() SourceState {
		t.Helper()
		for _, st := range c.States() {
			if st.URL == wantURL {
				return st
			}
		}
		t.Fatalf("%s not in States: %+v", wantURL, c.States())
		return SourceState{}
	}

	steps := []struct {
		name     string
		do       func()
		want     string
		keys     int
		errPart  string
		failures int
	}{
		{name: "registered, not fetched yet", do: func() {}, want: StateMissing},
		{name: "endpoint answers 404", do: fetch, want: StateMissing, errPart: "status 404", failures: 1},
		{name: "endpoint comes up", do: func() { srv.set(nil, http.StatusOK); fetch() }, want: StatePresent, keys: 1},
		{name: "endpoint fails again: last keys serve", do: func() { srv.set(nil, http.StatusBadGateway); fetch() },
			want: StateStale, keys: 1, errPart: "status 502", failures: 1},
		{name: "keys older than max stale", do: func() { clk.Advance(time.Hour) }, want: StateMissing, errPart: "status 502", failures: 1},
	}
	for i, s := range steps {
		s.do()
		st := state()
		// Every failed fetch counts, whatever succeeded in between.
		if want := []uint64{0, 1, 1, 2, 2}[i]; st.FetchErrors != want {
			t.Fatalf("%s: fetch errors %d, want %d", s.name, st.FetchErrors, want)
		}
		if st.State != s.want || st.Keys != s.keys || st.Failures != s.failures {
			t.Fatalf("%s: state %s keys %d failures %d, want %s %d %d", s.name, st.State, st.Keys, st.Failures, s.want, s.keys, s.failures)
		}
		switch {
		case s.errPart == "" && st.LastError != nil:
			t.Fatalf("%s: unexpected error %v", s.name, st.LastError)
		case s.errPart != "" && (st.LastError == nil || !strings.Contains(st.LastError.Error(), s.errPart)):
			t.Fatalf("%s: error %v, want %q", s.name, st.LastError, s.errPart)
		case st.LastError != nil && strings.Contains(st.LastError.Error(), "SECRET"):
			t.Fatalf("%s: error leaks the query: %v", s.name, st.LastError)
		}
		if (s.keys > 0 || s.name == "keys older than max stale") != !st.LastSuccess.IsZero() {
			t.Fatalf("%s: last success %v", s.name, st.LastSuccess)
		}
	}

	if got := c.States(); len(got) != 2 || got[0].URL > got[1].URL {
		t.Fatalf("States = %+v, want both sets sorted by URL", got)
	}
	c.Release(other)
	if got := c.States(); len(got) != 1 || got[0].URL != wantURL {
		t.Fatalf("released set still listed: %+v", got)
	}
}
