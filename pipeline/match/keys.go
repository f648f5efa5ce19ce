package match

import "strings"

// indexKey is one bucket a pattern is filed under: every string the
// pattern matches, split like a request (splitAuthority), has this host,
// and the rest starts with pathLit.
type indexKey struct {
	host, pathLit string
}

// maxKeys bounds the buckets of one pattern.
const maxKeys = 64

// indexKeys returns the buckets of p, or ok false when the Index must
// always try p. Three shapes are bucketed:
//
//   - a literal "scheme://host/" prefix (anchored): one key;
//   - "<...>" parts before the end of the authority that are finite sets
//     of literals ("<http|https>://host/", "https://<api|www>.test/"):
//     each combination of alternatives spells a literal prefix, and each
//     prefix gives a key;
//   - a scheme made of literals and "<...>" parts none of which can
//     match ':' (or none '/'), followed by a literal "://host/"
//     ("<[a-z]+>://host/"): the request's scheme is then exactly that
//     part, whatever it matched, so the host is known.
//
// A pattern whose keys share a host but not a literal path prefix is
// left unbucketed: a request could reach it twice. Patterns run by the
// backtracking engine keep only the first shape: the analysis of parts
// follows Go's regexp syntax.
func (p *Pattern) indexKeys() ([]indexKey, bool) {
	if p.anchored {
		return []indexKey{{host: p.host(), pathLit: p.prefix()[p.authorityLen():]}}, true
	}
	if _, ok := p.m.(*backtrackMatcher); ok {
		return nil, false
	}
	var lits []string
	var parts []*partInfo
	if m, ok := p.m.(*partsMatcher); ok {
		lits, parts = m.template() // already analysed
	} else {
		t, err := parseTemplate(p.Canonical())
		if err != nil {
			return nil, false
		}
		lits, parts = t.within(p.Canonical()).lits, make([]*partInfo, len(t.vars))
		for i, v := range t.vars {
			parts[i] = analysePart(p.strategy(), v)
		}
	}
	keys, ok := finiteKeys(lits, parts)
	if !ok {
		keys, ok = schemeKeys(lits, parts)
	}
	if !ok {
		return nil, false
	}
	// One key per host, or the host's pathIndex would visit the pattern twice.
	out := keys[:0]
	for _, k := range keys {
		dup := false
		for _, o := range out {
			if o.host == k.host {
				if o.pathLit != k.pathLit {
					return nil, false
				}
				dup = true
			}
		}
		if !dup {
			out = append(out, k)
		}
	}
	return out, true
}

// finiteKeys expands the finite parts of t from the left until each
// literal prefix is anchored.
func finiteKeys(lits []string, parts []*partInfo) ([]indexKey, bool) {
	keys := make([]indexKey, 0, 2) // "<http|https>"
	var expand func(prefix string, i int) bool
	expand = func(prefix string, i int) bool {
		if scheme, host, ok := splitAuthority(prefix, i == len(parts)); ok {
			if len(keys) == maxKeys {
				return false
			}
			lit := prefix[len(scheme)+len("://")+len(host):]
			if last := lits[i]; len(lit) <= len(last) {
				lit = last[len(last)-len(lit):] // keep the pattern's copy
			}
			keys = append(keys, indexKey{host: host, pathLit: lit})
			return true
		}
		if i == len(parts) || parts[i].alts == nil {
			return false
		}
		for _, a := range parts[i].alts {
			if !expand(prefix+a+lits[i+1], i+1) {
				return false
			}
		}
		return true
	}
	return keys, expand(lits[0], 0)
}

// schemeKeys files a pattern whose scheme has parts under its literal
// host. The request's scheme is the text before the first "://" of its
// match string; when the pattern's scheme text X cannot hold ':' (or
// cannot hold '/'), no "://" starts inside X, so the request's host is
// the literal after the pattern's "://".
func schemeKeys(lits []string, parts []*partInfo) ([]indexKey, bool) {
	k, off := -1, -1
	for i, l := range lits {
		if off = strings.Index(l, "://"); off >= 0 {
			k = i
			break
		}
	}
	if k <= 0 {
		return nil, false // no scheme, or a literal one
	}
	rest := lits[k][off+len("://"):]
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		if k != len(parts) {
			return nil, false // the host runs into a part
		}
		slash = len(rest)
	}
	noColon, noSlash := true, true
	lit := func(l string) {
		noColon = noColon && !strings.Contains(l, ":")
		noSlash = noSlash && !strings.Contains(l, "/")
	}
	for i := range k {
		lit(lits[i])
		noColon, noSlash = noColon && parts[i].noColon, noSlash && parts[i].noSlash
	}
	lit(lits[k][:off])
	if !noColon && !noSlash {
		return nil, false
	}
	return []indexKey{{host: rest[:slash], pathLit: rest[slash:]}}, true
}
