package introspection

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/oauth2cc"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// idp is a loopback introspection endpoint: answers maps a token to the
// JSON it returns; unknown tokens are inactive.
type idp struct {
	*httptest.Server
	calls   atomic.Int32
	mu      sync.Mutex
	answers map[string]string
	status  int
	header  http.Header
	form    url.Values
	seen    http.Header
}

func newIDP(t testing.TB, answers map[string]string) *idp {
	t.Helper()
	p := &idp{answers: answers, status: 200}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		p.mu.Lock()
		p.form, p.seen = form, r.Header.Clone()
		status, header, answer := p.status, p.header, p.answers[form.Get("token")]
		p.mu.Unlock()
		if answer == "" {
			answer = `{"active":false}`
		}
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *idp) set(status int, header http.Header) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status, p.header = status, header
}

func (p *idp) last() (url.Values, http.Header) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.form, p.seen
}

// deps are the shared dependencies a test builds authenticators with.
type deps struct {
	client *outbound.Client
	cache  *Cache
	tokens *oauth2cc.Cache
	now    time.Time
}

func newDeps() *deps {
	return &deps{client: outbound.New(outbound.Options{}), cache: NewCache(remotecall.CacheOptions{}),
		tokens: oauth2cc.NewCache(remotecall.CacheOptions{}), now: time.Now()}
}

// build decodes raw strictly, as the registry does, and builds an
// authenticator whose clock is d.now. A config that bounds the call
// neither with timeout nor with retry.give_up_after gets a timeout of a
// minute rather than the default 150ms: only a test about the deadline
// sets one, and no other outcome may depend on how busy the machine is.
func (d *deps) build(t testing.TB, raw map[string]any) (*Authenticator, error) {
	t.Helper()
	retry, _ := raw["retry"].(map[string]any)
	if _, ok := raw["timeout"]; !ok && retry["give_up_after"] == nil {
		raw = maps.Clone(raw)
		if raw == nil {
			raw = map[string]any{}
		}
		raw["timeout"] = "1m"
	}
	var c Config
	if err := pipeline.MapDecoder(raw).Decode(&c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	a, err := New(c, d.client, d.cache, d.tokens)
	if err != nil {
		return nil, err
	}
	au := a.(*Authenticator)
	au.now = func() time.Time { return d.now }
	return au, nil
}

func bearer(tok string) *pipeline.Request {
	return &pipeline.Request{Method: "GET", Scheme: "https", Host: "api.test", Path: "/x", RawPath: "/x",
		Header: pipeline.Header{"authorization": {"Bearer " + tok}}}
}
