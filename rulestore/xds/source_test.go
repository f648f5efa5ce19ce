package xds_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"

	"github.com/portcullis-authz/portcullis/handlers/authn/anonymous"
	"github.com/portcullis-authz/portcullis/handlers/authz/allow"
	errjson "github.com/portcullis-authz/portcullis/handlers/errors/json"
	mutnoop "github.com/portcullis-authz/portcullis/handlers/mutate/noop"
	"github.com/portcullis-authz/portcullis/pipeline"
	rulesv1 "github.com/portcullis-authz/portcullis/proto/portcullis/rules/v1"
	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/xds"
	"github.com/portcullis-authz/portcullis/rulestore/xdsserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every wait on an event; it is only reached when a test
// fails.
const wait = 20 * time.Second

// controlPlane is an xdsserver.Server on a real gRPC server on loopback.
type controlPlane struct {
	*xdsserver.Server
	addr string
	stop func()

	mu     sync.Mutex
	events map[string]chan xdsserver.Event // by node id
}

func (cp *controlPlane) eventsOf(node string) chan xdsserver.Event {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	ch := cp.events[node]
	if ch == nil {
		ch = make(chan xdsserver.Event, 1000)
		cp.events[node] = ch
	}
	return ch
}

func startControlPlane(t testing.TB, addr string) *controlPlane {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cp := &controlPlane{addr: lis.Addr().String(), events: map[string]chan xdsserver.Event{}}
	cp.Server = xdsserver.New(ctx, xdsserver.Options{OnEvent: func(e xdsserver.Event) { cp.eventsOf(e.NodeID) <- e }})
	g := grpc.NewServer()
	cp.Register(g)
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(lis) }()
	stopped := false
	cp.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			g.Stop()
			<-done
		}
	}
	t.Cleanup(cp.stop)
	return cp
}

// event waits for the next ACK or NACK of node.
func (cp *controlPlane) event(t testing.TB, node string) xdsserver.Event {
	t.Helper()
	select {
	case e := <-cp.eventsOf(node):
		return e
	case <-time.After(wait):
		t.Fatalf("no ACK or NACK from %s", node)
	}
	return xdsserver.Event{}
}

func (cp *controlPlane) publish(t testing.TB, def xdsserver.Set, clusters map[string]xdsserver.Set) {
	t.Helper()
	if err := cp.SetRules(context.Background(), def, clusters); err != nil {
		t.Fatal(err)
	}
}

// node is one instance: a rule store fed by an xds.Source.
type node struct {
	id       string
	store    *rulestore.Store
	src      *xds.Source
	applied  chan string
	statuses chan xds.Status
	done     chan error
}

func registry() *pipeline.Registry {
	r := pipeline.NewRegistry()
	pipeline.RegisterAuthenticator(r, "anonymous", anonymous.New)
	pipeline.RegisterAuthorizer(r, "allow", allow.New)
	pipeline.RegisterMutator(r, "noop", mutnoop.New)
	pipeline.RegisterErrorHandler(r, "json", errjson.New)
	return r
}

var pipelineConfig = pipeline.Config{
	Authenticators: map[string]pipeline.HandlerConfig{"anonymous": {Enabled: true}},
	Authorizers:    map[string]pipeline.HandlerConfig{"allow": {Enabled: true}},
	Mutators:       map[string]pipeline.HandlerConfig{"noop": {Enabled: true}},
	ErrorHandlers:  map[string]pipeline.HandlerConfig{"json": {Enabled: true}},
}

func startNode(t testing.TB, url string, o xds.Options) *node {
	t.Helper()
	target, _, err := xds.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	o.MinBackoff, o.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	log := zaptest.NewLogger(t)
	if _, bench := t.(*testing.B); bench {
		log = zap.NewNop()
	}
	src, err := xds.NewWithOptions(url, target, o, log)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{id: o.NodeID, store: rulestore.NewStore(pipelineConfig, registry(), nil), src: src,
		applied: make(chan string, 100), statuses: make(chan xds.Status, 1000), done: make(chan error, 1)}
	n.store.OnChange(func(s *pipeline.Snapshot) { n.applied <- s.Version })
	src.OnError, src.OnUnchanged = n.store.RecordFailure, n.store.Unchanged
	src.OnStatus = func(st xds.Status) {
		select {
		case n.statuses <- st:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { n.done <- src.Run(ctx, n.store.Publish) }()
	t.Cleanup(func() {
		cancel()
		if err := <-n.done; err != nil {
			t.Errorf("%s: Run: %v", n.id, err)
		}
		if s := n.store.Current(); s != nil {
			s.Close()
		}
	})
	return n
}

// waitApplied waits until the node's store publishes version.
func (n *node) waitApplied(t testing.TB, version string) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case v := <-n.applied:
			if v == version {
				return
			}
		case <-timeout:
			t.Fatalf("%s never applied %s (in force: %s)", n.id, version, n.store.Status().Version)
		}
	}
}

