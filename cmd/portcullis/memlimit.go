package main

import (
	"errors"
	"os"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"go.uber.org/zap"
)

// memoryLimitRatio is the share of the container's memory limit given to
// the Go heap; the rest is for goroutine stacks, the runtime and what the
// kernel counts besides (page cache of the rule files).
const memoryLimitRatio = 0.9

// setMemoryLimit sets the Go runtime's soft memory limit (GOMEMLIMIT) to
// 90% of the container's cgroup memory limit. A reload holds the old and
// the new rule set for a moment, and the garbage of decoding the new one
// on top; without a soft limit the heap may grow to twice what is live
// before the collector runs, and the kernel kills the process at the
// cgroup limit first. An explicit GOMEMLIMIT (even "off") is kept, and
// without a cgroup limit nothing changes. What was decided is logged at
// info; limit reads the cgroup (memlimit.FromCgroup outside tests).
func setMemoryLimit(log *zap.Logger, limit memlimit.Provider) {
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		log.Info("memory limit: GOMEMLIMIT is set, keeping it", zap.String("gomemlimit", v))
		return
	}
	cgroup, err := limit()
	switch {
	case errors.Is(err, memlimit.ErrNoLimit):
		log.Debug("memory limit: the cgroup has none, GOMEMLIMIT stays unset")
		return
	case err != nil:
		log.Debug("memory limit: no cgroup limit found, GOMEMLIMIT stays unset", zap.Error(err))
		return
	}
	soft := int64(float64(cgroup) * memoryLimitRatio)
	debug.SetMemoryLimit(soft)
	log.Info("memory limit: GOMEMLIMIT set from the cgroup memory limit",
		zap.Int64("gomemlimit_bytes", soft), zap.Uint64("cgroup_limit_bytes", cgroup))
}
