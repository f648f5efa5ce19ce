// Package logging builds the logger of the portcullis commands: zap's
// production JSON lines or a text format, with no sampling, stack traces
// or callers, and, for serve, decision lines buffered in memory and
// written out every FlushInterval. portcullis-load's compare builds its
// Portcullis server with the same logger, so that it measures the cost
// of the decision log the service pays.
package logging

import (
	"errors"
	"sync/atomic"
	"time"

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
// format. Here they are appended directly. The fields, and the context of
// With, are zap's: its console encoder configured to write nothing else.
type textEncoder struct {
	zapcore.Encoder // the fields only
	// on says which parts of the line the config writes.
	on struct{ time, level, name, caller, function, message bool }
}

// textBuffers hold the lines textEncoder writes; the core frees them.
var textBuffers = buffer.NewPool()

// newTextEncoder returns the text encoder for cfg, which must be
// Config's text EncoderConfig: ISO 8601 times, capital levels, full
// logger names and short callers.
func newTextEncoder(cfg zapcore.EncoderConfig) zapcore.Encoder {
	t := textEncoder{}
	t.on.time = cfg.TimeKey != "" && cfg.EncodeTime != nil
	t.on.level = cfg.LevelKey != "" && cfg.EncodeLevel != nil
	t.on.name = cfg.NameKey != ""
	t.on.caller = cfg.CallerKey != "" && cfg.EncodeCaller != nil
	t.on.function = cfg.FunctionKey != ""
	t.on.message = cfg.MessageKey != ""
	fields := cfg
	fields.TimeKey, fields.LevelKey, fields.NameKey = "", "", ""
	fields.CallerKey, fields.FunctionKey, fields.MessageKey = "", "", ""
	t.Encoder = zapcore.NewConsoleEncoder(fields)
	return t
}

// Clone implements zapcore.Encoder.
func (t textEncoder) Clone() zapcore.Encoder {
	t.Encoder = t.Encoder.Clone()
	return t
}

// EncodeEntry implements zapcore.Encoder.
func (t textEncoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	// The fields as a JSON object, then the stack and the line ending.
	rest, err := t.Encoder.EncodeEntry(zapcore.Entry{Stack: ent.Stack}, fields)
	if err != nil {
		return nil, err
	}
	defer rest.Free()
	line := textBuffers.Get()
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
	if b := rest.Bytes(); len(b) > 0 && b[0] == '{' {
		sep()
	}
	_, _ = line.Write(rest.Bytes())
	return line, nil
}
