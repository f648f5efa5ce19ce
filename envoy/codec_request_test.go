package envoy_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portcullis-authz/portcullis/envoy"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// FuzzReadCheckRequest is the differential test of the Check codec's
// decoder: for every input, ReadCheckRequest has the outcome of
// proto.Unmarshal followed by ToRequest (a decoding error, the same
// malformed error, or the same Request), and whenever the fast decoder
// accepts an input, its Request is exactly ToRequest's. Seeds are the
// CheckRequest fixtures, the committed corpora of envoy's and authz's fuzz
// targets turned into CheckRequests, and the wire-level cases of
// TestReadCheckRequest.
func FuzzReadCheckRequest(f *testing.F) {
	for _, req := range fixtureRequests(f) {
		f.Add(marshal(f, req))
	}
	for _, dir := range []string{"testdata/fuzz", "../authz/testdata/fuzz"} {
		for _, wire := range corpusWires(f, dir) {
			f.Add(wire)
		}
	}
	for _, tc := range wireCases(f) {
		f.Add(tc.wire)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		sameOutcome(t, wire)
	})
}

// TestReadCheckRequest pins down which inputs the fast decoder takes and
// which it leaves to the standard path, and that both give the standard
// outcome.
func TestReadCheckRequest(t *testing.T) {
	for _, tc := range wireCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			if fast := sameOutcome(t, tc.wire); fast != tc.fast {
				t.Errorf("fast decoder took it: %v, want %v", fast, tc.fast)
			}
		})
	}
}

// TestReadCheckRequestBodyHole checks the Request of a large body, which
// fastRequest leaves out of the string the other fields share: fields
// before and after it must come out intact.
func TestReadCheckRequestBodyHole(t *testing.T) {
	for _, name := range []string{"SYNTHESIZED-modern-envoy-grpc-headers.json", "SYNTHESIZED-modern-envoy-grpc-encode_raw_headers.json"} {
		for _, raw := range []bool{false, true} {
			req := loadFixture(t, name)
			hr := req.GetAttributes().GetRequest().GetHttp()
			body := strings.Repeat(`{"item":"book"}`, 100)
			if raw {
				hr.Body, hr.RawBody = "", []byte(body)
			} else {
				hr.Body = body
			}
			wire := marshal(t, req)
			if !sameOutcome(t, wire) {
				t.Fatalf("%s (raw_body %v): fast decoder refused it", name, raw)
			}
			r, _ := envoy.FastRequest(wire)
			if string(r.Body) != body || r.Header.Get("x-request-id") != "2f0c4c8e-1b7a-4c3e-9d53-2b8f4e0e9a11" || r.Host != "api.example.com" {
				t.Fatalf("%s (raw_body %v): body %d bytes, x-request-id %q, host %q", name, raw, len(r.Body), r.Header.Get("x-request-id"), r.Host)
			}
		}
	}
}

