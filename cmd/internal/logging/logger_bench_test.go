package logging

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// processCPU returns the user and system CPU time of the process so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fixedSnapshot serves one snapshot.
type fixedSnapshot struct{ s *pipeline.Snapshot }

func (f fixedSnapshot) Current() *pipeline.Snapshot { return f.s }

// benchSnapshot compiles one anonymous → allow → header rule for
// api.test/public/.
func benchSnapshot(tb testing.TB) *pipeline.Snapshot {
	tb.Helper()
	deps := builtin.NewDeps(nil)
	tb.Cleanup(deps.Close)
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	on := func(name string) map[string]pipeline.HandlerConfig {
		return map[string]pipeline.HandlerConfig{name: {Enabled: true}}
	}
	specs, err := rulestore.DecodeRules("rules.yaml", []byte(`
- id: public
  match: {url: "https://api.test/public/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-User: "{{ print .Subject }}"}}}]
`))
	if err != nil {
		tb.Fatal(err)
	}
	pc := pipeline.Config{Authenticators: on("anonymous"), Authorizers: on("allow"), Mutators: on("header"), ErrorHandlers: on("json")}
	s, err := pipeline.Compile(specs, pc, reg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

func benchRequest(path string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: path, Host: "api.test", Scheme: "https", Protocol: "HTTP/1.1",
			Headers: map[string]string{":method": "GET", ":path": path, ":authority": "api.test", ":scheme": "https",
				"x-request-id": "5f0e6c8a-1b2d-4e3f-9a8b-7c6d5e4f3a2b", "user-agent": "bench", "accept": "*/*"},
		}},
	}}
}

// BenchmarkCheckDecisionLog measures an in-process Check (anonymous →
// allow → header) whose decision line goes through serve's logger
// (Open) into a real file, at each log level, format and
// log.decisions value.
func BenchmarkCheckDecisionLog(b *testing.B) {
	snap := benchSnapshot(b)
	for _, bc := range []struct{ name, level, format, decisions string }{
		{"warn", "warn", "json", "all"},
		{"info_json", "info", "json", "all"},
		{"info_text", "info", "text", "all"},
		{"info_json_sample100", "info", "json", "sample:100"},
		{"info_json_denied", "info", "json", "denied"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f, err := os.CreateTemp(b.TempDir(), "portcullis-*.log")
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
			lc := config.Log{Level: bc.level, Format: bc.format, Decisions: bc.decisions}
			cfg, err := Config(lc)
			if err != nil {
				b.Fatal(err)
			}
			cfg.OutputPaths = []string{f.Name()}
			log, stop, err := Open(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer stop()
			every, err := lc.DecisionSampling()
			if err != nil {
				b.Fatal(err)
			}
			c := authz.NewChecker(fixedSnapshot{snap}, log.Named(DecisionLogger), nil,
				authz.WithBudget(time.Minute, authz.DefaultDeadlineMargin), authz.WithDecisionSampling(every))
			req := benchRequest("/public/items/42?page=2")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				resp, err := c.Check(ctx, req)
				if err != nil || resp.GetStatus().GetCode() != 0 {
					b.Fatal(resp, err)
				}
			}
			// The process's CPU time, which counts the flushing goroutine and
			// GC, and unlike ns/op not the time other processes take on a
			// busy machine.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkTextEncoder measures the text encoder on a decision line of
// the fields authz records: all strings and numbers, which it writes
// itself, and with its debug steps object, which it leaves to zap.
func BenchmarkTextEncoder(b *testing.B) {
	cfg, err := Config(config.Log{Level: "info", Format: "text"})
	if err != nil {
		b.Fatal(err)
	}
	enc := newTextEncoder(cfg.EncoderConfig)
	ent := zapcore.Entry{Level: zapcore.InfoLevel, Time: time.Now(), LoggerName: DecisionLogger, Message: "decision"}
	fields := []zapcore.Field{zap.String("decision", "allow"), zap.String("rule_id", "public"), zap.String("rules_version", "v1"),
		zap.String("reason", "allowed"), zap.Int("status", 200), zap.Float64("duration_ms", 0.031245),
		zap.String("request_id", "5f0e6c8a-1b2d-4e3f-9a8b-7c6d5e4f3a2b"), zap.String("method", "GET"), zap.String("host", "api.test"),
		zap.String("path", "/public/items/42"), zap.String("subject", "anonymous")}
	steps := zap.Object("steps", zapcore.ObjectMarshalerFunc(func(e zapcore.ObjectEncoder) error {
		e.AddString("authenticator", "anonymous")
		return nil
	}))
	for _, bc := range []struct {
		name   string
		fields []zapcore.Field
	}{
		{"decision", fields},
		{"decision_steps", append(fields[:len(fields):len(fields)], steps)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				line, err := enc.EncodeEntry(ent, bc.fields)
				if err != nil {
					b.Fatal(err)
				}
				line.Free()
			}
		})
	}
}
