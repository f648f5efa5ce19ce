package jwks

import (
	"context"
	"time"
)

// Await makes sure every source in srcs has keys, fetching those that have
// none (or only keys older than MaxStale) and waiting for them at most
// maxWait, or until ctx is done. It does not report an outcome: callers
// read Current again. A source whose last attempt failed less than
// MinRefetchInterval ago is not retried here, so a dead endpoint answers
// "unavailable" at once instead of making every request wait.
func (c *Cache) Await(ctx context.Context, srcs []*Source, maxWait time.Duration) {
	now := c.o.Now()
	var chans []<-chan struct{}
	for _, s := range srcs {
		if s.Current() != nil {
			continue
		}
		if ch := s.demand(now); ch != nil {
			chans = append(chans, ch)
		}
	}
	wait(ctx, chans, maxWait)
}

// Refetch is called when a token names a kid that no set has. Each source
// is refetched unless one of its fetches started less than
// MinRefetchInterval ago (a fetch in progress is joined instead), so a
// flood of unknown kids costs at most one request per URL per interval
// . It waits at most maxWait and reports whether any fetch was
// started or joined, i.e. whether looking again can find something new.
func (c *Cache) Refetch(ctx context.Context, srcs []*Source, maxWait time.Duration) bool {
	now := c.o.Now()
	var chans []<-chan struct{}
	for _, s := range srcs {
		if ch := s.demand(now); ch != nil {
			chans = append(chans, ch)
		}
	}
	wait(ctx, chans, maxWait)
	return len(chans) > 0
}

// wait blocks until every channel is closed, maxWait passes or ctx is done.
func wait(ctx context.Context, chans []<-chan struct{}, maxWait time.Duration) {
	if len(chans) == 0 || maxWait <= 0 {
		return
	}
	t := time.NewTimer(maxWait)
	defer t.Stop()
	for _, ch := range chans {
		select {
		case <-ch:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}
