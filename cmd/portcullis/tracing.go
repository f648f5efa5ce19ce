package main

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/authz/tracing"
)

// tracingShutdownTimeout bounds the flush of buffered spans at exit, as
// the HTTP servers' shutdown is bounded.
const tracingShutdownTimeout = 5 * time.Second

// startTracing builds the tracer provider c asks for. It returns the
// Checker option that traces checks (a no-op when tracing is off) and
// the function that flushes and stops the exporter, to be called once
// the servers have stopped.
func startTracing(c tracing.Config, log *zap.Logger) (authz.CheckerOption, func(), error) {
	tp, err := tracing.New(c, log)
	if err != nil {
		return nil, nil, err
	}
	if tp == nil {
		return func(*authz.Checker) {}, func() {}, nil
	}
	o := c.Providers.OTLP
	log.Info("tracing on", zap.String("endpoint", o.ServerURL), zap.String("protocol", o.Protocol),
		zap.Float64("sampling_ratio", o.Sampling.SamplingRatio), zap.String("service_name", c.ServiceName))
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), tracingShutdownTimeout)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			log.Warn("tracing: spans not flushed at exit", zap.Error(err))
		}
	}
	return authz.WithTracer(tp), stop, nil
}
