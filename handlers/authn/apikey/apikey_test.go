package apikey

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// The secrets whose digests are in testdata.
const (
	ciKey  = "pk_ci_6f1d2a9c4e8b7a3f5d0c1b2e9a8f7d6c"
	opsKey = "pk_ops_0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	svcKey = "pk_svc_ffeeddccbbaa99887766554433221100"
)

func newAuthenticator(t testing.TB, c Config) pipeline.Authenticator {
	t.Helper()
	a, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAuthenticate(t *testing.T) {
	yamlKeys := "testdata/keys.yaml"
	tests := []struct {
		name      string
		config    Config
		header    pipeline.Header
		query     string
		status    int
		id        string
		skip      bool
		wantSub   string
		wantExtra map[string]any
	}{
		{name: "default header", config: Config{KeysFile: yamlKeys}, header: pipeline.Header{"x-api-key": {ciKey}},
			status: 200, wantSub: "ci@example.test",
			wantExtra: map[string]any{"api_key_id": "ci-deploy", "scopes": []any{"deploy"}, "team": "platform"}},
		{name: "upper-case hash in the file", config: Config{KeysFile: yamlKeys}, header: pipeline.Header{"x-api-key": {opsKey}},
			status: 200, wantSub: "ops@example.test", wantExtra: map[string]any{"api_key_id": "ops-console"}},
		{name: "JSON keys file", config: Config{KeysFile: "testdata/keys.json"}, header: pipeline.Header{"x-api-key": {svcKey}},
			status: 200, wantSub: "billing", wantExtra: map[string]any{"api_key_id": "svc-billing", "tier": float64(2)}},
		{name: "custom header", config: Config{KeysFile: yamlKeys, In: &In{Header: "X-Token"}}, header: pipeline.Header{"x-token": {ciKey}}, status: 200, wantSub: "ci@example.test"},
		{name: "prefix in Authorization", config: Config{KeysFile: yamlKeys, In: &In{Header: "Authorization"}, Prefix: "ApiKey "},
			header: pipeline.Header{"authorization": {"apikey " + ciKey}}, status: 200, wantSub: "ci@example.test"},
		{name: "other scheme in Authorization is not ours", config: Config{KeysFile: yamlKeys, In: &In{Header: "Authorization"}, Prefix: "ApiKey "},
			header: pipeline.Header{"authorization": {"Bearer " + ciKey}}, status: 401, id: "api_key_missing", skip: true},
		{name: "query parameter", config: Config{KeysFile: yamlKeys, In: &In{QueryParameter: "api_key"}}, query: "a=1&api_key=" + ciKey, status: 200, wantSub: "ci@example.test"},
		{name: "cookie", config: Config{KeysFile: yamlKeys, In: &In{Cookie: "key"}},
			header: pipeline.Header{"cookie": {"theme=dark; key=" + ciKey}}, status: 200, wantSub: "ci@example.test"},
		{name: "absent header", config: Config{KeysFile: yamlKeys}, header: pipeline.Header{}, status: 401, id: "api_key_missing", skip: true},
		{name: "empty header", config: Config{KeysFile: yamlKeys}, header: pipeline.Header{"x-api-key": {""}}, status: 401, id: "api_key_missing", skip: true},
		{name: "absent query parameter", config: Config{KeysFile: yamlKeys, In: &In{QueryParameter: "api_key"}}, query: "a=1", status: 401, id: "api_key_missing", skip: true},
		{name: "absent cookie", config: Config{KeysFile: yamlKeys, In: &In{Cookie: "key"}}, header: pipeline.Header{"cookie": {"theme=dark"}}, status: 401, id: "api_key_missing", skip: true},
		{name: "unknown key", config: Config{KeysFile: yamlKeys}, header: pipeline.Header{"x-api-key": {"pk_guess"}}, status: 401, id: "api_key_invalid"},
		{name: "the hash itself is not a key", config: Config{KeysFile: yamlKeys},
			header: pipeline.Header{"x-api-key": {"sha256:c25121b0c16aacf78b3ecb0fbc72ba3b036b0484bbf1d70c3ef61bf06bca306b"}}, status: 401, id: "api_key_invalid"},
		{name: "oversized key", config: Config{KeysFile: yamlKeys}, header: pipeline.Header{"x-api-key": {strings.Repeat("k", maxKeyBytes+1)}}, status: 401, id: "api_key_invalid"},
		{name: "repeated header", config: Config{KeysFile: yamlKeys}, header: pipeline.Header{"x-api-key": {ciKey, "junk"}}, status: 401, id: "api_key_ambiguous"},
		{name: "header joined by Envoy", config: Config{KeysFile: yamlKeys}, header: pipeline.Header{"x-api-key": {ciKey + ",junk"}}, status: 401, id: "api_key_ambiguous"},
		{name: "second credential after ours in Authorization", config: Config{KeysFile: yamlKeys, In: &In{Header: "Authorization"}, Prefix: "ApiKey "},
			header: pipeline.Header{"authorization": {"Bearer x,ApiKey " + ciKey}}, status: 401, id: "api_key_ambiguous"},
		{name: "joined values none of ours", config: Config{KeysFile: yamlKeys, In: &In{Header: "Authorization"}, Prefix: "ApiKey "},
			header: pipeline.Header{"authorization": {"Bearer x,Basic y"}}, status: 401, id: "api_key_missing", skip: true},
		{name: "repeated query parameter", config: Config{KeysFile: yamlKeys, In: &In{QueryParameter: "api_key"}}, query: "api_key=" + ciKey + "&api_key=x", status: 401, id: "api_key_ambiguous"},
		{name: "repeated cookie", config: Config{KeysFile: yamlKeys, In: &In{Cookie: "key"}},
			header: pipeline.Header{"cookie": {"key=" + ciKey, "key=junk"}}, status: 401, id: "api_key_ambiguous"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &pipeline.Request{Header: tt.header, RawQuery: tt.query}
			s := &pipeline.Session{}
			err := newAuthenticator(t, tt.config).Authenticate(context.Background(), r, s)
			if pipeline.StatusOf(err) != tt.status || pipeline.ReasonOf(err, "") != tt.id {
				t.Fatalf("err = %v, want %d %q", err, tt.status, tt.id)
			}
			if errors.Is(err, pipeline.ErrSkip) != tt.skip {
				t.Errorf("errors.Is(err, ErrSkip) = %v, want %v", !tt.skip, tt.skip)
			}
			for _, secret := range []string{ciKey, opsKey, "pk_guess"} {
				if err != nil && strings.Contains(err.Error(), secret) {
					t.Errorf("error contains the key: %v", err)
				}
			}
			if s.Subject != tt.wantSub {
				t.Errorf("subject = %q, want %q", s.Subject, tt.wantSub)
			}
			if tt.wantExtra != nil {
				if d := cmp.Diff(tt.wantExtra, s.Extra); d != "" {
					t.Errorf("extra (-want +got):\n%s", d)
				}
			}
		})
	}
}

