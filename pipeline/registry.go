package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Kind is the role of a handler in the pipeline.
type Kind int

// The four handler kinds, in pipeline order.
const (
	KindAuthenticator Kind = iota
	KindAuthorizer
	KindMutator
	KindErrorHandler
	numKinds
)

// String returns the config section of the kind ("authenticators", ...).
func (k Kind) String() string {
	switch k {
	case KindAuthenticator:
		return "authenticators"
	case KindAuthorizer:
		return "authorizers"
	case KindMutator:
		return "mutators"
	case KindErrorHandler:
		return "errors"
	}
	return "unknown"
}

// Decoder decodes one handler's merged config into a typed value. Decoding
// is strict: an unknown key is an error.
type Decoder interface {
	Decode(dst any) error
}

// validator is implemented by handler configs that check themselves after
// decoding (defaults, ranges, required keys).
type validator interface{ Validate() error }

type factory func(d Decoder) (any, error)

// Registry holds the handler factories by kind and name. It is filled once at
// start-up (handlers/builtin) and only read afterwards.
type Registry struct {
	factories [numKinds]map[string]factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{}
	for i := range r.factories {
		r.factories[i] = map[string]factory{}
	}
	return r
}

func register[C any, H any](r *Registry, k Kind, name string, build func(C) (H, error)) {
	if _, dup := r.factories[k][name]; dup {
		panic(fmt.Sprintf("pipeline: %s handler %q registered twice", k, name))
	}
	r.factories[k][name] = func(d Decoder) (any, error) {
		var c C
		if err := d.Decode(&c); err != nil {
			return nil, err
		}
		if v, ok := any(&c).(validator); ok {
			if err := v.Validate(); err != nil {
				return nil, err
			}
		}
		return build(c)
	}
}

// RegisterAuthenticator adds an authenticator factory. The config is decoded
// strictly into C; if *C has a Validate() error method it runs before build.
// A duplicate name panics: that is a programmer error.
func RegisterAuthenticator[C any](r *Registry, name string, build func(C) (Authenticator, error)) {
	register(r, KindAuthenticator, name, build)
}

// RegisterAuthorizer adds an authorizer factory (see RegisterAuthenticator).
func RegisterAuthorizer[C any](r *Registry, name string, build func(C) (Authorizer, error)) {
	register(r, KindAuthorizer, name, build)
}

// RegisterMutator adds a mutator factory (see RegisterAuthenticator).
func RegisterMutator[C any](r *Registry, name string, build func(C) (Mutator, error)) {
	register(r, KindMutator, name, build)
}

// RegisterErrorHandler adds an error handler factory (see
// RegisterAuthenticator).
func RegisterErrorHandler[C any](r *Registry, name string, build func(C) (ErrorHandler, error)) {
	register(r, KindErrorHandler, name, build)
}

// Names returns the registered names of a kind, sorted.
func (r *Registry) Names(k Kind) []string {
	names := make([]string, 0, len(r.factories[k]))
	for n := range r.factories[k] {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Has reports whether a handler of kind k is registered under name.
func (r *Registry) Has(k Kind, name string) bool {
	_, ok := r.factories[k][name]
	return ok
}

// build instantiates handler name of kind k from config.
func (r *Registry) build(k Kind, name string, config map[string]any) (any, error) {
	f, ok := r.factories[k][name]
	if !ok {
		if oathkeeperOnly[k][name] {
			return nil, fmt.Errorf("handler %q is not implemented yet", name)
		}
		return nil, fmt.Errorf("unknown handler %q%s (known: %s)", name, DidYouMean(name, r.Names(k)), strings.Join(r.Names(k), ", "))
	}
	return f(MapDecoder(config))
}

// oathkeeperOnly lists Oathkeeper's handler names, so a missing one is
// reported as "not implemented yet" rather than unknown.
var oathkeeperOnly = [numKinds]map[string]bool{
	KindAuthenticator: {"anonymous": true, "cookie_session": true, "bearer_token": true, "jwt": true, "noop": true,
		"oauth2_client_credentials": true, "oauth2_introspection": true, "unauthorized": true},
	KindAuthorizer:   {"allow": true, "deny": true, "keto_engine_acp_ory": true, "remote": true, "remote_json": true},
	KindMutator:      {"cookie": true, "header": true, "id_token": true, "noop": true, "hydrator": true},
	KindErrorHandler: {"json": true, "redirect": true, "www_authenticate": true},
}

// MapDecoder returns a Decoder over a decoded JSON/YAML object. It goes
// through encoding/json so handler configs use json tags, and it rejects
// unknown keys.
func MapDecoder(m map[string]any) Decoder { return mapDecoder{m} }

type mapDecoder struct{ m map[string]any }

func (d mapDecoder) Decode(dst any) error {
	if d.m == nil {
		d.m = map[string]any{}
	}
	raw, err := json.Marshal(d.m)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	// Every unknown key at once, with its path and a did-you-mean;
	// encoding/json would stop at the first and not say where it is. The
	// walk reads the JSON form, so Go-built maps ([]string, ...) count too.
	var doc any
	if err := json.Unmarshal(raw, &doc); err == nil {
		if err := UnknownFieldsError(UnknownFields(doc, reflect.TypeOf(dst))); err != nil {
			return err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return JSONDecodeError(err)
	}
	return nil
}
