package main

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/portcullis-authz/portcullis/authz"
)

// lifecycle runs the servers from start-up to exit.
type lifecycle struct {
	log   *zap.Logger
	ready *authz.Readiness
	// drain is how long readiness reports "not ready" while every
	// listener still answers, so load balancers and Envoy's health
	// checker move traffic away before anything closes (--drain).
	drain   time.Duration
	signals <-chan os.Signal
	// reload runs on SIGHUP.
	reload func()
}

// run waits until a stop signal arrives, ctx ends or a server fails, then
// shuts down in order, with one log line per phase:
//
//   - "draining": readiness turns false on every listener (HTTP
//     /health/ready 503, gRPC health NOT_SERVING) while every listener,
//     the decision API included, still answers, for the drain delay;
//   - "stopping": gRPC stops gracefully and the HTTP servers shut down,
//     each finishing the requests in flight within its deadline;
//   - "stopped": everything has returned.
//
// A second SIGTERM or SIGINT ends the drain early. A server failure skips
// the drain and comes back as the error (exit code 1). stopServers cancels
// the context every server and background loop of g runs under.
func (l *lifecycle) run(ctx context.Context, g *errgroup.Group, gctx context.Context, stopServers context.CancelFunc) error {
	if cause, failed := l.awaitStop(ctx, gctx); !failed {
		// Readiness flips before the line is written: a reader of the log
		// (or a test) that sees "draining" sees the flip too.
		l.ready.StartDraining()
		l.log.Info("draining", zap.String("cause", cause), zap.String("drain", l.drain.String()))
		l.awaitDrain(gctx)
	}
	l.log.Info("stopping")
	stopServers()
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	l.log.Info("stopped")
	return nil
}

// awaitStop serves SIGHUP until a stop is asked for (failed false, with
// what asked) or a server fails (failed true).
func (l *lifecycle) awaitStop(ctx, gctx context.Context) (cause string, failed bool) {
	for {
		select {
		case <-gctx.Done():
			return "", true
		case <-ctx.Done():
			return "context", false
		case sig := <-l.signals:
			if sig == syscall.SIGHUP {
				l.reload()
				continue
			}
			return sig.String(), false
		}
	}
}

// awaitDrain waits out the drain delay, a second stop signal, or a server
// failure. SIGHUP is ignored: the process is going away.
func (l *lifecycle) awaitDrain(gctx context.Context) {
	t := time.NewTimer(l.drain)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return
		case <-gctx.Done():
			return
		case sig := <-l.signals:
			if sig == syscall.SIGHUP {
				l.log.Info("SIGHUP ignored while draining")
				continue
			}
			l.log.Info("second stop signal: ending the drain early", zap.String("signal", sig.String()))
			return
		}
	}
}
