// Package logging builds the logger of the portcullis commands: zap's
// production JSON lines or a text format, with no sampling, stack traces
// or callers, and, for serve, decision lines buffered in memory and
// written out every FlushInterval. portcullis-load's compare builds its
// Portcullis server with the same logger, so that it measures the cost
// of the decision log the service pays.
package logging

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"

	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
)

// New builds the logger c describes, writing every line at once (see
// Config), for commands that log little.
func New(c config.Log) (*zap.Logger, error) {
	cfg, err := Config(c)
	if err != nil {
		return nil, err
	}
	return cfg.Build()
}

// Config is the zap config of log.level and log.format ("text" and
// "console" are human-readable; "json", "json_pretty" and "gelf" are JSON
// lines): zap's production config with three changes: no sampling, and
// neither stack traces nor callers. Every entry is one line an operator
// can act on (issue #10 item 14): production zap appends a multi-line
// stack of build paths to every Error, and a caller is a source path
// that costs a runtime.Caller on each decision line. Its Level is the one
// the logger of New or Open runs at, which can change while it runs.
func Config(c config.Log) (zap.Config, error) {
	var lvl zapcore.Level
	switch c.Level {
	case "trace":
		lvl = zapcore.DebugLevel
	case "warning":
		lvl = zapcore.WarnLevel
	default:
		if err := lvl.UnmarshalText([]byte(c.Level)); err != nil {
			return zap.Config{}, err
		}
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil // a decision log must not drop lines
	cfg.DisableStacktrace = true
	cfg.DisableCaller = true
	cfg.EncoderConfig.TimeKey = "time"
	cfg.EncoderConfig.EncodeTime = encodeLineTime // zapcore.ISO8601TimeEncoder's text
	if c.Format == "text" || c.Format == "console" {
		cfg.Encoding = "console"
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
	}
	return cfg, nil
}

// FlushInterval bounds how long a decision line waits in the buffer of
// Open's logger.
const FlushInterval = 100 * time.Millisecond

// DecisionLogger names the logger of the decision lines (the Checker's
// log.Named(DecisionLogger)), the only lines Open's logger holds back.
const DecisionLogger = "decision"

// Open builds the logger cfg describes (see Config) for a server. Its
// decision lines below error level are buffered, so that one costs a
// copy into memory instead of a write system call; they are written out
// every FlushInterval, before any other line (so the output keeps its
// order), and by stop, which the server calls on its way out. Every
// other line is rare and written at once, and so is every line after
// stop. clock drives the flush ticker (nil: the system clock).
//
// A process killed without stop (SIGKILL, out of memory) loses at most
// the last FlushInterval of decision lines.
func Open(cfg zap.Config, clock zapcore.Clock) (log *zap.Logger, stop func(), err error) {
	sink, closeSink, err := zap.Open(cfg.OutputPaths...)
	if err != nil {
		return nil, nil, err
	}
	errSink, _, err := zap.Open(cfg.ErrorOutputPaths...)
	if err != nil {
		closeSink()
		return nil, nil, err
	}
	enc := zapcore.NewJSONEncoder(cfg.EncoderConfig)
	if cfg.Encoding == "console" {
		enc = newTextEncoder(cfg.EncoderConfig)
	}
	// Flushing hands the lines to the kernel, which is all a crash of this
	// process needs; an fsync (the sink's Sync, on a file) every
	// interval would cost the disk, so it runs at stop only.
	buf := &zapcore.BufferedWriteSyncer{WS: flushOnly{sink}, FlushInterval: FlushInterval, Clock: clock}
	out := &logOutput{buf: buf}
	log = zap.New(&flushingCore{Core: zapcore.NewCore(enc, buf, cfg.Level), out: out}, zap.ErrorOutput(errSink))
	stop = func() {
		out.stopped.Store(true)
		_ = buf.Stop()
		_ = sink.Sync() // stderr cannot sync: as zap's Logger.Sync, ignored
	}
	return log, stop, nil
}

// logOutput is the buffer of Open's logger and whether it stopped.
type logOutput struct {
	buf     *zapcore.BufferedWriteSyncer
	stopped atomic.Bool
}

// flushingCore writes each line but the buffered decision lines (see
// Open) through the buffer at once. (zap's own core also flushes
// after dpanic, panic and fatal lines, before the process exits.)
type flushingCore struct {
	zapcore.Core
	out *logOutput
}

// With implements zapcore.Core.
func (c *flushingCore) With(fields []zapcore.Field) zapcore.Core {
	return &flushingCore{Core: c.Core.With(fields), out: c.out}
}

// Check implements zapcore.Core.
func (c *flushingCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

// Write implements zapcore.Core.
func (c *flushingCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	err := c.Core.Write(ent, fields)
	if ent.LoggerName != DecisionLogger || ent.Level >= zapcore.ErrorLevel || c.out.stopped.Load() {
		err = errors.Join(err, c.out.buf.Sync())
	}
	return err
}

// flushOnly is a sink whose Sync does nothing: see Open.
type flushOnly struct{ zapcore.WriteSyncer }

// Sync implements zapcore.WriteSyncer.
func (flushOnly) Sync() error { return nil }

// textEncoder writes, byte for byte, what zap's console encoder writes
// with Config's text settings (TestTextEncoderMatchesZap), at about
// the cost of zap's JSON encoder: zap's puts each line's time, level and
// logger name in a []any and prints each with fmt, which costs about 2 µs
// and 4 allocations more per line, on every decision of the default
// format. Here they are appended directly, and so are the fields when
// each is a string, a number, a bool or a duration (the decision line's;
// see appendField): zap's console encoder clones a JSON encoder for them
// and adds each through an interface. Any other field, a stack, or
// With context whose JSON a field cannot follow as written here (an open
// namespace) leaves the fields, and the context of With, to zap's
// console encoder configured to write nothing else.
type textEncoder struct {
	zapcore.Encoder // the fields and the context of With
	// on says which parts of the line the config writes.
	on struct{ time, level, name, caller, function, message bool }
	// seconds says durations are written as zapcore.SecondsDurationEncoder
	// writes them, so that appendField can.
	seconds bool
	// ending ends each line.
	ending string
	// with is the context of With on this clone, read at its first line.
	with *textContext
}

// textContext is the context of With of one textEncoder, as zap writes
// it inside the braces. zap's cores add it to a fresh clone (Core.With)
// before writing any line with it, so it is read once, at the first.
type textContext struct {
	once sync.Once
	json []byte
	// direct says fields written by appendField after json read as zap's.
	direct bool
}

// textBuffers hold the lines textEncoder writes; the core frees them.
var textBuffers = buffer.NewPool()

// newTextEncoder returns the text encoder for cfg, which must be
// Config's text EncoderConfig: ISO 8601 times, capital levels, full
// logger names and short callers.
func newTextEncoder(cfg zapcore.EncoderConfig) zapcore.Encoder {
	t := textEncoder{with: new(textContext)}
	t.on.time = cfg.TimeKey != "" && cfg.EncodeTime != nil
	t.on.level = cfg.LevelKey != "" && cfg.EncodeLevel != nil
	t.on.name = cfg.NameKey != ""
	t.on.caller = cfg.CallerKey != "" && cfg.EncodeCaller != nil
	t.on.function = cfg.FunctionKey != ""
	t.on.message = cfg.MessageKey != ""
	// Functions do not compare; their code pointers do.
	t.seconds = cfg.EncodeDuration != nil &&
		reflect.ValueOf(cfg.EncodeDuration).Pointer() == reflect.ValueOf(zapcore.SecondsDurationEncoder).Pointer()
	switch { // as zap's JSON encoder
	case cfg.SkipLineEnding:
		t.ending = ""
	case cfg.LineEnding == "":
		t.ending = zapcore.DefaultLineEnding
	default:
		t.ending = cfg.LineEnding
	}
	fields := cfg
	fields.TimeKey, fields.LevelKey, fields.NameKey = "", "", ""
	fields.CallerKey, fields.FunctionKey, fields.MessageKey = "", "", ""
	t.Encoder = zapcore.NewConsoleEncoder(fields)
	return t
}

// Clone implements zapcore.Encoder.
func (t textEncoder) Clone() zapcore.Encoder {
	t.Encoder = t.Encoder.Clone()
	t.with = new(textContext)
	return t
}

// context returns the context of With, read at the first line.
func (t textEncoder) context() *textContext {
	t.with.once.Do(func() { t.with.json, t.with.direct = t.readContext() })
	return t.with
}

// readContext returns the context of With as zap writes it inside the
// braces, and whether a field appendField writes after it reads as zap
// writes it: it does not after an open namespace, which zap closes after
// the last field.
func (t textEncoder) readContext() (json []byte, direct bool) {
	probe := []zapcore.Field{{Key: "p", Type: zapcore.BoolType, Integer: 1}}
	bare, err := t.Encoder.EncodeEntry(zapcore.Entry{}, nil)
	if err != nil {
		return nil, false
	}
	defer bare.Free()
	probed, err := t.Encoder.EncodeEntry(zapcore.Entry{}, probe)
	if err != nil {
		return nil, false
	}
	defer probed.Free()
	if b := bare.String(); b != t.ending {
		inner, ok := strings.CutPrefix(b, "{")
		inner, ok2 := strings.CutSuffix(inner, "}"+t.ending)
		if !ok || !ok2 {
			return nil, false
		}
		json = []byte(inner)
	}
	want := textBuffers.Get()
	defer want.Free()
	appendFields(want, json, probe)
	want.AppendString(t.ending)
	return json, want.String() == probed.String()
}

// EncodeEntry implements zapcore.Encoder.
func (t textEncoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	if ent.Stack == "" && t.direct(fields) {
		if with := t.context(); with.direct {
			line := t.appendHead(textBuffers.Get(), ent)
			if len(with.json) > 0 || writes(fields) {
				if line.Len() > 0 {
					line.AppendByte('\t')
				}
				appendFields(line, with.json, fields)
			}
			line.AppendString(t.ending)
			return line, nil
		}
	}
	// The fields as a JSON object, then the stack and the line ending.
	rest, err := t.Encoder.EncodeEntry(zapcore.Entry{Stack: ent.Stack}, fields)
	if err != nil {
		return nil, err
	}
	defer rest.Free()
	line := t.appendHead(textBuffers.Get(), ent)
	if b := rest.Bytes(); len(b) > 0 && b[0] == '{' && line.Len() > 0 {
		line.AppendByte('\t')
	}
	_, _ = line.Write(rest.Bytes())
	return line, nil
}

// appendHead appends what precedes the fields: time, level, logger name,
// caller and message, each after a tab but the first.
func (t textEncoder) appendHead(line *buffer.Buffer, ent zapcore.Entry) *buffer.Buffer {
	sep := func() {
		if line.Len() > 0 {
			line.AppendByte('\t')
		}
	}
	if t.on.time && !ent.Time.IsZero() {
		line.AppendString(loggedTimes.format(ent.Time)) // zapcore.ISO8601TimeEncoder's text
	}
	if t.on.level {
		sep()
		line.AppendString(ent.Level.CapitalString())
	}
	if t.on.name && ent.LoggerName != "" {
		sep()
		line.AppendString(ent.LoggerName)
	}
	if ent.Caller.Defined && t.on.caller {
		sep()
		line.AppendString(ent.Caller.TrimmedPath())
	}
	if ent.Caller.Defined && t.on.function {
		sep()
		line.AppendString(ent.Caller.Function)
	}
	if t.on.message {
		sep()
		line.AppendString(ent.Message)
	}
	return line
}

// direct says appendField writes every field.
func (t textEncoder) direct(fields []zapcore.Field) bool {
	for i := range fields {
		switch fields[i].Type {
		case zapcore.StringType, zapcore.BoolType, zapcore.SkipType,
			zapcore.Int64Type, zapcore.Int32Type, zapcore.Int16Type, zapcore.Int8Type,
			zapcore.Uint64Type, zapcore.Uint32Type, zapcore.Uint16Type, zapcore.Uint8Type, zapcore.UintptrType,
			zapcore.Float64Type, zapcore.Float32Type:
		case zapcore.DurationType:
			if !t.seconds {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// writes says some field writes something: a skipped one does not.
func writes(fields []zapcore.Field) bool {
	for i := range fields {
		if fields[i].Type != zapcore.SkipType {
			return true
		}
	}
	return false
}

// appendFields appends {with, fields} as zap's console encoder writes
// them ("key": value, separated by ", "). Every value appendField
// writes ends in a quote, a digit or a letter, after which zap's JSON
// encoder always separates.
func appendFields(b *buffer.Buffer, with []byte, fields []zapcore.Field) {
	b.AppendByte('{')
	b.AppendBytes(with)
	first := len(with) == 0
	for i := range fields {
		if fields[i].Type == zapcore.SkipType {
			continue
		}
		if !first {
			b.AppendString(", ")
		}
		first = false
		appendField(b, &fields[i])
	}
	b.AppendByte('}')
}

// appendField appends "key": value for a field direct accepts, as
// Field.AddTo on zap's spaced JSON encoder writes it.
func appendField(b *buffer.Buffer, f *zapcore.Field) {
	b.AppendByte('"')
	appendJSONString(b, f.Key)
	b.AppendString(`": `)
	switch f.Type {
	case zapcore.StringType:
		b.AppendByte('"')
		appendJSONString(b, f.String)
		b.AppendByte('"')
	case zapcore.BoolType:
		b.AppendBool(f.Integer == 1)
	case zapcore.Int64Type:
		b.AppendInt(f.Integer)
	case zapcore.Int32Type:
		b.AppendInt(int64(int32(f.Integer)))
	case zapcore.Int16Type:
		b.AppendInt(int64(int16(f.Integer)))
	case zapcore.Int8Type:
		b.AppendInt(int64(int8(f.Integer)))
	case zapcore.Uint64Type:
		b.AppendUint(uint64(f.Integer))
	case zapcore.Uint32Type:
		b.AppendUint(uint64(uint32(f.Integer)))
	case zapcore.Uint16Type:
		b.AppendUint(uint64(uint16(f.Integer)))
	case zapcore.Uint8Type:
		b.AppendUint(uint64(uint8(f.Integer)))
	case zapcore.UintptrType:
		b.AppendUint(uint64(uintptr(f.Integer)))
	case zapcore.Float64Type:
		appendJSONFloat(b, math.Float64frombits(uint64(f.Integer)), 64)
	case zapcore.Float32Type:
		appendJSONFloat(b, float64(math.Float32frombits(uint32(f.Integer))), 32)
	case zapcore.DurationType: // zapcore.SecondsDurationEncoder
		appendJSONFloat(b, float64(time.Duration(f.Integer))/float64(time.Second), 64)
	}
}

// appendJSONFloat appends v as zap's JSON encoder does: the shortest
// decimal, never an exponent, and the three non-numbers quoted.
func appendJSONFloat(b *buffer.Buffer, v float64, bitSize int) {
	switch {
	case math.IsNaN(v):
		b.AppendString(`"NaN"`)
	case math.IsInf(v, 1):
		b.AppendString(`"+Inf"`)
	case math.IsInf(v, -1):
		b.AppendString(`"-Inf"`)
	default:
		b.AppendFloat(v, bitSize)
	}
}

// hexDigits are the digits of zap's \u00XX escapes.
const hexDigits = "0123456789abcdef"

// appendJSONString appends s escaped as zap's JSON encoder escapes it:
// backslash and quote; \n, \r and \t; other bytes below 0x20 as \u00XX;
// each byte of invalid UTF-8 as \ufffd. Everything else, HTML
// characters, DEL, U+2028 and U+2029 included, is copied.
func appendJSONString(b *buffer.Buffer, s string) {
	done := 0 // s[:done] is in b
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b.AppendString(s[done:i])
				b.AppendString(`\ufffd`)
				done = i + 1
			}
			i += n
			continue
		}
		if c >= 0x20 && c != '\\' && c != '"' {
			i++
			continue
		}
		b.AppendString(s[done:i])
		switch c {
		case '\\', '"':
			b.AppendByte('\\')
			b.AppendByte(c)
		case '\n':
			b.AppendString(`\n`)
		case '\r':
			b.AppendString(`\r`)
		case '\t':
			b.AppendString(`\t`)
		default:
			b.AppendString(`\u00`)
			b.AppendByte(hexDigits[c>>4])
			b.AppendByte(hexDigits[c&0xf])
		}
		i++
		done = i
	}
	b.AppendString(s[done:])
}