// sameOutcome checks ReadCheckRequest and the fast decoder against
// proto.Unmarshal + ToRequest for wire, and reports whether the fast
// decoder took it.
func sameOutcome(t *testing.T, wire []byte) bool {
	t.Helper()
	req := &authv3.CheckRequest{}
	uerr := proto.Unmarshal(wire, req)
	var (
		want    *pipeline.Request
		wantErr error
	)
	if uerr == nil {
		want, wantErr = envoy.ToRequest(req)
	}
	// With the headers map, ToRequest follows map iteration: the order of
	// values of keys differing only in case, and which of several bad
	// headers its error names.
	hr := req.GetAttributes().GetRequest().GetHttp()
	deterministic, errText := true, true
	if len(hr.GetHeaderMap().GetHeaders()) == 0 {
		deterministic = distinctFolded(hr.GetHeaders())
		bad := 0
		for k, v := range hr.GetHeaders() {
			if k == "" || strings.ContainsAny(k+v, "\x00\r\n") {
				bad++
			}
		}
		errText = deterministic && bad < 2
	}

	fast, ok := envoy.FastRequest(wire)
	if ok {
		if uerr != nil || wantErr != nil {
			t.Fatalf("fast decoder accepted an input the standard path refuses: unmarshal %v, translate %v", uerr, wantErr)
		}
		if diff := cmp.Diff(want, fast); diff != "" {
			t.Fatalf("fast decoder differs from proto.Unmarshal + ToRequest (-want +got):\n%s", diff)
		}
	}

	// With room for two header values, so that both the room and a new
	// array serve; r is reused from an earlier request.
	r := &pipeline.Request{Method: "STALE", Header: pipeline.Header{"stale": {"1"}}}
	malformed, err := envoy.ReadCheckRequest(wire, r, make([]string, 2))
	switch {
	case (err == nil) != (uerr == nil):
		t.Fatalf("ReadCheckRequest error %v, proto.Unmarshal error %v", err, uerr)
	case err != nil:
	case (malformed == nil) != (wantErr == nil):
		t.Fatalf("ReadCheckRequest malformed %v, ToRequest error %v", malformed, wantErr)
	case malformed != nil:
		if errText && malformed.Error() != wantErr.Error() {
			t.Fatalf("ReadCheckRequest malformed %q, ToRequest error %q", malformed, wantErr)
		}
		if pipeline.StatusOf(malformed) != 400 || pipeline.ReasonOf(malformed, "") != pipeline.ReasonMalformed {
			t.Fatalf("ReadCheckRequest malformed %v: want 400 %s", malformed, pipeline.ReasonMalformed)
		}
		if diff := cmp.Diff(pipeline.Request{}, *r); diff != "" {
			t.Fatalf("ReadCheckRequest left a request beside its malformed error:\n%s", diff)
		}
	case deterministic:
		if diff := cmp.Diff(want, r); diff != "" {
			t.Fatalf("ReadCheckRequest differs from proto.Unmarshal + ToRequest (-want +got):\n%s", diff)
		}
	}
	return ok
}

type wireCase struct {
	name string
	wire []byte
	fast bool // whether the fast decoder takes it
}

