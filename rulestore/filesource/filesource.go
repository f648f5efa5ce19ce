package filesource

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// Defaults of Source.Debounce and Source.MaxWait.
const (
	DefaultDebounce = 200 * time.Millisecond
	DefaultMaxWait  = time.Second
)

// dataLink is the symlink Kubernetes' atomic writer (ConfigMap and Secret
// volumes) renames over to switch a directory to a new version.
const dataLink = "..data"

// Source reads rules from Oathkeeper-style repository URLs: file:// paths
// (a file, or a directory of .json/.yaml/.yml files) and inline:// base64
// documents. Plain paths are accepted as file paths. Relative paths
// resolve against the working directory, as in Oathkeeper.
type Source struct {
	repos []repo
	fsys  fs.FS
	log   *zap.Logger
	// Debounce groups bursts of file events (editors, ConfigMap swaps)
	// into one reload: a reload waits until no event came for Debounce.
	// Default DefaultDebounce.
	Debounce time.Duration
	// MaxWait bounds that wait from the first event of a burst, so a
	// directory that never stops changing is still re-read. Default
	// DefaultMaxWait.
	MaxWait time.Duration
	// Applied is the version already in force (from the start-up Load):
	// Run publishes only sets that differ from it.
	Applied string
	// OnError, when set, is told about reloads that failed before
	// compiling (unreadable or undecodable files), e.g. Store.RecordFailure.
	OnError func(error)
	// OnUnchanged, when set, is told when a reload reads the rule set
	// already in force (same version), e.g. Store.Unchanged: a bad file
	// put back as it was ends the failure without a new publish.
	OnUnchanged func(version string)
	// OnWatching, when set, is called once Run's file watches are in
	// place: changes made after it are seen.
	OnWatching func()
	// Reload, when set, makes Run read the file repositories at once on
	// every receive (SIGHUP), also where file events are not delivered
	// (network file systems, a symlink's target in another directory).
	// Reloads stay serialised with the watcher's.
	Reload <-chan struct{}
}

var _ rulestore.Source = (*Source)(nil)

type repo struct {
	url    string
	path   string // file or directory
	inline []byte
}

// New parses the repository URLs. fsys, when not nil, is read instead of
// the OS file system (the embedded quickstart); it is not watched.
func New(urls []string, fsys fs.FS, log *zap.Logger) (*Source, error) {
	if log == nil {
		log = zap.NewNop()
	}
	s := &Source{fsys: fsys, log: log, Debounce: DefaultDebounce, MaxWait: DefaultMaxWait}
	var errs []error
	for i, u := range urls {
		r, err := parseRepo(u)
		if err != nil {
			errs = append(errs, &pipeline.FieldError{Path: fmt.Sprintf("access_rules.repositories[%d]", i), Err: err})
			continue
		}
		s.repos = append(s.repos, r)
	}
	return s, errors.Join(errs...)
}

func parseRepo(u string) (repo, error) {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return repo{url: u, path: u}, nil
	}
	switch scheme {
	case "file":
		if rest == "" {
			return repo{}, fmt.Errorf("%q: empty path", u)
		}
		return repo{url: u, path: rest}, nil
	case "inline":
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return repo{}, fmt.Errorf("%q: invalid base64: %w", u, err)
		}
		return repo{url: u, inline: b}, nil
	case "s3", "gs", "azblob":
		return repo{}, fmt.Errorf("%q: %s:// repositories are not implemented yet (use file://, inline://, http(s):// or xds://)", u, scheme)
	default:
		return repo{}, fmt.Errorf("%q: unsupported scheme %q", u, scheme)
	}
}

// Load reads every repository and decodes all rules. The version is a
// hash of every file's name (as configured, not as resolved) and content,
// so an unchanged set is recognised whatever folder it was read from. On
// any error it returns no rules: a set is served whole or not at all.
func (s *Source) Load() ([]pipeline.RuleSpec, string, error) {
	specs, version, err := s.load()
	if err != nil {
		return nil, "", err
	}
	return specs, version, nil
}

