package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"

	"github.com/portcullis-authz/portcullis/authz/tracing"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// EnvPrefix prefixes environment overrides: PORTCULLIS_SERVE_GRPC_PORT sets
// serve.grpc.port.
const EnvPrefix = "PORTCULLIS_"

// Config is the service configuration, in Oathkeeper's shape plus the
// gRPC and metrics listeners.
type Config struct {
	Serve          Serve                             `json:"serve"`
	AccessRules    AccessRules                       `json:"access_rules"`
	Authenticators map[string]pipeline.HandlerConfig `json:"authenticators"`
	Authorizers    map[string]pipeline.HandlerConfig `json:"authorizers"`
	Mutators       map[string]pipeline.HandlerConfig `json:"mutators"`
	Errors         Errors                            `json:"errors"`
	Log            Log                               `json:"log"`
	Tracing        tracing.Config                    `json:"tracing"`

	// loc places later findings (CheckHandlers) in the file.
	loc *configLocator
}

// Serve holds the listeners. Host and port are separate keys, as in
// Oathkeeper's serve.api.
type Serve struct {
	GRPC    GRPCListener    `json:"grpc"`
	API     APIListener     `json:"api"`
	Metrics MetricsListener `json:"metrics"`
	// CheckTimeout bounds every check, on both front doors (default
	// 180ms): remote calls and retries share what is left of it, and a
	// check that runs out answers 503 with reason deadline.
	CheckTimeout time.Duration `json:"check_timeout"`
	// DeadlineMargin ends a gRPC check this long before the caller's own
	// deadline (default 15ms), so its answer arrives before Envoy gives up.
	DeadlineMargin time.Duration `json:"deadline_margin"`
	// Readiness says which dependencies besides the rules decide
	// readiness.
	Readiness Readiness `json:"readiness"`
}

// Listener is one TCP listener.
type Listener struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	TLS  TLS    `json:"tls"`
}

// Addr returns host:port.
func (l Listener) Addr() string { return fmt.Sprintf("%s:%d", l.Host, l.Port) }

// APIListener is the HTTP API listener, which serves the decision API.
type APIListener struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	TLS  TLS    `json:"tls"`
	// Forwarded says whose forwarded headers the decision API believes.
	Forwarded Forwarded `json:"forwarded"`
}

// Addr returns host:port.
func (l APIListener) Addr() string { return fmt.Sprintf("%s:%d", l.Host, l.Port) }

// Forwarded is serve.api.forwarded: which forwarded headers the decision
// API reads (a header not listed is an ordinary request header), and the
// peers allowed to send them (CIDRs or single addresses; default
// loopback). A listed header from any other peer is a 400.
type Forwarded struct {
	TrustedProxies []string `json:"trusted_proxies"`
	Headers        []string `json:"headers"`
}

// GRPCListener is the ext_authz listener.
type GRPCListener struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	TLS  TLS    `json:"tls"`
	// Reflection enables gRPC server reflection (default true).
	Reflection bool `json:"reflection"`
	// MaxRecvMsgSize caps one CheckRequest (default 4 MiB, gRPC's own).
	MaxRecvMsgSize int `json:"max_recv_msg_size"`
	// MaxConcurrentStreams caps in-flight checks per connection (0: gRPC's
	// default).
	MaxConcurrentStreams uint32 `json:"max_concurrent_streams"`
	// NumStreamWorkers serves calls on a pool of long-lived goroutines
	// (0: gRPC's default, a goroutine per call). The default, 64, covers
	// the checks one instance has in flight: a call finding no idle
	// worker still gets a goroutine of its own, and a fresh goroutine
	// grows its stack on every check (about 12 % of CPU, measured with
	// portcullis-load compare; 2 % with the pool).
	NumStreamWorkers uint32 `json:"num_stream_workers"`
}

// Addr returns host:port.
func (l GRPCListener) Addr() string { return fmt.Sprintf("%s:%d", l.Host, l.Port) }

