package logging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/filesource"
)

// TestRejectedReloadLogsOneLine covers issue #10 item 14 with the logger
// serve builds and the real file source: a rejected reload is one log
// line holding every error, with no stack trace and no source paths (zap's
// production config adds a multi-line stack of build paths to each Error).
func TestRejectedReloadLogsOneLine(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			logFile, rules := filepath.Join(dir, "portcullis.log"), filepath.Join(dir, "rules.yaml")
			cfg, err := Config(config.Log{Level: "info", Format: format})
			if err != nil {
				t.Fatal(err)
			}
			cfg.OutputPaths = []string{logFile}
			log, err := cfg.Build()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(rules, []byte("[]"), 0o644); err != nil {
				t.Fatal(err)
			}
			src, err := filesource.New([]string{"file://" + rules}, nil, log)
			if err != nil {
				t.Fatal(err)
			}
			src.Debounce = time.Millisecond
			failed, watching := make(chan error, 8), make(chan struct{})
			src.OnError = func(err error) { failed <- err }
			src.OnWatching = func() { close(watching) }
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(1)
			// The initial "[]" may be read (and published) again when its
			// write's event arrives late; only the bad set must never be.
			publish := func(s rulestore.Set) error {
				if len(s.Specs) > 0 {
					t.Error("a rejected set was applied")
				}
				return nil
			}
			go func() { defer wg.Done(); _ = src.Run(ctx, publish) }()
			defer func() { cancel(); wg.Wait() }()
			<-watching

			// Replace the file in one step: os.WriteFile truncates first,
			// and a read in between would be rejected as an empty file,
			// a line of its own.
			bad := "- id: a\n  mach: {}\n- id: b\n  version: '42'\n"
			tmp := filepath.Join(dir, "rules.yaml.tmp")
			if err := os.WriteFile(tmp, []byte(bad), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, rules); err != nil {
				t.Fatal(err)
			}
			select {
			case <-failed: // logged before OnError is called
			case <-time.After(10 * time.Second):
				t.Fatal("no rejection")
			}
			_ = log.Sync()
			b, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if len(lines) < 1 {
				t.Fatal("nothing logged")
			}
			// A write may be seen as more than one event; each rejection
			// is then one line of its own.
			for _, l := range lines {
				for _, want := range []string{"rules rejected, previous rules stay in force", `unknown field \"mach\" (did you mean \"match\"?)`, `version: \"42\" is not a semantic version`} {
					if !strings.Contains(l, want) {
						t.Errorf("line lacks %s: %s", want, l)
					}
				}
				for _, never := range []string{"stacktrace", ".go:", "github.com/"} {
					if strings.Contains(l, never) {
						t.Errorf("line has %q: %s", never, l)
					}
				}
			}
		})
	}
}

// tickClock is a zapcore.Clock whose ticker ticks when a test sends on c.
type tickClock struct{ c chan time.Time }

func (tickClock) Now() time.Time { return time.Now() }

func (k tickClock) NewTicker(time.Duration) *time.Ticker { return &time.Ticker{C: k.c} }

// tick makes the logger's flush loop run once and waits until it has: the
// loop takes the second tick only once it is done with the first.
func (k tickClock) tick() {
	k.c <- time.Time{}
	k.c <- time.Time{}
}

// openTestLogger opens serve's logger at info, writing to a file, with
// the flush ticker driven by the returned clock.
func openTestLogger(t *testing.T, format string) (log *zap.Logger, stop func(), clock tickClock, read func() string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "portcullis.log")
	cfg, err := Config(config.Log{Level: "info", Format: format})
	if err != nil {
		t.Fatal(err)
	}
	cfg.OutputPaths = []string{file}
	clock = tickClock{c: make(chan time.Time)}
	log, stop, err = Open(cfg, clock)
	if err != nil {
		t.Fatal(err)
	}
	return log, stop, clock, func() string {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
}

