package envoy

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// set is a header option with append explicitly false (overwrite-or-add).
func set(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}, Append: wrapperspb.Bool(false)}
}

// add is a header option with append explicitly true.
func add(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}, Append: wrapperspb.Bool(true)}
}

// line is a header option with append unset (a further denial header line).
func line(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}}
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func okResponse(ok *authv3.OkHttpResponse, md *structpb.Struct) *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status:          &status.Status{Code: int32(code.Code_OK)},
		HttpResponse:    &authv3.CheckResponse_OkResponse{OkResponse: ok},
		DynamicMetadata: md,
	}
}

func deniedResponse(c code.Code, msg string, st int, body string, md *structpb.Struct, h ...*corev3.HeaderValueOption) *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status: &status.Status{Code: int32(c), Message: msg},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(st)},
			Headers: h,
			Body:    body,
		}},
		DynamicMetadata: md,
	}
}

type responseCase struct {
	name string
	d    *pipeline.Decision
	want func(t *testing.T) *authv3.CheckResponse
}

// goldenCases are valid decisions: ValidateDecision accepts them all.
func goldenCases() []responseCase {
	return []responseCase{
		{
			name: "allow with header, removal, query and metadata mutations",
			d: &pipeline.Decision{
				Allowed: true, RuleID: "orders-write", Subject: "alice", Reason: "allowed",
				Session: &pipeline.Session{
					Header: pipeline.Header{
						"x-user":        {"alice"},
						"x-groups":      {"admin", "ops"},
						"authorization": {"Bearer id-token"},
					},
					// authorization is also set above, so only cookie is removed.
					RemoveHeaders:  []string{"cookie", "authorization"},
					ResponseHeader: pipeline.Header{"set-cookie": {"a=1", "b=2"}, "x-trace": {"t1"}},
					SetQuery:       map[string]string{"tenant": "acme", "debug": "0"},
					RemoveQuery:    []string{"access_token"},
					Metadata: map[string]any{
						"tenant": "acme",
						"scopes": []any{"orders:read", "orders:write"},
						"roles":  []string{"admin"},
						"claims": map[string]any{"iss": "https://issuer.example.com", "n": 3},
						"labels": map[string]string{"team": "core"},
						"exp":    int64(1767225600),
					},
				},
			},
			want: func(t *testing.T) *authv3.CheckResponse {
				return okResponse(&authv3.OkHttpResponse{
					Headers: []*corev3.HeaderValueOption{
						set("authorization", "Bearer id-token"),
						set("x-groups", "admin"),
						add("x-groups", "ops"),
						set("x-user", "alice"),
					},
					HeadersToRemove: []string{"cookie"},
					ResponseHeadersToAdd: []*corev3.HeaderValueOption{
						set("set-cookie", "a=1"),
						add("set-cookie", "b=2"),
						set("x-trace", "t1"),
					},
					QueryParametersToSet: []*corev3.QueryParameter{
						{Key: "debug", Value: "0"},
						{Key: "tenant", Value: "acme"},
					},
					QueryParametersToRemove: []string{"access_token"},
				}, mustStruct(t, map[string]any{
					"rule_id":  "orders-write",
					"decision": "allow",
					"reason":   "allowed",
					"subject":  "alice",
					"tenant":   "acme",
					"scopes":   []any{"orders:read", "orders:write"},
					"roles":    []any{"admin"},
					"claims":   map[string]any{"iss": "https://issuer.example.com", "n": 3},
					"labels":   map[string]any{"team": "core"},
					"exp":      1767225600,
				}))
			},
		},
		{
			name: "allow without session",
			d:    &pipeline.Decision{Allowed: true, RuleID: "public", Reason: "allowed"},
			want: func(t *testing.T) *authv3.CheckResponse {
				return okResponse(&authv3.OkHttpResponse{}, mustStruct(t, map[string]any{
					"rule_id": "public", "decision": "allow", "reason": "allowed",
				}))
			},
		},
		{
			name: "deny 401 with WWW-Authenticate",
			d: &pipeline.Decision{
				RuleID: "orders-write", Reason: "jwt_expired", Handler: "jwt",
				Denial: pipeline.Denial{
					Status: 401,
					Header: pipeline.Header{
						"www-authenticate": {`Bearer realm="api", error="invalid_token"`},
						"content-type":     {"application/json"},
					},
					Body: []byte(`{"error":{"code":401,"status":"Unauthorized"}}`),
				},
			},
			want: func(t *testing.T) *authv3.CheckResponse {
				return deniedResponse(code.Code_UNAUTHENTICATED, "jwt_expired", 401,
					`{"error":{"code":401,"status":"Unauthorized"}}`,
					mustStruct(t, map[string]any{"rule_id": "orders-write", "decision": "deny", "reason": "jwt_expired"}),
					set("content-type", "application/json"),
					set("www-authenticate", `Bearer realm="api", error="invalid_token"`),
				)
			},
		},
		{
			name: "deny 302 with Location and two cookies",
			d: &pipeline.Decision{
				RuleID: "app", Reason: "authentication_failed",
				Denial: pipeline.Denial{
					Status: 302,
					Header: pipeline.Header{
						"location":   {"https://login.example.com/?return_to=https%3A%2F%2Fapp.example.com%2F"},
						"set-cookie": {"session=; Max-Age=0", "csrf=; Max-Age=0"},
					},
				},
			},
			want: func(t *testing.T) *authv3.CheckResponse {
				return deniedResponse(code.Code_PERMISSION_DENIED, "authentication_failed", 302, "",
					mustStruct(t, map[string]any{"rule_id": "app", "decision": "deny", "reason": "authentication_failed"}),
					set("location", "https://login.example.com/?return_to=https%3A%2F%2Fapp.example.com%2F"),
					set("set-cookie", "session=; Max-Age=0"),
					line("set-cookie", "csrf=; Max-Age=0"),
				)
			},
		},
		{
			name: "deny 429 with Retry-After",
			d: &pipeline.Decision{
				RuleID: "api", Reason: "rate_limited", Subject: "alice",
				Denial: pipeline.Denial{Status: 429, Header: pipeline.Header{"retry-after": {"30"}}},
			},
			want: func(t *testing.T) *authv3.CheckResponse {
				return deniedResponse(code.Code_RESOURCE_EXHAUSTED, "rate_limited", 429, "",
					mustStruct(t, map[string]any{"rule_id": "api", "decision": "deny", "reason": "rate_limited", "subject": "alice"}),
					set("retry-after", "30"),
				)
			},
		},
		{
			name: "deny 503 when a dependency is down",
			d: &pipeline.Decision{
				RuleID: "api", Reason: "introspection_unavailable",
				Denial: pipeline.Denial{Status: 503, Body: []byte("service unavailable")},
			},
			want: func(t *testing.T) *authv3.CheckResponse {
				return deniedResponse(code.Code_UNAVAILABLE, "introspection_unavailable", 503, "service unavailable",
					mustStruct(t, map[string]any{"rule_id": "api", "decision": "deny", "reason": "introspection_unavailable"}))
			},
		},
		{
			name: "deny 404 when no rule matched",
			d:    &pipeline.Decision{Reason: "no_rule_match", Denial: pipeline.Denial{Status: 404}},
			want: func(t *testing.T) *authv3.CheckResponse {
				return deniedResponse(code.Code_PERMISSION_DENIED, "no_rule_match", 404, "",
					mustStruct(t, map[string]any{"rule_id": "", "decision": "deny", "reason": "no_rule_match"}))
			},
		},
		{
			name: "deny without status is an explicit 403",
			d:    &pipeline.Decision{RuleID: "r", Reason: "forbidden"},
			want: func(t *testing.T) *authv3.CheckResponse {
				return deniedResponse(code.Code_PERMISSION_DENIED, "forbidden", 403, "",
					mustStruct(t, map[string]any{"rule_id": "r", "decision": "deny", "reason": "forbidden"}))
			},
		},
		{
			name: "deny ignores the session",
			d: &pipeline.Decision{
				RuleID: "r", Reason: "forbidden", Denial: pipeline.Denial{Status: 403},
				Session: &pipeline.Session{Header: pipeline.Header{"x-user": {"alice"}}},
			},
			want: func(t *testing.T) *authv3.CheckResponse {
				return deniedResponse(code.Code_PERMISSION_DENIED, "forbidden", 403, "",
					mustStruct(t, map[string]any{"rule_id": "r", "decision": "deny", "reason": "forbidden"}))
			},
		},
	}
}