// waitStatus waits until the node's source reports a status ok accepts.
func (n *node) waitStatus(t *testing.T, what string, ok func(xds.Status) bool) {
	t.Helper()
	if ok(n.src.Status()) {
		return
	}
	timeout := time.After(wait)
	for {
		select {
		case st := <-n.statuses:
			if ok(st) {
				return
			}
		case <-timeout:
			t.Fatalf("%s: never %s (status %+v)", n.id, what, n.src.Status())
		}
	}
}

func rule(id string, authenticator string) *rulesv1.Rule {
	return &rulesv1.Rule{
		Id:             id,
		Match:          &rulesv1.Match{Url: "https://api.test/" + id, Methods: []string{"GET"}},
		Authenticators: []*rulesv1.Handler{{Handler: authenticator}},
		Authorizer:     &rulesv1.Handler{Handler: "allow"},
		Mutators:       []*rulesv1.Handler{{Handler: "noop"}},
		Origin:         &rulesv1.Origin{Source: "rules.yaml"},
	}
}

func set(version string, ids ...string) xdsserver.Set {
	s := xdsserver.Set{Version: version}
	for _, id := range ids {
		s.Rules = append(s.Rules, rule(id, "anonymous"))
	}
	return s
}

func ids(s *pipeline.Snapshot) string {
	var out []string
	for _, r := range s.Rules() {
		out = append(out, r.ID)
	}
	return strings.Join(out, ",")
}

func TestRuleChangeReachesEveryNode(t *testing.T) {
	cp := startControlPlane(t, "127.0.0.1:0")
	cp.publish(t, set("v1", "a"), nil)
	a := startNode(t, "xds://"+cp.addr, xds.Options{NodeID: "a"})
	b := startNode(t, "xds://"+cp.addr, xds.Options{NodeID: "b"})
	a.waitApplied(t, "v1")
	b.waitApplied(t, "v1")

	cp.publish(t, set("v2", "a", "b"), nil)
	for _, n := range []*node{a, b} {
		n.waitApplied(t, "v2")
		if got := ids(n.store.Current()); got != "a,b" {
			t.Errorf("%s serves %s", n.id, got)
		}
	}
	for _, id := range []string{"a", "b"} {
		if e := cp.event(t, id); e.Version != "v1" || e.Error != "" {
			t.Errorf("%s: first answer %+v, want ACK v1", id, e)
		}
	}
	for _, id := range []string{"a", "b"} {
		if e := cp.event(t, id); e.Version != "v2" || e.Error != "" {
			t.Errorf("%s: second answer %+v, want ACK v2", id, e)
		}
	}
}

func TestInvalidSetIsNackedAndLastGoodKept(t *testing.T) {
	cp := startControlPlane(t, "127.0.0.1:0")
	cp.publish(t, set("v1", "a"), nil)
	nodes := []*node{startNode(t, "xds://"+cp.addr, xds.Options{NodeID: "a"}), startNode(t, "xds://"+cp.addr, xds.Options{NodeID: "b"})}
	for _, n := range nodes {
		n.waitApplied(t, "v1")
		cp.event(t, n.id)
	}

	bad := set("v2", "a")
	bad.Rules = append(bad.Rules, rule("b", "jwt")) // the nodes have no jwt
	cp.publish(t, bad, nil)
	for _, n := range nodes {
		e := cp.event(t, n.id)
		if e.Version != "v2" || !strings.Contains(e.Error, `rules.yaml: rules[0] (id "b"): authenticators[0]`) {
			t.Errorf("%s: got %+v, want a NACK of v2 naming rule b", n.id, e)
		}
		st := n.store.Status()
		if st.Version != "v1" || n.store.Current().Version != "v1" || !strings.Contains(st.LastError, "jwt") {
			t.Errorf("%s: store status %+v, want v1 in force and the error kept", n.id, st)
		}
	}

	// The next good set is taken; the bad one was answered once.
	cp.publish(t, set("v3", "a", "c"), nil)
	for _, n := range nodes {
		n.waitApplied(t, "v3")
		if e := cp.event(t, n.id); e.Version != "v3" || e.Error != "" {
			t.Errorf("%s: got %+v, want ACK v3", n.id, e)
		}
		if st := n.src.Status(); st.Nacks != 1 || st.Acks != 2 {
			t.Errorf("%s: %d NACKs and %d ACKs, want 1 and 2", n.id, st.Nacks, st.Acks)
		}
	}
	var acks, nacks uint64
	for _, ns := range cp.Nodes() {
		acks, nacks = acks+ns.Acks, nacks+ns.Nacks
		if ns.Rejected != "v2" || ns.Acked != "v3" {
			t.Errorf("node status %+v", ns)
		}
	}
	if acks != 4 || nacks != 2 {
		t.Errorf("control plane counted %d ACKs and %d NACKs, want 4 and 2", acks, nacks)
	}
}