// TestServeLoggerFlushes: serve's logger holds decision lines back and
// writes them out on the flush tick; before any other line (which is
// written at once, in order); at once for an error, and for a fatal line
// before the process exits; at stop; and at once after stop.
func TestServeLoggerFlushes(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			log, stop, clock, read := openTestLogger(t, format)
			stopped := false
			defer func() {
				if !stopped {
					stop()
				}
			}()
			decisions := log.Named(DecisionLogger)
			written := func(want ...string) {
				t.Helper()
				got := strings.Split(strings.TrimSuffix(read(), "\n"), "\n")
				if len(got) != len(want) {
					t.Fatalf("%d lines written, want %d (%q): %q", len(got), len(want), want, got)
				}
				for i := range want {
					if !strings.Contains(got[i], want[i]) {
						t.Fatalf("line %d %q, want %q", i, got[i], want[i])
					}
				}
			}

			decisions.Info("d1")
			if got := read(); got != "" {
				t.Fatalf("written before any flush: %q", got)
			}
			clock.tick()
			written("d1")

			decisions.Info("d2")
			log.Info("rules loaded")
			written("d1", "d2", "rules loaded")

			decisions.Warn("d3")
			decisions.Error("d4")
			written("d1", "d2", "rules loaded", "d3", "d4")

			decisions.Info("d5")
			fatal := decisions.WithOptions(zap.WithFatalHook(zapcore.WriteThenPanic))
			func() {
				defer func() { _ = recover() }()
				fatal.Fatal("d6")
			}()
			written("d1", "d2", "rules loaded", "d3", "d4", "d5", "d6")

			decisions.Info("d7")
			stop()
			stopped = true
			written("d1", "d2", "rules loaded", "d3", "d4", "d5", "d6", "d7")
			decisions.Info("d8")
			written("d1", "d2", "rules loaded", "d3", "d4", "d5", "d6", "d7", "d8")
		})
	}
}

