// Package tlsconf builds the server side TLS configuration of a listener
// from PEM files and keeps it current: the certificate, its key and the
// client CA bundle are watched and re-read when they change, so a rotated
// certificate (cert-manager, a Kubernetes Secret, certbot) is served
// without a restart. A rotation that does not load is logged once and the
// certificate in use stays in use.
package tlsconf

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// DefaultDebounce is how long the watched files must stay quiet before
// they are re-read: a certificate and its key written one after the other
// are then read together, not as a mismatched pair in between.
const DefaultDebounce = 100 * time.Millisecond

// Options configure one listener's TLS.
type Options struct {
	// Name names the settings in logs and errors, e.g. "serve.grpc.tls".
	Name string
	// CertFile and KeyFile name the PEM certificate chain (leaf first) and
	// its private key. They are watched and re-read on change.
	CertFile, KeyFile string
	// CertPEM and KeyPEM hold the pair inline instead of CertFile and
	// KeyFile; an inline pair never changes.
	CertPEM, KeyPEM []byte
	// ClientCAFile, when set, turns on mutual TLS: a client certificate
	// is verified against the CAs in this PEM bundle. It is watched too.
	ClientCAFile string
	// ClientAuth applies with ClientCAFile: tls.RequireAndVerifyClientCert
	// (the default, zero meaning default) or tls.VerifyClientCertIfGiven.
	ClientAuth tls.ClientAuthType
	// MinVersion is the lowest protocol version offered (default TLS 1.2).
	MinVersion uint16
	// NextProtos lists the ALPN protocols, e.g. "h2", "http/1.1".
	NextProtos []string
	// Debounce overrides DefaultDebounce.
	Debounce time.Duration
	// OnReload, when set, is called after every attempt to re-read the
	// files, from the goroutine that made it. Tests wait on it.
	OnReload func(Event)
	// Log receives one line per rotation and per distinct failure.
	Log *zap.Logger
}

// Event reports one attempt to re-read the files.
type Event struct {
	// Err says why the files were not taken; the previous certificate and
	// CAs stay in use.
	Err error
	// Changed reports that new files are now in use.
	Changed bool
	// Leaf is the certificate served after the attempt.
	Leaf *x509.Certificate
}

// state is one loaded set of files, served as a whole.
type state struct {
	cfg  *tls.Config
	leaf *x509.Certificate
	sum  [sha256.Size]byte // of the bytes read, to skip unchanged files
}

// Reloader serves the TLS configuration built from its files and swaps it
// when they change.
type Reloader struct {
	o   Options
	log *zap.Logger
	cur atomic.Pointer[state]

	mu         sync.Mutex // serialises reloads
	lastFailed string     // the last failure logged, to log each once
	reloads    atomic.Uint64
	failures   atomic.Uint64
}

// New loads the files once; an error here means the listener cannot start.
func New(o Options) (*Reloader, error) {
	switch {
	case o.CertFile == "" && len(o.CertPEM) == 0:
		return nil, fmt.Errorf("%s: no certificate configured", o.Name)
	case (o.CertFile == "") != (o.KeyFile == ""):
		return nil, fmt.Errorf("%s: a certificate file needs its key file and the other way round", o.Name)
	case o.ClientAuth != 0 && o.ClientAuth != tls.RequireAndVerifyClientCert && o.ClientAuth != tls.VerifyClientCertIfGiven:
		// The other modes accept certificates nobody verified.
		return nil, fmt.Errorf("%s: client auth mode must verify the client certificate", o.Name)
	}
	if o.ClientAuth == 0 {
		o.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if o.MinVersion == 0 {
		o.MinVersion = tls.VersionTLS12
	}
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	r := &Reloader{o: o, log: o.Log.With(zap.String("tls", o.Name))}
	st, err := r.load()
	if err != nil {
		return nil, err
	}
	r.warnValidity(st.leaf)
	r.cur.Store(st)
	return r, nil
}

// TLSConfig returns the listener's configuration. Every handshake takes
// the files in use at that moment; established connections keep theirs.
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: r.o.MinVersion,
		NextProtos: r.o.NextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.cur.Load().cfg, nil
		},
	}
}

// Leaf returns the certificate being served.
func (r *Reloader) Leaf() *x509.Certificate { return r.cur.Load().leaf }

// Counts returns how many rotations were taken and how many were refused.
func (r *Reloader) Counts() (reloads, failures uint64) {
	return r.reloads.Load(), r.failures.Load()
}