// unsafeCases are decisions ValidateDecision rejects; ToCheckResponse must
// still produce a safe response from them.
func unsafeCases() []responseCase {
	return []responseCase{
		{
			name: "unsafe upstream headers are dropped and the client copy removed",
			d: &pipeline.Decision{
				Allowed: true, RuleID: "r", Reason: "allowed",
				Session: &pipeline.Session{
					Header: pipeline.Header{
						"x-user":    {"alice\r\nx-admin: true"},
						"x-groups":  {"bad\n", "ops"},
						"x-latin1":  {"caf\xe9"},
						"bad\rname": {"v"},
						"":          {"v"},
					},
					RemoveHeaders:  []string{"cookie", "x-\x00", ""},
					ResponseHeader: pipeline.Header{"set-cookie": {"a=1\r\nx: y", "b=2"}},
					SetQuery:       map[string]string{"q": "a\nb", "": "x", "ok": "1"},
					RemoveQuery:    []string{"bad\x00"},
				},
			},
			want: func(t *testing.T) *authv3.CheckResponse {
				return okResponse(&authv3.OkHttpResponse{
					Headers: []*corev3.HeaderValueOption{
						// The first value that survives overwrites.
						set("x-groups", "ops"),
					},
					HeadersToRemove:         []string{"cookie", "x-latin1", "x-user"},
					ResponseHeadersToAdd:    []*corev3.HeaderValueOption{set("set-cookie", "b=2")},
					QueryParametersToSet:    []*corev3.QueryParameter{{Key: "ok", Value: "1"}},
					QueryParametersToRemove: []string{"q"},
				}, mustStruct(t, map[string]any{"rule_id": "r", "decision": "allow", "reason": "allowed"}))
			},
		},
		{
			name: "unsafe denial headers are dropped",
			d: &pipeline.Decision{
				RuleID: "r", Reason: "authentication_failed",
				Denial: pipeline.Denial{
					Status: 302,
					Header: pipeline.Header{"location": {"https://x/\r\nset-cookie: evil=1"}, "x-ok": {"1"}},
					Body:   []byte("bad \xff body"),
				},
			},
			want: func(t *testing.T) *authv3.CheckResponse {
				return deniedResponse(code.Code_PERMISSION_DENIED, "authentication_failed", 302, "bad \uFFFD body",
					mustStruct(t, map[string]any{"rule_id": "r", "decision": "deny", "reason": "authentication_failed"}),
					set("x-ok", "1"))
			},
		},
		{
			name: "impossible denial status becomes 500",
			d:    &pipeline.Decision{Reason: "bug", Denial: pipeline.Denial{Status: 42}},
			want: func(t *testing.T) *authv3.CheckResponse {
				return deniedResponse(code.Code_INTERNAL, "bug", 500, "",
					mustStruct(t, map[string]any{"rule_id": "", "decision": "deny", "reason": "bug"}))
			},
		},
		{
			name: "nil decision fails closed",
			d:    nil,
			want: func(t *testing.T) *authv3.CheckResponse {
				return deniedResponse(code.Code_INTERNAL, "invalid_decision", 500, "",
					mustStruct(t, map[string]any{"rule_id": "", "decision": "deny", "reason": "invalid_decision"}))
			},
		},
	}
}

