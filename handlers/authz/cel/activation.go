package cel

import (
	"reflect"
	"strings"
	"sync"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// activation binds the CEL variables to one request. It is pooled and
// lazy: nothing is converted until the expression reads it, and each
// variable is converted at most once per evaluation, so `subject ==
// "alice"` never touches the headers.
type activation struct {
	adapter  types.Adapter
	s        *pipeline.Session
	req      lazyMap
	reqSrc   requestSource
	subject  ref.Val
	extra    ref.Val
	captures ref.Val
}

var activationPool = sync.Pool{New: func() any { return new(activation) }}

func getActivation(adapter types.Adapter, r *pipeline.Request, s *pipeline.Session) *activation {
	a := activationPool.Get().(*activation)
	a.adapter, a.s = adapter, s
	a.reqSrc = requestSource{r: r, adapter: adapter}
	a.reqSrc.hdrSrc.h = r.Header
	a.reqSrc.headers = lazyMap{adapter: adapter, src: &a.reqSrc.hdrSrc}
	a.req = lazyMap{adapter: adapter, src: &a.reqSrc}
	return a
}

// release drops every reference to the request before pooling.
func (a *activation) release() {
	*a = activation{}
	activationPool.Put(a)
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "request":
		return &a.req, true
	case "subject":
		if a.subject == nil {
			a.subject = types.String(a.s.Subject)
		}
		return a.subject, true
	case "extra":
		if a.extra == nil {
			a.extra = types.NewStringInterfaceMap(a.adapter, a.s.Extra)
		}
		return a.extra, true
	case "captures":
		if a.captures == nil {
			a.captures = types.NewStringList(a.adapter, a.s.MatchContext.RegexpCaptureGroups)
		}
		return a.captures, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// mapSource supplies the entries of a lazyMap.
type mapSource interface {
	lookup(key string) (ref.Val, bool)
	size() int
	each(f func(key string, v ref.Val))
}

// requestKeys are the fields of the request variable.
var requestKeys = [...]string{"method", "scheme", "host", "path", "query", "headers", "context_extensions", "peer"}

// requestSource is the request variable: method, scheme, host, path,
// query (map of lists), headers (lower-case names, values joined with
// ","), context_extensions and peer {principal, address}.
type requestSource struct {
	r       *pipeline.Request
	adapter types.Adapter
	headers lazyMap
	hdrSrc  headerSource
	query   ref.Val
}

func (q *requestSource) lookup(key string) (ref.Val, bool) {
	r := q.r
	switch key {
	case "method":
		return types.String(r.Method), true
	case "scheme":
		return types.String(r.Scheme), true
	case "host":
		return types.String(r.Host), true
	case "path":
		if r.Path != "" {
			return types.String(r.Path), true
		}
		return types.String(r.RawPath), true
	case "query":
		if q.query == nil {
			vals := r.Query()
			m := make(map[ref.Val]ref.Val, len(vals))
			for k, v := range vals {
				m[types.String(k)] = types.NewStringList(q.adapter, v)
			}
			q.query = types.NewRefValMap(q.adapter, m)
		}
		return q.query, true
	case "headers":
		return &q.headers, true
	case "context_extensions":
		return types.NewStringStringMap(q.adapter, r.Context), true
	case "peer":
		return types.NewStringStringMap(q.adapter, map[string]string{
			"principal": r.Source.Principal, "address": r.Source.Address}), true
	}
	return nil, false
}

func (q *requestSource) size() int { return len(requestKeys) }

func (q *requestSource) each(f func(string, ref.Val)) {
	for _, k := range requestKeys {
		v, _ := q.lookup(k)
		f(k, v)
	}
}

// headerSource is request.headers. Lookups ignore case, as HTTP does, so a
// policy such as !("X-Debug" in request.headers) cannot be dodged by
// spelling.
type headerSource struct{ h pipeline.Header }

func (hs *headerSource) lookup(key string) (ref.Val, bool) {
	v, ok := hs.h[strings.ToLower(key)]
	if !ok {
		return nil, false
	}
	if len(v) == 1 {
		return types.String(v[0]), true
	}
	// Envoy joins repeated headers with a bare comma; do the same for
	// front doors that keep them apart.
	return types.String(strings.Join(v, ",")), true
}

func (hs *headerSource) size() int { return len(hs.h) }

func (hs *headerSource) each(f func(string, ref.Val)) {
	for k := range hs.h {
		v, _ := hs.lookup(k)
		f(k, v)
	}
}

// lazyMap is a read-only CEL map(string, dyn) over a mapSource. Lookups go
// straight to the source; iteration, equality and conversion, which need
// every entry, work on a copy built on first use.
type lazyMap struct {
	adapter types.Adapter
	src     mapSource
	full    traits.Mapper
}

func (m *lazyMap) materialize() traits.Mapper {
	if m.full == nil {
		all := make(map[ref.Val]ref.Val, m.src.size())
		m.src.each(func(k string, v ref.Val) { all[types.String(k)] = v })
		m.full = types.NewRefValMap(m.adapter, all)
	}
	return m.full
}

// Find implements traits.Mapper.
func (m *lazyMap) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	return m.src.lookup(string(k))
}

// Get implements traits.Indexer.
func (m *lazyMap) Get(key ref.Val) ref.Val {
	if v, ok := m.Find(key); ok {
		return v
	}
	return types.NewErr("no such key")
}

// Contains implements traits.Container.
func (m *lazyMap) Contains(key ref.Val) ref.Val {
	_, ok := m.Find(key)
	return types.Bool(ok)
}

// Size implements traits.Sizer.
func (m *lazyMap) Size() ref.Val { return types.Int(m.src.size()) }

// Iterator implements traits.Iterable.
func (m *lazyMap) Iterator() traits.Iterator { return m.materialize().Iterator() }

// ConvertToNative implements ref.Val.
func (m *lazyMap) ConvertToNative(t reflect.Type) (any, error) {
	return m.materialize().ConvertToNative(t)
}

// ConvertToType implements ref.Val.
func (m *lazyMap) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return m
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from map to '%s'", t.TypeName())
}

// Equal implements ref.Val.
func (m *lazyMap) Equal(other ref.Val) ref.Val { return m.materialize().Equal(other) }

// Type implements ref.Val.
func (m *lazyMap) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (m *lazyMap) Value() any { return m.materialize().Value() }

var _ traits.Mapper = (*lazyMap)(nil)