func TestRestartedControlPlaneResyncs(t *testing.T) {
	cp := startControlPlane(t, "127.0.0.1:0")
	addr := cp.addr
	cp.publish(t, set("v1", "a"), nil)
	n := startNode(t, "xds://"+addr, xds.Options{NodeID: "a"})
	n.waitApplied(t, "v1")

	cp.stop()
	n.waitStatus(t, "disconnected", func(st xds.Status) bool { return !st.Connected })
	if s := n.store.Current(); s == nil || s.Version != "v1" {
		t.Fatalf("the rules in force were dropped while disconnected")
	}

	// The same set again: nothing is recompiled, the node ACKs it.
	cp = startControlPlane(t, addr)
	cp.publish(t, set("v1", "a"), nil)
	if e := cp.event(t, "a"); e.Version != "v1" || e.Error != "" {
		t.Fatalf("after reconnection: %+v, want ACK v1", e)
	}
	if st := n.store.Status(); st.Reloads != 1 {
		t.Errorf("the unchanged set was compiled again: %d reloads", st.Reloads)
	}
	cp.publish(t, set("v2", "a", "b"), nil)
	n.waitApplied(t, "v2")
}

func TestNewNodeGetsCurrentVersion(t *testing.T) {
	cp := startControlPlane(t, "127.0.0.1:0")
	cp.publish(t, set("v1", "a"), nil)
	startNode(t, "xds://"+cp.addr, xds.Options{NodeID: "a"}).waitApplied(t, "v1")
	cp.publish(t, set("v2", "a", "b"), nil)
	late := startNode(t, "xds://"+cp.addr, xds.Options{NodeID: "late"})
	late.waitApplied(t, "v2")
}

func TestNodesGetTheirClusterSet(t *testing.T) {
	cp := startControlPlane(t, "127.0.0.1:0")
	cp.publish(t, set("d1", "a"), map[string]xdsserver.Set{"edge": set("e1", "a", "edge")})
	plain := startNode(t, "xds://"+cp.addr, xds.Options{NodeID: "plain"})
	edge := startNode(t, "xds://"+cp.addr, xds.Options{NodeID: "edge-1", Cluster: "edge"})
	other := startNode(t, "xds://"+cp.addr, xds.Options{NodeID: "other-1", Cluster: "other"})
	plain.waitApplied(t, "d1")
	edge.waitApplied(t, "e1")
	other.waitApplied(t, "d1")

	// A cluster's set removed: its nodes fall back to the default.
	cp.publish(t, set("d2", "a", "b"), nil)
	plain.waitApplied(t, "d2")
	edge.waitApplied(t, "d2")
	other.waitApplied(t, "d2")
}

func TestInitialFetchTimeoutStopsRun(t *testing.T) {
	cp := startControlPlane(t, "127.0.0.1:0") // never publishes
	target := cp.addr
	src, err := xds.NewWithOptions("xds://"+target, target, xds.Options{NodeID: "a", InitialFetchTimeout: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = src.Run(context.Background(), func(rulestore.Set) error { return errors.New("unreachable") })
	if err == nil || !strings.Contains(err.Error(), "no rule set applied within initial_fetch_timeout") {
		t.Fatalf("got %v", err)
	}
}
