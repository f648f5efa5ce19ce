package logging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
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

// withContexts are context fields of Logger.With: none, ones the text
// encoder writes after, and open namespaces, which it leaves to zap.
var withContexts = map[string][]zapcore.Field{
	"none":            nil,
	"string":          {zap.String("component", "rules")},
	"kinds":           {zap.Int("n", -3), zap.Float64("f", 1e21), zap.Bool("b", false), zap.Strings("s", []string{"x"})},
	"namespace":       {zap.Namespace("ns")},
	"namespace field": {zap.String("a", "b"), zap.Namespace("ns"), zap.Int("c", 1)},
	"skip":            {zap.Skip()},
}

// directFields are fields of every type the text encoder writes itself,
// at the edges of their ranges.
var directFields = []zapcore.Field{
	zap.String("", ""), zap.String("s", "plain"), zap.String("esc\\\"\n\r\t\x00\x1f\x7f", "<a href='x'>&amp;</a>\u2028\u2029\ufffd\xff\xed\xa0\x80\xf0\x9f\x98 ok \U0001F600"),
	zap.Bool("t", true), zap.Bool("f", false), zap.Skip(),
	zap.Int("i", math.MinInt), zap.Int64("i64", math.MaxInt64), zap.Int32("i32", math.MinInt32), zap.Int16("i16", -1), zap.Int8("i8", math.MaxInt8),
	zap.Uint("u", math.MaxUint), zap.Uint64("u64", 0), zap.Uint32("u32", math.MaxUint32), zap.Uint16("u16", 7), zap.Uint8("u8", 255), zap.Uintptr("p", 0xdeadbeef),
	// Out-of-range values in a hand-built field are truncated as AddTo does.
	{Key: "i8 wide", Type: zapcore.Int8Type, Integer: 0x1ff}, {Key: "u16 wide", Type: zapcore.Uint16Type, Integer: -1}, {Key: "bool 2", Type: zapcore.BoolType, Integer: 2},
	zap.Float64("nan", math.NaN()), zap.Float64("+inf", math.Inf(1)), zap.Float64("-inf", math.Inf(-1)), zap.Float64("-0", math.Copysign(0, -1)),
	zap.Float64("big", 1e21), zap.Float64("small", 1e-7), zap.Float64("max", math.MaxFloat64), zap.Float64("tiny", math.SmallestNonzeroFloat64), zap.Float64("ms", 0.031245),
	zap.Float32("f32", 0.1), zap.Float32("f32 max", math.MaxFloat32), zap.Float32("f32 nan", float32(math.NaN())), zap.Float32("f32 -inf", float32(math.Inf(-1))),
	zap.Duration("d", 1500*time.Millisecond), zap.Duration("d min", math.MinInt64), zap.Duration("d ns", 1), zap.Duration("d 0", 0),
}

// TestTextEncoderMatchesZap: log.format text writes what zap's console
// encoder writes, for every part of an entry and every kind of field,
// those it writes itself and those it leaves to zap, with and without
// context fields.
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
		"skip": {zap.Skip(), zap.Skip()},
		"decision": {zap.String("decision", "allow"), zap.String("rule_id", "public"), zap.Int("status", 200),
			zap.Float64("duration_ms", 0.031245), zap.String("path", "/p\t\"q\"\\\x01\xff")},
		"direct": directFields,
		"kinds": {zap.Bool("b", true), zap.Duration("d", 1500*time.Millisecond), zap.Time("t", now), zap.Strings("s", []string{"x", "y"}),
			zap.Error(errors.New("boom \"x\"")), zap.Any("m", map[string]int{"a": 1}), zap.Namespace("ns"), zap.String("in", "ns")},
		"direct then object": append(directFields[:3:3], zap.Object("steps", zapcore.ObjectMarshalerFunc(func(e zapcore.ObjectEncoder) error {
			e.AddString("k", "v")
			return nil
		}))),
	}
	for en, ent := range entries {
		for fn, fields := range fieldSets {
			for wn, with := range withContexts {
				t.Run(fmt.Sprintf("%s/%s/with=%s", en, fn, wn), func(t *testing.T) {
					zapEnc, textEnc := textEncoders(t, with)
					sameText(t, zapEnc, textEnc, ent, fields)
				})
			}
		}
	}
}

