package rulestore

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strconv"
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
// per line, the rest counted in one line) and then dropped from it: a
// large rule set would otherwise keep megabytes of them. After a publish the
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
		snap, err = pipeline.Recompile(s.cur.Load(), specs, s.cfg, s.reg)
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
	s.logWarnings(snap.Warnings, version)
	snap.Warnings = nil
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

// logWarnings logs the first maxLoggedWarnings warnings, then one line
// counting the others by the rule field they are about.
func (s *Store) logWarnings(warnings []string, version string) {
	for _, w := range warnings[:min(len(warnings), maxLoggedWarnings)] {
		s.log.Warn(w, zap.String("version", version))
	}
	rest := warnings[min(len(warnings), maxLoggedWarnings):]
	if len(rest) == 0 {
		return
	}
	counts := map[string]int{}
	for _, w := range rest {
		counts[warningField(w)]++
	}
	fields := slices.Collect(maps.Keys(counts))
	slices.SortFunc(fields, func(a, b string) int { return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b)) })
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %d", f, counts[f])
	}
	s.log.Warn("more rule warnings than are logged one by one: run portcullis rules validate to list them all",
		zap.String("version", version), zap.Int("warnings", len(warnings)), zap.Int("not_logged", len(rest)),
		zap.String("by_field", b.String()))
}

// warningField returns the rule field a compile warning is about, from
// its location prefix (pipeline.RuleSpec.Where): "match.url" for
// `rules.yaml:3: rules[0] (id "a"): match.url ...`, "mutators (header)"
// for `...: mutators[0] (header): ...`; "other" for a warning without one.
func warningField(w string) string {
	i := strings.Index(w, "rules[")
	if i < 0 {
		return "other"
	}
	rest := w[i+len("rules["):]
	j := strings.IndexByte(rest, ']')
	if j <= 0 || strings.Trim(rest[:j], "0123456789") != "" {
		return "other"
	}
	rest = rest[j+1:]
	if id, ok := strings.CutPrefix(rest, " (id "); ok {
		q, err := strconv.QuotedPrefix(id)
		if err != nil || !strings.HasPrefix(id[len(q):], ")") {
			return "other"
		}
		rest = id[len(q)+1:]
	}
	rest, ok := strings.CutPrefix(rest, ": ")
	if !ok {
		return "other"
	}
	end := strings.IndexAny(rest, " :")
	if end < 0 {
		end = len(rest)
	}
	field, after := rest[:end], rest[end:]
	if k := strings.IndexByte(field, '['); k > 0 {
		field = field[:k] // mutators[2] counts as mutators
	}
	// A handler's own warning names it: "mutators[0] (header): ...".
	if h, ok := strings.CutPrefix(after, " ("); ok {
		if e := strings.IndexByte(h, ')'); e > 0 && strings.HasPrefix(h[e+1:], ":") {
			field += " (" + h[:e] + ")"
		}
	}
	return field
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
