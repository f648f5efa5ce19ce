package main

import (
	"reflect"
	"sort"
	"strings"

	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/cmd/internal/logging"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// runtimeKeys are the config keys SIGHUP applies. Every other change
// needs a restart: listeners, TLS settings, handler configs, access_rules
// (repositories, matching strategy), errors, log.format, the check budget.
var runtimeKeys = map[string]bool{
	"log.level":       true,
	"serve.readiness": true,
}

// reloader is what SIGHUP does: read the config file again and apply its
// run-time keys, then read the rules again.
type reloader struct {
	log        *zap.Logger
	configPath string // "" for the embedded quickstart: nothing to re-read
	running    *config.Config
	level      zap.AtomicLevel
	ready      *authz.Readiness
	// rules asks the rule source for a reload (FileSource.Reload).
	rules chan<- struct{}
}

func (r *reloader) reload() {
	r.log.Info("SIGHUP: reloading the config's run-time keys and the rules")
	if r.configPath != "" {
		if cfg, _, _, err := loadConfig(r.configPath); err != nil {
			r.log.Error("config reload rejected, the config in force stays", zap.Strings("error", rulestore.ErrorLines(err)))
		} else {
			r.apply(cfg)
		}
	}
	select {
	case r.rules <- struct{}{}:
	default: // a reload is already pending
	}
}

// apply takes the run-time keys of cfg and names the changes it does not
// apply.
func (r *reloader) apply(cfg *config.Config) {
	if zc, err := logging.Config(cfg.Log); err == nil && zc.Level.Level() != r.level.Level() {
		r.level.SetLevel(zc.Level.Level())
		r.log.Info("log level changed", zap.String("log_level", cfg.Log.Level))
	}
	r.ready.SetRequired(cfg.Serve.Readiness.RequiredKeys())
	if keys := changedKeys(r.running, cfg); len(keys) > 0 {
		r.log.Warn("config changes that need a restart were not applied", zap.Strings("keys", keys))
	}
}

// changedKeys lists the dotted config keys (down to a handler's name)
// whose values differ between a and b, the run-time keys aside.
func changedKeys(a, b *config.Config) []string {
	var out []string
	diffValue("", reflect.ValueOf(*a), reflect.ValueOf(*b), &out)
	sort.Strings(out)
	return out
}

func diffValue(key string, a, b reflect.Value, out *[]string) {
	if runtimeKeys[key] {
		return
	}
	switch a.Kind() {
	case reflect.Struct:
		t := a.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				name = strings.ToLower(f.Name)
			}
			diffValue(joinKey(key, name), a.Field(i), b.Field(i), out)
		}
	case reflect.Map:
		keys := map[string]reflect.Value{}
		for _, m := range []reflect.Value{a, b} {
			for _, k := range m.MapKeys() {
				keys[k.String()] = k
			}
		}
		for n, k := range keys {
			av, bv := a.MapIndex(k), b.MapIndex(k)
			if !av.IsValid() || !bv.IsValid() || !reflect.DeepEqual(av.Interface(), bv.Interface()) {
				*out = append(*out, joinKey(key, n))
			}
		}
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, key)
		}
	}
}

func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}
