package bearertoken

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// The Authorization rule of package token decides whether the handler is
// responsible; the session store then receives the client's header as
// sent, so a credential with spaces inside reaches it unchanged.
func TestSessionStoreReceivesTheCredentialUnchanged(t *testing.T) {
	tests := []struct {
		name, header, prefix string
		want                 string // Authorization the store receives; "" = not responsible, no call
	}{
		{name: "space inside the credential", header: "Bearer a b", want: "Bearer a b"},
		{name: "oathkeeper's example", header: "Bearer correct token", want: "Bearer correct token"},
		{name: "two spaces inside", header: "bearer a  b", want: "bearer a  b"},
		{name: "prefix matched against the untrimmed credential", header: "Bearer pfx b", prefix: "pfx ", want: "Bearer pfx b"},
		{name: "blank after the scheme belongs to the credential", header: "Bearer  pfx", prefix: "pfx"},
		{name: "tab is not the separator", header: "Bearer\ta"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 1)
			store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got <- r.Header.Get("Authorization")
				w.Write([]byte(`{"sub":"alice"}`))
			}))
			defer store.Close()
			a, err := New(Config{CheckSessionURL: store.URL + "/sessions/whoami", Prefix: tt.prefix, Timeout: pipeline.Duration(time.Minute)},
				outbound.New(outbound.Options{}), nil)
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
					t.Fatal("the session store was called")
				}
				return
			}
			if err != nil || s.Subject != "alice" {
				t.Fatalf("Authenticate = %v (subject %q), want alice", err, s.Subject)
			}
			if h := <-got; h != tt.want {
				t.Fatalf("session store received Authorization %q, want %q", h, tt.want)
			}
		})
	}
}
