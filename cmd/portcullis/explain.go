package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore/filesource"
)

// explainRequest is one request to explain, as given on the command line
// or to POST /debug/explain.
type explainRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	// Principal is the client's TLS identity (a SPIFFE ID in a mesh).
	Principal string `json:"principal"`
	// RouteRule is the rule an Envoy route names
	// (context_extensions.rule_id).
	RouteRule string `json:"route_rule"`
}

func explainCmd() *cobra.Command {
	var (
		configPath string
		rules      []string
		req        explainRequest
		headers    []string
		asJSON     bool
		offline    bool
	)
	cmd := &cobra.Command{
		Use:   "explain --method M --url URL",
		Short: "Show how one request is matched and judged: the normalised URL, the rule chosen or the closest ones and why they missed, each handler's outcome and the answer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := parseHeaderFlags(headers)
			if err != nil {
				return err
			}
			req.Headers = h
			env, err := loadRuleEnv(configPath, rules)
			if err != nil {
				return err
			}
			defer env.close()
			e, err := env.explain(cmd.Context(), req, pipeline.ExplainOptions{Offline: offline})
			if err != nil {
				return err
			}
			return writeExplanation(cmd.OutOrStdout(), e, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&configPath, "config", "c", "", "service config (YAML or JSON); without it the embedded quickstart")
	f.StringArrayVar(&rules, "rules", nil, "rule file or folder to use instead of the config's access_rules.repositories (repeatable)")
	f.StringVarP(&req.Method, "method", "X", "GET", "request method")
	f.StringVar(&req.URL, "url", "", "request URL, scheme://host/path?query (required)")
	f.StringArrayVarP(&headers, "header", "H", nil, "request header 'Name: value' (repeatable)")
	f.StringVar(&req.Principal, "principal", "", "client TLS identity, e.g. spiffe://cluster.local/ns/shop/sa/web")
	f.StringVar(&req.RouteRule, "route-rule", "", "rule id the Envoy route names (context_extensions.rule_id)")
	f.BoolVar(&asJSON, "json", false, "print the explanation as JSON")
	f.BoolVar(&offline, "offline", false, "match only: call no handler (remote ones included); the rule's handlers are listed as not evaluated")
	_ = cmd.MarkFlagRequired("url")
	return cmd
}

func writeExplanation(w io.Writer, e pipeline.Explanation, asJSON bool) error {
	if !asJSON {
		return e.WriteText(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(e)
}

// parseHeaderFlags reads "Name: value" flags.
func parseHeaderFlags(flags []string) (map[string]string, error) {
	out := make(map[string]string, len(flags))
	for _, f := range flags {
		k, v, ok := strings.Cut(f, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--header %q: write it as 'Name: value'", f)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

// ruleEnv is a compiled rule set with the config and handlers it runs
// with, outside the server: for explain and rules test.
type ruleEnv struct {
	cfg   *config.Config
	snap  *pipeline.Snapshot
	close func()
}

// loadRuleEnv loads the config (the embedded quickstart when configPath
// is empty) and compiles the rules in rulePaths, or the config's
// repositories when there are none.
func loadRuleEnv(configPath string, rulePaths []string) (*ruleEnv, error) {
	cfg, _, rulesFS, err := loadConfig(configPath)
	if err != nil {
		return nil, err
	}
	return compileRuleEnv(cfg, rulesFS, rulePaths)
}

func compileRuleEnv(cfg *config.Config, rulesFS fs.FS, rulePaths []string) (*ruleEnv, error) {
	repos := rulePaths
	if len(repos) == 0 {
		_, fileRepos, err := splitRepositories(cfg.AccessRules.Repositories)
		if err != nil {
			return nil, err
		}
		if len(fileRepos) == 0 {
			return nil, errors.New("no rule files: pass --rules, or list file:// repositories in access_rules.repositories")
		}
		repos = fileRepos
	} else {
		rulesFS = nil
	}
	src, err := filesource.New(repos, rulesFS, nil)
	if err != nil {
		return nil, err
	}
	specs, version, err := src.Load()
	if err != nil {
		return nil, err
	}
	env, err := newRuleEnv(cfg, specs)
	if err != nil {
		return nil, err
	}
	env.snap.Version = version
	return env, nil
}

// newRuleEnv compiles specs with the built-in handlers under cfg, for the
// offline commands (explain, rules test): the handlers the config names
// must exist, and the rule set must compile whole.
func newRuleEnv(cfg *config.Config, specs []pipeline.RuleSpec) (*ruleEnv, error) {
	deps := builtin.NewDeps(nil)
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	if err := cfg.CheckHandlers(reg); err != nil {
		deps.Close()
		return nil, err
	}
	snap, err := pipeline.Compile(specs, cfg.Pipeline(), reg)
	if err != nil {
		deps.Close()
		return nil, err
	}
	return &ruleEnv{cfg: cfg, snap: snap, close: func() { snap.Close(); deps.Close() }}, nil
}

// explain evaluates one request under the check budget serve would give
// it.
func (env *ruleEnv) explain(ctx context.Context, req explainRequest, opts pipeline.ExplainOptions) (pipeline.Explanation, error) {
	r, err := req.toRequest()
	if err != nil {
		return pipeline.Explanation{}, err
	}
	if t := env.cfg.Serve.CheckTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	return env.snap.Explain(ctx, r, opts), nil
}

// toRequest builds the pipeline's view of the request. The URL is split by
// hand, not by net/url, so that its path reaches normalisation exactly as
// written, as Envoy's :path would.
func (req explainRequest) toRequest() (*pipeline.Request, error) {
	scheme, rest, ok := strings.Cut(req.URL, "://")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("url %q: write it as scheme://host/path", req.URL)
	}
	host, target := rest, "/"
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		host, target = rest[:i], rest[i:]
		if target[0] == '?' {
			target = "/" + target
		}
	}
	if host == "" {
		return nil, fmt.Errorf("url %q: the host is missing", req.URL)
	}
	method := strings.ToUpper(strings.TrimSpace(req.Method))
	if method == "" {
		method = "GET"
	}
	path, query := pipeline.SplitPathQuery(target)
	r := &pipeline.Request{ID: "explain", Method: method, Scheme: strings.ToLower(scheme), Host: host,
		RawPath: path, RawQuery: query, Header: pipeline.Header{}, Protocol: "HTTP/1.1"}
	for k, v := range req.Headers {
		r.Header.Add(k, v)
	}
	r.Source.Principal = req.Principal
	if req.RouteRule != "" {
		r.Context = map[string]string{pipeline.ContextRuleID: req.RouteRule}
	}
	return r, nil
}

// maxExplainBody bounds the JSON body of POST /debug/explain.
const maxExplainBody = 64 << 10

// withExplain adds POST /debug/explain to the metrics listener's handler
// when enabled (serve.metrics.explain): the body is a request
// ({"method", "url", "headers", "principal", "route_rule", "offline"}),
// judged by the rules in force under the check budget, and the answer
// is its explanation as JSON. It bypasses the checker, so it adds no
// decision log line nor metric. Every other path goes to next.
func withExplain(next http.Handler, enabled bool, snaps func() *pipeline.Snapshot, budget time.Duration) http.Handler {
	if !enabled {
		return next
	}
	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.HandleFunc("POST /debug/explain", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			explainRequest
			Offline bool `json:"offline"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxExplainBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			http.Error(w, "body: "+pipeline.JSONDecodeError(err).Error(), http.StatusBadRequest)
			return
		}
		req, err := body.toRequest()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ctx := r.Context()
		if budget > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, budget)
			defer cancel()
		}
		e := snaps().Explain(ctx, req, pipeline.ExplainOptions{Offline: body.Offline})
		w.Header().Set("Content-Type", "application/json")
		_ = writeExplanation(w, e, true)
	})
	return mux
}
