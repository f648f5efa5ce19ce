package xdsserver

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
)

// Serve serves the aggregated discovery service and grpc.health.v1 on lis
// until ctx is done; health reports SERVING until then. opts go to
// grpc.NewServer (credentials, limits).
func (s *Server) Serve(ctx context.Context, lis net.Listener, opts ...grpc.ServerOption) error {
	// Instances ping every 30s to find a vanished control plane; allow it.
	opts = append([]grpc.ServerOption{grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		MinTime: 10 * time.Second, PermitWithoutStream: true,
	})}, opts...)
	g := grpc.NewServer(opts...)
	h := health.NewServer()
	healthpb.RegisterHealthServer(g, h)
	s.Register(g)
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	h.Shutdown()
	// Rule streams never end on their own, so a graceful stop would wait
	// for ever; the instances keep their rules and reconnect.
	g.Stop()
	<-errc
	return nil
}

// DebugHandler serves GET /debug/nodes (every connected node: what it
// was sent, ACKed and rejected) and GET /debug/rules (the sets in force
// and why the files as they are now were not pushed). It belongs on an
// operator-only listener.
func DebugHandler(s *Server, d *Dir) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/nodes", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"nodes": s.Nodes()})
	})
	mux.HandleFunc("GET /debug/rules", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"sets": d.Status()})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
