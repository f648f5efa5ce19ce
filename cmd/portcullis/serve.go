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

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/cmd/internal/logging"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/examples"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
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
func loadConfig(path string) (cfg *config.Config, warnings []string, rulesFS fs.FS, err error) {
	if path != "" {
		cfg, warnings, err = config.Load(path, nil, os.Environ())
		return cfg, warnings, nil, err
	}
	qs := examples.Quickstart()
	data, err := fs.ReadFile(qs, "config.yaml")
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, warnings, err = config.Load("quickstart/config.yaml", data, os.Environ())
	return cfg, warnings, qs, err
}

// serve runs until SIGTERM or SIGINT arrives on signals (or ctx ends), then
// shuts down in phases (see lifecycle); SIGHUP reloads (see reloader).
func serve(ctx context.Context, configPath string, drain time.Duration, signals <-chan os.Signal) error {
	cfg, warnings, rulesFS, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	zcfg, err := logging.Config(cfg.Log)
	if err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	log, stopLog, err := logging.Open(zcfg, nil)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	defer stopLog() // the last deferred call: writes out every buffered line
	if rulesFS != nil {
		log.Info("no --config given: running the embedded quickstart config and demo rules (examples/quickstart)")
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	setMemoryLimit(log, memlimit.FromCgroup)

	reg := pipeline.NewRegistry()
	deps := builtin.NewDeps(log.Named("handlers"))
	defer deps.Close()
	builtin.Register(reg, deps)
	if err := cfg.CheckHandlers(reg); err != nil {
		return err
	}

	store := rulestore.NewStore(cfg.Pipeline(), reg, log.Named("rules"))
	// Before the first rules load, so the first remote calls are counted.
	sm := newServerMetrics(store, deps, currentBuild(), time.Now)
	// One readiness for every listener: the rules, the key sets rules use
	// (required only if serve.readiness.require says so), the xds stream
	// and shutdown.
	ready := authz.NewReadiness(store)
	store.OnChange(func(*pipeline.Snapshot) { ready.Notify() })
	ready.AddCheck(keySetsCheckName, keySetsCheck(deps, ready))
	rulesReload := make(chan struct{}, 1)
	repos, err := openRepositories(ctx, repositoryOptions{urls: cfg.AccessRules.Repositories, pollInterval: cfg.AccessRules.PollInterval,
		rulesFS: rulesFS, reload: rulesReload, store: store, ready: ready, log: log.Named("rules")})
	if err != nil {
		return err
	}
	// Without an xds repository the first set is complete now; with one,
	// it comes from the stream and readiness waits for it.
	if set, ok, err := repos.Current(); err != nil {
		return fmt.Errorf("no valid rules, not starting: %w", err)
	} else if ok {
		if err := store.Publish(set); err != nil {
			return fmt.Errorf("no valid rules, not starting: %w", err)
		}
		log.Info("rules loaded", zap.String("version", set.Version), zap.Int("rules", len(set.Specs)))
	}
	ready.SetRequired(cfg.Serve.Readiness.RequiredKeys())

	tlsOf, err := listenersTLS(cfg.Serve, log.Named("tls"))
	if err != nil {
		return err
	}
	withTracing, stopTracing, err := startTracing(cfg.Tracing, log.Named("tracing"))
	if err != nil {
		return err
	}
	defer stopTracing() // runs after the servers stopped: flushes the last checks' spans
	// loadConfig rejected an invalid log.decisions.
	sampling, _ := cfg.Log.DecisionSampling()
	checker := authz.NewChecker(store, log.Named(logging.DecisionLogger), sm.decisions,
		append(sm.checkerOptions(), authz.WithBudget(cfg.Serve.CheckTimeout, cfg.Serve.DeadlineMargin), withTracing,
			authz.WithDecisionSampling(sampling))...)
	grpcSrv := authz.NewGRPCServer(checker, log, authz.GRPCOptions{
		Reflection:           cfg.Serve.GRPC.Reflection,
		MaxRecvMsgSize:       cfg.Serve.GRPC.MaxRecvMsgSize,
		MaxConcurrentStreams: cfg.Serve.GRPC.MaxConcurrentStreams,
		NumStreamWorkers:     cfg.Serve.GRPC.NumStreamWorkers,
		Readiness:            ready, // the drain delay is the lifecycle's, for every listener
		TLS:                  tlsConfig(tlsOf["grpc"]),
		ServerOptions:        sm.grpc,
	})
	grpcSrv.SetServing(true)
	fwd, err := authz.NewForwardedTrust(cfg.Serve.API.Forwarded.TrustedProxies, cfg.Serve.API.Forwarded.Headers)
	if err != nil {
		return fmt.Errorf("serve.api.forwarded: %w", err)
	}
	api := authz.NewAPIHandler(store, nil, authz.APIOptions{PublicJWKS: deps.PublicJWKS, Readiness: ready,
		Decisions: checker.Decisions(authz.DecisionsOptions{Forwarded: fwd})})
	debug := withLogLevel(authz.NewDebugHandler(sm.reg, store, func() any { return store.Status() }), zcfg.Level, log)
	debug = withExplain(debug, cfg.Serve.Metrics.Explain, store.Current, cfg.Serve.CheckTimeout)

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
	g.Go(func() error { return repos.Run(gctx, store.Publish) })
	for _, r := range tlsOf {
		g.Go(func() error { return r.Run(gctx) })
	}
	g.Go(func() error { return ready.Watch(gctx, time.Second) })
	lc := &lifecycle{log: log, ready: ready, drain: drain, signals: signals, reload: (&reloader{
		log: log, configPath: configPath, running: cfg, level: zcfg.Level, ready: ready, rules: rulesReload,
	}).reload}
	return lc.run(ctx, g, gctx, stopServers)
}
