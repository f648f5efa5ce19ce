package main

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/filesource"
	"github.com/portcullis-authz/portcullis/rulestore/httpsource"
)

func isHTTPRepository(u string) bool {
	return strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")
}

// repositoryOptions are what serve gives openRepositories.
type repositoryOptions struct {
	urls         []string
	pollInterval time.Duration
	rulesFS      fs.FS           // the embedded quickstart, or nil
	reload       <-chan struct{} // SIGHUP: re-read the file repositories
	store        *rulestore.Store
	ready        *authz.Readiness
	log          *zap.Logger
}

// openRepositories builds the rule source of access_rules.repositories:
// the file and inline repositories are one part (read and watched
// together), each http(s) repository a polled part, the xds one a
// streamed part; their rules combine into one set. The file, inline and
// http(s) repositories are read now: an error there stops serve, as
// before. An xds part delivers its first set later, and nothing is
// published until it does (readiness waits).
func openRepositories(ctx context.Context, o repositoryOptions) (*rulestore.Combined, error) {
	xdsURL, others, err := splitRepositories(o.urls)
	if err != nil {
		return nil, err
	}
	var parts []rulestore.Part
	var files []string
	filePart := -1
	for _, u := range others {
		if !isHTTPRepository(u) {
			if filePart < 0 {
				filePart = len(parts)
				parts = append(parts, rulestore.Part{})
			}
			files = append(files, u)
			continue
		}
		src, err := httpsource.New(u, nil, o.log)
		if err != nil {
			return nil, fmt.Errorf("access_rules.repositories: %w", err)
		}
		src.Interval = o.pollInterval
		src.OnError, src.OnUnchanged = o.store.RecordFailure, o.store.Unchanged
		set, err := src.Load(ctx)
		if err != nil {
			return nil, fmt.Errorf("no valid rules, not starting: %w", err)
		}
		parts = append(parts, rulestore.Part{Name: u, Source: src, Initial: &set})
	}
	if len(parts) == 0 && xdsURL == "" {
		// No repository: the empty file part is refused as an empty set.
		filePart, parts = 0, []rulestore.Part{{}}
	}
	if filePart >= 0 {
		src, err := filesource.New(files, o.rulesFS, o.log)
		if err != nil {
			return nil, err
		}
		src.OnError, src.OnUnchanged = o.store.RecordFailure, o.store.Unchanged
		src.Reload = o.reload
		specs, version, err := src.Load()
		if err != nil {
			return nil, fmt.Errorf("no valid rules, not starting: %w", err)
		}
		src.Applied = version
		parts[filePart] = rulestore.Part{Name: strings.Join(files, ", "), Source: src, Initial: &rulestore.Set{Specs: specs, Version: version}}
	}
	if xdsURL != "" {
		src, err := newXDSSource(xdsURL, o.store, o.ready, o.log)
		if err != nil {
			return nil, err
		}
		parts = append(parts, rulestore.Part{Name: xdsURL, Source: src})
	}
	return rulestore.Combine(parts...), nil
}
