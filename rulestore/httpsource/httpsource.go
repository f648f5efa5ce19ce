// Package httpsource is the rule source of http:// and https://
// repositories: one rule file (JSON or YAML) fetched at start-up and then
// polled. Polls are conditional (If-None-Match with the last ETag), so an
// unchanged file costs one round trip and no recompilation; every fetch
// has a timeout and a size limit; a fetch that fails, or a file that does
// not decode or compile, leaves the last good rules in force.
package httpsource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/rulestore"
)

// Defaults of Source's limits.
const (
	DefaultInterval = 30 * time.Second
	DefaultTimeout  = 10 * time.Second
	DefaultMaxBytes = 16 << 20
)

// Source polls one http(s):// rule file.
type Source struct {
	url    string
	client *http.Client
	log    *zap.Logger

	// Interval is the time between polls. Default DefaultInterval.
	Interval time.Duration
	// Timeout bounds one fetch, body included. Default DefaultTimeout.
	Timeout time.Duration
	// MaxBytes bounds the body: a larger file is an error. Default
	// DefaultMaxBytes.
	MaxBytes int64
	// OnError, when set, is told about polls that failed before compiling
	// (unreachable, bad status, undecodable), e.g. Store.RecordFailure.
	OnError func(error)
	// OnUnchanged, when set, is told when a poll finds the set in force
	// (a 304, or the same content), e.g. Store.Unchanged.
	OnUnchanged func(version string)
	// OnPoll, when set, is called after every poll, whatever its outcome.
	OnPoll func()

	etag    string // of the last body handled
	version string // of the last body handled
	good    bool   // whether that body was applied
}

var _ rulestore.Source = (*Source)(nil)

// New returns a source for an http:// or https:// URL. client nil means
// a client that keeps no cookies; its timeout is Source.Timeout's.
func New(rawURL string, client *http.Client, log *zap.Logger) (*Source, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q: not an http(s) URL with a host", rawURL)
	}
	if client == nil {
		client = &http.Client{}
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Source{url: rawURL, client: client, log: log,
		Interval: DefaultInterval, Timeout: DefaultTimeout, MaxBytes: DefaultMaxBytes}, nil
}

// Load fetches and decodes the file unconditionally, for start-up. The
// version is a hash of the body.
func (s *Source) Load(ctx context.Context) (rulestore.Set, error) {
	body, etag, _, err := s.fetch(ctx, "")
	if err != nil {
		return rulestore.Set{}, err
	}
	set, err := s.decode(body)
	if err != nil {
		return rulestore.Set{}, err
	}
	s.etag, s.version, s.good = etag, set.Version, true
	return set, nil
}

// Run polls every Interval until ctx is done and publishes each new set.
func (s *Source) Run(ctx context.Context, publish func(rulestore.Set) error) error {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.poll(ctx, publish)
			if s.OnPoll != nil {
				s.OnPoll()
			}
		}
	}
}

func (s *Source) poll(ctx context.Context, publish func(rulestore.Set) error) {
	body, etag, notModified, err := s.fetch(ctx, s.etag)
	if ctx.Err() != nil {
		return
	}
	if err == nil && notModified {
		// The body handled last time: nothing to decode or compile.
		if s.good && s.OnUnchanged != nil {
			s.OnUnchanged(s.version)
		}
		return
	}
	var set rulestore.Set
	if err == nil {
		set, err = s.decode(body)
	}
	if err != nil {
		s.rejected(err, "")
		if s.OnError != nil {
			s.OnError(err)
		}
		return
	}
	if set.Version == s.version {
		// The same body again (a server without ETags): applied already,
		// or rejected already and not worth recompiling.
		s.etag = etag
		if s.good && s.OnUnchanged != nil {
			s.OnUnchanged(set.Version)
		}
		return
	}
	err = publish(set)
	// Remember the body either way: a rejected one is not recompiled
	// until it changes.
	s.etag, s.version, s.good = etag, set.Version, err == nil
	if err != nil {
		s.rejected(err, set.Version)
		return
	}
	s.log.Info("rules reloaded", zap.String("repository", s.url), zap.String("version", set.Version), zap.Int("rules", len(set.Specs)))
}

// fetch GETs the file; with etag set the request is conditional and a
// 304 comes back as notModified.
func (s *Source) fetch(ctx context.Context, etag string) (body []byte, newETag string, notModified bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, "", false, fmt.Errorf("%s: %w", s.url, err)
	}
	req.Header.Set("Accept", "application/json, application/yaml, */*")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, "", false, fmt.Errorf("%s: no answer within %s", s.url, s.Timeout)
		}
		return nil, "", false, fmt.Errorf("%s: %w", s.url, unwrapURLError(err))
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		if etag != "" {
			return nil, etag, true, nil
		}
		fallthrough
	default:
		return nil, "", false, fmt.Errorf("%s: HTTP status %d, want 200", s.url, resp.StatusCode)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, s.MaxBytes+1))
	if err != nil {
		return nil, "", false, fmt.Errorf("%s: reading the body: %w", s.url, unwrapURLError(err))
	}
	if int64(len(body)) > s.MaxBytes {
		return nil, "", false, fmt.Errorf("%s: the rule file is larger than %d bytes", s.url, s.MaxBytes)
	}
	return body, resp.Header.Get("ETag"), false, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (s *Source) decode(body []byte) (rulestore.Set, error) {
	specs, err := rulestore.DecodeRules(s.url, body)
	if err != nil {
		return rulestore.Set{}, err
	}
	sum := sha256.Sum256(body)
	return rulestore.Set{Specs: specs, Version: hex.EncodeToString(sum[:])[:16]}, nil
}

func (s *Source) rejected(err error, version string) {
	errs := rulestore.ErrorLines(err)
	fields := []zap.Field{zap.String("repository", s.url), zap.Int("errors", len(errs)), zap.Strings("error", errs)}
	if version != "" {
		fields = append(fields, zap.String("version", version))
	}
	s.log.Error("rules rejected, previous rules stay in force", fields...)
}
