package examples_test

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
)

// The nginx and Caddy examples run in real proxies (e2e, build tags nginx
// and caddy). Traefik cannot be built from the module proxy, so its
// example is checked here: decoded strictly into the fields of Traefik's
// file-provider schema it uses, and its wiring checked.

// traefikStatic is the part of Traefik's static configuration the example
// uses.
type traefikStatic struct {
	EntryPoints map[string]struct {
		Address string `json:"address"`
	} `json:"entryPoints"`
	Providers struct {
		File struct {
			Filename string `json:"filename"`
		} `json:"file"`
	} `json:"providers"`
	Log struct {
		Level string `json:"level"`
	} `json:"log"`
}

// traefikDynamic is the part of Traefik's dynamic (file provider)
// configuration the example uses.
type traefikDynamic struct {
	HTTP struct {
		Routers map[string]struct {
			EntryPoints []string `json:"entryPoints"`
			Rule        string   `json:"rule"`
			Middlewares []string `json:"middlewares"`
			Service     string   `json:"service"`
		} `json:"routers"`
		Middlewares map[string]struct {
			Headers *struct {
				CustomRequestHeaders map[string]string `json:"customRequestHeaders"`
			} `json:"headers"`
			ForwardAuth *struct {
				Address             string   `json:"address"`
				TrustForwardHeader  *bool    `json:"trustForwardHeader"`
				AuthResponseHeaders []string `json:"authResponseHeaders"`
			} `json:"forwardAuth"`
		} `json:"middlewares"`
		Services map[string]struct {
			LoadBalancer struct {
				Servers []struct {
					URL string `json:"url"`
				} `json:"servers"`
			} `json:"loadBalancer"`
		} `json:"services"`
	} `json:"http"`
}

// TestTraefikForwardAuthExample checks that every router reaches the app
// only through the portcullis forwardAuth middleware, that the middleware
// asks /decisions on the API's default port without trusting the client's
// X-Forwarded-*, and that the client's other statements of the request
// (which Traefik does not set) are dropped first.
func TestTraefikForwardAuthExample(t *testing.T) {
	var static traefikStatic
	raw, err := os.ReadFile("traefik/traefik.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeStrict(raw, &static); err != nil {
		t.Fatalf("traefik/traefik.yml: %v", err)
	}
	// The provider path is relative to the repository root, where the
	// example says to run Traefik.
	if got := filepath.Clean(static.Providers.File.Filename); got != filepath.Join("examples", "traefik", "dynamic.yml") {
		t.Fatalf("providers.file.filename %q, want examples/traefik/dynamic.yml", got)
	}
	var dyn traefikDynamic
	if raw, err = os.ReadFile("traefik/dynamic.yml"); err != nil {
		t.Fatal(err)
	}
	if err := decodeStrict(raw, &dyn); err != nil {
		t.Fatalf("traefik/dynamic.yml: %v", err)
	}

	defaults, _, err := config.Load("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// What Traefik's forwardAuth sets itself; the rest of what /decisions
	// reads must not come from the client.
	traefikSets := []string{authz.HeaderXForwardedMethod, authz.HeaderXForwardedProto, authz.HeaderXForwardedHost, authz.HeaderXForwardedURI}
	var mustDrop []string
	for _, h := range authz.DefaultForwardedHeaders() {
		if !slices.Contains(traefikSets, h) {
			mustDrop = append(mustDrop, h)
		}
	}

	routes := dyn.HTTP
	if len(routes.Routers) == 0 {
		t.Fatal("no routers")
	}
	for name, r := range routes.Routers {
		for _, ep := range r.EntryPoints {
			if _, ok := static.EntryPoints[ep]; !ok {
				t.Errorf("router %s: no entry point %q", name, ep)
			}
		}
		if _, ok := routes.Services[r.Service]; !ok {
			t.Errorf("router %s: no service %q", name, r.Service)
		}
		auth, dropped := -1, false
		for i, m := range r.Middlewares {
			mw, ok := routes.Middlewares[m]
			switch {
			case !ok:
				t.Errorf("router %s: no middleware %q", name, m)
			case mw.ForwardAuth != nil:
				auth = i
				fa := mw.ForwardAuth
				u, err := url.Parse(fa.Address)
				if err != nil || u.Path != authz.DecisionsPath || u.Port() != strconv.Itoa(defaults.Serve.API.Port) {
					t.Errorf("middleware %s: address %q, want http://<portcullis>:%d%s", m, fa.Address, defaults.Serve.API.Port, authz.DecisionsPath)
				}
				if fa.TrustForwardHeader == nil || *fa.TrustForwardHeader {
					t.Errorf("middleware %s: trustForwardHeader must be false (stated)", m)
				}
				if !slices.Contains(fa.AuthResponseHeaders, "X-User") {
					t.Errorf("middleware %s: authResponseHeaders %q lack X-User, which the rules set", m, fa.AuthResponseHeaders)
				}
			case mw.Headers != nil && auth < 0:
				dropped = true
				for _, h := range mustDrop {
					// An empty value removes the header.
					if v, ok := mw.Headers.CustomRequestHeaders[h]; !ok || v != "" {
						dropped = false
					}
				}
			}
		}
		if auth < 0 {
			t.Errorf("router %s reaches the app without forwardAuth", name)
		}
		if !dropped {
			t.Errorf("router %s: no headers middleware before forwardAuth removes %q", name, mustDrop)
		}
	}
	for name, s := range routes.Services {
		if len(s.LoadBalancer.Servers) == 0 {
			t.Errorf("service %s: no servers", name)
		}
	}
}
