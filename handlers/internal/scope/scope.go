package scope

import (
	"fmt"
	"strings"
)

// Strategy is a scope matching strategy as named in Oathkeeper's
// scope_strategy key. The zero value "" behaves like None.
type Strategy string

// The strategies Oathkeeper's schema allows.
const (
	// None disables local scope checks. A handler that has required scopes
	// and strategy None must either reject its config (jwt) or delegate the
	// check to the remote party (introspection).
	None Strategy = "none"
	// Exact grants a required scope only if it was granted verbatim.
	Exact Strategy = "exact"
	// Hierarchic lets a granted scope cover every dot-separated child:
	// "photos" grants "photos.read", but "photos.read" does not grant
	// "photos".
	Hierarchic Strategy = "hierarchic"
	// Wildcard lets a "*" segment of a granted scope stand for one
	// non-empty segment, or, as the last segment, for one or more.
	Wildcard Strategy = "wildcard"
)

// Parse validates a scope_strategy value. The empty string means None, which
// is the schema default.
func Parse(s string) (Strategy, error) {
	switch st := Strategy(s); st {
	case "":
		return None, nil
	case None, Exact, Hierarchic, Wildcard:
		return st, nil
	}
	return "", fmt.Errorf("unknown scope strategy %q (want one of none, exact, hierarchic, wildcard)", s)
}

// Satisfied reports whether the granted scopes satisfy required under s.
// None (and any unknown strategy) never satisfies anything: a caller that
// checks locally with None has a configuration bug and must fail closed.
// An empty required scope is never satisfied either.
func (s Strategy) Satisfied(granted []string, required string) bool {
	if required == "" {
		return false
	}
	switch s {
	case Exact:
		for _, g := range granted {
			if g == required {
				return true
			}
		}
	case Hierarchic:
		for _, g := range granted {
			if hierarchic(g, required) {
				return true
			}
		}
	case Wildcard:
		for _, g := range granted {
			if wildcard(g, required) {
				return true
			}
		}
	}
	return false
}

// hierarchic reports whether granted equals required or is a dot-separated
// ancestor of it ("a.b" covers "a.b.c" but not "a.bc" or "a"). It compares
// segment by segment, as fosite does, so degenerate scopes with empty
// segments behave the same way there and here.
func hierarchic(granted, required string) bool {
	if granted == "" || len(granted) > len(required) {
		return false
	}
	if granted == required {
		return true
	}
	gp := strings.Split(granted, ".")
	for i, r := range strings.Split(required, ".") {
		if i >= len(gp) {
			return true
		}
		if gp[i] != r {
			return false
		}
	}
	return false
}

// wildcard matches granted, whose "*" segments match any one non-empty
// segment, against required. A granted pattern shorter than required
// matches only when its last segment is "*", which then also swallows the
// remaining segments ("a.*" covers "a.b" and "a.b.c", not "a").
func wildcard(granted, required string) bool {
	if granted == "" {
		return false
	}
	gp := strings.Split(granted, ".")
	rp := strings.Split(required, ".")
	if len(gp) > len(rp) {
		return false
	}
	for i, g := range gp {
		last := i == len(gp)-1
		if last && len(gp) != len(rp) && g != "*" {
			return false
		}
		if g == "*" {
			if rp[i] == "" {
				return false
			}
			continue
		}
		if g != rp[i] {
			return false
		}
	}
	return true
}

// claimKeys are the claims a scope may arrive in, in Oathkeeper's order of
// preference.
var claimKeys = [...]string{"scp", "scope", "scopes"}

// Normalize implements Oathkeeper's scope normalisation, in place: the first
// of the claims scp, scope and scopes that is present is read (a string is
// split on spaces, an array keeps its string elements), that key is deleted
// and the result is stored as claims["scp"] ([]string, never nil). The
// other two keys, if present, are left alone, as Oathkeeper does. Empty
// entries are dropped so that "a  b" grants exactly a and b. The slice is
// also returned. A nil map yields an empty slice.
func Normalize(claims map[string]any) []string {
	out := []string{}
	if claims == nil {
		return out
	}
	var (
		v     any
		found bool
		key   string
	)
	for _, k := range claimKeys {
		if v, found = claims[k]; found {
			key = k
			break
		}
	}
	if found {
		delete(claims, key)
		out = fromValue(v, out)
	}
	claims["scp"] = out
	return out
}

func fromValue(v any, out []string) []string {
	switch x := v.(type) {
	case string:
		for _, s := range strings.Split(x, " ") {
			if s != "" {
				out = append(out, s)
			}
		}
	case []string:
		for _, s := range x {
			if s != "" {
				out = append(out, s)
			}
		}
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
