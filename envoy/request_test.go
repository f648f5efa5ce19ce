package envoy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/portcullis-authz/portcullis/pipeline"
)

const fixtureDir = "testdata/checkrequests"

// loadCheckRequest parses a protojson CheckRequest. DiscardUnknown is needed
// because the OPA primer fixture carries OPA's own keys (parsed_body, ...)
// next to attributes.
func loadCheckRequest(t testing.TB, name string) *authv3.CheckRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	req := &authv3.CheckRequest{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, req); err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return req
}

// modernRequest is what both SYNTHESIZED fixtures describe: an HTTP/2 mTLS
// request with a body, jwt_authn metadata and per-route context extensions.
// The two fixtures differ only in how the duplicated x-tenant arrives.
func modernRequest(tenant ...string) *pipeline.Request {
	return &pipeline.Request{
		ID:       "2f0c4c8e-1b7a-4c3e-9d53-2b8f4e0e9a11",
		Method:   "POST",
		Scheme:   "https",
		Host:     "api.example.com",
		RawPath:  "/v1/orders",
		RawQuery: "limit=10&tag=a%20b",
		Header: pipeline.Header{
			":authority":                {"api.example.com"},
			":method":                   {"POST"},
			":path":                     {"/v1/orders?limit=10&tag=a%20b"},
			":scheme":                   {"https"},
			"accept":                    {"application/json"},
			"authorization":             {"Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig"},
			"content-length":            {"23"},
			"content-type":              {"application/json"},
			"x-envoy-auth-partial-body": {"false"},
			"x-forwarded-proto":         {"https"},
			"x-request-id":              {"2f0c4c8e-1b7a-4c3e-9d53-2b8f4e0e9a11"},
			"x-tenant":                  tenant,
		},
		Body:     []byte(`{"item":"book","qty":2}`),
		Protocol: "HTTP/2",
		Source: pipeline.Peer{
			Address:     "10.0.0.7",
			Port:        51234,
			Principal:   "spiffe://example.org/ns/default/sa/frontend",
			Certificate: "-----BEGIN%20CERTIFICATE-----%0AMIIB...%0A-----END%20CERTIFICATE-----%0A",
		},
		Destination: pipeline.Peer{
			Address:   "10.0.0.2",
			Port:      8443,
			Principal: "spiffe://example.org/ns/edge/sa/envoy",
			Labels:    map[string]string{"app": "edge-proxy"},
		},
		Context: map[string]string{"rule_id": "orders-write", "virtual_host": "api"},
		Metadata: map[string]map[string]any{
			"envoy.filters.http.jwt_authn": {
				"jwt_payload": map[string]any{
					"iss":   "https://issuer.example.com",
					"sub":   "alice",
					"scope": "orders:write",
				},
			},
		},
		SNI: "api.example.com",
	}
}

// fixtureWant holds the expected translation of every file in fixtureDir.
// TestFixturesTranslate fails when a file is added without an entry here.
var fixtureWant = map[string]*pipeline.Request{
	// Comma-joined duplicate: one value, exactly as Envoy merged it.
	"SYNTHESIZED-modern-envoy-grpc-headers.json": modernRequest("acme,beta"),
	// encode_raw_headers: two header lines, two values, in order.
	"SYNTHESIZED-modern-envoy-grpc-encode_raw_headers.json": modernRequest("acme", "beta"),
	// A real capture from Envoy ~1.16: no http.scheme and no :scheme (so
	// "http", whatever x-forwarded-proto says), no TLS, no metadata.
	"opa-docs-primer-v3-input.json": {
		ID:       "7bca5c86-bf55-432c-b212-8c0f1dc999ec",
		Method:   "POST",
		Scheme:   "http",
		Host:     "192.168.99.206:30164",
		RawPath:  "/people",
		RawQuery: "lang=en",
		Header: pipeline.Header{
			":authority":        {"192.168.99.206:30164"},
			":method":           {"POST"},
			":path":             {"/people?lang=en"},
			"accept":            {"*/*"},
			"authorization":     {"Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoiYWRtaW4iLCJzdWIiOiJZbTlpIiwibmJmIjoxNTE0ODUxMTM5LCJleHAiOjE2NDEwODE1Mzl9.WCxNAveAVAdRCmkpIObOTaSd0AJRECY2Ch2Qdic3kU8"},
			"content-length":    {"41"},
			"content-type":      {"application/json"},
			"user-agent":        {"curl/7.54.0"},
			"x-forwarded-proto": {"http"},
			"x-request-id":      {"7bca5c86-bf55-432c-b212-8c0f1dc999ec"},
		},
		Body:        []byte(`{"firstname":"Charlie", "lastname":"Opa"}`),
		Protocol:    "HTTP/1.1",
		Source:      pipeline.Peer{Address: "172.17.0.1", Port: 61402},
		Destination: pipeline.Peer{Address: "172.17.06", Port: 8000},
	},
}

