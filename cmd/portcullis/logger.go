package main

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
)

// newLogger builds the zap logger from log.level and log.format ("text"
// and "console" are human-readable; "json", "json_pretty" and "gelf" are
// JSON lines).
func newLogger(c config.Log) (*zap.Logger, error) {
	cfg, err := loggerConfig(c)
	if err != nil {
		return nil, err
	}
	return cfg.Build()
}

// loggerConfig is zap's production config with three changes: no
// sampling, and neither stack traces nor callers. Every entry is one line
// an operator can act on (issue #10 item 14): production zap appends a
// multi-line stack of build paths to every Error, and a caller is a source
// path that costs a runtime.Caller on each decision line.
func loggerConfig(c config.Log) (zap.Config, error) {
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
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	if c.Format == "text" || c.Format == "console" {
		cfg.Encoding = "console"
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
	}
	return cfg, nil
}