// TestServeLoggerDecisionLine runs checks through serve's logger into a
// file: the decision lines keep their JSON keys and values, and no
// credential (token, cookie, query) reaches them.
func TestServeLoggerDecisionLine(t *testing.T) {
	log, stop, _, read := openTestLogger(t, "json")
	c := authz.NewChecker(fixedSnapshot{benchSnapshot(t)}, log.Named(DecisionLogger), nil,
		authz.WithBudget(time.Minute, authz.DefaultDeadlineMargin))
	const secret = "s3cr3t-token-value"
	allowed := benchRequest("/public/items/42?access_token=" + secret)
	allowed.Attributes.Request.Http.Headers["cookie"] = "session=" + secret
	// anonymous is not responsible for a request with credentials: 401.
	denied := benchRequest("/public/items/43")
	denied.Attributes.Request.Http.Headers["authorization"] = "Bearer " + secret
	for _, req := range []*authv3.CheckRequest{allowed, denied, benchRequest("/nowhere")} {
		if _, err := c.Check(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	out := read()
	if strings.Contains(out, secret) {
		t.Fatalf("secret logged: %s", out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	const id = "5f0e6c8a-1b2d-4e3f-9a8b-7c6d5e4f3a2b"
	want := []map[string]any{
		{"level": "info", "logger": "decision", "msg": "decision", "decision": "allow", "rule_id": "public", "reason": "allowed",
			"status": 200.0, "request_id": id, "method": "GET", "host": "api.test", "path": "/public/items/42",
			"subject": "anonymous", "rules_version": ""},
		{"level": "info", "logger": "decision", "msg": "decision", "decision": "deny", "rule_id": "public",
			"reason": "authentication_handler_no_match", "status": 401.0, "request_id": id, "method": "GET", "host": "api.test",
			"path": "/public/items/43", "rules_version": ""},
		{"level": "info", "logger": "decision", "msg": "decision", "decision": "deny", "rule_id": "", "reason": "no_rule_match",
			"status": 404.0, "request_id": id, "method": "GET", "host": "api.test", "path": "/nowhere", "rules_version": ""},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines: %s", len(lines), out)
	}
	for i, l := range lines {
		var got map[string]any
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, l)
		}
		if _, ok := got["duration_ms"].(float64); !ok {
			t.Errorf("line %d: duration_ms %v", i, got["duration_ms"])
		}
		if ts, _ := got["time"].(string); !isISO8601(ts) {
			t.Errorf("line %d: time %q", i, ts)
		}
		if e, _ := got["error"].(string); (e != "") != (i > 0) {
			t.Errorf("line %d: error %q", i, e)
		}
		for _, k := range []string{"duration_ms", "time", "error"} {
			delete(got, k)
		}
		if !maps.Equal(got, want[i]) {
			t.Errorf("line %d:\n got %v\nwant %v", i, got, want[i])
		}
	}
}

func isISO8601(s string) bool {
	_, err := time.Parse("2006-01-02T15:04:05.000Z0700", s)
	return err == nil
}

// textEncoders returns zap's console encoder and the text encoder for
// Config's text format, each with the context fields with added.
func textEncoders(t testing.TB, with []zapcore.Field) (zapEnc, textEnc zapcore.Encoder) {
	t.Helper()
	cfg, err := Config(config.Log{Level: "debug", Format: "text"})
	if err != nil {
		t.Fatal(err)
	}
	zapEnc, textEnc = zapcore.NewConsoleEncoder(cfg.EncoderConfig).Clone(), newTextEncoder(cfg.EncoderConfig).Clone()
	for _, f := range with {
		f.AddTo(zapEnc)
		f.AddTo(textEnc)
	}
	return zapEnc, textEnc
}

// sameText fails unless both encoders write the same line for ent.
func sameText(t testing.TB, zapEnc, textEnc zapcore.Encoder, ent zapcore.Entry, fields []zapcore.Field) {
	t.Helper()
	want, err := zapEnc.EncodeEntry(ent, fields)
	if err != nil {
		t.Fatal(err)
	}
	got, err := textEnc.EncodeEntry(ent, fields)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("text encoder wrote\n%q\nzap's console encoder\n%q", got.String(), want.String())
	}
	got.Free()
	want.Free()
}

// TestTextEncoderMatchesZap: log.format text writes what zap's console
// encoder writes, for every part of an entry and every kind of field,
// with and without context fields.
func TestTextEncoderMatchesZap(t *testing.T) {
	now := time.Date(2026, 12, 3, 13, 4, 5, 678_900_000, time.FixedZone("X", 5400))
	caller := zapcore.NewEntryCaller(0, "/src/github.com/portcullis-authz/portcullis/authz/check.go", 42, true)
	caller.Function = "authz.(*Checker).record"
	entries := map[string]zapcore.Entry{
		"decision":     {Level: zapcore.InfoLevel, Time: now, LoggerName: "decision", Message: "decision"},
		"no name":      {Level: zapcore.WarnLevel, Time: now, Message: "rules loaded"},
		"zero time":    {Level: zapcore.ErrorLevel, Message: "m"},
		"empty":        {},
		"caller":       {Level: zapcore.DebugLevel, Time: now, Caller: caller, Message: "m"},
		"stack":        {Level: zapcore.FatalLevel, Time: now, Message: "m", Stack: "goroutine 1:\n\tmain.go:1"},
		"odd message":  {Level: zapcore.InfoLevel, Time: now, LoggerName: "a.b", Message: "tab\there\nnew \"line\" \xff\x00 \u2028"},
		"dpanic level": {Level: zapcore.DPanicLevel, Time: now.UTC(), Message: ""},
	}
	fieldSets := map[string][]zapcore.Field{
		"none": nil,
		"decision": {zap.String("decision", "allow"), zap.String("rule_id", "public"), zap.Int("status", 200),
			zap.Float64("duration_ms", 0.031245), zap.String("path", "/p\t\"q\"\\\x01\xff")},
		"kinds": {zap.Bool("b", true), zap.Duration("d", 1500*time.Millisecond), zap.Time("t", now), zap.Strings("s", []string{"x", "y"}),
			zap.Error(errors.New("boom \"x\"")), zap.Any("m", map[string]int{"a": 1}), zap.Namespace("ns"), zap.String("in", "ns")},
	}
	for en, ent := range entries {
		for fn, fields := range fieldSets {
			for _, with := range [][]zapcore.Field{nil, {zap.String("component", "rules")}} {
				t.Run(fmt.Sprintf("%s/%s/with=%d", en, fn, len(with)), func(t *testing.T) {
					zapEnc, textEnc := textEncoders(t, with)
					sameText(t, zapEnc, textEnc, ent, fields)
				})
			}
		}
	}
}

// FuzzTextEncoder compares the text encoder with zap's console encoder
// on arbitrary messages, names, stacks and field strings.
func FuzzTextEncoder(f *testing.F) {
	f.Add("decision", "decision", "path", "/public/items/42", "", "", false)
	f.Add("tab\tnew\nline", "a.b", "k\"ey", "v\\al\x00\x1f\x7f", "ctx\xff", "goroutine 1\n\tmain.go:1", true)
	f.Add("\xed\xa0\x80\u2028\u2029", "", "", "\xf0\x9f\x98", "", "", false)
	f.Fuzz(func(t *testing.T, msg, name, key, value, ctx, stack string, caller bool) {
		ent := zapcore.Entry{Level: zapcore.InfoLevel, Time: time.Unix(1_700_000_000, 123_000_000), LoggerName: name, Message: msg, Stack: stack}
		if caller {
			ent.Caller = zapcore.NewEntryCaller(0, "/x/"+name+"/f.go", 7, true)
		}
		zapEnc, textEnc := textEncoders(t, []zapcore.Field{zap.String("ctx", ctx)})
		sameText(t, zapEnc, textEnc, ent, []zapcore.Field{zap.String(key, value), zap.Int(value, len(msg))})
	})
}
