package jwt

import (
	"math"
	"slices"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/scope"
)

// MaxNumericDate is the latest NumericDate accepted in exp, nbf and iat:
// 9999-12-31T23:59:59Z, the last second RFC 3339 can write. A date must
// also not be negative. Outside [0, MaxNumericDate] a claim is invalid
// (401 jwt_claim_invalid), so "exp": 1e300 is not a token that never
// expires, and every accepted date converts to a time.Time and to int64
// seconds without overflow.
const MaxNumericDate = 253402300799

// times holds a token's NumericDate claims, as seconds since the epoch,
// each within [0, MaxNumericDate].
type times struct {
	exp, nbf, iat          float64
	hasExp, hasNbf, hasIat bool
}

// readTimes reads exp, nbf and iat. A NumericDate is a JSON number in
// [0, MaxNumericDate]; a string (even a numeric one, or RFC 3339) or null
// is refused, where jwx would accept both.
func readTimes(claims map[string]any) (times, error) {
	var t times
	var err error
	if t.exp, t.hasExp, err = numericDate(claims, "exp"); err != nil {
		return t, err
	}
	if t.nbf, t.hasNbf, err = numericDate(claims, "nbf"); err != nil {
		return t, err
	}
	t.iat, t.hasIat, err = numericDate(claims, "iat")
	return t, err
}

func numericDate(claims map[string]any, name string) (float64, bool, error) {
	v, ok := claims[name]
	if !ok {
		return 0, false, nil
	}
	f, ok := v.(float64)
	if !ok {
		return 0, false, claimErr(ReasonClaimInvalid, name, "is not a NumericDate")
	}
	// Written so that NaN fails too (encoding/json never produces NaN or
	// an infinity, but the bound must not depend on that).
	if !(f >= 0 && f <= MaxNumericDate) {
		return 0, false, claimErr(ReasonClaimInvalid, name, "is out of range (0 to year 9999)")
	}
	return f, true, nil
}

// numericTime converts a NumericDate already checked by numericDate
// (so the conversion cannot overflow).
func numericTime(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// checkTimes applies exp, nbf and iat with the configured skew, and the
// maximum lifetime. It runs on every request, cache hits included, so a
// cached token stops working the moment it expires.
func (a *Authenticator) checkTimes(t *times, now time.Time) error {
	n := float64(now.UnixNano()) / 1e9
	skew := a.skew
	// RFC 7519 §4.1.4: the current time must be before exp, so a token
	// whose exp is this very second is already expired.
	if t.hasExp && !(n < t.exp+skew) {
		return errExpired.err()
	}
	if t.hasNbf && n+skew < t.nbf {
		return errNotYetValid.err()
	}
	if t.hasIat && t.iat > n+skew {
		return errIssuedFuture.err()
	}
	if a.maxLife > 0 {
		if !t.hasExp {
			return claimErr(ReasonClaimMissing, "exp", "is required by max_token_lifetime")
		}
		if t.exp-n > a.maxLife+skew || t.hasIat && t.exp-t.iat > a.maxLife {
			return errLifetime.err()
		}
	}
	return nil
}

// checkClaims applies the time-independent rules: required claims, claim
// types, audience (AND), issuer (OR) and scope. It normalises the scope
// into claims["scp"] and returns the subject.
func (a *Authenticator) checkClaims(claims map[string]any) (string, error) {
	for _, name := range a.required {
		if v, ok := claims[name]; !ok || v == nil {
			return "", claimErr(ReasonClaimMissing, name, "is required")
		}
	}
	var sub string
	if v, ok := claims["sub"]; ok {
		if sub, ok = v.(string); !ok {
			return "", claimErr(ReasonClaimInvalid, "sub", "is not a string")
		}
	}
	if len(a.audience) > 0 {
		aud, ok := audience(claims["aud"])
		if !ok {
			return "", claimErr(ReasonClaimInvalid, "aud", "is not a string or an array of strings")
		}
		for _, want := range a.audience {
			if !slices.Contains(aud, want) {
				return "", errAudience.err()
			}
		}
	}
	if len(a.issuers) > 0 {
		iss, _ := claims["iss"].(string)
		if iss == "" || !slices.Contains(a.issuers, iss) {
			return "", errIssuer.err()
		}
	}
	granted := scope.Normalize(claims)
	for _, req := range a.scopes {
		if !a.strategy.Satisfied(granted, req) {
			return "", scopeErr(req)
		}
	}
	return sub, nil
}

// audience reads aud as RFC 7519 §4.1.3 allows: one string or an array of
// strings. Matching is exact and case-sensitive. A missing aud is an
// empty list; any other type is invalid.
func audience(v any) ([]string, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case string:
		return []string{x}, true
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out[i] = s
		}
		return out, true
	}
	return nil, false
}
