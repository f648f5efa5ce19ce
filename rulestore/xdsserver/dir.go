package xdsserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/pipeline"
	rulesv1 "github.com/portcullis-authz/portcullis/proto/portcullis/rules/v1"
	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/filesource"
	"github.com/portcullis-authz/portcullis/rulestore/ruleproto"
)

// ValidateFunc checks a whole rule set the way the nodes will compile it;
// an error (naming file, rule and field) keeps the set from being pushed.
type ValidateFunc func(specs []pipeline.RuleSpec) error

// PublishFunc hands the sets in force to the nodes (Server.SetRules).
type PublishFunc func(ctx context.Context, def Set, clusters map[string]Set) error

// DirOptions configure a Dir.
type DirOptions struct {
	// Log receives one line per published or rejected set.
	Log *zap.Logger
	// Metrics, when set, gets the rejected-sets counter.
	Metrics prometheus.Registerer
	// Debounce overrides the file source's debounce.
	Debounce time.Duration
	// OnScan, when set, is called after every scan that Run makes, with
	// the errors of the sets it rejected (nil when none). Tests wait on it.
	OnScan func(error)
}

// GroupStatus describes one set of a Dir, for /debug/rules.
type GroupStatus struct {
	// Cluster is "" for the default set.
	Cluster   string    `json:"cluster"`
	Version   string    `json:"version"`
	Rules     int       `json:"rules"`
	Published time.Time `json:"published"`
	// LastError is why the files as they are now were not pushed.
	LastError string `json:"last_error,omitempty"`
}

// Dir reads rule sets from a directory of Oathkeeper rule files (JSON or
// YAML): the files directly in it form the default set, which every node
// gets; a subdirectory holds extra rules for the nodes whose cluster is
// its name, which get the default files plus the subdirectory's. Hidden
// entries (Kubernetes' ..data) are skipped. A set that does not read,
// decode or validate is reported and not pushed: its nodes keep the
// previous one.
type Dir struct {
	path     string
	validate ValidateFunc
	o        DirOptions
	log      *zap.Logger
	rejected prometheus.Counter

	mu     sync.Mutex
	def    Set
	sets   map[string]Set
	status map[string]*GroupStatus
}

// NewDir returns a Dir reading path.
func NewDir(path string, validate ValidateFunc, o DirOptions) *Dir {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	d := &Dir{path: path, validate: validate, o: o, log: o.Log, sets: map[string]Set{}, status: map[string]*GroupStatus{}}
	d.rejected = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "portcullis_xds_rule_sets_rejected_total",
		Help: "Rule sets read from the rules directory and not pushed (unreadable, undecodable or invalid).",
	})
	if o.Metrics != nil {
		o.Metrics.MustRegister(d.rejected)
	}
	return d
}

