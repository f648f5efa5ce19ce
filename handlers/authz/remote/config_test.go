package remote

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestValidateRejectsBadKeysAndAppliesDefaults(t *testing.T) {
	tests := []struct {
		name    string
		config  map[string]any
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "minimal config gets default timeout and no retries", config: map[string]any{"remote": "https://authz.test/check"},
			check: func(t *testing.T, c Config) {
				if c.Timeout.Std() != DefaultTimeout || c.Retry != nil {
					t.Errorf("timeout %v retry %v", c.Timeout.Std(), c.Retry)
				}
			}},
		{name: "empty retry block gets Oathkeeper's defaults", config: map[string]any{"remote": "http://authz.test", "retry": map[string]any{}},
			check: func(t *testing.T, c Config) {
				if c.Retry.GiveUpAfter.Std() != DefaultGiveUpAfter || c.Retry.MaxDelay.Std() != DefaultMaxDelay {
					t.Errorf("retry = %+v", *c.Retry)
				}
			}},
		{name: "retry and timeout strings are parsed", config: map[string]any{"remote": "http://authz.test", "timeout": "250ms",
			"retry": map[string]any{"give_up_after": "2s", "max_delay": "50ms"}},
			check: func(t *testing.T, c Config) {
				if c.Timeout.Std() != 250*time.Millisecond || c.Retry.GiveUpAfter.Std() != 2*time.Second || c.Retry.MaxDelay.Std() != 50*time.Millisecond {
					t.Errorf("config = %+v retry %+v", c, *c.Retry)
				}
			}},
		{name: "forwarded header names are lower-cased", config: map[string]any{"remote": "http://a.test", "forward_response_headers_to_upstream": []any{"X-Foo"}},
			check: func(t *testing.T, c Config) {
				if got := c.ForwardResponseHeadersToUpstream[0]; got != "x-foo" {
					t.Errorf("got %q", got)
				}
			}},
		{name: "forward_http_headers are canonicalised", config: map[string]any{"remote": "http://a.test",
			"forward_http_headers": []any{"authorization", "X-API-KEY"}},
			check: func(t *testing.T, c Config) {
				if diff := cmp.Diff([]string{"Authorization", "X-Api-Key"}, c.ForwardHTTPHeaders); diff != "" {
					t.Errorf("forward_http_headers (-want +got):\n%s", diff)
				}
			}},
		{name: "forward_http_headers name invalid", config: map[string]any{"remote": "http://a.test", "forward_http_headers": []any{"a b"}},
			wantErr: `forward_http_headers[0]: invalid header name "a b"`},
		{name: "forward_http_headers duplicate ignoring case", config: map[string]any{"remote": "http://a.test",
			"forward_http_headers": []any{"Cookie", "cookie"}}, wantErr: `forward_http_headers[1]: duplicate header "Cookie"`},
		{name: "forward_http_headers may not copy framing headers", config: map[string]any{"remote": "http://a.test",
			"forward_http_headers": []any{"Content-Length"}}, wantErr: `forward_http_headers[0]: header "Content-Length" may not be forwarded`},
		{name: "remote is required", config: map[string]any{}, wantErr: "remote: required"},
		{name: "remote with unsupported scheme", config: map[string]any{"remote": "htp://a.test"}, wantErr: `remote: unsupported scheme "htp"`},
		{name: "remote without host", config: map[string]any{"remote": "https:///path"}, wantErr: "remote: missing host"},
		{name: "remote with fragment", config: map[string]any{"remote": "https://a.test/x#frag"}, wantErr: "remote: must not have a fragment"},
		{name: "unparsable remote does not echo the URL", config: map[string]any{"remote": "https://user:s3cret@a.test:port/"}, wantErr: "remote: invalid URL"},
		{name: "header name with a space", config: map[string]any{"remote": "http://a.test", "headers": map[string]any{"X Y": "v"}}, wantErr: `headers: invalid header name "X Y"`},
		{name: "host header is reserved", config: map[string]any{"remote": "http://a.test", "headers": map[string]any{"Host": "evil.test"}}, wantErr: `headers["Host"]: header may not be set by config`},
		{name: "forward name invalid", config: map[string]any{"remote": "http://a.test", "forward_response_headers_to_upstream": []any{"a:b"}}, wantErr: `forward_response_headers_to_upstream[0]: invalid header name "a:b"`},
		{name: "forward names duplicate ignoring case", config: map[string]any{"remote": "http://a.test", "forward_response_headers_to_upstream": []any{"x-a", "X-A"}}, wantErr: `forward_response_headers_to_upstream[1]: duplicate header "x-a"`},
		{name: "negative timeout", config: map[string]any{"remote": "http://a.test", "timeout": "-1s"}, wantErr: "timeout: must not be negative"},
		{name: "unparsable timeout", config: map[string]any{"remote": "http://a.test", "timeout": "soon"}, wantErr: `invalid duration "soon"`},
		{name: "negative give_up_after", config: map[string]any{"remote": "http://a.test", "retry": map[string]any{"give_up_after": "-1s"}}, wantErr: "retry.give_up_after: must not be negative"},
		{name: "negative max_delay", config: map[string]any{"remote": "http://a.test", "retry": map[string]any{"max_delay": "-1s"}}, wantErr: "retry.max_delay: must not be negative"},
		{name: "max_delay above give_up_after", config: map[string]any{"remote": "http://a.test", "retry": map[string]any{"give_up_after": "100ms", "max_delay": "1s"}}, wantErr: "retry.max_delay: 1s exceeds retry.give_up_after 100ms"},
		{name: "unknown key is rejected", config: map[string]any{"remote": "http://a.test", "payload": "{}"}, wantErr: `unknown field "payload"`},
		{name: "unknown retry key is rejected", config: map[string]any{"remote": "http://a.test", "retry": map[string]any{"attempts": 3}}, wantErr: `unknown field "attempts"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			err := pipeline.MapDecoder(tt.config).Decode(&c)
			if err == nil {
				err = c.Validate()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error leaks the URL's password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// TestD01RemoteURLIsNotATemplate: the URL is fixed config, so session data
// can never choose where the decision request goes (SECURITY_CASES D-01).
func TestD01RemoteURLIsNotATemplate(t *testing.T) {
	for _, u := range []string{
		"https://authz.internal/users/{{ .Subject }}/check",
		"https://{{ .Extra.host }}/check",
		"http://authz.internal/check?u={{ print .Subject }}",
	} {
		c := Config{Remote: u}
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "remote: templates are not allowed") {
			t.Errorf("Validate(%q) = %v, want template rejection", u, err)
		}
	}
}

func TestNewRejectsBadTemplateAndMissingClient(t *testing.T) {
	client := outbound.New(outbound.Options{})
	_, err := New(Config{Remote: "http://a.test", Headers: map[string]string{"X-User": "{{ .Subject "}}, client)
	if err == nil || !strings.Contains(err.Error(), `headers["X-User"]: parse template`) {
		t.Errorf("bad template: err = %v", err)
	}
	if _, err := New(Config{Remote: "http://a.test"}, nil); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := New(Config{Remote: "ftp://a.test"}, client); err == nil {
		t.Error("New does not validate")
	}
}

func TestOathkeeperReferenceConfigDecodes(t *testing.T) {
	// authorizers.remote.config from Oathkeeper's reference config.
	ref := map[string]any{"remote": "https://host/path", "headers": map[string]any{},
		"forward_response_headers_to_upstream": []any{"x-foo"},
		"retry":                                map[string]any{"give_up_after": "1s", "max_delay": "100ms"}}
	var c Config
	if err := pipeline.MapDecoder(ref).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
