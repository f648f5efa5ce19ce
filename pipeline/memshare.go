package pipeline

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/portcullis-authz/portcullis/pipeline/match"
)

// compiledURL is one rule's match.url, compiled.
type compiledURL struct {
	pattern *match.Pattern
	err     error
	gap     *match.SlashGap
}

// compileURLs compiles the match.url of every spec that has one. A rule
// of prev (nil: none) with the same id and URL, compiled under the same
// strategy, lends its pattern; the others compile on every CPU, since
// regexp compilation is most of a large rule set's load time and each
// pattern is independent. The result is in spec order, so errors and
// warnings come out as the rules read.
func compileURLs(prev *Snapshot, strategy match.Strategy, specs []RuleSpec) []compiledURL {
	out := make([]compiledURL, len(specs))
	todo := make([]int, 0, len(specs))
	for i := range specs {
		m := specs[i].Match
		if m == nil || m.URL == "" {
			continue
		}
		if prev != nil && prev.strategy == strategy {
			if r := prev.byID[specs[i].ID]; r != nil && r.pattern != nil && r.pattern.String() == m.URL {
				out[i] = compiledURL{pattern: r.pattern, gap: r.slashGap}
				continue
			}
		}
		todo = append(todo, i)
	}
	// A worker per CPU, but no goroutines for a handful of rules.
	workers := min(runtime.GOMAXPROCS(0), 1+len(todo)/256)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= len(todo) {
					return
				}
				i := todo[k]
				out[i] = compileURL(strategy, specs[i].Match.URL)
			}
		})
	}
	wg.Wait()
	return out
}

func compileURL(strategy match.Strategy, url string) (u compiledURL) {
	// A matching library that panics on some pattern must cost that rule,
	// not the process: this runs on a worker goroutine, where nothing else
	// would recover it, during a reload that must leave the old rules in
	// force.
	defer func() {
		if r := recover(); r != nil {
			u = compiledURL{err: fmt.Errorf("pattern %q cannot be compiled: the matching library failed on it", url)}
		}
	}()
	p, err := match.Compile(strategy, url)
	u = compiledURL{pattern: p, err: err}
	if p != nil {
		if gap, ok := p.TrailingSlashGap(); ok {
			u.gap = &gap
		}
	}
	return u
}

// ShareHandlers makes the specs whose handler lists are equal (the same
// handlers with the same config) use one shared list, so that 100,000
// rules written with the same handlers hold one copy of their config
// rather than 100,000, and Compile builds their steps once. Call it on
// specs the caller owns, before anything else holds them; the shared
// lists must not be modified afterwards.
func ShareHandlers(specs []RuleSpec) {
	sh := sharer{lists: map[string][]HandlerSpec{}, singles: map[string]*HandlerSpec{},
		seenLists: map[listKey][]HandlerSpec{}, seenSingles: map[*HandlerSpec]*HandlerSpec{}}
	for i := range specs {
		s := &specs[i]
		s.Authenticators = sh.list("authenticators", s.Authenticators)
		s.Authorizers = sh.list("authorizers", s.Authorizers)
		s.Mutators = sh.list("mutators", s.Mutators)
		s.Errors = sh.list("errors", s.Errors)
		if s.Authorizer != nil {
			s.Authorizer = sh.single(s.Authorizer)
		}
	}
}

type sharer struct {
	lists   map[string][]HandlerSpec
	singles map[string]*HandlerSpec
	// seenLists and seenSingles map lists and authorizers met before, by
	// address, to their shared form: specs shared once (a reload reusing
	// decoded rules) are not encoded again.
	seenLists   map[listKey][]HandlerSpec
	seenSingles map[*HandlerSpec]*HandlerSpec
	// buf holds the key being written, keys the map keys being sorted
	// (a stack: nested maps push theirs above their parent's).
	buf  []byte
	keys []string
}

// key writes the key of hs under field into sh.buf: equal keys mean
// equal handlers with equal configs. ok is false for a config holding a
// value key does not know (decoded rules hold only JSON's values), which
// is then not shared; Compile reports what is wrong with it, if anything.
func (sh *sharer) key(field string, hs []HandlerSpec) bool {
	sh.buf = appendString(sh.buf[:0], field)
	for i := range hs {
		h := &hs[i]
		sh.buf = appendString(append(sh.buf, 'h'), h.Handler)
		if h.Fallthrough {
			sh.buf = append(sh.buf, 'F')
		}
		if !sh.value(h.Config) {
			return false
		}
	}
	return true
}

// value appends v to sh.buf, each kind of value tagged and each string
// and collection prefixed with its length, so that the encoding of two
// values is equal only if the values are. A nil and an empty config are
// one (neither is a config to merge).
func (sh *sharer) value(v any) bool {
	switch x := v.(type) {
	case nil:
		sh.buf = append(sh.buf, 'n')
	case bool:
		if x {
			sh.buf = append(sh.buf, 't')
		} else {
			sh.buf = append(sh.buf, 'f')
		}
	case string:
		sh.buf = appendString(append(sh.buf, 's'), x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false // not a JSON value: left to Compile
		}
		sh.buf = binary.LittleEndian.AppendUint64(append(sh.buf, 'd'), math.Float64bits(x))
	case json.Number:
		sh.buf = appendString(append(sh.buf, 'N'), string(x))
	case []any:
		sh.buf = binary.AppendUvarint(append(sh.buf, 'a'), uint64(len(x)))
		for _, e := range x {
			if !sh.value(e) {
				return false
			}
		}
	case map[string]any:
		sh.buf = binary.AppendUvarint(append(sh.buf, 'm'), uint64(len(x)))
		// Sorted, so that equal maps encode alike whatever their order.
		base := len(sh.keys)
		for k := range x {
			sh.keys = append(sh.keys, k)
		}
		keys := sh.keys[base:]
		slices.Sort(keys)
		for _, k := range keys {
			sh.buf = appendString(sh.buf, k)
			if !sh.value(x[k]) {
				sh.keys = sh.keys[:base]
				return false
			}
		}
		clear(keys) // no strings kept alive by the scratch space
		sh.keys = sh.keys[:base]
	default:
		return false
	}
	return true
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func (sh *sharer) list(field string, l []HandlerSpec) []HandlerSpec {
	if len(l) == 0 {
		return l
	}
	seen := listKey{field, &l[0], len(l)}
	if shared, ok := sh.seenLists[seen]; ok {
		return shared
	}
	shared := l
	if sh.key(field, l) {
		if s, ok := sh.lists[string(sh.buf)]; ok {
			shared = s
		} else {
			sh.lists[string(sh.buf)] = l
		}
	}
	sh.seenLists[seen] = shared
	return shared
}

func (sh *sharer) single(h *HandlerSpec) *HandlerSpec {
	if shared, ok := sh.seenSingles[h]; ok {
		return shared
	}
	shared := h
	if sh.key("authorizer", []HandlerSpec{*h}) {
		if s, ok := sh.singles[string(sh.buf)]; ok {
			shared = s
		} else {
			sh.singles[string(sh.buf)] = h
		}
	}
	sh.seenSingles[h] = shared
	return shared
}
