package introspection

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// The Authorization rule of package token extracts the credential: all
// of the value after the first space, untrimmed, so the endpoint is asked
// about exactly what the client sent.
func TestIntrospectionReceivesTheCredentialUnchanged(t *testing.T) {
	tests := []struct {
		name, header string
		want         string // the token form field; "" = not responsible, no call
	}{
		{name: "space inside the credential", header: "Bearer a b", want: "a b"},
		{name: "oathkeeper's example", header: "Bearer correct token", want: "correct token"},
		{name: "blank after the scheme is kept", header: "bearer  a b ", want: " a b "},
		{name: "tab is not the separator", header: "Bearer\ta b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 1)
			endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := r.ParseForm(); err != nil {
					t.Error(err)
				}
				got <- r.PostForm.Get("token")
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"active":true,"sub":"alice"}`))
			}))
			defer endpoint.Close()
			a, err := New(Config{IntrospectionURL: endpoint.URL + "/introspect"}, outbound.New(outbound.Options{}), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := &pipeline.Request{Method: "GET", Scheme: "https", Host: "api.test", Path: "/orders", RawPath: "/orders",
				Header: pipeline.Header{"authorization": {tt.header}}}
			s := &pipeline.Session{}
			err = a.Authenticate(context.Background(), r, s)
			if tt.want == "" {
				if !errors.Is(err, pipeline.ErrSkip) {
					t.Fatalf("Authenticate = %v, want not responsible", err)
				}
				if len(got) != 0 {
					t.Fatal("the introspection endpoint was called")
				}
				return
			}
			if err != nil || s.Subject != "alice" {
				t.Fatalf("Authenticate = %v (subject %q), want alice", err, s.Subject)
			}
			if tok := <-got; tok != tt.want {
				t.Fatalf("introspection endpoint received token %q, want %q", tok, tt.want)
			}
		})
	}
}