// wireCases are CheckRequests in wire form that exercise each way out of
// the fast decoder, plus the fixtures it must take.
func wireCases(tb testing.TB) []wireCase {
	tb.Helper()
	headers := marshal(tb, loadFixture(tb, "SYNTHESIZED-modern-envoy-grpc-headers.json"))
	list := marshal(tb, loadFixture(tb, "SYNTHESIZED-modern-envoy-grpc-encode_raw_headers.json"))
	opa := marshal(tb, loadFixture(tb, "opa-docs-primer-v3-input.json"))

	// edit returns the headers fixture after f changed it.
	edit := func(f func(req *authv3.CheckRequest)) []byte {
		req := loadFixture(tb, "SYNTHESIZED-modern-envoy-grpc-headers.json")
		f(req)
		return marshal(tb, req)
	}
	// field encodes one length-delimited field.
	field := func(num protowire.Number, payload []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), payload)
	}
	// attrs wraps an AttributeContext payload into a CheckRequest.
	attrs := func(payload []byte) []byte { return field(1, payload) }
	// req wraps an HttpRequest payload into the request field of an
	// AttributeContext; http wraps it into a whole CheckRequest.
	req := func(payload []byte) []byte { return field(4, field(2, payload)) }
	http := func(payload []byte) []byte { return attrs(req(payload)) }
	minimal := append(append(field(2, []byte("GET")), field(4, []byte("/a"))...), field(5, []byte("api.test"))...)
	deep := structpb.NewStringValue("x")
	for range 80 {
		deep = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{deep}})
	}

	return []wireCase{
		{"fixture headers", headers, true},
		{"fixture header_map", list, true},
		{"fixture opa primer", opa, true},
		{"minimal", http(minimal), true},
		{"empty message", nil, false},
		{"unknown top-level field", protowire.AppendVarint(protowire.AppendTag(headers, 99, protowire.VarintType), 7), true},
		{"unknown field in http", http(protowire.AppendFixed32(protowire.AppendTag(minimal, 200, protowire.Fixed32Type), 1)), true},
		{"attributes twice (merged)", append(headers, http(field(2, []byte("PUT")))...), false},
		{"http twice (merged)", append(http(minimal), http(field(6, []byte("https")))...), false},
		{"scalar twice (last wins)", http(append(minimal, field(2, []byte("PUT"))...)), true},
		{"truncated", headers[:len(headers)-3], false},
		{"field number 0", append(protowire.AppendTag(nil, 0, protowire.VarintType), 1), false},
		{"group", append(headers, protowire.AppendTag(nil, 50, protowire.StartGroupType)...), false},
		{"method as varint", http(append(protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 1), minimal[5:]...)), false},
		{"invalid UTF-8 in method", http(append(minimal, field(2, []byte("G\xffT"))...)), false},
		{"invalid UTF-8 in query (skipped field)", http(append(minimal, field(7, []byte("a=\xff"))...)), false},
		{"invalid UTF-8 in route metadata (skipped field)", attrs(append(req(minimal),
			field(13, field(1, append(field(1, []byte("ns")), field(2, field(1, append(field(1, []byte("k")), field(2, field(3, []byte("\xff")))...)))...)))...)), false},
		{"route metadata", edit(func(req *authv3.CheckRequest) {
			req.Attributes.RouteMetadataContext.FilterMetadata["example.authz"].Fields["n"] = structpb.NewNumberValue(1)
		}), true},
		{"route metadata nested deeper than the skip check", edit(func(req *authv3.CheckRequest) {
			req.Attributes.RouteMetadataContext.FilterMetadata["example.authz"].Fields["deep"] = deep
		}), false},
		{"named_port", edit(func(req *authv3.CheckRequest) {
			req.Attributes.Source.Address.GetSocketAddress().PortSpecifier = &corev3.SocketAddress_NamedPort{NamedPort: "https"}
		}), false},
		{"pipe address", edit(func(req *authv3.CheckRequest) {
			req.Attributes.Source.Address = &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/run/envoy.sock", Mode: 0o600}}}
		}), true},
		{"internal address", edit(func(req *authv3.CheckRequest) {
			req.Attributes.Source.Address = &corev3.Address{Address: &corev3.Address_EnvoyInternalAddress{EnvoyInternalAddress: &corev3.EnvoyInternalAddress{EndpointId: "e1"}}}
		}), true},
		{"two address members", attrs(append(req(minimal),
			field(1, field(1, append(field(1, field(2, []byte("192.0.2.1"))), field(2, field(1, []byte("/p")))...)))...)), false},
		{"case-duplicate header keys", edit(func(req *authv3.CheckRequest) {
			req.Attributes.Request.Http.Headers["X-Tenant"] = "other"
		}), false},
		{"upper-case header key", edit(func(req *authv3.CheckRequest) {
			req.Attributes.Request.Http.Headers["X-Custom"] = "v"
		}), true},
		{"CRLF in a header value (malformed)", edit(func(req *authv3.CheckRequest) {
			req.Attributes.Request.Http.Headers["x-user"] = "a\r\nx-admin: 1"
		}), false},
		{"hosts disagree (malformed)", edit(func(req *authv3.CheckRequest) {
			req.Attributes.Request.Http.Host = "evil.test"
		}), false},
		{"missing http (malformed)", attrs(field(4, nil)), false},
		{"metadata twice (merged)", attrs(append(append(req(minimal), field(11, nil)...), field(11, nil)...)), false},
		{"empty metadata", attrs(append(req(minimal), field(11, nil)...)), true},
		{"context extension key twice (last wins)", attrs(append(append(req(minimal),
			field(10, append(field(1, []byte("k")), field(2, []byte("v1"))...))...),
			field(10, append(field(1, []byte("k")), field(2, []byte("v2"))...))...)), true},
		{"map entry without a value", attrs(append(req(minimal), field(10, field(1, []byte("k")))...)), true},
		{"metadata of every kind", edit(func(req *authv3.CheckRequest) {
			s, err := structpb.NewStruct(map[string]any{
				"null": nil, "num": 1.5, "str": "x", "bool": true, "empty": map[string]any{}, "none": []any{},
				"list":   []any{1, "a", false, nil, []any{"b"}, map[string]any{"k": "v"}},
				"nested": map[string]any{"a": map[string]any{"b": []any{2.5}}},
			})
			if err != nil {
				tb.Fatal(err)
			}
			req.Attributes.MetadataContext.FilterMetadata["ns"] = s
			req.Attributes.MetadataContext.FilterMetadata["special"] = &structpb.Struct{Fields: map[string]*structpb.Value{
				"nan": structpb.NewNumberValue(math.NaN()), "inf": structpb.NewNumberValue(math.Inf(1)), "-inf": structpb.NewNumberValue(math.Inf(-1)),
			}}
		}), true},
		{"metadata only typed", edit(func(req *authv3.CheckRequest) {
			req.Attributes.MetadataContext = &corev3.Metadata{TypedFilterMetadata: map[string]*anypb.Any{"ns": {TypeUrl: "type.googleapis.com/google.protobuf.Struct"}}}
		}), true},
		{"metadata namespace without a Struct", attrs(append(req(minimal), field(11, field(1, field(1, []byte("ns"))))...)), true},
		{"metadata namespace twice (last wins)", attrs(append(req(minimal), field(11, append(
			field(1, append(field(1, []byte("ns")), field(2, field(1, append(field(1, []byte("a")), field(2, field(3, []byte("1")))...)))...)),
			field(1, append(field(1, []byte("ns")), field(2, field(1, append(field(1, []byte("b")), field(2, field(3, []byte("2")))...)))...))...))...)), true},
		{"metadata value of two kinds", attrs(append(req(minimal), field(11, field(1, append(field(1, []byte("ns")),
			field(2, field(1, append(field(1, []byte("k")), field(2, append(field(3, []byte("a")), field(3, []byte("b"))...))...)))...)))...)), false},
		{"metadata field without a value", attrs(append(req(minimal), field(11, field(1, append(field(1, []byte("ns")),
			field(2, field(1, field(1, []byte("k"))))...)))...)), true},
		{"metadata string not UTF-8", attrs(append(req(minimal), field(11, field(1, append(field(1, []byte("ns")),
			field(2, field(1, append(field(1, []byte("k")), field(2, field(3, []byte("\xff")))...)))...)))...)), false},
	}
}