// AccessRules configures where rules come from and how they match.
type AccessRules struct {
	// Repositories lists rule sources (file://..., inline://...,
	// http(s)://..., xds://...); their rules combine into one set. A
	// single string is accepted too, as in Oathkeeper.
	Repositories []string `json:"repositories"`
	// PollInterval is how often http(s):// repositories are polled.
	PollInterval     time.Duration `json:"poll_interval"`
	MatchingStrategy string        `json:"matching_strategy"`
	// NoMatchStatus is the status when no rule matches (404, 401 or 403).
	NoMatchStatus int `json:"no_match_status"`
	// MaxPathLength and MaxPathSegments bound the raw request path (400
	// beyond them).
	MaxPathLength   int `json:"max_path_length"`
	MaxPathSegments int `json:"max_path_segments"`
	// CaseSensitiveUpstreams turns off the path case guard (see
	// pipeline.Config).
	CaseSensitiveUpstreams bool `json:"case_sensitive_upstreams"`
	// ShadowRules lists rule ids run in shadow mode (see
	// pipeline.Config), to roll out a rule set without denying.
	ShadowRules []string `json:"shadow_rules"`
}

// Errors configures error handlers.
type Errors struct {
	Fallback []string                          `json:"fallback"`
	Handlers map[string]pipeline.HandlerConfig `json:"handlers"`
}

// Log configures the logger.
type Log struct {
	Level  string `json:"level"`
	Format string `json:"format"`
	// Decisions says which decisions get a log line: all (default),
	// denied, or sample:N (see DecisionSampling).
	Decisions string `json:"decisions"`
}

// Pipeline returns the part of the config Compile needs.
func (c *Config) Pipeline() pipeline.Config {
	return pipeline.Config{
		Authenticators:   c.Authenticators,
		Authorizers:      c.Authorizers,
		Mutators:         c.Mutators,
		ErrorHandlers:    c.Errors.Handlers,
		ErrorFallback:    c.Errors.Fallback,
		MatchingStrategy: c.AccessRules.MatchingStrategy,
		NoMatchStatus:    c.AccessRules.NoMatchStatus,

		MaxPathLength:          c.AccessRules.MaxPathLength,
		MaxPathSegments:        c.AccessRules.MaxPathSegments,
		CaseSensitiveUpstreams: c.AccessRules.CaseSensitiveUpstreams,
		ShadowRules:            c.AccessRules.ShadowRules,
	}
}

// defaults are applied before the file and the environment.
func defaults() map[string]any {
	return map[string]any{
		"serve.grpc.host":                   "",
		"serve.grpc.port":                   9191,
		"serve.grpc.reflection":             true,
		"serve.grpc.max_recv_msg_size":      0,
		"serve.grpc.max_concurrent_streams": 0,
		"serve.grpc.num_stream_workers":     64,
		"serve.api.host":                    "",
		"serve.api.port":                    4456,
		"serve.metrics.host":                "127.0.0.1",
		"serve.metrics.port":                9000,
		"serve.readiness.require":           []any{},
		"serve.check_timeout":               "180ms",
		"serve.deadline_margin":             "15ms",
		"access_rules.matching_strategy":    "regexp",
		"access_rules.no_match_status":      404,
		"access_rules.poll_interval":        "30s",
		"errors.fallback":                   []any{"json"},
		"errors.handlers.json.enabled":      true,
		"log.level":                         "info",
		"log.format":                        "text",
		"log.decisions":                     "all",

		"access_rules.max_path_length":          pipeline.DefaultMaxPathLength,
		"access_rules.max_path_segments":        pipeline.DefaultMaxPathSegments,
		"access_rules.case_sensitive_upstreams": false,
		"access_rules.shadow_rules":             []any{},

		"serve.api.forwarded.trusted_proxies": []any{"127.0.0.0/8", "::1/128"},
		"serve.api.forwarded.headers": []any{"X-Forwarded-Method", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Uri",
			"X-Original-Method", "X-Original-Uri", "Forwarded"},
	}
}

