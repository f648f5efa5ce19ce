package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/authz/tlsconf"
	"github.com/portcullis-authz/portcullis/cmd/internal/logging"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore/xdsserver"
)

// controlPlaneFlags are the flags of `portcullis control-plane`.
type controlPlaneFlags struct {
	rules, listen, metrics, config string
	tlsCert, tlsKey, tlsClientCA   string
}

func controlPlaneCmd() *cobra.Command {
	var f controlPlaneFlags
	cmd := &cobra.Command{
		Use:   "control-plane --rules DIR [--listen ADDR] [--config FILE]",
		Short: "Serve a directory of rule files over xDS to every instance with an xds:// repository",
		Long: `Serve the rule files of DIR (Oathkeeper JSON or YAML, watched) as xDS resources.
Every instance gets the files directly in DIR; an instance whose node cluster
names a subdirectory gets that subdirectory's files too. A set is validated as
the instances compile it (with --config's handler settings, or every built-in
handler enabled at its defaults) and is not pushed while it has errors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return controlPlane(ctx, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.rules, "rules", "", "directory of rule files (a subdirectory per node cluster is optional)")
	fl.StringVar(&f.listen, "listen", ":18000", "address of the xDS (ADS) and gRPC health listener")
	fl.StringVar(&f.metrics, "metrics", "127.0.0.1:9001", "address of /metrics, /debug/nodes and /debug/rules")
	fl.StringVarP(&f.config, "config", "c", "", "the instances' service config: its handler settings validate the rules, its log section applies")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate chain for the xDS listener (watched); without it the listener is plaintext")
	fl.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fl.StringVar(&f.tlsClientCA, "tls-client-ca", "", "PEM CA bundle: require instances to present a certificate it signed")
	_ = cmd.MarkFlagRequired("rules")
	return cmd
}

func controlPlane(ctx context.Context, f controlPlaneFlags) error {
	reg, closeDeps := newRegistry()
	defer closeDeps()
	pc, logCfg := enableAll(reg), config.Log{Level: "info", Format: "text"}
	if f.config != "" {
		cfg, _, err := config.Load(f.config, nil, os.Environ())
		if err != nil {
			return err
		}
		if err := cfg.CheckHandlers(reg); err != nil {
			return err
		}
		pc, logCfg = cfg.Pipeline(), cfg.Log
	}
	log, err := logging.New(logCfg)
	if err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	defer func() { _ = log.Sync() }()

	metrics := authz.NewRegistry()
	dir := xdsserver.NewDir(f.rules, validator(pc, reg), xdsserver.DirOptions{Log: log.Named("rules"), Metrics: metrics})
	def, clusters, err := dir.Load()
	if err != nil {
		return fmt.Errorf("no valid rules, not serving: %w", err)
	}
	srv := xdsserver.New(ctx, xdsserver.Options{Log: log.Named("xds"), Metrics: metrics})
	if err := srv.SetRules(ctx, def, clusters); err != nil {
		return err
	}
	var opts []grpc.ServerOption
	var certs *tlsconf.Reloader
	if f.tlsCert != "" || f.tlsKey != "" || f.tlsClientCA != "" {
		certs, err = tlsconf.New(tlsconf.Options{Name: "--tls-cert", CertFile: f.tlsCert, KeyFile: f.tlsKey,
			ClientCAFile: f.tlsClientCA, Log: log.Named("tls")})
		if err != nil {
			return err
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(certs.TLSConfig())))
	}
	lis, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	mlis, err := net.Listen("tcp", f.metrics)
	if err != nil {
		lis.Close()
		return fmt.Errorf("--metrics: %w", err)
	}
	log.Info("control plane serving", zap.String("addr", lis.Addr().String()), zap.String("metrics", mlis.Addr().String()),
		zap.Bool("tls", certs != nil), zap.String("version", def.Version), zap.Int("rules", len(def.Rules)), zap.Int("clusters", len(clusters)))

	debug := http.NewServeMux()
	debug.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{Registry: metrics}))
	debug.Handle("/debug/", xdsserver.DebugHandler(srv, dir))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx, lis, opts...) })
	g.Go(func() error { return authz.ServeHTTP(gctx, mlis, debug, log) })
	g.Go(func() error { return dir.Run(gctx, srv.SetRules) })
	if certs != nil {
		g.Go(func() error { return certs.Run(gctx) })
	}
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopped")
	return nil
}

// validator checks a set as `serve` would before publishing it: an empty
// set is refused, and the rest must compile.
func validator(pc pipeline.Config, reg *pipeline.Registry) xdsserver.ValidateFunc {
	return func(specs []pipeline.RuleSpec) error {
		if len(specs) == 0 {
			return errors.New("the rule set is empty: no rule would match any request, and the instances would refuse it")
		}
		snap, err := pipeline.Compile(specs, pc, reg)
		if err != nil {
			return err
		}
		snap.Close()
		return nil
	}
}
