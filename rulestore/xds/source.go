package xds

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"go.uber.org/zap"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"

	"github.com/portcullis-authz/portcullis/pipeline"
	rulesv1 "github.com/portcullis-authz/portcullis/proto/portcullis/rules/v1"
	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/ruleproto"
)

// maxNackMessage caps the error text sent back in a NACK; the control
// plane logs it, and a set with thousands of errors says enough in its
// first lines.
const maxNackMessage = 16 << 10

// Status describes the stream, for debug endpoints and metrics.
type Status struct {
	// Connected is true while a stream is open.
	Connected bool `json:"connected"`
	// Version is the version applied last ("" before the first).
	Version string `json:"version"`
	// LastError is why the last set was rejected or the stream ended.
	LastError string `json:"last_error,omitempty"`
	// Acks and Nacks count the answers sent.
	Acks  uint64 `json:"acks"`
	Nacks uint64 `json:"nacks"`
}

// Source receives rule sets from an xDS control plane.
type Source struct {
	url    string
	target string
	o      Options
	log    *zap.Logger

	// OnError, when set, is told about sets rejected before they reached
	// apply (resources that do not decode), e.g. Store.RecordFailure.
	OnError func(error)
	// OnUnchanged, when set, is told when the control plane sends the
	// version already in force (after a reconnection), e.g.
	// Store.Unchanged. Nothing is recompiled.
	OnUnchanged func(version string)
	// OnStatus, when set, is called after every change of Status. Tests
	// wait on it.
	OnStatus func(Status)

	mu     sync.Mutex
	status Status
}

// New returns a source for the repository URL rawURL (see ParseURL).
func New(rawURL string, log *zap.Logger) (*Source, error) {
	target, o, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return NewWithOptions(rawURL, target, o, log)
}

// NewWithOptions returns a source for the gRPC target (host:port); name
// identifies it in logs and errors.
func NewWithOptions(name, target string, o Options, log *zap.Logger) (*Source, error) {
	if err := o.defaults(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Source{url: name, target: target, o: o, log: log.With(zap.String("source", name))}, nil
}

// Status returns the stream's status.
func (s *Source) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func (s *Source) update(f func(*Status)) {
	s.mu.Lock()
	f(&s.status)
	st := s.status
	s.mu.Unlock()
	if s.OnStatus != nil {
		s.OnStatus(st)
	}
}

// errNoRules is the cause of Run's end when InitialFetchTimeout passes.
var errNoRules = errors.New("no rule set applied within initial_fetch_timeout")

// Run receives rule sets and applies them until ctx is done, reconnecting
// whenever the stream ends. It returns nil when ctx is done, and an error
// only when InitialFetchTimeout passed without a set applied.
func (s *Source) Run(ctx context.Context, publish func(rulestore.Set) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if s.o.InitialFetchTimeout > 0 {
		t := time.AfterFunc(s.o.InitialFetchTimeout, func() {
			if s.Status().Version == "" {
				cancel(errNoRules)
			}
		})
		defer t.Stop()
	}
	creds := insecure.NewCredentials()
	if s.o.TLS != nil {
		creds = credentials.NewTLS(s.o.TLS)
	}
	conn, err := grpc.NewClient(s.target,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(s.o.MaxMessageSize)),
		// Pings find a control plane that vanished without closing the
		// connection (a partition, a killed node) within ~40s.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		// The channel's own reconnection follows the same bounds, so a
		// control plane back after a long outage is found within
		// MaxBackoff, not gRPC's default two minutes.
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: grpcbackoff.Config{
			BaseDelay: s.o.MinBackoff, Multiplier: 2, Jitter: 0.2, MaxDelay: s.o.MaxBackoff,
		}, MinConnectTimeout: 20 * time.Second}),
		grpc.WithUserAgent("portcullis"))
	if err != nil {
		return fmt.Errorf("%s: %w", s.url, err)
	}
	defer conn.Close()
	client := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	for attempt := 0; ; attempt++ {
		received, err := s.stream(ctx, client, publish)
		if received {
			attempt = 0
		}
		if ctx.Err() != nil {
			if errors.Is(context.Cause(ctx), errNoRules) {
				return fmt.Errorf("%s: %w (%s): last error: %s", s.url, errNoRules, s.o.InitialFetchTimeout, orNone(s.Status().LastError))
			}
			return nil
		}
		wait := backoff(attempt, s.o.MinBackoff, s.o.MaxBackoff)
		s.update(func(st *Status) { st.Connected, st.LastError = false, err.Error() })
		s.log.Warn("rule stream ended, the rules in force keep serving; reconnecting",
			zap.Error(err), zap.Duration("in", wait), zap.String("version", s.Status().Version))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// backoff returns the wait before reconnection attempt n (from 0):
// doubling from lo up to hi, then a random point in its upper half, so
// that a fleet cut off at once does not reconnect at once.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := hi
	if n < 32 && lo<<n > 0 && lo<<n < hi {
		d = lo << n
	}
	return d/2 + rand.N(d/2+1)
}

