package xdsserver

import (
	"sync"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"

	rulesv1 "github.com/portcullis-authz/portcullis/proto/portcullis/rules/v1"
	"github.com/portcullis-authz/portcullis/rulestore/ruleproto"
)

// Set is one validated rule set: what a node receives.
type Set struct {
	// Version identifies the set (a content hash); nodes ACK it.
	Version string
	// Rules are the set's rules; ids are unique.
	Rules []*rulesv1.Rule
}

// ruleSnapshot is a cachev3.ResourceSnapshot holding one Set. The
// library's own Snapshot only knows Envoy's resource types, so the rule
// type gets this small implementation of the same interface.
type ruleSnapshot struct {
	version   string
	withTTL   map[string]types.ResourceWithTTL
	resources map[string]types.Resource

	versionsOnce sync.Once
	versions     map[string]string // per resource, for delta xDS
}

var _ cachev3.ResourceSnapshot = (*ruleSnapshot)(nil)

func newRuleSnapshot(s Set) *ruleSnapshot {
	rs := &ruleSnapshot{
		version:   s.Version,
		withTTL:   make(map[string]types.ResourceWithTTL, len(s.Rules)),
		resources: make(map[string]types.Resource, len(s.Rules)),
	}
	for _, r := range s.Rules {
		rs.withTTL[r.GetId()] = types.ResourceWithTTL{Resource: r}
		rs.resources[r.GetId()] = r
	}
	return rs
}

// GetVersion implements cachev3.ResourceSnapshot.
func (s *ruleSnapshot) GetVersion(typeURL string) string {
	if typeURL != ruleproto.TypeURL {
		return ""
	}
	return s.version
}

// GetResourcesAndTTL implements cachev3.ResourceSnapshot.
func (s *ruleSnapshot) GetResourcesAndTTL(typeURL string) map[string]types.ResourceWithTTL {
	if typeURL != ruleproto.TypeURL {
		return nil
	}
	return s.withTTL
}

// GetResources implements cachev3.ResourceSnapshot.
func (s *ruleSnapshot) GetResources(typeURL string) map[string]types.Resource {
	if typeURL != ruleproto.TypeURL {
		return nil
	}
	return s.resources
}

// ConstructVersionMap implements cachev3.ResourceSnapshot: each rule's
// version is the hash of its encoding, so a delta client is sent the
// rules that changed.
func (s *ruleSnapshot) ConstructVersionMap() error {
	var err error
	s.versionsOnce.Do(func() {
		s.versions = make(map[string]string, len(s.resources))
		for name, r := range s.resources {
			b, merr := cachev3.MarshalResource(r)
			if merr != nil {
				err = merr
				return
			}
			s.versions[name] = cachev3.HashResource(b)
		}
	})
	return err
}

// GetVersionMap implements cachev3.ResourceSnapshot.
func (s *ruleSnapshot) GetVersionMap(typeURL string) map[string]string {
	if typeURL != ruleproto.TypeURL {
		return nil
	}
	return s.versions
}
