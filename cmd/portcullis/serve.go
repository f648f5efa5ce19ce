package main

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/examples"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/xds"
)

func serveCmd() *cobra.Command {
	var configPath string
	var drain time.Duration
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the ext_authz gRPC server and the HTTP API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			signals := make(chan os.Signal, 4)
			signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			defer signal.Stop(signals)
			return serve(cmd.Context(), configPath, drain, signals)
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "config file (YAML or JSON); without it the embedded quickstart runs")
	cmd.Flags().DurationVar(&drain, "drain", 3*time.Second,
		"on SIGTERM, how long readiness reports not ready (HTTP 503, gRPC NOT_SERVING) while every listener still answers, before the servers stop")
	return cmd
}

// loadConfig reads the config file, or the embedded quickstart when path
// is empty; rulesFS is then the quickstart folder.
func loadConfig(path string) (cfg *rulestore.Config, warnings []string, rulesFS fs.FS, err error) {
	if path != "" {
		cfg, warnings, err = rulestore.LoadConfig(path, nil, os.Environ())
		return cfg, warnings, nil, err
	}
	qs := examples.Quickstart()
	data, err := fs.ReadFile(qs, "config.yaml")
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, warnings, err = rulestore.LoadConfig("quickstart/config.yaml", data, os.Environ())
	return cfg, warnings, qs, err
}

// serve runs until SIGTERM or SIGINT arrives on signals (or ctx ends), then
// shuts down in phases (see lifecycle); SIGHUP reloads (see reloader).
func serve(ctx context.Context, configPath string, drain time.Duration, signals <-chan os.Signal) error {
	cfg, warnings, rulesFS, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	zcfg, err := loggerConfig(cfg.Log)
	if err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	log, err := zcfg.Build()
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	defer func() { _ = log.Sync() }()
	if rulesFS != nil {
		log.Info("no --config given: running the embedded quickstart config and demo rules (examples/quickstart)")
	}
	for _, w := range warnings {
		log.Warn(w)
	}

	reg := pipeline.NewRegistry()
	deps := builtin.NewDeps(log.Named("handlers"))
	defer deps.Close()
	builtin.Register(reg, deps)
	if err := cfg.CheckHandlers(reg); err != nil {
		return err
	}

	store := rulestore.NewStore(cfg.Pipeline(), reg, log.Named("rules"))
	xdsURL, fileRepos, err := splitRepositories(cfg.AccessRules.Repositories)
	if err != nil {
		return err
	}
	src, err := rulestore.NewFileSource(fileRepos, rulesFS, log.Named("rules"))
	if err != nil {
		return err
	}
	src.OnError = store.RecordFailure
	src.OnUnchanged = store.Unchanged
	rulesReload := make(chan struct{}, 1)
	src.Reload = rulesReload
	specs, version, err := src.Load()
	if err == nil && xdsURL == "" { // else the first set comes from the stream; readiness waits for it
		err = store.Apply(specs, version)
	}
	if err != nil {
		return fmt.Errorf("no valid rules, not starting: %w", err)
	}
	if xdsURL == "" {
		log.Info("rules loaded", zap.String("version", version), zap.Int("rules", len(specs)))
	}

	// One readiness for every listener: the rules, the key sets rules use
	// (required only if serve.readiness.require says so) and shutdown.
	ready := authz.NewReadiness(store)
	store.OnChange(func(*pipeline.Snapshot) { ready.Notify() })
	ready.AddCheck(keySetsCheckName, keySetsCheck(deps, ready))
	var stream *xds.Source
	if xdsURL != "" {
		if stream, err = newXDSSource(xdsURL, store, ready, log.Named("rules")); err != nil {
			return err
		}
	}
	ready.SetRequired(cfg.Serve.Readiness.RequiredKeys())

	tlsOf, err := listenersTLS(cfg.Serve, log.Named("tls"))
	if err != nil {
		return err
	}
	metrics := authz.NewRegistry()
	authz.RegisterRuleReloads(metrics, func() (uint64, uint64) { st := store.Status(); return st.Reloads, st.Failures })
	authz.RegisterRulesVersion(metrics, store)
	checker := authz.NewChecker(store, log.Named("decision"), authz.NewMetrics(metrics),
		authz.WithBudget(cfg.Serve.CheckTimeout, cfg.Serve.DeadlineMargin))
	grpcSrv := authz.NewGRPCServer(checker, log, authz.GRPCOptions{
		Reflection:           cfg.Serve.GRPC.Reflection,
		MaxRecvMsgSize:       cfg.Serve.GRPC.MaxRecvMsgSize,
		MaxConcurrentStreams: cfg.Serve.GRPC.MaxConcurrentStreams,
		NumStreamWorkers:     cfg.Serve.GRPC.NumStreamWorkers,
		Readiness:            ready, // the drain delay is the lifecycle's, for every listener
		TLS:                  tlsConfig(tlsOf["grpc"]),
	})
	grpcSrv.SetServing(true)
	fwd, err := authz.NewForwardedTrust(cfg.Serve.API.Forwarded.TrustedProxies, cfg.Serve.API.Forwarded.Headers)
	if err != nil {
		return fmt.Errorf("serve.api.forwarded: %w", err)
	}
	api := authz.NewAPIHandler(store, nil, authz.APIOptions{PublicJWKS: deps.PublicJWKS, Readiness: ready,
		Decisions: checker.Decisions(authz.DecisionsOptions{Forwarded: fwd})})
	debug := authz.NewDebugHandler(metrics, store, func() any { return store.Status() })

	listeners := map[string]string{"grpc": cfg.Serve.GRPC.Addr(), "api": cfg.Serve.API.Addr(), "metrics": cfg.Serve.Metrics.Addr()}
	lis := map[string]net.Listener{}
	for name, addr := range listeners {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, open := range lis {
				open.Close()
			}
			return fmt.Errorf("serve.%s: %w", name, err)
		}
		lis[name] = tlsListener(name, l, tlsOf)
		log.Info("listening", zap.String("server", name), zap.String("addr", l.Addr().String()))
	}

	warnUnusedRequirements(log, cfg.Serve.Readiness.RequiredKeys(), deps, ready)

	// Servers and background loops run until the lifecycle's "stopping"
	// phase, not until the signal: they keep answering during the drain.
	serveCtx, stopServers := context.WithCancel(context.Background())
	defer stopServers()
	g, gctx := errgroup.WithContext(serveCtx)
	g.Go(func() error { return grpcSrv.Serve(gctx, lis["grpc"]) })
	g.Go(func() error { return authz.ServeHTTP(gctx, lis["api"], api, log) })
	g.Go(func() error { return authz.ServeHTTP(gctx, lis["metrics"], debug, log) })
	g.Go(func() error { return src.Run(gctx, version, store.Apply) })
	if stream != nil {
		g.Go(func() error { return stream.Run(gctx, store.Apply) })
	}
	for _, r := range tlsOf {
		g.Go(func() error { return r.Run(gctx) })
	}
	g.Go(func() error { return ready.Watch(gctx, time.Second) })
	lc := &lifecycle{log: log, ready: ready, drain: drain, signals: signals, reload: (&reloader{
		log: log, configPath: configPath, running: cfg, level: zcfg.Level, ready: ready, rules: rulesReload,
	}).reload}
	return lc.run(ctx, g, gctx, stopServers)
}
