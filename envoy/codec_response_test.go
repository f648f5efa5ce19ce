package envoy

import (
	"net/http"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestAppendCheckResponse checks the wire encoder against ToCheckResponse
// on every response test decision, valid or not, and on decisions whose
// messages need lengths of more than one byte.
func TestAppendCheckResponse(t *testing.T) {
	long := strings.Repeat("v", 300)
	cases := append(goldenCases(), unsafeCases()...)
	cases = append(cases,
		responseCase{name: "nil decision"},
		responseCase{name: "long values", d: &pipeline.Decision{
			Allowed: true, RuleID: long, Subject: long, Reason: "allowed",
			Session: &pipeline.Session{
				Header:         pipeline.Header{"x-long": {long, long}, "x-short": {"s"}},
				ResponseHeader: pipeline.Header{"set-cookie": {long, "b=2"}},
				SetQuery:       map[string]string{"q": long},
				Metadata:       map[string]any{"long": long, "list": []string{long, long}},
			},
		}},
		responseCase{name: "long denial", d: &pipeline.Decision{
			Reason: long, Denial: pipeline.Denial{Status: http.StatusUnauthorized, Body: []byte(long + long),
				Header: pipeline.Header{"www-authenticate": {long}}},
		}},
		responseCase{name: "metadata with fixed and unconvertible keys", d: &pipeline.Decision{
			Allowed: true, RuleID: "r", Reason: "allowed",
			Session: &pipeline.Session{Metadata: map[string]any{
				"rule_id": "spoofed", "subject": "kept: no subject", "fn": func() {}, "bad\xff": "x", "n": 1.5,
			}},
		}},
		responseCase{name: "empty strings", d: &pipeline.Decision{Allowed: true}},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sameResponse(t, tc.d)
		})
	}
}

// FuzzAppendCheckResponse builds decisions from arbitrary names, values
// and statuses (invalid UTF-8, control characters and empty names
// included) and checks the wire encoder against ToCheckResponse.
func FuzzAppendCheckResponse(f *testing.F) {
	f.Add(true, 0, "orders", "alice", "allowed", "x-user", "alice", "x-user", "bob", "q", "1", []byte(nil))
	f.Add(false, 401, "orders", "", "jwt_expired", "www-authenticate", `Bearer error="invalid_token"`, "set-cookie", "a=1", "", "", []byte(`{"error":"unauthorized"}`))
	f.Add(true, 0, "r\xff", "s\r\n", "", "", "v", "X-Mixed", "v\x00", "q\xff", "v", []byte("\xff"))
	f.Add(false, 42, "", "", "", "k", strings.Repeat("v", 200), "", "", "", "", []byte(strings.Repeat("b", 200)))
	f.Fuzz(func(t *testing.T, allowed bool, status int, rule, subject, reason, k1, v1, k2, v2, qk, qv string, body []byte) {
		h := pipeline.Header{}
		h[k1] = append(h[k1], v1)
		h[k2] = append(h[k2], v2)
		d := &pipeline.Decision{Allowed: allowed, RuleID: rule, Subject: subject, Reason: reason}
		if allowed {
			d.Session = &pipeline.Session{
				Header: h, ResponseHeader: h, RemoveHeaders: []string{k2, qk, strings.ToUpper(k1)},
				SetQuery: map[string]string{qk: qv}, RemoveQuery: []string{k1, qk},
				Metadata: map[string]any{k1: v1, k2: []string{v2}, qk: body},
			}
		} else {
			d.Denial = pipeline.Denial{Status: status, Header: h, Body: body}
		}
		sameResponse(t, d)
	})
}