func TestToCheckResponseGolden(t *testing.T) {
	for _, tt := range append(goldenCases(), unsafeCases()...) {
		t.Run(tt.name, func(t *testing.T) {
			got := ToCheckResponse(tt.d)
			if diff := cmp.Diff(tt.want(t), got, protocmp.Transform()); diff != "" {
				t.Errorf("ToCheckResponse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestResponsesPassEnvoyValidation checks every response, including those
// built from unsafe decisions, against go-control-plane's generated
// validation rules and proto marshalling: a response that fails to marshal
// becomes a gRPC error, which Envoy's failure_mode_allow may turn into an
// allow.
func TestResponsesPassEnvoyValidation(t *testing.T) {
	for _, tt := range append(goldenCases(), unsafeCases()...) {
		t.Run(tt.name, func(t *testing.T) {
			resp := ToCheckResponse(tt.d)
			if err := resp.ValidateAll(); err != nil {
				t.Errorf("ValidateAll: %v", err)
			}
			if _, err := proto.Marshal(resp); err != nil {
				t.Errorf("Marshal: %v", err)
			}
		})
	}
}

func TestDenialIsNeverOK(t *testing.T) {
	for _, st := range []int{-1, 0, 1, 100, 199, 200, 204, 301, 302, 307, 400, 401, 403, 404, 405, 418, 429, 451, 499, 500, 501, 502, 503, 504, 599, 600, 1 << 20} {
		resp := ToCheckResponse(&pipeline.Decision{Denial: pipeline.Denial{Status: st}})
		if resp.GetStatus().GetCode() == int32(code.Code_OK) {
			t.Errorf("status %d: denial answered with OK", st)
		}
		if resp.GetDeniedResponse() == nil {
			t.Errorf("status %d: no denied_response", st)
		}
	}
}

func TestDenialStatusMapsToGRPCCode(t *testing.T) {
	tests := []struct {
		status int
		want   code.Code
	}{
		{400, code.Code_INVALID_ARGUMENT},
		{401, code.Code_UNAUTHENTICATED},
		{403, code.Code_PERMISSION_DENIED},
		{404, code.Code_PERMISSION_DENIED},
		{418, code.Code_PERMISSION_DENIED},
		{302, code.Code_PERMISSION_DENIED},
		{429, code.Code_RESOURCE_EXHAUSTED},
		{500, code.Code_INTERNAL},
		{502, code.Code_INTERNAL},
		{503, code.Code_UNAVAILABLE},
		{504, code.Code_UNAVAILABLE},
	}
	for _, tt := range tests {
		resp := ToCheckResponse(&pipeline.Decision{Denial: pipeline.Denial{Status: tt.status}})
		if got := code.Code(resp.GetStatus().GetCode()); got != tt.want {
			t.Errorf("status %d: code %v, want %v", tt.status, got, tt.want)
		}
		if got := int(resp.GetDeniedResponse().GetStatus().GetCode()); got != tt.status {
			t.Errorf("status %d: denied_response status %d", tt.status, got)
		}
	}
}

func TestDynamicMetadataKeepsFixedKeysAndSkipsUnconvertible(t *testing.T) {
	d := &pipeline.Decision{
		Allowed: true, RuleID: "r", Subject: "alice", Reason: "allowed",
		Session: &pipeline.Session{Metadata: map[string]any{
			"rule_id":  "spoofed",
			"decision": "deny",
			"fn":       func() {},
			"ch":       make(chan int),
			"nested":   map[string]any{"bad": []int{1}},
			"bad\xff":  "key is not UTF-8",
			"latin1":   "caf\xe9",
			"ok":       true,
		}},
	}
	got := ToCheckResponse(d).GetDynamicMetadata()
	want := mustStruct(t, map[string]any{
		"rule_id": "r", "decision": "allow", "reason": "allowed", "subject": "alice", "ok": true,
	})
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("dynamic_metadata (-want +got):\n%s", diff)
	}
}

func TestValidateDecision(t *testing.T) {
	for _, tt := range goldenCases() {
		t.Run("valid/"+tt.name, func(t *testing.T) {
			if err := ValidateDecision(tt.d); err != nil {
				t.Errorf("ValidateDecision: %v", err)
			}
		})
	}

	const secret = "alice-s3cr3t"
	tests := []struct {
		name string
		d    *pipeline.Decision
		// want are substrings of the error, one per problem.
		want []string
	}{
		{"nil decision", nil, []string{"nil decision"}},
		{
			name: "upstream header value with CR LF",
			d: &pipeline.Decision{Allowed: true, Session: &pipeline.Session{
				Header: pipeline.Header{"x-user": {secret + "\r\nx-admin: true"}},
			}},
			want: []string{`upstream header "x-user": value contains a control character`},
		},
		{
			name: "every problem is reported",
			d: &pipeline.Decision{Allowed: true, Session: &pipeline.Session{
				Header:         pipeline.Header{"x\nname": {"v"}, "x-latin1": {"caf\xe9" + secret}, "": {"v"}},
				RemoveHeaders:  []string{"a\x00"},
				ResponseHeader: pipeline.Header{"set-cookie": {secret + "\n"}},
				SetQuery:       map[string]string{"": "v", "q": secret + "\r"},
				RemoveQuery:    []string{""},
			}},
			want: []string{
				`upstream header "x\nname": name contains NUL, CR or LF`,
				`upstream header "x-latin1": value is not valid UTF-8`,
				`upstream header "": empty name`,
				`header to remove "a\x00": name contains NUL, CR or LF`,
				`response header "set-cookie": value contains a control character`,
				`query parameter "": empty name`,
				`query parameter "q": value contains a control character`,
				`query parameter to remove "": empty name`,
			},
		},
		{
			name: "denial header",
			d: &pipeline.Decision{Denial: pipeline.Denial{Status: 302, Header: pipeline.Header{
				"location": {"https://x/" + secret + "\r\nset-cookie: a=1"},
			}}},
			want: []string{`denial header "location": value contains a control character`},
		},
		{"denial status below 200", &pipeline.Decision{Denial: pipeline.Denial{Status: 101}}, []string{"denial status 101"}},
		{"denial status above 599", &pipeline.Decision{Denial: pipeline.Denial{Status: 600}}, []string{"denial status 600"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateDecision(tt.d)
			if err == nil {
				t.Fatal("ValidateDecision = nil, want an error")
			}
			if got := pipeline.StatusOf(err); got != 500 {
				t.Errorf("StatusOf = %d, want 500", got)
			}
			if got := pipeline.ReasonOf(err, ""); got != "invalid_decision" {
				t.Errorf("ReasonOf = %q, want invalid_decision", got)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error %q leaks a value", msg)
			}
		})
	}
}

func TestValidateDecisionDoesNotAllocate(t *testing.T) {
	d := goldenCases()[0].d
	if n := testing.AllocsPerRun(100, func() { _ = ValidateDecision(d) }); n != 0 {
		t.Errorf("ValidateDecision allocates %v times per valid decision, want 0", n)
	}
}