// LoadAll is Load for validation: it returns every rule that decoded
// along with the errors of every file and rule that did not, so that one
// run can go on to compile the good rules and report all problems. Its
// rules must never be served when the error is not nil.
func (s *Source) LoadAll() ([]pipeline.RuleSpec, error) {
	specs, _, err := s.load()
	return specs, err
}

func (s *Source) load() ([]pipeline.RuleSpec, string, error) {
	h := sha256.New()
	var specs []pipeline.RuleSpec
	var errs []error
	for _, r := range s.repos {
		docs, err := s.readRepo(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, d := range docs {
			h.Write([]byte(d.name))
			h.Write([]byte{0})
			h.Write(d.data)
			h.Write([]byte{0})
			got, err := rulestore.DecodeRulesAll(d.name, d.data)
			if err != nil {
				errs = append(errs, err)
			}
			specs = append(specs, got...)
		}
	}
	return specs, hex.EncodeToString(h.Sum(nil))[:16], errors.Join(errs...)
}

type doc struct {
	name string // as configured, for messages and the version
	data []byte
}

// swapRetries bounds how often one load starts over when the folder it
// resolved was removed while it read (a second swap during the load).
const swapRetries = 5

func (s *Source) readRepo(r repo) ([]doc, error) {
	if r.inline != nil {
		return []doc{{name: "inline", data: r.inline}}, nil
	}
	var err error
	for range swapRetries {
		var docs []doc
		if docs, err = s.read(r.path); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return docs, err
		}
	}
	return nil, err
}

// read reads the file or directory at path as one version: symlinks are
// resolved once, and a directory's files are read from the resolved
// folder (its ..data folder when it has one), never through links that a
// swap could redirect between two reads.
func (s *Source) read(path string) ([]doc, error) {
	real, err := s.resolve(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fi, err := s.stat(real)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !fi.IsDir() {
		b, err := s.readFile(real)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return []doc{{name: path, data: b}}, nil
	}
	swapLink := ""
	if s.fsys == nil {
		// Kubernetes' atomic writer: ..data is a symlink to the folder of
		// the current version, and the visible names link through it.
		link := filepath.Join(real, dataLink)
		if fi, err := os.Lstat(link); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			if real, err = filepath.EvalSymlinks(link); err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(path, dataLink), err)
			}
			swapLink = link
		}
	}
	entries, err := s.readDir(real)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var docs []doc
	for _, e := range entries {
		name := e.Name()
		// Hidden entries include Kubernetes' ..data and ..2024_* folders.
		if strings.HasPrefix(name, ".") || !isRuleFile(name) {
			continue
		}
		p := filepath.Join(real, name)
		fi, err := s.stat(p)
		switch {
		case err != nil && e.Type()&fs.ModeSymlink == 0:
			// A listed file that is gone: the folder was swapped out
			// while read. Start over rather than serve a set without it.
			return nil, fmt.Errorf("%s: %w", filepath.Join(path, name), err)
		case err != nil || fi.IsDir():
			continue // a dangling link or a folder: not a rule file
		}
		b, err := s.readFile(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(path, name), err)
		}
		docs = append(docs, doc{name: filepath.Join(path, name), data: b})
	}
	if swapLink != "" {
		// The old folder's removal can make a listing come back short
		// without any error; a folder that is no longer the one ..data
		// names, or is gone, means this read may be torn: start over.
		now, err := filepath.EvalSymlinks(swapLink)
		if _, serr := os.Stat(real); err != nil || serr != nil || now != real {
			return nil, fmt.Errorf("%s: swapped while read: %w", path, fs.ErrNotExist)
		}
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].name < docs[j].name })
	return docs, nil
}

func isRuleFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json", ".yaml", ".yml":
		return true
	}
	return false
}

func (s *Source) resolve(p string) (string, error) {
	if s.fsys != nil {
		return p, nil
	}
	return filepath.EvalSymlinks(p)
}

