package authz

import (
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// WithDecisionSampling sets which allowed decisions get a log line
// (log.decisions): 1, the default, logs each; 0 logs none; N logs the 1st,
// N+1st, 2N+1st allowed decision and so on, counted across the Checker.
// Denials, and in shadow mode decisions that would have denied, are
// always logged.
func WithDecisionSampling(every uint64) CheckerOption {
	return func(c *Checker) {
		c.sampling = decisionSampling{}
		if every != 1 {
			// Its own allocation: a counter every check on every core
			// writes must not share a cache line with what they read.
			c.sampling = decisionSampling{on: true, every: every, allowed: new(atomic.Uint64)}
		}
	}
}

// decisionSampling decides which allowed decisions get a log line. It
// counts rather than draws at random, so a test can predict every line.
// The zero value logs every decision.
type decisionSampling struct {
	on      bool
	every   uint64         // when on: log one allowed decision in every, none if 0
	allowed *atomic.Uint64 // allowed decisions counted so far
}

// skip reports whether d's line is left out. Each call for an allowed
// decision counts it, so call it only for lines the level lets through.
func (s *decisionSampling) skip(d *pipeline.Decision) bool {
	if !s.on || !d.Allowed || d.WouldDeny() {
		return false
	}
	if s.every == 0 {
		return true
	}
	return (s.allowed.Add(1)-1)%s.every != 0
}

// maxDecisionFields is the most fields record writes: ten always, then
// subject, handler, four shadow fields, error, trace_id and steps.
const maxDecisionFields = 19

// decisionFields holds the fields of one decision line. Building the line
// in a pooled array rather than a growing slice saves two allocations,
// about 2 KB, per line. The fields do not outlive the write: zap's cores
// encode them (or, like zaptest's observer, copy them) before Write
// returns.
type decisionFields struct {
	f [maxDecisionFields]zap.Field
	n int
}

var decisionFieldsPool = sync.Pool{New: func() any { return new(decisionFields) }}

func (l *decisionFields) add(f zap.Field) {
	l.f[l.n] = f
	l.n++
}

// release clears the fields, so the pool keeps no request's strings alive,
// and returns l to the pool.
func (l *decisionFields) release() {
	clear(l.f[:l.n])
	l.n = 0
	decisionFieldsPool.Put(l)
}