// stream runs one ADS stream; received reports that the control plane
// answered at least once (the connection was good, so backoff restarts).
func (s *Source) stream(ctx context.Context, client discoveryv3.AggregatedDiscoveryServiceClient, publish func(rulestore.Set) error) (received bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := client.StreamAggregatedResources(ctx)
	if err != nil {
		return false, err
	}
	// The version in force tells a control plane that has nothing newer
	// that there is nothing to send.
	first := &discoveryv3.DiscoveryRequest{
		Node:        &corev3.Node{Id: s.o.NodeID, Cluster: s.o.Cluster, UserAgentName: "portcullis"},
		TypeUrl:     ruleproto.TypeURL,
		VersionInfo: s.Status().Version,
	}
	if err := st.Send(first); err != nil {
		return false, err
	}
	s.update(func(st *Status) { st.Connected = true })
	for {
		resp, err := st.Recv()
		if err != nil {
			return received, err
		}
		received = true
		if resp.GetTypeUrl() != ruleproto.TypeURL {
			continue // not subscribed to: nothing to answer
		}
		req := &discoveryv3.DiscoveryRequest{TypeUrl: ruleproto.TypeURL, ResponseNonce: resp.GetNonce()}
		if err := s.applyResponse(resp, publish); err != nil {
			req.VersionInfo = s.Status().Version
			req.ErrorDetail = &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: nackMessage(err)}
			s.update(func(st *Status) { st.Nacks++; st.LastError = err.Error() })
		} else {
			req.VersionInfo = resp.GetVersionInfo()
			s.update(func(st *Status) { st.Acks++; st.LastError = "" })
		}
		if err := st.Send(req); err != nil {
			return received, err
		}
	}
}

// applyResponse decodes a response's rules and applies them as one set.
func (s *Source) applyResponse(resp *discoveryv3.DiscoveryResponse, publish func(rulestore.Set) error) error {
	version := resp.GetVersionInfo()
	specs, err := decode(resp)
	if err != nil {
		s.rejected(err, version)
		if s.OnError != nil {
			s.OnError(err)
		}
		return err
	}
	if version == s.Status().Version {
		if s.OnUnchanged != nil {
			s.OnUnchanged(version)
		}
		return nil
	}
	if err := publish(rulestore.Set{Specs: specs, Version: version}); err != nil {
		s.rejected(err, version)
		return err
	}
	s.update(func(st *Status) { st.Version = version })
	s.log.Info("rules applied", zap.String("version", version), zap.Int("rules", len(specs)))
	return nil
}

func (s *Source) rejected(err error, version string) {
	lines := rulestore.ErrorLines(err)
	s.log.Error("rules rejected, previous rules stay in force", zap.String("version", version),
		zap.Int("errors", len(lines)), zap.Strings("error", lines))
}

// decode turns a response's resources into rule specs in file order.
func decode(resp *discoveryv3.DiscoveryResponse) ([]pipeline.RuleSpec, error) {
	specs := make([]pipeline.RuleSpec, 0, len(resp.GetResources()))
	var errs []error
	for i, a := range resp.GetResources() {
		if a.GetTypeUrl() != ruleproto.TypeURL {
			errs = append(errs, fmt.Errorf("resource %d: type %q is not %q", i, a.GetTypeUrl(), ruleproto.TypeURL))
			continue
		}
		var r rulesv1.Rule
		if err := proto.Unmarshal(a.GetValue(), &r); err != nil {
			errs = append(errs, fmt.Errorf("resource %d: %w", i, err))
			continue
		}
		specs = append(specs, ruleproto.ToSpec(&r))
	}
	ruleproto.PrepareSet(specs)
	return specs, errors.Join(errs...)
}

// nackMessage is the error text of a NACK: one line per problem, cut to
// maxNackMessage.
func nackMessage(err error) string {
	var b strings.Builder
	lines := rulestore.ErrorLines(err)
	for i, l := range lines {
		if b.Len()+len(l)+1 > maxNackMessage {
			fmt.Fprintf(&b, "… and %d more errors", len(lines)-i)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l)
	}
	return b.String()
}
