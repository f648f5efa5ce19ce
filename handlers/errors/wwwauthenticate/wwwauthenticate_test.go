package wwwauthenticate

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func build(cfg map[string]any) (pipeline.ErrorHandler, error) {
	var c Config
	if err := pipeline.MapDecoder(cfg).Decode(&c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return New(c)
}

func TestHandleErrorSendsQuotedBasicChallenge(t *testing.T) {
	tests := []struct {
		name          string
		cfg           map[string]any
		err           error
		wantChallenge string
	}{
		{"default realm", map[string]any{}, pipeline.ErrUnauthorized, `Basic realm="Please authenticate."`},
		{"configured realm", map[string]any{"realm": "Orders API (staff only)"}, pipeline.ErrUnauthorized, `Basic realm="Orders API (staff only)"`},
		{"non-ASCII realm is kept", map[string]any{"realm": "Bitte anmelden – Bestellungen"}, pipeline.ErrUnauthorized, `Basic realm="Bitte anmelden – Bestellungen"`},
		{"always 401 even for forbidden", map[string]any{}, pipeline.ErrForbidden, `Basic realm="Please authenticate."`},
		{"always 401 even for internal faults", map[string]any{}, errors.New("boom"), `Basic realm="Please authenticate."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := build(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			d, err := h.HandleError(context.Background(), &pipeline.Request{ID: "r\r\n"}, tt.err)
			if err != nil {
				t.Fatal(err)
			}
			want := pipeline.Denial{Status: 401, Body: []byte("Unauthorized"), Header: pipeline.Header{
				"www-authenticate": {tt.wantChallenge}, "content-type": {"text/plain; charset=utf-8"}, "x-content-type-options": {"nosniff"},
			}}
			if diff := cmp.Diff(want, d); diff != "" {
				t.Fatalf("denial (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name    string
		cfg     map[string]any
		wantErr string
	}{
		{name: "tab is allowed", cfg: map[string]any{"realm": "a\tb"}},
		{name: "C-14 CRLF realm rejected", cfg: map[string]any{"realm": "x\r\nSet-Cookie: a=1"}, wantErr: "realm: control character 0x0d at offset 1"},
		{name: "NUL rejected", cfg: map[string]any{"realm": "a\x00"}, wantErr: "realm: control character 0x00"},
		{name: "DEL rejected", cfg: map[string]any{"realm": "a\x7f"}, wantErr: "realm: control character 0x7f"},
		{name: "quote rejected", cfg: map[string]any{"realm": `say "hi"`}, wantErr: `realm: must not contain '"'`},
		{name: "backslash rejected", cfg: map[string]any{"realm": `a\`}, wantErr: `realm: must not contain '\\'`},
		{name: "realm must be a string", cfg: map[string]any{"realm": 1}, wantErr: "realm"},
		{name: "unknown key", cfg: map[string]any{"scheme": "Bearer"}, wantErr: `unknown field "scheme"`},
		{name: "bad when", cfg: map[string]any{"when": []any{map[string]any{"error": []any{""}}}}, wantErr: "when[0].error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(tt.cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestHandlesFollowsWhen(t *testing.T) {
	h, err := build(map[string]any{"when": []any{map[string]any{"error": []any{"unauthorized"},
		"request": map[string]any{"remote_ip": map[string]any{"match": []any{"192.0.2.0/24"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		addr string
		err  error
		want bool
	}{
		{"unauthorized from the listed network", "192.0.2.10", pipeline.ErrUnauthorized, true},
		{"unauthorized from elsewhere", "198.51.100.1", pipeline.ErrUnauthorized, false},
		{"forbidden from the listed network", "192.0.2.10", pipeline.ErrForbidden, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &pipeline.Request{Source: pipeline.Peer{Address: tt.addr}}
			if got := h.Handles(r, tt.err); got != tt.want {
				t.Fatalf("Handles = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestInternalFaultsAreNotChallenged(t *testing.T) {
	h, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	r := &pipeline.Request{Header: pipeline.Header{}}
	for _, e := range []error{pipeline.Internal("x", "", nil), pipeline.Unavailable("y", "", nil)} {
		if h.Handles(r, e) {
			t.Errorf("%v: a 5xx must not become a 401 challenge", e)
		}
	}
	if !h.Handles(r, pipeline.Unauthorized("z", "", nil)) {
		t.Error("401 not handled")
	}
}