// handlerSections are the config sections of each handler kind. Their
// names come from the registry of shipped handlers (handlers/builtin), so
// that environment overrides of handlers the file does not mention
// resolve (PORTCULLIS_AUTHENTICATORS_OAUTH2_INTROSPECTION_ENABLED).
var handlerSections = map[string]pipeline.Kind{
	"authenticators":  pipeline.KindAuthenticator,
	"authorizers":     pipeline.KindAuthorizer,
	"mutators":        pipeline.KindMutator,
	"errors.handlers": pipeline.KindErrorHandler,
}

// oathkeeperOnly lists keys Oathkeeper uses and Portcullis does not: a
// config that sets them still loads, with one warning each.
var oathkeeperOnly = map[string]string{
	"serve.proxy":                     "Envoy is the proxy; Portcullis has no reverse-proxy listener",
	"serve.prometheus":                "metrics are served on serve.metrics",
	"serve.api.cors":                  "CORS is Envoy's job (its cors filter)",
	"serve.api.timeout":               "the API server uses fixed safe timeouts",
	"tracing.providers.jaeger":        "Portcullis exports OTLP only (tracing.providers.otlp)",
	"tracing.providers.zipkin":        "Portcullis exports OTLP only (tracing.providers.otlp)",
	"profiling":                       "use serve.metrics /debug/pprof instead",
	"version":                         "the config version key is not used",
	"log.leak_sensitive_values":       "Portcullis never logs credentials",
	"log.redaction_text":              "Portcullis never logs credentials",
	"log.additional_redacted_headers": "Portcullis never logs headers",
}

// Load reads the config file (YAML or JSON; "" for none), applies
// PORTCULLIS_ environment overrides from environ (os.Environ() in
// production) and decodes it strictly: every unknown key and bad value is
// an error, one line each naming the file, line and key. Keys only
// Oathkeeper uses come back as warnings.
func Load(path string, data []byte, environ []string) (*Config, []string, error) {
	c, warnings, err := LoadAll(path, data, environ)
	if err != nil {
		return nil, warnings, err
	}
	return c, warnings, nil
}

// LoadAll is Load for validation: when the file parses, the
// config comes back even with errors, holding what decoded, so a validator
// can go on to check the parts other components read. It must not be run.
func LoadAll(path string, data []byte, environ []string) (*Config, []string, error) {
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(defaults(), "."), nil); err != nil {
		return nil, nil, err
	}
	if err := k.Load(confmap.Provider(tlsDefaults(), "."), nil); err != nil {
		return nil, nil, err
	}
	if err := k.Load(confmap.Provider(tracing.Defaults(), "."), nil); err != nil {
		return nil, nil, err
	}
	if path != "" && data == nil {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("read config: %w", err)
		}
		data = b
	}
	if data != nil {
		// YAML is a superset of JSON, so one parser reads both.
		if err := k.Load(rawbytes.Provider(data), yaml.Parser()); err != nil {
			return nil, nil, rulestore.YAMLError(displayName(path), "parse config", err)
		}
	}
	envKeys, err := loadEnv(k, environ)
	if err != nil {
		return nil, nil, err
	}

	var warnings []string
	for _, key := range sortedKeys(oathkeeperOnly) {
		if k.Exists(key) {
			warnings = append(warnings, fmt.Sprintf("config key %s is accepted for Oathkeeper compatibility and ignored: %s", key, oathkeeperOnly[key]))
			k.Delete(key)
		}
	}
	// Oathkeeper accepts a single string for repositories.
	if s, ok := k.Get("access_rules.repositories").(string); ok {
		_ = k.Set("access_rules.repositories", []any{s})
	}

	// Every unknown key and every bad value, one line each with the file,
	// line and full dotted key (issue #10 item 12). mapstructure's own
	// unknown-key check is off: it stops at one level and names Go types.
	loc := newConfigLocator(path, data, envKeys)
	errs := loc.unknownKeys(k.Raw())
	var c Config
	err = k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{Tag: "json", DecoderConfig: &mapstructure.DecoderConfig{
		WeaklyTypedInput: true,
		Result:           &c,
		TagName:          "json",
		DecodeHook:       mapstructure.ComposeDecodeHookFunc(mapstructure.StringToSliceHookFunc(","), durationHook),
	}})
	errs = append(errs, loc.decodeErrors(err)...)
	for _, e := range rulestore.ErrorLeaves(c.validate()) {
		// A value that failed to decode reads as zero here: it has its
		// error already.
		key, msg, ok := strings.Cut(e.Error(), ": ")
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: %w", displayName(path), e))
		case !loc.failedAt(key):
			errs = append(errs, loc.errorf(key, "%s", msg))
		}
	}
	c.loc = loc
	warnings = append(warnings, c.Tracing.Warnings()...)
	return &c, warnings, errors.Join(byLine(errs)...)
}

