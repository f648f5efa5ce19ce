package introspection

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/handlers/internal/scope"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Reason ids of token checks, in the order they run.
const (
	IDTokenUse      = "introspection_token_use_invalid"
	IDTokenType     = "introspection_token_type_not_allowed"
	IDActiveInvalid = "introspection_active_invalid"
	IDInactive      = "introspection_token_inactive"
	IDExpired       = "introspection_token_expired"
	IDAudience      = "introspection_audience_mismatch"
	IDIssuer        = "introspection_issuer_untrusted"
	IDScope         = "introspection_scope_missing"
)

// result is a parsed RFC 7662 answer. It is shared by every request that
// hits its cache entry and must not be modified after parse.
type result struct {
	active bool
	// activeOK is false when the answer has no boolean active member
	// (missing, null, "true", 1): RFC 7662 requires one, and such an
	// answer is refused with its own reason rather than read as false.
	activeOK  bool
	tokenUse  string
	tokenType string
	exp       time.Time // zero: no exp
	aud       []string
	iss       string
	sub       string
	username  string
	clientID  string
	scope     string
	granted   []string // scope split on white space
	// extra is the session extra, built once per answer so that a cache
	// hit only copies it.
	extra map[string]any
	size  int // bytes of the answer, the cache cost
}

// errInvalid is wrapped by every parse failure.
var errInvalid = errors.New("invalid introspection response")

// parse reads an answer strictly. Members are looked up by their exact
// name: encoding/json matches struct fields case-insensitively, which would
// let {"active":false,"ACTIVE":true} read as active. A member of the wrong
// type (active: "true", exp: "123", aud: 5) fails the whole answer, as does
// a repeated member (D-17).
func parse(body []byte) (*result, error) {
	if err := remotecall.CheckJSON(body); err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalid, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object", errInvalid)
	}
	r := &result{size: len(body)}
	switch string(m["active"]) {
	case "true":
		r.active, r.activeOK = true, true
	case "false":
		r.activeOK = true
	}
	var exp float64
	var aud json.RawMessage
	for _, f := range []struct {
		name string
		dst  any
	}{
		{"token_use", &r.tokenUse}, {"token_type", &r.tokenType}, {"exp", &exp}, {"aud", &aud},
		{"iss", &r.iss}, {"sub", &r.sub}, {"username", &r.username}, {"client_id", &r.clientID},
		{"scope", &r.scope}, {"ext", &r.extra},
	} {
		if v, ok := m[f.name]; ok {
			if err := json.Unmarshal(v, f.dst); err != nil {
				return nil, fmt.Errorf("%w: member %q has the wrong type", errInvalid, f.name)
			}
		}
	}
	if exp < 0 {
		return nil, fmt.Errorf("%w: member \"exp\" is negative", errInvalid)
	}
	if exp > 0 {
		// Clamp far-future dates so the conversion cannot overflow.
		sec, frac := math.Modf(min(exp, 1<<40))
		r.exp = time.Unix(int64(sec), int64(frac*1e9))
	}
	var err error
	if r.aud, err = audience(aud); err != nil {
		return nil, err
	}
	r.granted = strings.Fields(r.scope)
	// Oathkeeper's extra: ext plus username, client_id, scope and (when
	// present) aud, which win over ext members of the same name.
	if r.extra == nil {
		r.extra = make(map[string]any, 4)
	}
	r.extra["username"], r.extra["client_id"], r.extra["scope"] = r.username, r.clientID, r.scope
	if len(r.aud) > 0 {
		r.extra["aud"] = r.aud
	}
	return r, nil
}

// audience reads aud, which RFC 7662 allows as a string or an array of
// strings.
func audience(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%w: member \"aud\" is neither a string nor an array of strings", errInvalid)
	}
	return list, nil
}

// check runs Oathkeeper's checks in its order: token type, active, exp,
// audience, issuer, scope. It runs on fresh and cached answers alike, so a
// stricter rule never inherits a looser rule's success (GHSA-qvp4-rpmr-xwrr,
// SECURITY D-07).
func (a *Authenticator) check(r *result, now time.Time) error {
	if err := a.checkType(r); err != nil {
		return err
	}
	if !r.activeOK {
		return pipeline.Unauthorized(IDActiveInvalid, "the introspection answer has no boolean active member", nil)
	}
	if !r.active {
		return pipeline.Unauthorized(IDInactive, "the token is not active", nil)
	}
	if !r.exp.IsZero() && !now.Before(r.exp) { // expired at exp itself (RFC 7519 §4.1.4)
		return pipeline.Unauthorized(IDExpired, "the token has expired", nil)
	}
	for _, want := range a.audience {
		if !slices.Contains(r.aud, want) {
			return pipeline.Forbidden(IDAudience, "the token is not intended for audience "+want, nil)
		}
	}
	if len(a.issuers) > 0 && !slices.Contains(a.issuers, r.iss) {
		return pipeline.Forbidden(IDIssuer, "the token issuer is not trusted", nil)
	}
	if a.strategy != scope.None {
		for _, want := range a.scopes {
			if !a.strategy.Satisfied(r.granted, want) {
				return pipeline.Forbidden(IDScope, "scope "+want+" was not granted", nil)
			}
		}
	}
	return nil
}

// checkType admits the answer's token type (issue #8 item 4). token_use
// (Hydra's member, compared exactly as Oathkeeper does) and the type that
// token_type names must both be allowed; an answer with neither is an
// access token. The status is Oathkeeper's for a wrong token_use: 403.
func (a *Authenticator) checkType(r *result) error {
	if r.tokenUse != "" && !slices.Contains(a.types, r.tokenUse) {
		return pipeline.Forbidden(IDTokenUse, fmt.Sprintf("token_use %q is not allowed by this rule", r.tokenUse), nil)
	}
	if r.tokenUse != "" && r.tokenType == "" {
		return nil
	}
	kind := typeOf(r.tokenType)
	switch {
	case slices.Contains(a.types, kind):
		return nil
	case r.tokenType == "":
		return pipeline.Forbidden(IDTokenType, "the answer names no token type, so the token is an access_token, which this rule does not allow", nil)
	}
	return pipeline.Forbidden(IDTokenType, fmt.Sprintf("token_type %q names a %s, which this rule does not allow", r.tokenType, kind), nil)
}

// typeOf maps an RFC 7662 token_type to a token_use value. token_type is
// meant to hold an RFC 6749 access token type (Bearer, DPoP, N_A), but
// servers also put the kind of token there, as a plain name or an RFC
// 8693 token type URI; those name what they say, anything else is an
// access token. "" (no token_type) is an access token too.
func typeOf(tokenType string) string {
	t := strings.ToLower(tokenType)
	t = strings.TrimPrefix(t, "urn:ietf:params:oauth:token-type:")
	switch t {
	case "refresh_token", "refresh":
		return "refresh_token"
	case "id_token":
		return "id_token"
	}
	return AccessToken
}

// fill sets the session as Oathkeeper does: Subject is sub, Extra a deep
// copy of the answer's extra.
func (r *result) fill(s *pipeline.Session) {
	s.Subject, s.Extra = r.sub, deepCopy(r.extra).(map[string]any)
}

// deepCopy copies the maps and slices of a decoded JSON value, so that a
// mutator changing the session cannot change a cached answer.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	case []string:
		return slices.Clone(x)
	}
	return v
}
