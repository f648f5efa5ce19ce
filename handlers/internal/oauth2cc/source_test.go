package oauth2cc

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
)

// endpoint is a loopback token endpoint.
type endpoint struct {
	*httptest.Server
	calls  atomic.Int32
	mu     sync.Mutex
	auth   string
	form   url.Values
	ctype  string
	status int
	answer string
	gate   chan struct{} // when set, answers wait for it
}

func newEndpoint(t *testing.T, status int, answer string) *endpoint {
	t.Helper()
	e := &endpoint{status: status, answer: answer}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		e.mu.Lock()
		e.auth, e.form, e.ctype = r.Header.Get("Authorization"), form, r.Header.Get("Content-Type")
		status, answer, gate := e.status, e.answer, e.gate
		e.mu.Unlock()
		if gate != nil {
			<-gate
		}
		if strings.HasPrefix(answer, "form:") {
			w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
			answer = strings.TrimPrefix(answer, "form:")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(e.Close)
	return e
}

func TestGrantSendsClientCredentialsInTheHeader(t *testing.T) {
	e := newEndpoint(t, 200, `{"access_token":"at","token_type":"bearer","expires_in":3600}`)
	s, err := New(Options{TokenURL: e.URL + "/token", Scopes: []string{"a", "b"}, Audience: "api", Retry: patient}, outbound.New(outbound.Options{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Token(context.Background(), nil, "my client", "p@ss:w rd")
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "at" || tok.TokenType != "bearer" || tok.Expiry.IsZero() {
		t.Fatalf("token = %+v", tok)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("my+client:p%40ss%3Aw+rd"))
	if e.auth != want {
		t.Fatalf("Authorization = %q, want %q", e.auth, want)
	}
	if e.ctype != "application/x-www-form-urlencoded" {
		t.Fatalf("Content-Type = %q", e.ctype)
	}
	wantForm := url.Values{"grant_type": {"client_credentials"}, "scope": {"a b"}, "audience": {"api"}}
	if e.form.Encode() != wantForm.Encode() {
		t.Fatalf("form = %v, want %v (no credentials in the body)", e.form, wantForm)
	}
}

func TestParseTokenResponse(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	tests := []struct {
		name    string
		answer  string
		want    Token
		wantErr error
	}{
		{name: "json", answer: `{"access_token":"at","token_type":"Bearer","expires_in":60}`,
			want: Token{AccessToken: "at", TokenType: "Bearer", Expiry: now.Add(time.Minute)}},
		{name: "expires_in as string", answer: `{"access_token":"at","expires_in":"60"}`, want: Token{AccessToken: "at", Expiry: now.Add(time.Minute)}},
		{name: "no expires_in", answer: `{"access_token":"at"}`, want: Token{AccessToken: "at"}},
		{name: "form body", answer: "form:access_token=at&token_type=bearer&expires_in=60",
			want: Token{AccessToken: "at", TokenType: "bearer", Expiry: now.Add(time.Minute)}},
		{name: "empty access_token", answer: `{"access_token":""}`, wantErr: ErrNoAccessToken},
		{name: "missing access_token", answer: `{"token_type":"bearer"}`, wantErr: ErrNoAccessToken},
		{name: "upper-case member is not access_token", answer: `{"ACCESS_TOKEN":"at"}`, wantErr: ErrNoAccessToken},
		{name: "duplicate access_token", answer: `{"access_token":"a","access_token":"b"}`, wantErr: ErrInvalidResponse},
		{name: "access_token of the wrong type", answer: `{"access_token":1}`, wantErr: ErrInvalidResponse},
		{name: "negative expires_in", answer: `{"access_token":"at","expires_in":-1}`, wantErr: ErrInvalidResponse},
		{name: "non-numeric expires_in", answer: `{"access_token":"at","expires_in":"soon"}`, wantErr: ErrInvalidResponse},
		{name: "not json", answer: `<html>`, wantErr: ErrInvalidResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Content-Type": {"application/json"}}
			body := tt.answer
			if strings.HasPrefix(body, "form:") {
				h.Set("Content-Type", "application/x-www-form-urlencoded")
				body = strings.TrimPrefix(body, "form:")
			}
			got, err := parseToken(&outbound.Response{StatusCode: 200, Header: h, Body: []byte(body)}, now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("token = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestGrantErrors(t *testing.T) {
	for _, status := range []int{400, 401, 404, 429, 500, 503} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			e := newEndpoint(t, status, `{"error":"x"}`)
			s, err := New(Options{TokenURL: e.URL, Retry: patient},
				outbound.New(outbound.Options{}), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Token(context.Background(), nil, "id", "s3cr3t")
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != status {
				t.Fatalf("err = %v, want status %d", err, status)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
}
