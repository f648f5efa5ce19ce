package xdsserver

import (
	"context"
	"slices"
	"strings"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
)

// Options configure a Server.
type Options struct {
	// Log receives one line per ACK, NACK, stream open and close.
	Log *zap.Logger
	// Metrics, when set, gets the xDS counters.
	Metrics prometheus.Registerer
	// OnEvent, when set, is told about every ACK and NACK, after it is
	// counted. Tests wait on it.
	OnEvent func(Event)
}

// Event is one ACK or NACK from a node.
type Event struct {
	NodeID, Cluster string
	// Version is the version the node ACKed, or the one it rejected.
	Version string
	// Error is the node's reason for a NACK; "" for an ACK.
	Error string
}

// NodeStatus is what the server knows of one connected stream, for
// /debug/nodes.
type NodeStatus struct {
	ID      string `json:"id"`
	Cluster string `json:"cluster,omitempty"`
	Peer    string `json:"peer,omitempty"`
	// Sent is the version last sent; Acked the version last applied.
	Sent  string `json:"sent"`
	Acked string `json:"acked"`
	// Rejected and Error describe the last NACK.
	Rejected string `json:"rejected,omitempty"`
	Error    string `json:"error,omitempty"`
	Acks     uint64 `json:"acks"`
	Nacks    uint64 `json:"nacks"`
}

// Server serves rule sets to xDS clients. A node gets the set of its
// cluster (Node.cluster) when one is published, else the default set.
// It is safe for concurrent use.
type Server struct {
	o     Options
	log   *zap.Logger
	cache cachev3.SnapshotCache
	xds   serverv3.Server
	m     metrics

	// pub serialises what reaches the cache: the sets and the clusters
	// with open streams. It is never held by a stream's own callbacks
	// that the cache waits on (onResponse), so a publish that hands a
	// response to a stream cannot wait on that stream.
	pub      sync.Mutex
	def      *ruleSnapshot
	clusters map[string]*ruleSnapshot
	live     map[string]int // cache key (cluster) → open streams

	mu      sync.Mutex // guards streams
	streams map[int64]*streamState
}

type streamState struct {
	NodeStatus
	key       string
	nonce     string // of the last response sent
	subscribe bool   // the first request was seen
}

// New returns a Server with no rules yet; streams wait for SetRules.
// ctx bounds every stream.
func New(ctx context.Context, o Options) *Server {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	s := &Server{o: o, log: o.Log, clusters: map[string]*ruleSnapshot{}, live: map[string]int{}, streams: map[int64]*streamState{}}
	s.m = newMetrics(o.Metrics)
	s.cache = cachev3.NewSnapshotCache(false, clusterHash{}, o.Log.Named("cache").Sugar())
	s.xds = serverv3.NewServer(ctx, s.cache, serverv3.CallbackFuncs{
		StreamOpenFunc:     s.onOpen,
		StreamClosedFunc:   s.onClosed,
		StreamRequestFunc:  s.onRequest,
		StreamResponseFunc: s.onResponse,
	})
	return s
}

// Register adds the aggregated discovery service (ADS) to g.
func (s *Server) Register(g *grpc.Server) {
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
}

// clusterHash keys the snapshot cache by node cluster: every node of a
// cluster receives the same set.
type clusterHash struct{}

func (clusterHash) ID(n *corev3.Node) string { return n.GetCluster() }

// SetRules publishes def to every node and clusters[c] instead to the
// nodes of cluster c. It replaces the previous sets whole: a cluster
// missing from clusters falls back to def.
func (s *Server) SetRules(ctx context.Context, def Set, clusters map[string]Set) error {
	s.pub.Lock()
	defer s.pub.Unlock()
	s.def = reuse(s.def, def)
	next := make(map[string]*ruleSnapshot, len(clusters))
	for c, set := range clusters {
		next[c] = reuse(s.clusters[c], set)
	}
	s.clusters = next
	s.m.published.Inc()
	for key := range s.live {
		if err := s.cache.SetSnapshot(ctx, key, s.snapshotFor(key)); err != nil {
			return err
		}
	}
	return nil
}

// reuse keeps the snapshot in force when the set is unchanged.
func reuse(old *ruleSnapshot, set Set) *ruleSnapshot {
	if old != nil && old.version == set.Version {
		return old
	}
	return newRuleSnapshot(set)
}

func (s *Server) snapshotFor(key string) *ruleSnapshot {
	if snap, ok := s.clusters[key]; ok {
		return snap
	}
	return s.def
}