func TestExtraIsPerRequest(t *testing.T) {
	a := newAuthenticator(t, Config{KeysFile: "testdata/keys.yaml"})
	r := &pipeline.Request{Header: pipeline.Header{"x-api-key": {ciKey}}}
	s1 := &pipeline.Session{}
	if err := a.Authenticate(context.Background(), r, s1); err != nil {
		t.Fatal(err)
	}
	s1.Extra["team"] = "changed"
	s2 := &pipeline.Session{}
	if err := a.Authenticate(context.Background(), r, s2); err != nil {
		t.Fatal(err)
	}
	if s2.Extra["team"] != "platform" {
		t.Errorf("a session changed the loaded key: %v", s2.Extra)
	}
}

func TestKeysFileErrorsNameFileAndEntry(t *testing.T) {
	tests := []struct{ file, wantErr string }{
		{"testdata/missing.yaml", `keys_file "testdata/missing.yaml": no such file or directory`},
		{"testdata/bad-plaintext.yaml", `keys_file "testdata/bad-plaintext.yaml": keys[1]: unknown field "key"`},
		{"testdata/bad-hash.yaml", `keys_file "testdata/bad-hash.yaml": keys[1] (id "md5"): hash: want "sha256:" followed by 64 hex digits`},
		{"testdata/bad-duplicate-id.yaml", `keys[1] (id "a"): id: duplicate of keys[0]`},
		{"testdata/bad-duplicate-hash.json", `keys[1] (id "b"): hash: same key as id "a"`},
		{"testdata/bad-duplicate-yaml-key.yaml", `key "subject" already set in map`},
		{"testdata/bad-no-subject.yaml", `keys[0] (id "a"): subject: required`},
		{"testdata/bad-empty.yaml", `keys_file "testdata/bad-empty.yaml": no keys`},
		{"testdata/bad-not-a-list.yaml", `keys_file "testdata/bad-not-a-list.yaml": want a list of keys`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := New(Config{KeysFile: tt.file})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), ciKey) || strings.Contains(err.Error(), "c25121b0c16a") {
				t.Errorf("error leaks key material: %v", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		config  map[string]any
		wantErr string
	}{
		{"defaults to X-API-Key", map[string]any{"keys_file": "k.yaml"}, ""},
		{"all keys", map[string]any{"keys_file": "k.yaml", "in": map[string]any{"header": "Authorization"}, "prefix": "ApiKey "}, ""},
		{"keys_file required", map[string]any{}, "keys_file: required"},
		{"two locations", map[string]any{"keys_file": "k", "in": map[string]any{"header": "X-Key", "cookie": "key"}}, "in: set exactly one of header, query_parameter, cookie"},
		{"no location", map[string]any{"keys_file": "k", "in": map[string]any{}}, "in: set exactly one"},
		{"bad header name", map[string]any{"keys_file": "k", "in": map[string]any{"header": "X Key"}}, `in.header: invalid header name "X Key"`},
		{"bad cookie name", map[string]any{"keys_file": "k", "in": map[string]any{"cookie": "a;b"}}, `in.cookie: invalid cookie name "a;b"`},
		{"query parameter accepted", map[string]any{"keys_file": "k", "in": map[string]any{"query_parameter": "api_key"}}, ""},
		{"blank prefix", map[string]any{"keys_file": "k", "prefix": "  "}, `prefix: invalid prefix`},
		{"prefix with newline", map[string]any{"keys_file": "k", "prefix": "Key\n"}, `prefix: invalid prefix`},
		{"unknown in key", map[string]any{"keys_file": "k", "in": map[string]any{"body": "key"}}, `unknown field "body"`},
		{"unknown key", map[string]any{"keys_file": "k", "keys": []any{}}, `unknown field "keys"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			err := pipeline.MapDecoder(tt.config).Decode(&c)
			if err == nil {
				err = c.Validate()
			}
			if tt.wantErr == "" {
				if err != nil || c.In == nil {
					t.Fatalf("err = %v, in %v", err, c.In)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	a := newAuthenticator(b, Config{KeysFile: "testdata/keys.yaml"})
	r := &pipeline.Request{Header: pipeline.Header{"x-api-key": {ciKey}}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Authenticate(ctx, r, &pipeline.Session{}); err != nil {
			b.Fatal(err)
		}
	}
}