func TestFixturesTranslate(t *testing.T) {
	entries, err := os.ReadDir(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			want, ok := fixtureWant[name]
			if !ok {
				t.Fatalf("no expectation for fixture %s: add one to fixtureWant", name)
			}
			got, err := ToRequest(loadCheckRequest(t, name))
			if err != nil {
				t.Fatalf("ToRequest: %v", err)
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ToRequest mismatch (-want +got):\n%s", diff)
			}
		})
	}
	for name := range fixtureWant {
		if !seen[name] {
			t.Errorf("fixtureWant names %s, which is not in %s", name, fixtureDir)
		}
	}
}

func TestHeadersAndHeaderMapFormsAgree(t *testing.T) {
	joined, err := ToRequest(loadCheckRequest(t, "SYNTHESIZED-modern-envoy-grpc-headers.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ToRequest(loadCheckRequest(t, "SYNTHESIZED-modern-envoy-grpc-encode_raw_headers.json"))
	if err != nil {
		t.Fatal(err)
	}

	// The only difference is duplicate handling.
	if got := joined.Header.Values("x-tenant"); !cmp.Equal(got, []string{"acme,beta"}) {
		t.Errorf("headers form: x-tenant = %q, want the one joined value", got)
	}
	if got := raw.Header.Values("x-tenant"); !cmp.Equal(got, []string{"acme", "beta"}) {
		t.Errorf("header_map form: x-tenant = %q, want two values in order", got)
	}
	ignoreTenant := cmp.FilterPath(func(p cmp.Path) bool {
		mi, ok := p.Last().(cmp.MapIndex)
		return ok && mi.Key().String() == "x-tenant"
	}, cmp.Ignore())
	if diff := cmp.Diff(joined, raw, ignoreTenant); diff != "" {
		t.Errorf("forms differ beyond x-tenant (-headers +header_map):\n%s", diff)
	}
}

// httpReq returns a minimal valid CheckRequest, changed by edit.
func httpReq(edit func(h *authv3.AttributeContext_HttpRequest)) *authv3.CheckRequest {
	h := &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/", Host: "example.com"}
	if edit != nil {
		edit(h)
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: h},
	}}
}

