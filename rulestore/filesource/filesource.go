package rulestore

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
)

// ApplyFunc compiles and publishes a complete rule set (Store.Apply).
type ApplyFunc func(specs []pipeline.RuleSpec, version string) error

// FileSource reads rules from Oathkeeper-style repository URLs: file://
// paths (a file, or a directory of .json/.yaml/.yml files) and inline://
// base64 documents. Plain paths are accepted as file paths. Relative paths
// resolve against the working directory, as in Oathkeeper.
type FileSource struct {
	repos []repo
	fsys  fs.FS
	log   *zap.Logger
	// Debounce groups bursts of file events (editors, ConfigMap swaps)
	// into one reload. Default 200ms.
	Debounce time.Duration
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

type repo struct {
	url    string
	path   string // file or directory
	inline []byte
}

// NewFileSource parses the repository URLs. fsys, when not nil, is read
// instead of the OS file system (the embedded quickstart); it is not
// watched.
func NewFileSource(urls []string, fsys fs.FS, log *zap.Logger) (*FileSource, error) {
	if log == nil {
		log = zap.NewNop()
	}
	s := &FileSource{fsys: fsys, log: log, Debounce: 200 * time.Millisecond}
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
	case "http", "https", "s3", "gs", "azblob":
		return repo{}, fmt.Errorf("%q: %s:// repositories are not implemented yet (use file:// or inline://)", u, scheme)
	default:
		return repo{}, fmt.Errorf("%q: unsupported scheme %q", u, scheme)
	}
}

// Load reads every repository and decodes all rules. The version is a hash
// of every byte read, so an unchanged set is recognised. On any error it
// returns no rules: a set is served whole or not at all.
func (s *FileSource) Load() ([]pipeline.RuleSpec, string, error) {
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
func (s *FileSource) LoadAll() ([]pipeline.RuleSpec, error) {
	specs, _, err := s.load()
	return specs, err
}

func (s *FileSource) load() ([]pipeline.RuleSpec, string, error) {
	h := sha256.New()
	var specs []pipeline.RuleSpec
	var errs []error
	for _, r := range s.repos {
		docs, err := s.read(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, d := range docs {
			h.Write([]byte(d.name))
			h.Write(d.data)
			got, err := decodeRules(d.name, d.data)
			if err != nil {
				errs = append(errs, err)
			}
			specs = append(specs, got...)
		}
	}
	return specs, hex.EncodeToString(h.Sum(nil))[:16], errors.Join(errs...)
}

type doc struct {
	name string
	data []byte
}

func (s *FileSource) read(r repo) ([]doc, error) {
	if r.inline != nil {
		return []doc{{name: "inline", data: r.inline}}, nil
	}
	fi, err := s.stat(r.path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.path, err)
	}
	if !fi.IsDir() {
		b, err := s.readFile(r.path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.path, err)
		}
		return []doc{{name: r.path, data: b}}, nil
	}
	entries, err := s.readDir(r.path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.path, err)
	}
	var docs []doc
	for _, e := range entries {
		name := e.Name()
		// Hidden entries include Kubernetes' ..data and ..2024_* folders;
		// the visible names are symlinks through ..data.
		if strings.HasPrefix(name, ".") || !isRuleFile(name) {
			continue
		}
		p := filepath.Join(r.path, name)
		if fi, err := s.stat(p); err != nil || fi.IsDir() {
			continue
		}
		b, err := s.readFile(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		docs = append(docs, doc{name: p, data: b})
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

func (s *FileSource) stat(p string) (fs.FileInfo, error) {
	if s.fsys != nil {
		return fs.Stat(s.fsys, p)
	}
	return os.Stat(p)
}

func (s *FileSource) readFile(p string) ([]byte, error) {
	if s.fsys != nil {
		return fs.ReadFile(s.fsys, p)
	}
	return os.ReadFile(p)
}

func (s *FileSource) readDir(p string) ([]fs.DirEntry, error) {
	if s.fsys != nil {
		return fs.ReadDir(s.fsys, p)
	}
	return os.ReadDir(p)
}

// Run watches the file repositories and applies every changed rule set
// until ctx is done. A set that fails to read, decode or compile is logged
// with its error and the previous rules stay in force. lastVersion is the
// version already applied (from the start-up Load).
func (s *FileSource) Run(ctx context.Context, lastVersion string, apply ApplyFunc) error {
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
		// Watch the directory holding a file, not the file: editors and
		// Kubernetes replace files by rename, which drops a file watch.
		dir := r.path
		if fi, err := os.Stat(r.path); err != nil || !fi.IsDir() {
			dir = filepath.Dir(r.path)
		}
		if !dirs[dir] {
			if err := w.Add(dir); err != nil {
				return fmt.Errorf("watch %s: %w", dir, err)
			}
			dirs[dir] = true
		}
	}
	if s.OnWatching != nil {
		s.OnWatching()
	}
	if len(dirs) == 0 {
		<-ctx.Done()
		return nil
	}

	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(s.Debounce)
			} else {
				timer.Reset(s.Debounce)
			}
			fire = timer.C
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			s.log.Warn("rule watcher error", zap.Error(err))
		case <-fire:
			fire = nil
			lastVersion = s.reload(lastVersion, apply)
		case <-s.Reload:
			lastVersion = s.reload(lastVersion, apply)
		}
	}
}

// reload reads and applies the rule set. A rejected set is logged as one
// line listing every error (issue #10 item 14); its count and text reach
// the store (metrics, /debug/rules) through OnError or apply's error.
func (s *FileSource) reload(last string, apply ApplyFunc) string {
	specs, version, err := s.Load()
	if err != nil {
		s.rejected(err, "")
		if s.OnError != nil {
			s.OnError(err)
		}
		return last
	}
	if version == last {
		if s.OnUnchanged != nil {
			s.OnUnchanged(version)
		}
		return last
	}
	if err := apply(specs, version); err != nil {
		s.rejected(err, version)
		return last
	}
	s.log.Info("rules reloaded", zap.String("version", version), zap.Int("rules", len(specs)))
	return version
}

func (s *FileSource) rejected(err error, version string) {
	errs := ErrorLines(err)
	fields := []zap.Field{zap.Int("errors", len(errs)), zap.Strings("error", errs)}
	if version != "" {
		fields = append(fields, zap.String("version", version))
	}
	s.log.Error("rules rejected, previous rules stay in force", fields...)
}
