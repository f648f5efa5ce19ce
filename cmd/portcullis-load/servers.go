package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/cmd/internal/logging"
	svcconfig "github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// serveArg is the hidden first argument with which compare re-executes
// this binary as a server child:
//
//	portcullis-load __serve noop|portcullis <scenario> <dir> [-stream-workers N] [-cpuprofile FILE] [-check-timeout D]
//
// Running servers as children lets compare read each server's own CPU
// time, apart from the load generator's.
const serveArg = "__serve"

// childOptions are the Portcullis child's settings, from compare's flags.
type childOptions struct {
	// StreamWorkers is serve.grpc.num_stream_workers; negative keeps the
	// configuration's default.
	StreamWorkers int
	// CPUProfile, when set, is the file the child writes a CPU profile of
	// its serving to, from readiness to shutdown.
	CPUProfile string
	// CheckTimeout, when set, replaces serve.check_timeout: tests under
	// -race on a busy machine must not see a check end for lack of time.
	CheckTimeout time.Duration
}

// args is o as the child's command-line flags.
func (o childOptions) args() []string {
	args := []string{"-stream-workers", strconv.Itoa(o.StreamWorkers)}
	if o.CPUProfile != "" {
		args = append(args, "-cpuprofile", o.CPUProfile)
	}
	if o.CheckTimeout > 0 {
		args = append(args, "-check-timeout", o.CheckTimeout.String())
	}
	return args
}

// noopServer answers every Check with OK and nothing else: the floor an
// ext_authz server built from the same protos cannot go below.
type noopServer struct {
	authv3.UnimplementedAuthorizationServer
}

func (noopServer) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return &authv3.CheckResponse{Status: &status.Status{}}, nil
}

// serveChild is the child process: it serves kind on a loopback port once
// it is ready (Portcullis: its rules applied), writes the address as the
// first line of stdout, and stops when stdin closes (the parent ended or
// died).
func serveChild(args []string) (err error) {
	if len(args) < 3 {
		return errors.New("usage: __serve noop|portcullis <scenario> <dir> [-stream-workers N] [-cpuprofile FILE]")
	}
	kind, name, dir := args[0], args[1], args[2]
	o := childOptions{StreamWorkers: -1}
	fs := flag.NewFlagSet(serveArg, flag.ContinueOnError)
	fs.IntVar(&o.StreamWorkers, "stream-workers", o.StreamWorkers, "serve.grpc.num_stream_workers (negative: the default)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile to this file")
	fs.DurationVar(&o.CheckTimeout, "check-timeout", 0, "serve.check_timeout (0: the default)")
	if err := fs.Parse(args[3:]); err != nil {
		return err
	}
	sc, err := findScenario(name)
	if err != nil {
		return err
	}
	srv, err := newServer(kind, sc, dir, o)
	if err != nil {
		return err
	}
	defer srv.close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if o.CPUProfile != "" {
		stop, err := startCPUProfile(o.CPUProfile)
		if err != nil {
			lis.Close()
			return err
		}
		defer func() { err = errors.Join(err, stop()) }()
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	fmt.Println(lis.Addr().String())
	return srv.serve(ctx, lis)
}

// startCPUProfile starts writing a CPU profile to path and returns the
// function that ends it.
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
		return nil
	}, nil
}

// server is one child's server: serve blocks until ctx is done, close
// releases what building it started.
type server struct {
	serve func(ctx context.Context, lis net.Listener) error
	close func()
}

// newServer builds kind (noop or portcullis) for sc: a gRPC ext_authz
// server, or for an http scenario an HTTP/1.1 server.
func newServer(kind string, sc scenario, dir string, o childOptions) (*server, error) {
	switch {
	case kind == "noop" && sc.http:
		ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		return &server{serve: func(ctx context.Context, lis net.Listener) error {
			return authz.ServeHTTP(ctx, lis, ok, zap.NewNop())
		}, close: func() {}}, nil
	case kind == "noop":
		g := grpc.NewServer()
		authv3.RegisterAuthorizationServer(g, noopServer{})
		return &server{serve: grpcServe(g), close: func() {}}, nil
	case kind == "portcullis":
		return portcullisServer(sc, dir, o)
	}
	return nil, fmt.Errorf("server kind %q: want noop or portcullis", kind)
}

// grpcServe serves g on lis until ctx is done.
func grpcServe(g *grpc.Server) func(context.Context, net.Listener) error {
	return func(ctx context.Context, lis net.Listener) error {
		go func() {
			<-ctx.Done()
			g.Stop()
		}()
		return g.Serve(lis)
	}
}