// Run watches the files' directories and re-reads the files after they
// change, until ctx is done. Directories, not files, are watched: editors
// and Kubernetes replace files by rename (a Secret volume swaps its
// "..data" symlink), which a watch on the file itself would lose.
func (r *Reloader) Run(ctx context.Context) error {
	files := r.files()
	if len(files) == 0 {
		<-ctx.Done()
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("%s: watch certificate files: %w", r.o.Name, err)
	}
	defer w.Close()
	names := map[string]bool{}
	dirs := map[string]bool{}
	for _, f := range files {
		names[filepath.Base(f)] = true
		dir := filepath.Dir(f)
		if !dirs[dir] {
			if err := w.Add(dir); err != nil {
				return fmt.Errorf("%s: watch %s: %w", r.o.Name, dir, err)
			}
			dirs[dir] = true
		}
	}
	// A change made between New and the watch being in place is taken now.
	_ = r.Reload()

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
			base := filepath.Base(ev.Name)
			// Other files in the directory are not ours; "..data" and its
			// siblings are the Kubernetes volume's swap.
			if ev.Op == fsnotify.Chmod || (!names[base] && !strings.HasPrefix(base, "..")) {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(r.o.Debounce)
			} else {
				timer.Reset(r.o.Debounce)
			}
			fire = timer.C
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			r.log.Warn("certificate watcher error", zap.Error(err))
		case <-fire:
			fire = nil
			_ = r.Reload()
		}
	}
}

// Reload re-reads the files now. Files that do not load leave the current
// certificate and CAs in use; the error is returned, and logged once for
// as long as it stays the same.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.cur.Load()
	st, err := r.load()
	ev := Event{Err: err, Leaf: cur.leaf}
	switch {
	case err != nil:
		r.failures.Add(1)
		if msg := err.Error(); msg != r.lastFailed {
			r.lastFailed = msg
			r.log.Error("new certificate files rejected, the previous certificate stays in use", zap.Error(err))
		}
	case st.sum == cur.sum:
		r.lastFailed = ""
	default:
		r.lastFailed = ""
		r.cur.Store(st)
		r.reloads.Add(1)
		ev.Changed, ev.Leaf = true, st.leaf
		r.log.Info("certificate reloaded", zap.String("subject", st.leaf.Subject.String()),
			zap.String("serial", st.leaf.SerialNumber.Text(16)), zap.Time("not_after", st.leaf.NotAfter))
		r.warnValidity(st.leaf)
	}
	if r.o.OnReload != nil {
		r.o.OnReload(ev)
	}
	return err
}

// files lists the watched files.
func (r *Reloader) files() []string {
	var out []string
	for _, f := range []string{r.o.CertFile, r.o.KeyFile, r.o.ClientCAFile} {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// load reads every file and builds the configuration served with them.
func (r *Reloader) load() (*state, error) {
	certPEM, keyPEM := r.o.CertPEM, r.o.KeyPEM
	var err error
	if r.o.CertFile != "" {
		if certPEM, err = r.read("certificate", r.o.CertFile); err != nil {
			return nil, err
		}
		if keyPEM, err = r.read("key", r.o.KeyFile); err != nil {
			return nil, err
		}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// X509KeyPair's errors name the problem, never the key material.
		return nil, fmt.Errorf("%s: certificate %s with key %s: %s", r.o.Name, orInline(r.o.CertFile), orInline(r.o.KeyFile),
			strings.TrimPrefix(err.Error(), "tls: "))
	}
	h := sha256.New()
	for _, b := range [][]byte{certPEM, keyPEM} {
		h.Write(b)
		h.Write([]byte{0})
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{pair},
		MinVersion:   r.o.MinVersion,
		NextProtos:   r.o.NextProtos,
	}
	if r.o.ClientCAFile != "" {
		caPEM, err := r.read("client CA bundle", r.o.ClientCAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("%s: client CA bundle %s: no PEM certificate in it", r.o.Name, r.o.ClientCAFile)
		}
		h.Write(caPEM)
		cfg.ClientCAs, cfg.ClientAuth = pool, r.o.ClientAuth
	}
	st := &state{cfg: cfg, leaf: pair.Leaf}
	h.Sum(st.sum[:0])
	return st, nil
}

func (r *Reloader) read(what, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s: %s %s: %v", r.o.Name, what, path, err)
	}
	return b, nil
}

// warnValidity says so when the certificate is not valid now: clients
// will refuse it, but serving it beats serving nothing.
func (r *Reloader) warnValidity(leaf *x509.Certificate) {
	now := time.Now()
	switch {
	case now.After(leaf.NotAfter):
		r.log.Warn("the certificate served has expired; clients will refuse it", zap.Time("not_after", leaf.NotAfter))
	case now.Before(leaf.NotBefore):
		r.log.Warn("the certificate served is not valid yet; clients will refuse it", zap.Time("not_before", leaf.NotBefore))
	}
}

func orInline(path string) string {
	if path == "" {
		return "(inline)"
	}
	return path
}