// TestTextEncoderWritesFieldsDirectly: the fields of the decision line,
// and every field of directFields, are written by the text encoder
// itself (which TestTextEncoderMatchesZap compares with zap's), after
// context it can follow; others, open namespaces and durations other
// than SecondsDurationEncoder's are left to zap.
func TestTextEncoderWritesFieldsDirectly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		with   []zapcore.Field
		fields []zapcore.Field
		direct bool
	}{
		{"direct fields", nil, directFields, true},
		{"after context", withContexts["kinds"], directFields, true},
		{"after skip", withContexts["skip"], directFields, true},
		{"after namespace", withContexts["namespace"], directFields, false},
		{"after namespace field", withContexts["namespace field"], nil, false},
		{"error", nil, []zapcore.Field{zap.String("a", "b"), zap.Error(errors.New("e"))}, false},
		{"object", nil, []zapcore.Field{zap.Object("o", zapcore.ObjectMarshalerFunc(func(zapcore.ObjectEncoder) error { return nil }))}, false},
		{"namespace", nil, []zapcore.Field{zap.Namespace("ns")}, false},
		{"time", nil, []zapcore.Field{zap.Time("t", time.Unix(0, 0))}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, enc := textEncoders(t, tc.with)
			text := enc.(textEncoder)
			if got := text.direct(tc.fields) && text.context().direct; got != tc.direct {
				t.Fatalf("written directly: %v, want %v", got, tc.direct)
			}
		})
	}
	cfg, err := Config(config.Log{Level: "info", Format: "text"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.EncoderConfig.EncodeDuration = zapcore.StringDurationEncoder
	text := newTextEncoder(cfg.EncoderConfig).(textEncoder)
	d := []zapcore.Field{zap.Duration("d", time.Second)}
	if text.direct(d) {
		t.Fatal("StringDurationEncoder's durations written directly")
	}
	zapEnc := zapcore.NewConsoleEncoder(cfg.EncoderConfig)
	sameText(t, zapEnc, text, zapcore.Entry{Message: "m"}, d)
}

// fuzzFields builds a field list from the fuzzer's bytes: each byte picks
// a kind of field (most of them ones the text encoder writes itself),
// with the fuzzer's key, string and numbers.
func fuzzFields(mix []byte, key, value string, num float64, n int64) []zapcore.Field {
	kinds := []func() zapcore.Field{
		func() zapcore.Field { return zap.String(key, value) },
		func() zapcore.Field { return zap.String(value, key) },
		func() zapcore.Field { return zap.Int(key, int(n)) },
		func() zapcore.Field { return zap.Int64(key, n) },
		func() zapcore.Field { return zap.Int32(key, int32(n)) },
		func() zapcore.Field { return zap.Int16(key, int16(n)) },
		func() zapcore.Field { return zap.Int8(key, int8(n)) },
		func() zapcore.Field { return zap.Uint64(key, uint64(n)) },
		func() zapcore.Field { return zap.Uint32(key, uint32(n)) },
		func() zapcore.Field { return zap.Uint8(key, uint8(n)) },
		func() zapcore.Field { return zap.Uintptr(key, uintptr(n)) },
		func() zapcore.Field { return zapcore.Field{Key: key, Type: zapcore.Int16Type, Integer: n} },
		func() zapcore.Field { return zap.Float64(key, num) },
		func() zapcore.Field { return zap.Float64(key, math.Float64frombits(uint64(n))) },
		func() zapcore.Field { return zap.Float32(key, float32(num)) },
		func() zapcore.Field { return zap.Bool(key, n&1 == 1) },
		func() zapcore.Field { return zap.Duration(key, time.Duration(n)) },
		func() zapcore.Field { return zap.Skip() },
		func() zapcore.Field { return zap.Error(errors.New(value)) },
		func() zapcore.Field { return zap.Strings(key, []string{value}) },
		func() zapcore.Field { return zap.Namespace(key) },
	}
	fields := make([]zapcore.Field, 0, len(mix))
	for _, b := range mix {
		fields = append(fields, kinds[int(b)%len(kinds)]())
	}
	return fields
}

// FuzzTextEncoder compares the text encoder with zap's console encoder
// on arbitrary messages, names, stacks, context, and field lists of
// arbitrary kinds, keys, strings and numbers.
func FuzzTextEncoder(f *testing.F) {
	f.Add("decision", "decision", "path", "/public/items/42", "", "", false, 0.031245, int64(200), []byte{0, 2, 12, 0})
	f.Add("tab\tnew\nline", "a.b", "k\"ey", "v\\al\x00\x1f\x7f", "ctx\xff", "goroutine 1\n\tmain.go:1", true, math.Inf(-1), int64(-1), []byte{1, 3, 14, 15, 16})
	f.Add("\xed\xa0\x80\u2028\u2029", "", "", "\xf0\x9f\x98", "", "", false, math.Copysign(0, -1), int64(math.MinInt64), []byte{17, 18, 20, 0, 13})
	f.Add("m", "n", "<&>", "\ufffd\U0001F600", "", "", false, 1e21, int64(0x7ff8000000000001), []byte{4, 5, 6, 7, 8, 9, 10, 11, 13, 19})
	f.Fuzz(func(t *testing.T, msg, name, key, value, ctx, stack string, caller bool, num float64, n int64, mix []byte) {
		ent := zapcore.Entry{Level: zapcore.InfoLevel, Time: time.Unix(1_700_000_000, 123_000_000), LoggerName: name, Message: msg, Stack: stack}
		if caller {
			ent.Caller = zapcore.NewEntryCaller(0, "/x/"+name+"/f.go", 7, true)
		}
		// The first byte picks the context of With: none, a string, or
		// the fields of the rest of mix after it.
		var with []zapcore.Field
		if len(mix) > 0 {
			switch mix[0] % 4 {
			case 1:
				with = []zapcore.Field{zap.String("ctx", ctx)}
			case 2:
				with = fuzzFields(mix[1:min(len(mix), 4)], ctx, value, num, n)
			}
		}
		zapEnc, textEnc := textEncoders(t, with)
		sameText(t, zapEnc, textEnc, ent, append(fuzzFields(mix, key, value, num, n), zap.Int(value, len(msg))))
	})
}

// TestTextEncoderConcurrentFirstLines: the lines of a core are encoded
// concurrently, the first ones while the context of With is being read
// (run under -race).
func TestTextEncoderConcurrentFirstLines(t *testing.T) {
	zapEnc, textEnc := textEncoders(t, withContexts["kinds"])
	ent := zapcore.Entry{Level: zapcore.InfoLevel, Time: time.Unix(1_700_000_000, 0), LoggerName: DecisionLogger, Message: "decision"}
	want, err := zapEnc.EncodeEntry(ent, directFields)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Free()
	got := make([]string, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			line, err := textEnc.EncodeEntry(ent, directFields)
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = line.String()
			line.Free()
		}()
	}
	wg.Wait()
	for i, g := range got {
		if g != want.String() {
			t.Errorf("line %d\n%q\nwant\n%q", i, g, want.String())
		}
	}
}
