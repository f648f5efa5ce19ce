package outbound

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

type ctxKey struct{}

// recordingObserver writes down each call's host, status and error class,
// and tags the context it hands on.
type recordingObserver struct {
	name string
	mu   *sync.Mutex
	log  *[]string
}

func (o recordingObserver) StartCall(ctx context.Context, req *http.Request) (context.Context, func(int, error)) {
	prev, _ := ctx.Value(ctxKey{}).(string)
	o.mu.Lock()
	*o.log = append(*o.log, fmt.Sprintf("start %s %s after %q", o.name, req.URL.Path, prev))
	o.mu.Unlock()
	return context.WithValue(ctx, ctxKey{}, o.name), func(status int, err error) {
		o.mu.Lock()
		defer o.mu.Unlock()
		*o.log = append(*o.log, fmt.Sprintf("done %s %d %v", o.name, status, err != nil))
	}
}

// Observers see every call with its status, or its error when no answer
// came; the second sees the first's context, and they finish innermost
// first. The call itself runs with the last observer's context.
func TestObserversSeeEveryCall(t *testing.T) {
	var sawCtx string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
		case "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}
	}))
	defer srv.Close()
	var mu sync.Mutex
	var log []string
	c := New(Options{Timeout: time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sawCtx, _ = r.Context().Value(ctxKey{}).(string)
		return http.DefaultTransport.RoundTrip(r)
	})})
	c.Observe(recordingObserver{"a", &mu, &log})
	c.Observe(nil)
	c.Observe(recordingObserver{"b", &mu, &log})

	for _, p := range []string{"/ok", "/missing", "/moved"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+p, nil)
		_, _ = c.Do(context.Background(), req, nil)
	}
	want := []string{
		`start a /ok after ""`, `start b /ok after "a"`, "done b 200 false", "done a 200 false",
		`start a /missing after ""`, `start b /missing after "a"`, "done b 404 false", "done a 404 false",
		`start a /moved after ""`, `start b /moved after "a"`, "done b 0 true", "done a 0 true",
	}
	if fmt.Sprint(log) != fmt.Sprint(want) {
		t.Fatalf("calls:\n%q\nwant:\n%q", log, want)
	}
	if sawCtx != "b" {
		t.Errorf("call sent with context of %q, want the last observer's", sawCtx)
	}

	// A refused connection is reported as an error without a status.
	log = nil
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/down", nil)
	if _, err := c.Do(context.Background(), req, nil); err == nil {
		t.Fatal("call to a closed port succeeded")
	}
	if len(log) != 4 || log[3] != "done a 0 true" {
		t.Errorf("refused call: %q", log)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
