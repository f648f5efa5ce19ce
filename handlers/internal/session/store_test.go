package session

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// store is a loopback session store that records what it was asked.
type store struct {
	*httptest.Server
	mu     sync.Mutex
	calls  int
	last   *http.Request
	body   string
	status int
	answer string
	header http.Header
}

func newStore(t *testing.T, status int, answer string) *store {
	t.Helper()
	s := &store{status: status, answer: answer}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.calls++
		s.last, s.body = r.Clone(r.Context()), string(b)
		status, answer, header := s.status, s.answer, s.header
		s.mu.Unlock()
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *store) set(status int, answer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.answer = status, answer
}

func (s *store) seen() (int, *http.Request, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, s.last, s.body
}

// request returns a check for GET https://api.test/orders/1?page=2.
func request(h pipeline.Header) *pipeline.Request {
	if h == nil {
		h = pipeline.Header{}
	}
	return &pipeline.Request{Method: http.MethodGet, Scheme: "https", Host: "api.test",
		RawPath: "/orders/1", Path: "/orders/1", RawQuery: "page=2", Header: h, Body: []byte("request body")}
}
