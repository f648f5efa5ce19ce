package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
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
)

func serveCmd() *cobra.Command {
	var configPath string
	var drain time.Duration
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the ext_authz gRPC server and the HTTP API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return serve(ctx, configPath, drain)
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "config file (YAML or JSON); without it the embedded quickstart runs")
	cmd.Flags().DurationVar(&drain, "drain", 3*time.Second, "how long to report NOT_SERVING before stopping on SIGTERM")
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

func serve(ctx context.Context, configPath string, drain time.Duration) error {
	cfg, warnings, rulesFS, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.Log)
	if err != nil {
		return fmt.Errorf("log.level: %w", err)
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
	src, err := rulestore.NewFileSource(cfg.AccessRules.Repositories, rulesFS, log.Named("rules"))
	if err != nil {
		return err
	}
	src.OnError = store.RecordFailure
	src.OnUnchanged = store.Unchanged
	specs, version, err := src.Load()
	if err == nil {
		err = store.Apply(specs, version)
	}
	if err != nil {
		return fmt.Errorf("no valid rules, not starting: %w", err)
	}
	log.Info("rules loaded", zap.String("version", version), zap.Int("rules", len(specs)))

	metrics := authz.NewRegistry()
	authz.RegisterRuleReloads(metrics, func() (uint64, uint64) { st := store.Status(); return st.Reloads, st.Failures })
	checker := authz.NewChecker(store, log.Named("decision"), authz.NewMetrics(metrics))
	grpcSrv := authz.NewGRPCServer(checker, log, authz.GRPCOptions{
		Reflection:           cfg.Serve.GRPC.Reflection,
		MaxRecvMsgSize:       cfg.Serve.GRPC.MaxRecvMsgSize,
		MaxConcurrentStreams: cfg.Serve.GRPC.MaxConcurrentStreams,
		NumStreamWorkers:     cfg.Serve.GRPC.NumStreamWorkers,
		DrainDelay:           drain,
	})
	grpcSrv.SetServing(true)
	fwd, err := authz.NewForwardedTrust(cfg.Serve.API.Forwarded.TrustedProxies, cfg.Serve.API.Forwarded.Headers)
	if err != nil {
		return fmt.Errorf("serve.api.forwarded: %w", err)
	}
	var draining atomic.Bool
	api := authz.NewAPIHandler(store, draining.Load, authz.APIOptions{PublicJWKS: deps.PublicJWKS,
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
		lis[name] = l
		log.Info("listening", zap.String("server", name), zap.String("addr", l.Addr().String()))
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return grpcSrv.Serve(gctx, lis["grpc"]) })
	g.Go(func() error { return authz.ServeHTTP(gctx, lis["api"], api, log) })
	g.Go(func() error { return authz.ServeHTTP(gctx, lis["metrics"], debug, log) })
	g.Go(func() error { return src.Run(gctx, version, store.Apply) })
	g.Go(func() error {
		<-gctx.Done()
		draining.Store(true)
		log.Info("shutting down: draining")
		return nil
	})
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopped")
	return nil
}
