package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"
)

// APIOptions configure the HTTP API.
type APIOptions struct {
	// PublicJWKS returns the {"keys":[...]} document of every id_token
	// signer's public keys; nil serves an empty set.
	PublicJWKS func() ([]byte, error)
	// Decisions, when set, serves the decision API under /decisions.
	Decisions http.Handler
	// Readiness, when set, decides /health/ready (shared with gRPC
	// health); nil means the snapshots alone.
	Readiness *Readiness
}

// NewAPIHandler returns the HTTP API: /decisions (when set),
// /health/alive, /health/ready and /.well-known/jwks.json.
//
// /health/ready keeps Oathkeeper's bodies and adds the state of each
// dependency: 200 {"status":"ok","dependencies":{...}}, or 503
// {"errors":{key: reason},"dependencies":{...}} before the first rules,
// while draining (draining() or Readiness.StartDraining) and while a
// required dependency is down. /health/alive answers 200 as long as the
// process serves HTTP: it never looks at dependencies.
//
// While draining, every answer carries "Connection: close", so keep-alive
// clients (nginx, Traefik) open their next connection to another replica
// while this one still answers.
func NewAPIHandler(snaps Snapshots, draining func() bool, o APIOptions) http.Handler {
	ready := o.Readiness
	if ready == nil {
		ready = NewReadiness(snaps)
	}
	isDraining := func() bool { return ready.Draining() || (draining != nil && draining()) }
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health/alive", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, _ *http.Request) {
		rep := ready.Report()
		if !rep.Ready || isDraining() {
			if isDraining() {
				rep.Errors[ReadyShutdown] = "the server is shutting down"
			}
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"errors": rep.Errors, "dependencies": rep.Dependencies})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "dependencies": rep.Dependencies})
	})
	if o.Decisions != nil {
		mux.Handle(DecisionsPath, o.Decisions)
		mux.Handle(DecisionsPath+"/", o.Decisions)
	}
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		body := []byte(`{"keys":[]}`)
		if o.PublicJWKS != nil {
			b, err := o.PublicJWKS()
			if err != nil {
				writeJSON(w, http.StatusInternalServerError, map[string]any{"error": map[string]any{"code": 500, "status": "Internal Server Error", "message": "public keys are unavailable"}})
				return
			}
			body = b
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write(body)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isDraining() {
			// net/http closes the connection after this answer.
			w.Header().Set("Connection", "close")
		}
		if o.Decisions != nil && routesToDecisions(r) {
			// Where the mux would send it, without the cost of asking it
			// on every decision call.
			o.Decisions.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// routesToDecisions reports whether http.ServeMux, with the patterns of
// NewAPIHandler, would hand r to the decision API as it is: r's path is
// /decisions or below it and clean. The mux answers other paths itself
// (a redirect to the cleaned path, 404, 405), and CONNECT requests, which
// it routes differently, are left to it too.
func routesToDecisions(r *http.Request) bool {
	if r.Method == http.MethodConnect || r.URL == nil {
		return false
	}
	p := r.URL.EscapedPath()
	if p != DecisionsPath && !strings.HasPrefix(p, DecisionsPath+"/") {
		return false
	}
	// The mux's own test: the path equals path.Clean of it, with a
	// trailing slash kept.
	c := path.Clean(p)
	return c == p || p[len(p)-1] == '/' && c != "/" && p[:len(p)-1] == c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ServeHTTP serves h on lis until ctx is done, then shuts down gracefully.
// Timeouts are fixed and short: every endpoint answers from memory.
func ServeHTTP(ctx context.Context, lis net.Listener, h http.Handler, log *zap.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          zap.NewStdLog(log),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	return err
}
