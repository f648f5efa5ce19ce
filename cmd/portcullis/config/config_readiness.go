package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Readiness is serve.readiness: what, besides the rules, must be healthy
// for /health/ready and gRPC health to report ready.
type Readiness struct {
	// Require lists dependencies that keep the service out of readiness
	// while they are down: a key set URL (a jwt jwks_urls entry or an
	// id_token jwks_url, compared without query or user info), "key_sets"
	// for every key set the rules use, or the name of another readiness
	// check ("control_plane"). Default none: only the rules decide, so one
	// unreachable identity provider does not take every rule out of
	// service. It can change at run time (SIGHUP).
	Require []string `json:"require"`
}

// checkName is the form of a readiness check name.
var checkName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// RequiredKeys returns Require with each URL in the form readiness reports
// key sets: without user info, query or fragment.
func (r Readiness) RequiredKeys() []string {
	out := make([]string, 0, len(r.Require))
	for _, e := range r.Require {
		if u, err := url.Parse(e); err == nil && strings.Contains(e, "://") {
			u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
			e = u.String()
		}
		out = append(out, e)
	}
	return out
}

func (r Readiness) validate() []error {
	var errs []error
	for i, e := range r.Require {
		if !strings.Contains(e, "://") {
			if !checkName.MatchString(e) {
				errs = append(errs, fmt.Errorf("serve.readiness.require: entry %d (%q) is neither a key set URL nor a check name such as key_sets", i, e))
			}
			continue
		}
		u, err := url.Parse(e)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("serve.readiness.require: entry %d is not a valid URL", i))
		case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file":
			errs = append(errs, fmt.Errorf("serve.readiness.require: entry %d has scheme %q (want https, http or file, as in jwks_urls)", i, u.Scheme))
		}
	}
	return errs
}
