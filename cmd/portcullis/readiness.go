package main

import (
	"strings"

	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
)

// keySetsCheckName is the readiness check of the key sets rules use, and
// the serve.readiness.require entry that requires all of them.
const keySetsCheckName = "key_sets"

// keySetReport is one key set in the /health/ready body.
type keySetReport struct {
	builtin.KeySet
	// Required: while missing, the set keeps the service out of readiness.
	Required bool `json:"required"`
}

// keySetsCheck reports every key set the rules in force use. A missing set
// is a problem keyed by its URL; a stale one still verifies or signs with
// its last good keys and is not. A problem keeps the service out of
// readiness only when serve.readiness.require names its URL or key_sets.
func keySetsCheck(deps *builtin.Deps, ready *authz.Readiness) authz.ReadinessCheck {
	return func() authz.DependencyStatus {
		sets := deps.KeySets()
		detail := make([]keySetReport, 0, len(sets))
		problems := map[string]string{}
		for _, ks := range sets {
			detail = append(detail, keySetReport{KeySet: ks, Required: ready.Required(keySetsCheckName) || ready.Required(ks.URL)})
			if ks.State == "missing" {
				problems[ks.URL] = "key set missing: " + ks.Error
			}
		}
		return authz.DependencyStatus{Detail: detail, Problems: problems}
	}
}

// warnUnusedRequirements names serve.readiness.require entries that can
// never matter: a key set URL no rule in force uses, or a check nobody
// registered (a typo would otherwise silently require nothing).
func warnUnusedRequirements(log *zap.Logger, required []string, deps *builtin.Deps, ready *authz.Readiness) {
	used := map[string]bool{}
	for _, ks := range deps.KeySets() {
		used[ks.URL] = true
	}
	for _, r := range required {
		switch {
		case strings.Contains(r, "://") && !used[r]:
			log.Warn("serve.readiness.require names a key set no rule in force uses; it does not affect readiness until one does", zap.String("url", r))
		case !strings.Contains(r, "://") && !ready.HasCheck(r):
			log.Warn("serve.readiness.require names an unknown readiness check", zap.String("check", r), zap.String("known", strings.Join(ready.CheckNames(), ", ")))
		}
	}
}
