package authz

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// AuthorizationService is the health service name Envoy clusters probe.
const AuthorizationService = "envoy.service.auth.v3.Authorization"

const checkMethod = "/" + AuthorizationService + "/Check"

// GRPCOptions configure the gRPC server.
type GRPCOptions struct {
	Reflection           bool
	MaxRecvMsgSize       int
	MaxConcurrentStreams uint32
	// NumStreamWorkers, when set, serves calls on that many long-lived
	// goroutines instead of one new goroutine per call, which saves the
	// stack growth each new goroutine pays. A call that finds no worker
	// idle still gets a new goroutine, so the pool should cover the
	// calls in flight, not the CPUs.
	NumStreamWorkers uint32
	// DrainDelay is how long the server reports NOT_SERVING before it stops
	// accepting checks, so Envoy's health checker moves traffic away first.
	DrainDelay time.Duration
	// StopTimeout bounds the graceful stop; in-flight checks still running
	// after it are cut.
	StopTimeout time.Duration
	// Readiness, when set, is what grpc.health.v1 reports (with the
	// SetServing switch): the same answer as the HTTP /health/ready.
	Readiness *Readiness
	// TLS, when set, serves gRPC over TLS (mTLS when it verifies client
	// certificates); nil serves plaintext.
	TLS *tls.Config
	// ServerOptions are added after the server's own (metrics
	// interceptors, say); chained interceptors run inside the server's.
	ServerOptions []grpc.ServerOption
}

// GRPCServer serves ext_authz Check plus grpc.health.v1 and reflection.
type GRPCServer struct {
	srv    *grpc.Server
	health *healthService
	opts   GRPCOptions
	log    *zap.Logger
}

// NewGRPCServer builds the server around checker.
func NewGRPCServer(checker *Checker, log *zap.Logger, o GRPCOptions) *GRPCServer {
	if log == nil {
		log = zap.NewNop()
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 10 * time.Second
	}
	glog := log.Named("grpc")
	sopts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(
			// Check has its own decision line and answers every request
			// in-band, so the call log covers the other services (health,
			// reflection); it cost ~10% of server CPU on Check for lines
			// nobody reads.
			selector.UnaryServerInterceptor(
				logging.UnaryServerInterceptor(zapLogger(glog), logging.WithLogOnEvents(logging.FinishCall),
					logging.WithLevels(func(c codes.Code) logging.Level {
						if c == codes.OK {
							return logging.LevelDebug
						}
						return logging.DefaultServerCodeToLevel(c)
					})),
				selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
					return c.FullMethod() != checkMethod
				})),
			recovery.UnaryServerInterceptor(recovery.WithRecoveryHandler(func(p any) error {
				glog.Error("panic in check", zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
				return status.Error(codes.Internal, "internal error")
			})),
		),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
	if o.MaxRecvMsgSize > 0 {
		sopts = append(sopts, grpc.MaxRecvMsgSize(o.MaxRecvMsgSize))
	}
	if o.NumStreamWorkers > 0 {
		sopts = append(sopts, grpc.NumStreamWorkers(o.NumStreamWorkers))
	}
	if o.MaxConcurrentStreams > 0 {
		sopts = append(sopts, grpc.MaxConcurrentStreams(o.MaxConcurrentStreams))
	}
	if o.TLS != nil {
		sopts = append(sopts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	sopts = append(sopts, o.ServerOptions...)
	// Last, so that it wins: Check's handler needs it (checkServiceDesc).
	// Other services go through the proto codec it delegates to.
	sopts = append(sopts, grpc.ForceServerCodecV2(checkCodec{}))
	s := &GRPCServer{srv: grpc.NewServer(sopts...), health: newHealthService(o.Readiness), opts: o, log: glog}
	s.srv.RegisterService(&checkServiceDesc, checker)
	healthpb.RegisterHealthServer(s.srv, s.health)
	if o.Reflection {
		reflection.Register(s.srv)
	}
	s.SetServing(false)
	return s
}

// SetServing flips both health entries ("" and the Authorization
// service). With GRPCOptions.Readiness, SERVING also needs it to be ready.
func (s *GRPCServer) SetServing(ok bool) { s.health.setServing(ok) }

// Serve accepts connections on lis until ctx is done, then drains: health
// goes NOT_SERVING, the server waits DrainDelay, stops gracefully, and
// cuts what is left after StopTimeout. A caller that drains every listener
// itself (Readiness.StartDraining, then its own delay) passes DrainDelay 0
// and cancels ctx when the servers should stop.
func (s *GRPCServer) Serve(ctx context.Context, lis net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(lis) }()
	select {
	case err := <-errc:
		if errors.Is(err, grpc.ErrServerStopped) {
			return nil
		}
		return fmt.Errorf("serve grpc: %w", err)
	case <-ctx.Done():
	}
	s.health.shutdown() // every service NOT_SERVING, and it stays so
	if s.opts.DrainDelay > 0 {
		time.Sleep(s.opts.DrainDelay)
	}
	// Health Watch streams never end by themselves: close them, or the
	// graceful stop would wait for them until StopTimeout.
	s.health.endWatches()
	done := make(chan struct{})
	go func() { s.srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.opts.StopTimeout):
		s.log.Warn("graceful stop timed out, closing remaining connections")
		s.srv.Stop()
		<-done
	}
	<-errc
	return nil
}

// zapLogger adapts zap to go-grpc-middleware's logging interface, as its
// documentation suggests.
func zapLogger(l *zap.Logger) logging.Logger {
	l = l.WithOptions(zap.AddCallerSkip(1))
	return logging.LoggerFunc(func(_ context.Context, lvl logging.Level, msg string, fields ...any) {
		zl := zapcore.ErrorLevel
		switch lvl {
		case logging.LevelDebug:
			zl = zapcore.DebugLevel
		case logging.LevelInfo:
			zl = zapcore.InfoLevel
		case logging.LevelWarn:
			zl = zapcore.WarnLevel
		}
		ce := l.Check(zl, msg)
		if ce == nil {
			return
		}
		f := make([]zap.Field, 0, len(fields)/2)
		for i := 0; i+1 < len(fields); i += 2 {
			key, _ := fields[i].(string)
			f = append(f, zap.Any(key, fields[i+1]))
		}
		ce.Write(f...)
	})
}
