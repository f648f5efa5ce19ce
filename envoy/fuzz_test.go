package envoy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/portcullis-authz/portcullis/envoy"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// FuzzToRequest feeds ToRequest whatever protobuf a peer on the ext_authz
// port can send. Seeds are the captured and synthesized CheckRequests of
// testdata/checkrequests in wire form.
func FuzzToRequest(f *testing.F) {
	for _, req := range fixtureRequests(f) {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		req := &authv3.CheckRequest{}
		if proto.Unmarshal(wire, req) != nil {
			return
		}
		r, err := envoy.ToRequest(req)
		checkTranslation(t, r, err)
	})
}

// FuzzToRequestFields builds CheckRequests field by field, so that the
// fuzzer reaches every fallback (attributes, then pseudo-headers) and both
// header encodings with arbitrary bytes. The headers map and header_map
// forms of the same request must translate alike.
func FuzzToRequestFields(f *testing.F) {
	for _, req := range fixtureRequests(f) {
		h := req.GetAttributes().GetRequest().GetHttp()
		f.Add(uint8(0), h.GetMethod(), h.GetHost(), h.GetPath(), h.GetScheme(), "x-request-id", h.GetHeaders()["x-request-id"], "authorization", "Bearer abc")
	}
	f.Add(uint8(1), "GET", "api.test", "/a?b=c", "https", "Host", "evil.test", "x-forwarded-proto", "http")
	f.Add(uint8(2), "", "", "", "", "x-b3-traceid", "1", "cookie", "a=b; c=d")
	f.Add(uint8(3), "POST", "api.test", "/a\r\nX-Injected: 1", "https", "x-api-key", "k\x00", "X-Mixed-Case", "v")
	f.Fuzz(func(t *testing.T, mode uint8, method, host, target, scheme, k1, v1, k2, v2 string) {
		// mode bit 0: request line in pseudo-headers instead of fields.
		inHeaders := mode&1 != 0
		headers := map[string]string{k1: v1, k2: v2}
		hr := &authv3.AttributeContext_HttpRequest{Protocol: "HTTP/2"}
		if inHeaders {
			for k, v := range map[string]string{":method": method, ":authority": host, ":path": target, ":scheme": scheme} {
				if _, taken := headers[k]; !taken {
					headers[k] = v
				}
			}
		} else {
			hr.Method, hr.Host, hr.Path, hr.Scheme = method, host, target, scheme
		}
		hr.Headers = headers
		r, err := envoy.ToRequest(wrap(hr))
		checkTranslation(t, r, err)
		for k, v := range headers {
			// Values is how handlers look headers up.
			if err == nil && !slices.Contains(r.Header.Values(k), v) {
				t.Fatalf("header %q: %q lost, got %q", k, v, r.Header.Values(k))
			}
		}

		// mode bit 1: value instead of raw_value in header_map.
		hm := &corev3.HeaderMap{}
		for k, v := range headers {
			hv := &corev3.HeaderValue{Key: k}
			if mode&2 != 0 {
				hv.Value = v
			} else {
				hv.RawValue = []byte(v)
			}
			hm.Headers = append(hm.Headers, hv)
		}
		raw := proto.Clone(hr).(*authv3.AttributeContext_HttpRequest)
		raw.Headers, raw.HeaderMap = nil, hm
		r2, err2 := envoy.ToRequest(wrap(raw))
		checkTranslation(t, r2, err2)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("headers form: %v; header_map form: %v", err, err2)
		}
		if err != nil || !distinctFolded(headers) {
			// Keys differing only in case are one header whose values come
			// in map order.
			return
		}
		if diff := cmp.Diff(r, r2); diff != "" {
			t.Fatalf("headers and header_map forms differ (-headers +header_map):\n%s", diff)
		}
	})
}

// checkTranslation holds for every ToRequest outcome: a request or an
// error, never both or neither; errors are 400 malformed_request; a request
// has a method and a path starting with '/', and no NUL, CR or LF in
// anything a mutator may copy upstream.
func checkTranslation(t *testing.T, r *pipeline.Request, err error) {
	t.Helper()
	if (r == nil) == (err == nil) {
		t.Fatalf("ToRequest = %v, %v: want exactly one of a request and an error", r, err)
	}
	if err != nil {
		if pipeline.StatusOf(err) != 400 || pipeline.ReasonOf(err, "") != pipeline.ReasonMalformed {
			t.Fatalf("ToRequest error %v: want 400 %s", err, pipeline.ReasonMalformed)
		}
		return
	}
	if r.Method == "" || r.RawPath == "" || r.RawPath[0] != '/' {
		t.Fatalf("ToRequest accepted method %q, path %q", r.Method, r.RawPath)
	}
	for what, v := range map[string]string{"method": r.Method, "host": r.Host, "path": r.RawPath, "query": r.RawQuery, "scheme": r.Scheme} {
		if strings.ContainsAny(v, "\x00\r\n") {
			t.Fatalf("ToRequest accepted a %s with NUL, CR or LF: %q", what, v)
		}
	}
	for k, vs := range r.Header {
		if k == "" || strings.ContainsAny(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZ\x00\r\n") {
			t.Fatalf("ToRequest kept header name %q", k)
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\x00\r\n") {
				t.Fatalf("ToRequest kept header %q value %q", k, v)
			}
		}
	}
}

// fixtureRequests loads every CheckRequest fixture. OPA's primer carries
// OPA's own keys next to attributes, hence DiscardUnknown.
func fixtureRequests(tb testing.TB) []*authv3.CheckRequest {
	tb.Helper()
	files, err := filepath.Glob("testdata/checkrequests/*.json")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no CheckRequest fixtures: %v", err)
	}
	var out []*authv3.CheckRequest
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		req := &authv3.CheckRequest{}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, req); err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		out = append(out, req)
	}
	return out
}

func wrap(hr *authv3.AttributeContext_HttpRequest) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: hr},
	}}
}

// distinctFolded reports whether the keys of h stay distinct when folded
// as pipeline.Header folds them.
func distinctFolded(h map[string]string) bool {
	folded := pipeline.Header{}
	for k := range h {
		folded.Add(k, "")
	}
	return len(folded) == len(h)
}