func rawHeaders(kv ...string) *corev3.HeaderMap {
	m := &corev3.HeaderMap{}
	for i := 0; i < len(kv); i += 2 {
		m.Headers = append(m.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
	}
	return m
}

func TestToRequestReadsWhatEnvoySends(t *testing.T) {
	tests := []struct {
		name string
		req  *authv3.CheckRequest
		// field extracts what the case is about.
		field func(r *pipeline.Request) any
		want  any
	}{
		{
			name: "method falls back to :method",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.Method = ""
				h.Headers = map[string]string{":method": "PUT"}
			}),
			field: func(r *pipeline.Request) any { return r.Method },
			want:  "PUT",
		},
		{
			name: "http.method wins over :method",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.Headers = map[string]string{":method": "PUT"}
			}),
			field: func(r *pipeline.Request) any { return r.Method },
			want:  "GET",
		},
		{
			name: "host falls back to :authority",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.Host = ""
				h.Headers = map[string]string{":authority": "api.example.com:8443"}
			}),
			field: func(r *pipeline.Request) any { return r.Host },
			want:  "api.example.com:8443",
		},
		{
			name: "host is canonical",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.Host = "API.Example.COM.:443"
				h.Scheme = "HTTPS"
			}),
			field: func(r *pipeline.Request) any { return r.Host },
			want:  "api.example.com",
		},
		{
			name: "copies of the host agree once canonical",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.Host = "api.example.com"
				h.Headers = map[string]string{":authority": "API.example.com", "host": "api.example.com.:80"}
			}),
			field: func(r *pipeline.Request) any { return r.Host },
			want:  "api.example.com",
		},
		{
			name: "host falls back to host when there is no :authority",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.Host = ""
				h.Headers = map[string]string{"host": "legacy.example.com"}
			}),
			field: func(r *pipeline.Request) any { return r.Host },
			want:  "legacy.example.com",
		},
		{
			name: "scheme falls back to :scheme",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.Headers = map[string]string{":scheme": "https"}
			}),
			field: func(r *pipeline.Request) any { return r.Scheme },
			want:  "https",
		},
		{
			name: "scheme never comes from x-forwarded-proto",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.Headers = map[string]string{"x-forwarded-proto": "https"}
			}),
			field: func(r *pipeline.Request) any { return r.Scheme },
			want:  "http",
		},
		{
			name: "scheme is lower-cased",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.Scheme = "HTTPS"
			}),
			field: func(r *pipeline.Request) any { return r.Scheme },
			want:  "https",
		},
		{
			name: "path falls back to :path",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.Path = ""
				h.Headers = map[string]string{":path": "/a/b?c=d"}
			}),
			field: func(r *pipeline.Request) any { return [2]string{r.RawPath, r.RawQuery} },
			want:  [2]string{"/a/b", "c=d"},
		},
		{
			name: "query and fragment fields are never read",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.Path = "/search?q=1"
				h.Query = "admin=true"
				h.Fragment = "top"
			}),
			field: func(r *pipeline.Request) any { return [2]string{r.RawPath, r.RawQuery} },
			want:  [2]string{"/search", "q=1"},
		},
		{
			name: "id falls back to the stream id",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.Id = "13519049518330544501"
			}),
			field: func(r *pipeline.Request) any { return r.ID },
			want:  "13519049518330544501",
		},
		{
			name: "x-request-id wins over the stream id",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.Id = "13519049518330544501"
				h.HeaderMap = rawHeaders("x-request-id", "req-1")
			}),
			field: func(r *pipeline.Request) any { return r.ID },
			want:  "req-1",
		},
		{
			name: "header_map wins over headers",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.Headers = map[string]string{"x-a": "from-map"}
				h.HeaderMap = rawHeaders("x-b", "from-list")
			}),
			field: func(r *pipeline.Request) any { return r.Header },
			want:  pipeline.Header{"x-b": {"from-list"}},
		},
		{
			name: "empty header_map falls back to headers",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.Headers = map[string]string{"x-a": "from-map"}
				h.HeaderMap = &corev3.HeaderMap{}
			}),
			field: func(r *pipeline.Request) any { return r.Header },
			want:  pipeline.Header{"x-a": {"from-map"}},
		},
		{
			name: "header_map reads value when raw_value is empty and lower-cases keys",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
					{Key: "X-Set-Cookie", Value: "a=1"},
					{Key: "x-set-cookie", RawValue: []byte("b=2")},
				}}
			}),
			field: func(r *pipeline.Request) any { return r.Header },
			want:  pipeline.Header{"x-set-cookie": {"a=1", "b=2"}},
		},
		{
			name: "raw values keep invalid UTF-8",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.HeaderMap = rawHeaders("x-latin1", "caf\xe9")
			}),
			field: func(r *pipeline.Request) any { return r.Header.Get("x-latin1") },
			want:  "caf\xe9",
		},
		{
			name: "x-envoy-auth-partial-body is kept",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.Headers = map[string]string{"x-envoy-auth-partial-body": "true"}
			}),
			field: func(r *pipeline.Request) any { return r.Header.Get("x-envoy-auth-partial-body") },
			want:  "true",
		},
		{
			name: "raw_body wins over body",
			req: httpReq(func(h *authv3.AttributeContext_HttpRequest) {
				h.Body = "sanitised"
				h.RawBody = []byte{0x0a, 0xff}
			}),
			field: func(r *pipeline.Request) any { return r.Body },
			want:  []byte{0x0a, 0xff},
		},
		{
			name:  "no body stays nil",
			req:   httpReq(nil),
			field: func(r *pipeline.Request) any { return r.Body },
			want:  []byte(nil),
		},
		{
			name: "pipe address",
			req: func() *authv3.CheckRequest {
				r := httpReq(nil)
				r.Attributes.Destination = &authv3.AttributeContext_Peer{Address: &corev3.Address{
					Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/run/envoy.sock"}},
				}}
				return r
			}(),
			field: func(r *pipeline.Request) any { return r.Destination },
			want:  pipeline.Peer{Address: "/run/envoy.sock"},
		},
		{
			name: "source service and tls session",
			req: func() *authv3.CheckRequest {
				r := httpReq(nil)
				r.Attributes.Source = &authv3.AttributeContext_Peer{Service: "frontend"}
				r.Attributes.TlsSession = &authv3.AttributeContext_TLSSession{Sni: "api.example.com"}
				return r
			}(),
			field: func(r *pipeline.Request) any { return [2]string{r.Source.Service, r.SNI} },
			want:  [2]string{"frontend", "api.example.com"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ToRequest(tt.req)
			if err != nil {
				t.Fatalf("ToRequest: %v", err)
			}
			if diff := cmp.Diff(tt.want, tt.field(r)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestToRequestRejectsMalformed(t *testing.T) {
	const secret = "s3cr3t-token"
	tests := []struct {
		name string
		req  *authv3.CheckRequest
	}{
		{"nil request", nil},
		{"nil attributes", &authv3.CheckRequest{}},
		{"missing request", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{}}},
		{"missing http", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{}}}},
		{"empty method", httpReq(func(h *authv3.AttributeContext_HttpRequest) { h.Method = "" })},
		{"empty path", httpReq(func(h *authv3.AttributeContext_HttpRequest) { h.Path = "" })},
		{"asterisk path", httpReq(func(h *authv3.AttributeContext_HttpRequest) { h.Path = "*" })},
		{"authority-form path", httpReq(func(h *authv3.AttributeContext_HttpRequest) { h.Path = "example.com:443" })},
		{"LF in path", httpReq(func(h *authv3.AttributeContext_HttpRequest) { h.Path = "/a\nb" })},
		{"CR in method", httpReq(func(h *authv3.AttributeContext_HttpRequest) { h.Method = "GET\r" })},
		{"CR in scheme", httpReq(func(h *authv3.AttributeContext_HttpRequest) { h.Scheme = "\rhttps" })},
		{"unknown scheme", httpReq(func(h *authv3.AttributeContext_HttpRequest) { h.Scheme = "ftp" })},
		{"NUL in host", httpReq(func(h *authv3.AttributeContext_HttpRequest) { h.Host = "a\x00b" })},
		{"percent-encoded host", httpReq(func(h *authv3.AttributeContext_HttpRequest) { h.Host = "api%2eexample.com" })},
		{"userinfo in host", httpReq(func(h *authv3.AttributeContext_HttpRequest) { h.Host = "admin@api.example.com" })},
		{"non-ASCII host", httpReq(func(h *authv3.AttributeContext_HttpRequest) { h.Host = "bücher.example" })},
		{"invalid port", httpReq(func(h *authv3.AttributeContext_HttpRequest) { h.Host = "api.example.com:99999" })},
		{"invalid :authority fallback", httpReq(func(h *authv3.AttributeContext_HttpRequest) {
			h.Host = ""
			h.Headers = map[string]string{":authority": "api example.com"}
		})},
		{"host header disagrees with http.host", httpReq(func(h *authv3.AttributeContext_HttpRequest) {
			h.Headers = map[string]string{"host": "admin.example.com"}
		})},
		{"host header disagrees with :authority", httpReq(func(h *authv3.AttributeContext_HttpRequest) {
			h.Host = ""
			h.Headers = map[string]string{":authority": "api.example.com:8443", "host": "other"}
		})},
		{":authority disagrees with http.host", httpReq(func(h *authv3.AttributeContext_HttpRequest) {
			h.HeaderMap = rawHeaders(":authority", "admin.example.com")
		})},
		{"second host header line disagrees", httpReq(func(h *authv3.AttributeContext_HttpRequest) {
			h.HeaderMap = rawHeaders(":authority", "example.com", "host", "example.com", "host", "admin.example.com")
		})},
		{"joined duplicate host headers", httpReq(func(h *authv3.AttributeContext_HttpRequest) {
			h.Headers = map[string]string{"host": "example.com,admin.example.com"}
		})},
		{"host header on another port", httpReq(func(h *authv3.AttributeContext_HttpRequest) {
			h.Headers = map[string]string{"host": "example.com:8080"}
		})},
		{"CR LF in header value", httpReq(func(h *authv3.AttributeContext_HttpRequest) {
			h.Headers = map[string]string{"authorization": secret + "\r\nx-admin: true"}
		})},
		{"LF in header key", httpReq(func(h *authv3.AttributeContext_HttpRequest) {
			h.Headers = map[string]string{"x-a\nx-b": secret}
		})},
		{"empty header key", httpReq(func(h *authv3.AttributeContext_HttpRequest) {
			h.Headers = map[string]string{"": secret}
		})},
		{"NUL in raw_value", httpReq(func(h *authv3.AttributeContext_HttpRequest) {
			h.HeaderMap = rawHeaders("authorization", secret+"\x00")
		})},
		{"CR in raw_value", httpReq(func(h *authv3.AttributeContext_HttpRequest) {
			h.HeaderMap = rawHeaders("cookie", secret+"\r")
		})},
		{"LF in value fallback", httpReq(func(h *authv3.AttributeContext_HttpRequest) {
			h.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "cookie", Value: secret + "\n"}}}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ToRequest(tt.req)
			if err == nil {
				t.Fatalf("ToRequest = %+v, want an error", r)
			}
			if got := pipeline.StatusOf(err); got != 400 {
				t.Errorf("StatusOf(%v) = %d, want 400", err, got)
			}
			if got := pipeline.ReasonOf(err, ""); got != "malformed_request" {
				t.Errorf("ReasonOf(%v) = %q, want malformed_request", err, got)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q leaks the header value", err)
			}
		})
	}
}
