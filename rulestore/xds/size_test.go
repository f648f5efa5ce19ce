package xds_test

import (
	"fmt"
	"runtime"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portcullis-authz/portcullis/pipeline"
	rulesv1 "github.com/portcullis-authz/portcullis/proto/portcullis/rules/v1"
	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/ruleproto"
	"github.com/portcullis-authz/portcullis/rulestore/xds"
	"github.com/portcullis-authz/portcullis/rulestore/xdsserver"
)

// BenchmarkTenThousandRules pushes a set of 10,000 rules (a regexp match,
// a handler config each) to one node and waits until it is compiled and
// serving. It reports the response's size on the wire and the heap a
// compiled set of them takes.
//
//	go test -run '^$' -bench TenThousandRules -benchtime 3x ./rulestore/xds
func BenchmarkTenThousandRules(b *testing.B) {
	sets := [2]xdsserver.Set{bigSet("a"), bigSet("b")}
	wire := &discoveryv3.DiscoveryResponse{VersionInfo: "a", TypeUrl: ruleproto.TypeURL}
	for _, r := range sets[0].Rules {
		v, err := proto.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		wire.Resources = append(wire.Resources, &anypb.Any{TypeUrl: ruleproto.TypeURL, Value: v})
	}

	// The compiled set's memory, measured alone.
	specs := make([]pipeline.RuleSpec, 0, len(sets[0].Rules))
	for _, r := range sets[0].Rules {
		specs = append(specs, ruleproto.ToSpec(r))
	}
	store := rulestore.NewStore(pipelineConfig, registry(), nil)
	before := heap()
	if err := store.Apply(specs, "a"); err != nil {
		b.Fatal(err)
	}
	specs = nil
	grown := heap() - before
	store.Current().Close()

	cp := startControlPlane(b, "127.0.0.1:0")
	cp.publish(b, sets[0], nil)
	n := startNode(b, "xds://"+cp.addr, xds.Options{NodeID: "big"})
	n.waitApplied(b, "a")
	if got := len(n.store.Current().Rules()); got != 10_000 {
		b.Fatalf("%d rules in force", got)
	}
	b.ResetTimer()
	for i := range b.N {
		next := sets[(i+1)%2]
		cp.publish(b, next, nil)
		n.waitApplied(b, next.Version)
	}
	b.ReportMetric(float64(proto.Size(wire)), "wire-bytes")
	b.ReportMetric(float64(grown), "compiled-heap-bytes")
}

// heap is the live heap after a collection.
func heap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func bigSet(version string) xdsserver.Set {
	s := xdsserver.Set{Version: version}
	for i := range 10_000 {
		cfg, _ := structpb.NewStruct(map[string]any{"subject": fmt.Sprintf("guest-%d", i)})
		s.Rules = append(s.Rules, &rulesv1.Rule{
			Id:             fmt.Sprintf("rule-%05d", i),
			Match:          &rulesv1.Match{Url: fmt.Sprintf("https://api%d.test/orders/%d/<[0-9]+>", i%50, i), Methods: []string{"GET", "POST"}},
			Authenticators: []*rulesv1.Handler{{Handler: "anonymous", Config: cfg}},
			Authorizer:     &rulesv1.Handler{Handler: "allow"},
			Mutators:       []*rulesv1.Handler{{Handler: "noop"}},
			Origin:         &rulesv1.Origin{Source: "rules/orders.yaml", Line: uint32(i*6 + 1), Index: uint32(i)},
		})
	}
	return s
}