// Nodes lists the open streams, by node id.
func (s *Server) Nodes() []NodeStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]NodeStatus, 0, len(s.streams))
	for _, st := range s.streams {
		if st.subscribe {
			out = append(out, st.NodeStatus)
		}
	}
	slices.SortFunc(out, func(a, b NodeStatus) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (s *Server) onOpen(ctx context.Context, id int64, _ string) error {
	st := &streamState{}
	if p, ok := peer.FromContext(ctx); ok {
		st.Peer = p.Addr.String()
	}
	s.mu.Lock()
	s.streams[id] = st
	s.mu.Unlock()
	return nil
}

func (s *Server) onClosed(id int64, _ *corev3.Node) {
	s.mu.Lock()
	st := s.streams[id]
	delete(s.streams, id)
	s.mu.Unlock()
	if st == nil || !st.subscribe {
		return
	}
	s.m.streams.Dec()
	s.log.Info("node disconnected", zap.String("node", st.ID), zap.String("cluster", st.Cluster), zap.String("acked", st.Acked))
	// Forget a cluster nobody asks for any more, so that names sent by
	// clients cannot grow the cache without bound.
	s.pub.Lock()
	defer s.pub.Unlock()
	if s.live[st.key]--; s.live[st.key] == 0 {
		delete(s.live, st.key)
		s.cache.ClearSnapshot(st.key)
	}
}

func (s *Server) onResponse(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.streams[id]; st != nil {
		st.Sent, st.nonce = resp.GetVersionInfo(), resp.GetNonce()
	}
}

// onRequest runs before the server hands a request to the cache. It
// tells the first request, ACKs and NACKs apart, and makes the cache
// hold a NACK rather than answer it: the snapshot cache answers every
// request whose version differs from the snapshot's, and a NACK carries
// the last version the node accepted, so the rejected set would come
// straight back, again and again. Marking the request with the rejected
// version makes the cache wait for the next set instead.
func (s *Server) onRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	s.mu.Lock()
	st := s.streams[id]
	if st == nil {
		s.mu.Unlock()
		return nil
	}
	if !st.subscribe {
		key := s.subscribe(st, req)
		s.mu.Unlock()
		s.watch(key)
		return nil
	}
	if req.GetResponseNonce() == "" || req.GetResponseNonce() != st.nonce {
		s.mu.Unlock() // not about the last response: the server skips it
		return nil
	}
	ev := Event{NodeID: st.ID, Cluster: st.Cluster}
	if d := req.GetErrorDetail(); d != nil {
		ev.Version, ev.Error = st.Sent, d.GetMessage()
		st.Rejected, st.Error = st.Sent, d.GetMessage()
		st.Nacks++
		s.m.nacks.Inc()
		req.VersionInfo = st.Sent
		s.log.Warn("node rejected rules", zap.String("node", st.ID), zap.String("cluster", st.Cluster),
			zap.String("version", st.Sent), zap.String("error", d.GetMessage()))
	} else {
		ev.Version = req.GetVersionInfo()
		st.Acked = ev.Version
		st.Acks++
		s.m.acks.Inc()
		s.log.Info("node applied rules", zap.String("node", st.ID), zap.String("cluster", st.Cluster), zap.String("version", ev.Version))
	}
	s.mu.Unlock()
	if s.o.OnEvent != nil {
		s.o.OnEvent(ev)
	}
	return nil
}

// subscribe records a stream's first request and returns its cache key.
// s.mu is held.
func (s *Server) subscribe(st *streamState, req *discoveryv3.DiscoveryRequest) string {
	st.subscribe = true
	st.ID, st.Cluster = req.GetNode().GetId(), req.GetNode().GetCluster()
	st.Acked = req.GetVersionInfo()
	st.key = clusterHash{}.ID(req.GetNode())
	s.m.streams.Inc()
	s.log.Info("node connected", zap.String("node", st.ID), zap.String("cluster", st.Cluster),
		zap.String("peer", st.Peer), zap.String("version", st.Acked))
	return st.key
}

// watch counts a stream of cluster key and makes sure the cluster has a
// snapshot before the cache looks for one.
func (s *Server) watch(key string) {
	s.pub.Lock()
	defer s.pub.Unlock()
	s.live[key]++
	if s.live[key] == 1 && s.def != nil {
		// Nothing waits on this key yet, so nothing is sent and it
		// cannot fail.
		_ = s.cache.SetSnapshot(context.Background(), key, s.snapshotFor(key))
	}
}