// corpusWires turns every committed fuzz input under dir into CheckRequest
// wire bytes: []byte inputs as they are, the string arguments of the
// others as request lines and headers in both header encodings.
func corpusWires(tb testing.TB, dir string) [][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*", "*"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no fuzz corpus under %s: %v", dir, err)
	}
	var out [][]byte
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		var strs []string
		for _, line := range strings.Split(string(data), "\n")[1:] {
			if line == "" {
				continue
			}
			v, err := corpusValue(line)
			if err != nil {
				tb.Fatalf("%s: %v", name, err)
			}
			switch v := v.(type) {
			case []byte:
				out = append(out, v)
			case string:
				strs = append(strs, v)
			}
		}
		if len(strs) > 0 {
			for _, req := range stringsRequests(strs) {
				out = append(out, marshal(tb, req))
			}
		}
	}
	return out
}

// corpusValue parses one value line of a "go test fuzz v1" file: []byte
// and string literals are returned, other types as nil.
func corpusValue(line string) (any, error) {
	expr, err := parser.ParseExpr(line)
	if err != nil {
		return nil, err
	}
	call, ok := expr.(*ast.CallExpr)
	if !ok || len(call.Args) != 1 {
		return nil, nil
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return nil, nil
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil {
		return nil, err
	}
	if _, isSlice := call.Fun.(*ast.ArrayType); isSlice {
		return []byte(s), nil
	}
	return s, nil
}

// stringsRequests builds two CheckRequests from fuzz string arguments: the
// first three as method, path and host, the rest as header values, once
// in the headers map and once in header_map.
func stringsRequests(strs []string) []*authv3.CheckRequest {
	get := func(i int) string {
		if i < len(strs) {
			return strs[i]
		}
		return ""
	}
	h := map[string]string{":method": get(0), ":path": get(1), ":authority": get(2)}
	for i, v := range strs[min(3, len(strs)):] {
		h["x-seed-"+strconv.Itoa(i)] = v
	}
	hr := &authv3.AttributeContext_HttpRequest{Method: get(0), Path: get(1), Host: get(2), Headers: h}
	hm := &corev3.HeaderMap{}
	for k, v := range h {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
	}
	return []*authv3.CheckRequest{
		wrap(hr),
		wrap(&authv3.AttributeContext_HttpRequest{HeaderMap: hm, Protocol: "HTTP/2"}),
	}
}

func loadFixture(tb testing.TB, name string) *authv3.CheckRequest {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "checkrequests", name))
	if err != nil {
		tb.Fatal(err)
	}
	req := &authv3.CheckRequest{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, req); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return req
}

func marshal(tb testing.TB, m proto.Message) []byte {
	tb.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
