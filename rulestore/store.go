package rulestore

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Store compiles rule sets and publishes the current snapshot. Readers call
// Current, which is one atomic load; a published snapshot is never
// modified.
type Store struct {
	cfg pipeline.Config
	reg *pipeline.Registry
	log *zap.Logger

	cur atomic.Pointer[pipeline.Snapshot]

	mu       sync.Mutex
	status   Status
	onChange []func(*pipeline.Snapshot)
}

// Status describes the last reload, for health and debug endpoints.
type Status struct {
	// Version of the snapshot in force ("" before the first).
	Version string
	// Rules is the number of rules in force.
	Rules int
	// LoadedAt is when the snapshot in force was published.
	LoadedAt time.Time
	// LastError is the error of the last rejected rule set, if the last
	// attempt failed.
	LastError string
	// Reloads and Failures count publish attempts that succeeded/failed.
	Reloads, Failures uint64
}

// NewStore returns a store with no snapshot yet.
func NewStore(cfg pipeline.Config, reg *pipeline.Registry, log *zap.Logger) *Store {
	if log == nil {
		log = zap.NewNop()
	}
	return &Store{cfg: cfg, reg: reg, log: log}
}

// Current returns the snapshot in force, or nil before the first load.
func (s *Store) Current() *pipeline.Snapshot { return s.cur.Load() }

// OnChange registers f to run after each publish (e.g. to flip health).
func (s *Store) OnChange(f func(*pipeline.Snapshot)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onChange = append(s.onChange, f)
}

// Apply compiles specs and publishes them if, and only if, the whole set
// is valid. On error the previous snapshot stays in force and the error
// (naming file, rule and field) is returned and kept in Status.
//
// The compile reuses the patterns of the snapshot in force for rules
// whose id and match.url did not change (pipeline.Recompile). The new
// snapshot's warnings are logged once (the first maxLoggedWarnings one
// per line, the rest counted in one line) and then dropped from it; the
// rest are never written out, which for a large rule set would be tens
// of megabytes on every reload. After a publish the
// memory of the replaced snapshot and of building the new one goes back
// to the system at once (debug.FreeOSMemory, one collection): the runtime
// would otherwise keep a load's peak resident until its background
// scavenger gets to it, and a container is charged for it meanwhile.
func (s *Store) Apply(specs []pipeline.RuleSpec, version string) error {
	var snap *pipeline.Snapshot
	var err error
	if len(specs) == 0 {
		// Every request would be denied: keep what serves instead.
		err = errors.New("the rule set is empty: no rule would match any request")
	} else {
		prev := s.cur.Load()
		if prev != nil {
			// The snapshot in force and the new one are alive together
			// until the swap: collect what reading the rules left
			// behind (the file, parse trees, the previous decode) first,
			// so that the compile reuses that memory rather than grow
			// the heap past the two snapshots. A first load has no
			// snapshot to add to, and serve waits for it.
			runtime.GC()
		}
		snap, err = pipeline.Recompile(prev, specs, s.cfg, s.reg, pipeline.RecompileOptions{MaxWarnings: maxLoggedWarnings})
	}
	if err := s.publish(snap, err, version, len(specs)); err != nil {
		return err
	}
	debug.FreeOSMemory() // not under s.mu: Status stays readable
	return nil
}

// publish records the outcome of a compile and, if it succeeded, puts
// snap in force.
func (s *Store) publish(snap *pipeline.Snapshot, err error, version string, rules int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.status.Failures++
		s.status.LastError = err.Error()
		return err
	}
	snap.Version = version
	s.logWarnings(snap.Warnings, snap.MoreWarnings, version)
	snap.Warnings, snap.MoreWarnings = nil, nil
	if old := s.cur.Swap(snap); old != nil {
		old.Close()
	}
	s.status.Reloads++
	s.status.Version, s.status.Rules, s.status.LoadedAt, s.status.LastError = version, rules, time.Now(), ""
	for _, f := range s.onChange {
		f(snap)
	}
	return nil
}

// maxLoggedWarnings is how many of a rule set's warnings a publish logs
// one per line. A generated rule set can draw one warning per rule, and
// 100,000 log lines on every reload would drown everything else; the
// rest are counted by field in one line, and `portcullis rules validate`
// lists them all.
const maxLoggedWarnings = 20

// logWarnings logs warnings, the first maxLoggedWarnings of a rule set
// (pipeline.RecompileOptions), then one line counting the others by the
// rule field they are about.
func (s *Store) logWarnings(warnings []string, more map[string]int, version string) {
	for _, w := range warnings {
		s.log.Warn(w, zap.String("version", version))
	}
	if len(more) == 0 {
		return
	}
	fields := slices.Collect(maps.Keys(more))
	slices.SortFunc(fields, func(a, b string) int { return cmp.Or(cmp.Compare(more[b], more[a]), cmp.Compare(a, b)) })
	var b strings.Builder
	notLogged := 0
	for i, f := range fields {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %d", f, more[f])
		notLogged += more[f]
	}
	s.log.Warn("more rule warnings than are logged one by one: run portcullis rules validate to list them all",
		zap.String("version", version), zap.Int("warnings", len(warnings)+notLogged), zap.Int("not_logged", notLogged),
		zap.String("by_field", b.String()))
}

// Publish is Apply for a Set: it is the publish function a Source runs
// with.
func (s *Store) Publish(set Set) error { return s.Apply(set.Specs, set.Version) }

// RecordFailure counts a rule set that was rejected before it reached
// Apply (a file that could not be read or decoded).
func (s *Store) RecordFailure(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.Failures++
	s.status.LastError = err.Error()
}

// Unchanged records that a source read the rule set in force again (the
// same version), for instance a broken file put back as it was: the
// failure is over, so LastError is cleared as a publish would clear it.
// Nothing is recompiled or republished.
func (s *Store) Unchanged(version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if version == s.status.Version {
		s.status.LastError = ""
	}
}

// Status returns the reload status.
func (s *Store) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}
