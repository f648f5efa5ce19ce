package main

import (
	"errors"
	"math"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// GOMEMLIMIT follows the cgroup limit only when no GOMEMLIMIT is given
// and a limit exists, and the decision is logged at info when it sets or
// keeps one.
func TestSetMemoryLimit(t *testing.T) {
	const gib = 1 << 30
	for _, tt := range []struct {
		name      string
		env       string
		limit     memlimit.Provider
		want      int64 // math.MaxInt64: unchanged
		infoLines int
	}{
		{"cgroup limit", "", memlimit.Limit(gib), 966367641, 1}, // 90% of 1 GiB,
		{"explicit GOMEMLIMIT", "512MiB", memlimit.Limit(gib), math.MaxInt64, 1},
		{"no cgroup limit", "", func() (uint64, error) { return 0, memlimit.ErrNoLimit }, math.MaxInt64, 0},
		{"no cgroups", "", func() (uint64, error) { return 0, errors.New("cgroups not supported") }, math.MaxInt64, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", tt.env)
			prev := debug.SetMemoryLimit(math.MaxInt64)
			t.Cleanup(func() { debug.SetMemoryLimit(prev) })
			core, logs := observer.New(zapcore.InfoLevel)
			called := false
			setMemoryLimit(zap.New(core), func() (uint64, error) { called = true; return tt.limit() })
			if got := debug.SetMemoryLimit(-1); got != tt.want {
				t.Errorf("memory limit %d, want %d", got, tt.want)
			}
			if tt.env != "" && called {
				t.Error("the cgroup was read although GOMEMLIMIT is set")
			}
			if n := logs.Len(); n != tt.infoLines {
				t.Errorf("%d info lines, want %d: %v", n, tt.infoLines, logs.All())
			}
		})
	}
}
