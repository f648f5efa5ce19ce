package authz

import (
	"context"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// healthService is grpc.health.v1 for "" and AuthorizationService. grpc's
// own health server holds statuses it is told about; this one evaluates
// Readiness on every Check instead, so the gRPC and HTTP answers cannot
// disagree, and Watch streams are woken by Readiness.Notify.
type healthService struct {
	healthpb.UnimplementedHealthServer
	ready   *Readiness // nil: the serving switch alone decides
	serving atomic.Bool
	down    atomic.Bool // shutdown started: NOT_SERVING for good

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when the switch moves
	ended   chan struct{} // closed by endWatches
	endOnce sync.Once
}

func newHealthService(r *Readiness) *healthService {
	return &healthService{ready: r, changed: make(chan struct{}), ended: make(chan struct{})}
}

func (h *healthService) setServing(ok bool) {
	h.serving.Store(ok)
	h.notify()
}

// shutdown reports NOT_SERVING from now on.
func (h *healthService) shutdown() {
	h.down.Store(true)
	h.notify()
}

// endWatches ends every Watch stream, so a graceful stop does not wait
// for them.
func (h *healthService) endWatches() { h.endOnce.Do(func() { close(h.ended) }) }

func (h *healthService) notify() {
	h.mu.Lock()
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

func (h *healthService) changes() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.changed
}

// status is the answer for service now.
func (h *healthService) status(service string) healthpb.HealthCheckResponse_ServingStatus {
	switch {
	case service != "" && service != AuthorizationService:
		return healthpb.HealthCheckResponse_SERVICE_UNKNOWN
	case h.serving.Load() && !h.down.Load() && (h.ready == nil || h.ready.Ready()):
		return healthpb.HealthCheckResponse_SERVING
	default:
		return healthpb.HealthCheckResponse_NOT_SERVING
	}
}

// Check answers with the current readiness; an unknown service is
// NOT_FOUND, as the health protocol asks.
func (h *healthService) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	st := h.status(req.GetService())
	if st == healthpb.HealthCheckResponse_SERVICE_UNKNOWN {
		return nil, status.Error(codes.NotFound, "unknown service")
	}
	return &healthpb.HealthCheckResponse{Status: st}, nil
}

// List names both services with their status.
func (h *healthService) List(context.Context, *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	out := &healthpb.HealthListResponse{Statuses: map[string]*healthpb.HealthCheckResponse{}}
	for _, svc := range []string{"", AuthorizationService} {
		out.Statuses[svc] = &healthpb.HealthCheckResponse{Status: h.status(svc)}
	}
	return out, nil
}

// Watch sends the status now and after every change, until the client
// goes away or the server stops.
func (h *healthService) Watch(req *healthpb.HealthCheckRequest, stream grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	last := healthpb.HealthCheckResponse_ServingStatus(-1)
	for {
		// Take the channels before evaluating, so that a change between
		// the evaluation and the wait is not lost.
		local := h.changes()
		var remote <-chan struct{}
		if h.ready != nil {
			remote = h.ready.changes()
		}
		if st := h.status(req.GetService()); st != last {
			if err := stream.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
				return err
			}
			last = st
		}
		select {
		case <-stream.Context().Done():
			return status.FromContextError(stream.Context().Err()).Err()
		case <-h.ended:
			return status.Error(codes.Unavailable, "server is stopping")
		case <-local:
		case <-remote:
		}
	}
}