func (c *Config) validate() error {
	errs := c.Serve.Readiness.validate()
	for name, l := range map[string]int{"serve.grpc.port": c.Serve.GRPC.Port, "serve.api.port": c.Serve.API.Port, "serve.metrics.port": c.Serve.Metrics.Port} {
		if l < 0 || l > 65535 {
			errs = append(errs, fmt.Errorf("%s: %d is not a port", name, l))
		}
	}
	// A bare number would read as nanoseconds.
	if c.Serve.CheckTimeout < time.Millisecond {
		errs = append(errs, fmt.Errorf("serve.check_timeout: %s is too short; write a duration such as 180ms", c.Serve.CheckTimeout))
	}
	if c.AccessRules.PollInterval < time.Second {
		errs = append(errs, fmt.Errorf("access_rules.poll_interval: %s is too short; write a duration of at least 1s such as 30s", c.AccessRules.PollInterval))
	}
	if c.Serve.DeadlineMargin < 0 {
		errs = append(errs, fmt.Errorf("serve.deadline_margin: must not be negative"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "warning", "error", "fatal", "panic", "trace":
	default:
		errs = append(errs, fmt.Errorf("log.level: unknown level %q", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json", "json_pretty", "console", "gelf":
	default:
		errs = append(errs, fmt.Errorf("log.format: unknown format %q", c.Log.Format))
	}
	if _, err := c.Log.DecisionSampling(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.Serve.validateTLS()...)
	errs = append(errs, c.Tracing.Validate()...)
	return errors.Join(errs...)
}

// loadEnv maps PORTCULLIS_A_B_C onto the config tree. Because keys contain
// underscores themselves (matching_strategy, oauth2_introspection), each
// level takes the longest run of words that names a key already present
// (from defaults or the file), else a single word.
//
// It returns the dotted key each variable set, for error messages.
func loadEnv(k *koanf.Koanf, environ []string) (map[string]string, error) {
	// The tree the words are resolved against: what is loaded, plus every
	// handler name (without changing the config itself).
	known := koanf.New(".")
	_ = known.Load(confmap.Provider(k.All(), "."), nil)
	for section, kind := range handlerSections {
		for _, n := range builtin.Names(kind) {
			if !known.Exists(section + "." + n) {
				_ = known.Set(section+"."+n+".enabled", false)
			}
		}
	}
	tree := known.Raw()
	m := map[string]any{}
	vars := map[string]string{}
	for _, kv := range environ {
		key, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(key, EnvPrefix) {
			continue
		}
		words := strings.Split(strings.ToLower(strings.TrimPrefix(key, EnvPrefix)), "_")
		p := resolveEnvPath(tree, words)
		m[p], vars[p] = value, key
	}
	return vars, k.Load(confmap.Provider(m, "."), nil)
}

func resolveEnvPath(node map[string]any, words []string) string {
	var path []string
	for len(words) > 0 {
		n := 1
		for j := len(words); j > 1; j-- {
			if _, ok := node[strings.Join(words[:j], "_")]; ok {
				n = j
				break
			}
		}
		seg := strings.Join(words[:n], "_")
		path = append(path, seg)
		words = words[n:]
		next, _ := node[seg].(map[string]any)
		node = next
		// Below a handler's "config" that the file does not spell out,
		// the rest names one key (jwks_urls, check_session_url).
		if seg == "config" && node == nil && len(words) > 0 {
			path = append(path, strings.Join(words, "_"))
			break
		}
	}
	return strings.Join(path, ".")
}

func displayName(path string) string {
	if path == "" {
		return "config"
	}
	return path
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