// Load reads and validates every set once, for start-up: any error of
// any set is returned (all of them, one per line) and nothing is kept.
func (d *Dir) Load() (def Set, clusters map[string]Set, err error) {
	subdirs, err := d.subdirs()
	if err != nil {
		return Set{}, nil, err
	}
	var errs []error
	def, err = d.loadSet("")
	errs = append(errs, err)
	clusters = map[string]Set{}
	for _, c := range subdirs {
		set, err := d.loadSet(c)
		errs = append(errs, err)
		clusters[c] = set
	}
	if err := uniqueLines(errs); err != nil {
		return Set{}, nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keep("", def)
	for c, set := range clusters {
		d.keep(c, set)
	}
	d.def, d.sets = def, maps.Clone(clusters)
	return def, clusters, nil
}

// Run watches the directory and its subdirectories and publishes every
// change until ctx is done. Call Load (and publish its sets) first.
func (d *Dir) Run(ctx context.Context, publish PublishFunc) error {
	for {
		watched, err := d.subdirs()
		if err != nil {
			return err
		}
		restart, err := d.watch(ctx, watched, publish)
		if err != nil || !restart {
			return err
		}
	}
}

// watch runs the file source over the directory and the given
// subdirectories; every event makes a full scan. It returns restart when
// the subdirectories changed, so that the new set of them is watched.
func (d *Dir) watch(ctx context.Context, watched []string, publish PublishFunc) (restart bool, err error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	repos := []string{d.path}
	for _, c := range watched {
		repos = append(repos, filepath.Join(d.path, c))
	}
	// The source only tells that something changed; Load and scan read
	// the sets. Its own log would repeat theirs.
	src, err := filesource.New(repos, nil, nil)
	if err != nil {
		return false, err
	}
	if d.o.Debounce > 0 {
		src.Debounce = d.o.Debounce
	}
	changed := func() {
		if now := d.scan(wctx, publish); !slices.Equal(now, watched) {
			restart = true
			cancel()
		}
	}
	src.OnError = func(error) { changed() }
	src.OnUnchanged = func(string) { changed() }
	// A scan once the watches are in place catches what changed since
	// the last one.
	src.OnWatching = changed
	err = src.Run(wctx, func(rulestore.Set) error { changed(); return nil })
	if ctx.Err() != nil {
		return false, nil
	}
	return restart, err
}

// scan reads every set, publishes the good ones that changed and
// returns the subdirectories it found.
func (d *Dir) scan(ctx context.Context, publish PublishFunc) []string {
	subdirs, err := d.subdirs()
	if err != nil {
		d.report("", err)
		return nil
	}
	var errs []error
	d.mu.Lock()
	def, sets := d.def, map[string]Set{}
	d.mu.Unlock()
	if set, err := d.loadSet(""); err != nil {
		errs = append(errs, d.report("", err))
	} else {
		def = set
	}
	for _, c := range subdirs {
		set, err := d.loadSet(c)
		if err != nil {
			errs = append(errs, d.report(c, err))
			d.mu.Lock()
			if old, ok := d.sets[c]; ok {
				sets[c] = old
			}
			d.mu.Unlock()
			continue
		}
		sets[c] = set
	}
	d.mu.Lock()
	same := def.Version == d.def.Version && maps.EqualFunc(sets, d.sets, func(a, b Set) bool { return a.Version == b.Version })
	d.mu.Unlock()
	if !same {
		if err := publish(ctx, def, sets); err != nil {
			errs = append(errs, fmt.Errorf("publish rules: %w", err))
		} else {
			d.mu.Lock()
			d.keep("", def)
			for c, set := range sets {
				d.keep(c, set)
			}
			for c := range d.status {
				if _, ok := sets[c]; !ok && c != "" {
					delete(d.status, c)
				}
			}
			d.def, d.sets = def, sets
			d.mu.Unlock()
			d.log.Info("rules published", zap.String("version", def.Version), zap.Int("rules", len(def.Rules)), zap.Int("clusters", len(sets)))
		}
	}
	if d.o.OnScan != nil {
		d.o.OnScan(uniqueLines(errs))
	}
	return subdirs
}

// keep records a set now in force. d.mu is held.
func (d *Dir) keep(cluster string, set Set) {
	st := d.status[cluster]
	if st == nil || st.Version != set.Version {
		st = &GroupStatus{Cluster: cluster, Version: set.Version, Rules: len(set.Rules), Published: time.Now()}
		d.status[cluster] = st
	}
	st.LastError = ""
}

// report logs and counts a rejected set and returns its error.
func (d *Dir) report(cluster string, err error) error {
	d.rejected.Inc()
	lines := rulestore.ErrorLines(err)
	d.log.Error("rules rejected, not pushed: nodes keep their previous rules",
		zap.String("cluster", cluster), zap.Int("errors", len(lines)), zap.Strings("error", lines))
	d.mu.Lock()
	if st := d.status[cluster]; st != nil {
		st.LastError = strings.Join(lines, "; ")
	} else {
		d.status[cluster] = &GroupStatus{Cluster: cluster, LastError: strings.Join(lines, "; ")}
	}
	d.mu.Unlock()
	return err
}

// uniqueLines joins errs, one line each, without repeats: a bad file of
// the default set is in every cluster's set too.
func uniqueLines(errs []error) error {
	seen := map[string]bool{}
	var out []error
	for _, l := range rulestore.ErrorLines(errors.Join(errs...)) {
		if !seen[l] {
			seen[l] = true
			out = append(out, errors.New(l))
		}
	}
	return errors.Join(out...)
}

// Status returns the sets in force, the default first.
func (d *Dir) Status() []GroupStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]GroupStatus, 0, len(d.status))
	for _, st := range d.status {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b GroupStatus) int { return strings.Compare(a.Cluster, b.Cluster) })
	return out
}

// loadSet reads, decodes and validates one set: the directory's files,
// plus those of the cluster's subdirectory.
func (d *Dir) loadSet(cluster string) (Set, error) {
	repos := []string{d.path}
	if cluster != "" {
		repos = append(repos, filepath.Join(d.path, cluster))
	}
	src, err := filesource.New(repos, nil, nil)
	if err != nil {
		return Set{}, err
	}
	specs, version, err := src.Load()
	if err == nil {
		err = d.validate(specs)
	}
	if err != nil {
		return Set{}, err
	}
	set := Set{Version: version, Rules: make([]*rulesv1.Rule, 0, len(specs))}
	var errs []error
	for i := range specs {
		r, err := ruleproto.FromSpec(&specs[i])
		errs = append(errs, err)
		set.Rules = append(set.Rules, r)
	}
	return set, errors.Join(errs...)
}

// subdirs lists the visible subdirectories: one per cluster.
func (d *Dir) subdirs() ([]string, error) {
	if fi, err := os.Stat(d.path); err == nil && !fi.IsDir() {
		return nil, nil // a single rule file: the default set only
	}
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return nil, fmt.Errorf("rules directory: %w", err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if fi, err := os.Stat(filepath.Join(d.path, e.Name())); err == nil && fi.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