// sameResponse checks that AppendCheckResponse(d) decodes to
// ToCheckResponse(d), alone and after other bytes.
func sameResponse(t *testing.T, d *pipeline.Decision) {
	t.Helper()
	want := ToCheckResponse(d)
	prefix := []byte("prefix")
	for what, b := range map[string][]byte{
		"AppendCheckResponse":         AppendCheckResponse(nil, d),
		"AppendCheckResponse(prefix)": AppendCheckResponse(prefix, d)[len(prefix):],
	} {
		got := &authv3.CheckResponse{}
		if err := proto.Unmarshal(b, got); err != nil {
			t.Fatalf("decode %s: %v", what, err)
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Fatalf("%s differs from ToCheckResponse (-want +got):\n%s", what, diff)
		}
	}
}

// TestResponseFieldNumbers checks the field numbers AppendCheckResponse
// writes against the generated descriptors.
func TestResponseFieldNumbers(t *testing.T) {
	resp := (&authv3.CheckResponse{}).ProtoReflect().Descriptor()
	field := func(md protoreflect.MessageDescriptor, path ...protoreflect.Name) protoreflect.FieldDescriptor {
		var fd protoreflect.FieldDescriptor
		for _, name := range path {
			if fd = md.Fields().ByName(name); fd == nil {
				t.Fatalf("%s has no field %s", md.FullName(), name)
			}
			md = fd.Message()
		}
		return fd
	}
	for _, tc := range []struct {
		path []protoreflect.Name
		num  protowire.Number
	}{
		{[]protoreflect.Name{"status"}, fRespStatus},
		{[]protoreflect.Name{"denied_response"}, fRespDenied},
		{[]protoreflect.Name{"ok_response"}, fRespOK},
		{[]protoreflect.Name{"dynamic_metadata"}, fRespMetadata},
		{[]protoreflect.Name{"status", "code"}, fStatusCode},
		{[]protoreflect.Name{"status", "message"}, fStatusMessage},
		{[]protoreflect.Name{"ok_response", "headers"}, fOKHeaders},
		{[]protoreflect.Name{"ok_response", "headers_to_remove"}, fOKHeadersToRemove},
		{[]protoreflect.Name{"ok_response", "response_headers_to_add"}, fOKResponseHeaders},
		{[]protoreflect.Name{"ok_response", "query_parameters_to_set"}, fOKQueryToSet},
		{[]protoreflect.Name{"ok_response", "query_parameters_to_set", "key"}, fQueryKey},
		{[]protoreflect.Name{"ok_response", "query_parameters_to_set", "value"}, fQueryValue},
		{[]protoreflect.Name{"ok_response", "query_parameters_to_remove"}, fOKQueryToRemove},
		{[]protoreflect.Name{"ok_response", "headers", "header"}, fOptionHeader},
		{[]protoreflect.Name{"ok_response", "headers", "header", "key"}, fHeaderValueKey},
		{[]protoreflect.Name{"ok_response", "headers", "header", "value"}, fHeaderValueValue},
		{[]protoreflect.Name{"ok_response", "headers", "append"}, fOptionAppend},
		{[]protoreflect.Name{"ok_response", "headers", "append", "value"}, fBoolValue},
		{[]protoreflect.Name{"denied_response", "status"}, fDeniedStatus},
		{[]protoreflect.Name{"denied_response", "status", "code"}, fHTTPStatusCode},
		{[]protoreflect.Name{"denied_response", "headers"}, fDeniedHeaders},
		{[]protoreflect.Name{"denied_response", "body"}, fDeniedBody},
		{[]protoreflect.Name{"dynamic_metadata", "fields"}, fStructFields},
		{[]protoreflect.Name{"dynamic_metadata", "fields", "key"}, fStructEntryKey},
		{[]protoreflect.Name{"dynamic_metadata", "fields", "value"}, fStructEntryValue},
		{[]protoreflect.Name{"dynamic_metadata", "fields", "value", "string_value"}, fValueString},
	} {
		if fd := field(resp, tc.path...); fd.Number() != tc.num {
			t.Errorf("%s is field %d, AppendCheckResponse writes %d", fd.FullName(), fd.Number(), tc.num)
		}
		// endMessage relies on one-byte tags.
		if tc.num > 15 {
			t.Errorf("field %v: number %d takes a two-byte tag", tc.path, tc.num)
		}
	}
}
