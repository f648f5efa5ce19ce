package main

import (
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/filesource"
	"github.com/portcullis-authz/portcullis/rulestore/httpsource"
	"github.com/portcullis-authz/portcullis/rulestore/xds"
)

// controlPlaneCheckName is the readiness check of the xds:// stream, and
// the serve.readiness.require entry that makes a lost stream keep the
// instance out of readiness (by default the rules in force keep serving
// and the instance stays ready).
const controlPlaneCheckName = "control_plane"

// splitRepositories takes the xds:// repository out of
// access_rules.repositories; the others are the rest, in order. Offline
// commands read the file and inline ones.
func splitRepositories(repos []string) (xdsURL string, others []string, err error) {
	for i, r := range repos {
		if !strings.HasPrefix(r, "xds://") {
			others = append(others, r)
			continue
		}
		if xdsURL != "" {
			return "", nil, fmt.Errorf("access_rules.repositories[%d]: only one xds:// repository is supported", i)
		}
		xdsURL = r
	}
	return xdsURL, others, nil
}

// newXDSSource connects the xds:// repository to the store (sets rejected
// before compiling count as failures; the version in force again clears
// the last error) and to readiness: the "control_plane" check reports the
// stream. Until the first set is applied no rules are in force, so
// readiness waits for it.
func newXDSSource(url string, store *rulestore.Store, ready *authz.Readiness, log *zap.Logger) (*xds.Source, error) {
	src, err := xds.New(url, log)
	if err != nil {
		return nil, fmt.Errorf("access_rules.repositories: %w", err)
	}
	src.OnError, src.OnUnchanged = store.RecordFailure, store.Unchanged
	src.OnStatus = func(xds.Status) { ready.Notify() }
	ready.AddCheck(controlPlaneCheckName, func() authz.DependencyStatus {
		st := src.Status()
		ds := authz.DependencyStatus{Detail: st}
		if !st.Connected {
			ds.Problems = map[string]string{controlPlaneCheckName: fmt.Sprintf("%s: not connected: %s", url, orNotYet(st.LastError))}
		}
		return ds
	})
	return src, nil
}

func orNotYet(s string) string {
	if s == "" {
		return "not yet"
	}
	return s
}

// checkRepositories checks access_rules.repositories as serve reads them,
// without reading them.
func checkRepositories(repos []string) error {
	xdsURL, others, err := splitRepositories(repos)
	if err != nil {
		return err
	}
	if xdsURL != "" {
		if _, _, err := xds.ParseURL(xdsURL); err != nil {
			return fmt.Errorf("access_rules.repositories: %w", err)
		}
	}
	var files []string
	var errs []error
	for i, r := range others {
		if isHTTPRepository(r) {
			if _, err := httpsource.New(r, nil, nil); err != nil {
				errs = append(errs, fmt.Errorf("access_rules.repositories[%d]: %w", i, err))
			}
			continue
		}
		files = append(files, r)
	}
	_, err = filesource.New(files, nil, nil)
	return errors.Join(append(errs, err)...)
}