func (s *Source) stat(p string) (fs.FileInfo, error) {
	if s.fsys != nil {
		return fs.Stat(s.fsys, p)
	}
	return os.Stat(p)
}

func (s *Source) readFile(p string) ([]byte, error) {
	if s.fsys != nil {
		return fs.ReadFile(s.fsys, p)
	}
	return os.ReadFile(p)
}

func (s *Source) readDir(p string) ([]fs.DirEntry, error) {
	if s.fsys != nil {
		return fs.ReadDir(s.fsys, p)
	}
	return os.ReadDir(p)
}

// Run watches the file repositories and publishes every changed rule set
// until ctx is done. A set that fails to read, decode or compile is logged
// with its error and the previous rules stay in force.
func (s *Source) Run(ctx context.Context, publish func(rulestore.Set) error) error {
	if s.fsys != nil {
		<-ctx.Done()
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch rules: %w", err)
	}
	defer w.Close()
	dirs := map[string]bool{}
	for _, r := range s.repos {
		if r.inline != nil {
			continue
		}
		if err := watchRepo(w, r.path, dirs); err != nil {
			return err
		}
	}
	if s.OnWatching != nil {
		s.OnWatching()
	}
	if len(dirs) == 0 && s.Reload == nil {
		<-ctx.Done()
		return nil
	}

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var fire <-chan time.Time
	var burst time.Time // first event not yet read, zero when none
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			now := time.Now()
			if burst.IsZero() {
				burst = now
			}
			// Wait for a quiet Debounce, but never past MaxWait from the
			// burst's first event: constant churn still converges.
			wait := min(s.Debounce, s.MaxWait-now.Sub(burst))
			timer.Stop()
			timer.Reset(max(wait, 0))
			fire = timer.C
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			s.log.Warn("rule watcher error", zap.Error(err))
		case <-fire:
			fire, burst = nil, time.Time{}
			s.reload(publish)
		case <-s.Reload:
			s.reload(publish)
		}
	}
}

// watchRepo adds to w the directory to watch for the repository at path,
// unless dirs (the directories watched) has it: the directory itself, or
// the one holding a file, not the file, because editors and Kubernetes
// replace files by rename, which drops a file watch. A directory removed
// between the look and the watch is watched through its parent, as a
// missing one is, so that its return is seen; only a parent missing too
// is an error.
func watchRepo(w interface{ Add(string) error }, path string, dirs map[string]bool) error {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		dir = path
	}
	if dirs[dir] {
		return nil
	}
	err := w.Add(dir)
	if err != nil && dir == path && errors.Is(err, fs.ErrNotExist) {
		dir = filepath.Dir(path)
		if dirs[dir] {
			return nil
		}
		err = w.Add(dir)
	}
	if err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	dirs[dir] = true
	return nil
}

// reload reads and publishes the rule set. A rejected set is logged as one
// line listing every error; its count and text reach the store (metrics,
// /debug/rules) through OnError or publish's error.
func (s *Source) reload(publish func(rulestore.Set) error) {
	specs, version, err := s.Load()
	if err != nil {
		s.rejected(err, "")
		if s.OnError != nil {
			s.OnError(err)
		}
		return
	}
	if version == s.Applied {
		if s.OnUnchanged != nil {
			s.OnUnchanged(version)
		}
		return
	}
	if err := publish(rulestore.Set{Specs: specs, Version: version}); err != nil {
		s.rejected(err, version)
		return
	}
	s.Applied = version
	s.log.Info("rules reloaded", zap.String("version", version), zap.Int("rules", len(specs)))
}

func (s *Source) rejected(err error, version string) {
	errs := rulestore.ErrorLines(err)
	fields := []zap.Field{zap.Int("errors", len(errs)), zap.Strings("error", errs)}
	if version != "" {
		fields = append(fields, zap.String("version", version))
	}
	s.log.Error("rules rejected, previous rules stay in force", fields...)
}