// portcullisServer builds Portcullis's gRPC server or HTTP API as the
// service does (cmd/portcullis serve), from the service's configuration
// defaults, with sc's rules and serve's logger (logging.Open) at the
// default log level and format: decision lines are buffered and written
// to os.DevNull, a file, so each flush costs the write system call a log
// file costs, and the terminal is not the cost.
func portcullisServer(sc scenario, dir string, o childOptions) (*server, error) {
	cfg, err := serviceConfig()
	if err != nil {
		return nil, err
	}
	log, stopLog, err := childLogger(cfg, os.DevNull)
	if err != nil {
		return nil, err
	}
	deps := builtin.NewDeps(log.Named("handlers"))
	closeAll := func() {
		deps.Close()
		stopLog()
	}
	store, err := portcullisStore(cfg, dir, deps, log)
	if err != nil {
		closeAll()
		return nil, err
	}
	timeout := cfg.Serve.CheckTimeout
	if o.CheckTimeout > 0 {
		timeout = o.CheckTimeout
	}
	// serviceConfig validated log.decisions.
	sampling, _ := cfg.Log.DecisionSampling()
	// The metrics serve keeps for every check (its newServerMetrics):
	// decision counters and durations, per-handler step timings, and the
	// gRPC interceptors' counters and handling-time histogram.
	reg := authz.NewRegistry()
	decisions := authz.NewMetrics(reg)
	grpcMetrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(authz.LatencyBuckets)))
	reg.MustRegister(grpcMetrics)
	checker := authz.NewChecker(store, log.Named(logging.DecisionLogger), decisions,
		authz.WithStepObservers(authz.NewHandlerMetrics(reg)),
		authz.WithBudget(timeout, cfg.Serve.DeadlineMargin), authz.WithDecisionSampling(sampling))
	if sc.http {
		fwd, err := authz.NewForwardedTrust(cfg.Serve.API.Forwarded.TrustedProxies, cfg.Serve.API.Forwarded.Headers)
		if err != nil {
			closeAll()
			return nil, err
		}
		api := authz.NewAPIHandler(store, nil, authz.APIOptions{PublicJWKS: deps.PublicJWKS,
			Decisions: checker.Decisions(authz.DecisionsOptions{Forwarded: fwd})})
		return &server{serve: func(ctx context.Context, lis net.Listener) error {
			return authz.ServeHTTP(ctx, lis, api, log)
		}, close: closeAll}, nil
	}
	g := cfg.Serve.GRPC
	srv := authz.NewGRPCServer(checker, log, authz.GRPCOptions{
		Reflection:           g.Reflection,
		MaxRecvMsgSize:       g.MaxRecvMsgSize,
		MaxConcurrentStreams: g.MaxConcurrentStreams,
		NumStreamWorkers:     streamWorkers(cfg, o),
		StopTimeout:          time.Second,
		ServerOptions: []grpc.ServerOption{
			grpc.ChainUnaryInterceptor(grpcMetrics.UnaryServerInterceptor()),
			grpc.ChainStreamInterceptor(grpcMetrics.StreamServerInterceptor()),
		},
	})
	srv.SetServing(true)
	return &server{serve: srv.Serve, close: closeAll}, nil
}

// childLogger opens serve's logger (logging.Open) for cfg, writing to
// the file at path.
func childLogger(cfg *svcconfig.Config, path string) (log *zap.Logger, stop func(), err error) {
	zcfg, err := logging.Config(cfg.Log)
	if err != nil {
		return nil, nil, fmt.Errorf("log.level: %w", err)
	}
	zcfg.OutputPaths = []string{path}
	log, stop, err = logging.Open(zcfg, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("log: %w", err)
	}
	return log, stop, nil
}

// streamWorkers is the num_stream_workers the Portcullis child runs with.
func streamWorkers(cfg *svcconfig.Config, o childOptions) uint32 {
	if o.StreamWorkers >= 0 {
		return uint32(o.StreamWorkers)
	}
	return cfg.Serve.GRPC.NumStreamWorkers
}

// serviceConfig is the service configuration every scenario runs with.
func serviceConfig() (*svcconfig.Config, error) {
	cfg, _, err := svcconfig.Load("compare.yaml", []byte(scenarioConfig), nil)
	return cfg, err
}

// portcullisStore loads the rules prepare wrote to dir into a rule store
// built with the shipped handlers and cfg's pipeline settings.
func portcullisStore(cfg *svcconfig.Config, dir string, deps *builtin.Deps, log *zap.Logger) (*rulestore.Store, error) {
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	data, err := os.ReadFile(filepath.Join(dir, rulesFile))
	if err != nil {
		return nil, err
	}
	specs, err := rulestore.DecodeRules(rulesFile, data)
	if err != nil {
		return nil, err
	}
	store := rulestore.NewStore(cfg.Pipeline(), reg, log.Named("rules"))
	if err := store.Apply(specs, "v1"); err != nil {
		return nil, err
	}
	return store, nil
}
