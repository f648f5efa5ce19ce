package cel

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func testRequest() *pipeline.Request {
	return &pipeline.Request{
		Method: "POST", Scheme: "https", Host: "api.test", Path: "/orders/42", RawQuery: "tag=a&tag=b&page=2",
		Header: pipeline.Header{
			"authorization": {"Bearer abc.def.ghi"},
			"x-tenant":      {"acme"},
			"x-multi":       {"one", "two"},
			"content-type":  {"application/json"},
		},
		Context: map[string]string{"rule_id": "orders"},
		Source:  pipeline.Peer{Address: "203.0.113.7", Principal: "spiffe://prod.test/ns/shop/sa/web"},
	}
}

func testSession() *pipeline.Session {
	return &pipeline.Session{Subject: "alice",
		Extra: map[string]any{"roles": []any{"admin", "dev"}, "level": float64(3), "admin": true,
			"org": map[string]any{"id": "acme"}},
		MatchContext: pipeline.MatchContext{RegexpCaptureGroups: []string{"42"}}}
}

func TestCompileErrorsNameExpressionAndIssue(t *testing.T) {
	tests := []struct {
		name, expr, wantErr string
	}{
		{"empty", "  ", "expression: required"},
		{"syntax error", "request.method ==", `expression: compile "request.method =="`},
		{"undeclared variable", "user == 'alice'", "undeclared reference to 'user'"},
		{"type mismatch", "subject == 1", "found no matching overload for '_==_' applied to '(string, int)'"},
		{"string result", "subject", "returns string, want bool"},
		{"dyn result must be compared", "extra.admin", "returns dyn, want bool (compare explicitly"},
		{"too long", "true || " + strings.Repeat("true || ", 3000) + "true", "expression: longer than 16 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Expression: tt.expr})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if _, err := New(Config{Expression: "true", Message: "a\nb"}); err == nil || !strings.Contains(err.Error(), "message: must be a single line") {
		t.Errorf("multi-line message: err = %v", err)
	}
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name, expr string
		status     int
		id         string
	}{
		{"method", `request.method == "POST"`, 200, ""},
		{"scheme host path", `request.scheme == "https" && request.host == "api.test" && request.path.startsWith("/orders/")`, 200, ""},
		{"query lists", `request.query["tag"] == ["a", "b"] && request.query.page[0] == "2"`, 200, ""},
		{"absent query parameter tested with has", `!has(request.query.missing)`, 200, ""},
		{"header lookup", `request.headers["x-tenant"] == "acme"`, 200, ""},
		{"header lookup ignores case", `request.headers["X-Tenant"] == "acme" && "X-TENANT" in request.headers`, 200, ""},
		{"repeated headers are joined", `request.headers["x-multi"] == "one,two"`, 200, ""},
		{"header iteration", `request.headers.exists(k, k == "x-tenant")`, 200, ""},
		{"header count", `size(request.headers) == 4`, 200, ""},
		{"absent header in a negated test denies nothing", `!("x-debug" in request.headers)`, 200, ""},
		{"context extensions", `request.context_extensions.rule_id == "orders"`, 200, ""},
		{"peer", `request.peer.principal.startsWith("spiffe://prod.test/") && request.peer.address == "203.0.113.7"`, 200, ""},
		{"request map iteration", `request.all(k, k in ["method","scheme","host","path","query","headers","context_extensions","peer"])`, 200, ""},
		{"map equality materialises lazily built maps", `request.peer == {"principal": "spiffe://prod.test/ns/shop/sa/web", "address": "203.0.113.7"} && type(request) == map`, 200, ""},
		{"header map equality", `request.headers != {"x-tenant": "acme"}`, 200, ""},
		{"subject", `subject == "alice"`, 200, ""},
		{"extra list", `"admin" in extra.roles`, 200, ""},
		{"extra number", `extra.level >= 3.0`, 200, ""},
		{"extra nested map", `extra.org.id == "acme"`, 200, ""},
		{"extra bool compared", `extra.admin == true`, 200, ""},
		{"captures", `captures[0] == "42" && size(captures) == 1`, 200, ""},
		{"strings extension", `request.path.split("/")[2] == "42"`, 200, ""},
		{"sets extension", `sets.intersects(extra.roles, ["admin"])`, 200, ""},
		{"false denies", `subject == "bob"`, 403, "cel_denied"},
		{"absent header read denies", `request.headers["x-debug"] == "1"`, 403, "cel_evaluation_failed"},
		{"absent extra read denies", `extra.missing == "x"`, 403, "cel_evaluation_failed"},
		{"capture out of range denies", `captures[3] == "x"`, 403, "cel_evaluation_failed"},
		{"conversion error denies", `int(request.headers["x-tenant"]) > 0`, 403, "cel_evaluation_failed"},
		{"dyn type mismatch denies", `extra.level == "3"`, 403, "cel_denied"},
		{"error absorbed by || still allows only on true", `request.headers["x-debug"] == "1" || subject == "alice"`, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(Config{Expression: tt.expr, Message: "not allowed"})
			if err != nil {
				t.Fatal(err)
			}
			err = a.Authorize(context.Background(), testRequest(), testSession())
			if pipeline.StatusOf(err) != tt.status || pipeline.ReasonOf(err, "") != tt.id {
				t.Fatalf("err = %v, want %d %q", err, tt.status, tt.id)
			}
			if err != nil && strings.Contains(err.Error(), "acme") {
				t.Errorf("error quotes request data: %v", err)
			}
		})
	}
}

func TestCostLimitBoundsEvaluation(t *testing.T) {
	a, err := New(Config{Expression: `[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(i, !request.headers["x-big"].contains("b"))`})
	if err != nil {
		t.Fatal(err)
	}
	r := testRequest()
	r.Header["x-big"] = []string{strings.Repeat("a", 1<<20)}
	err = a.Authorize(context.Background(), r, testSession())
	if pipeline.StatusOf(err) != 403 || pipeline.ReasonOf(err, "") != "cel_cost_limit_exceeded" {
		t.Errorf("err = %v", err)
	}
	r.Header["x-big"] = []string{"small"}
	if err := a.Authorize(context.Background(), r, testSession()); err != nil {
		t.Errorf("same expression on a small header: %v", err)
	}
}

func TestDenialCarriesMessage(t *testing.T) {
	a, err := New(Config{Expression: "false", Message: "only admins may delete orders"})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Authorize(context.Background(), testRequest(), testSession())
	var pe *pipeline.Error
	if !errors.As(err, &pe) || pe.Message != "only admins may delete orders" || pe.ID != "cel_denied" {
		t.Errorf("err = %#v", err)
	}
}

func TestCancelledContextFailsClosed(t *testing.T) {
	a, err := New(Config{Expression: `[1,2,3,4,5,6,7,8,9,10].all(i, [1,2,3,4,5,6,7,8,9,10].all(j, i+j > 0))`})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = a.Authorize(ctx, testRequest(), testSession())
	if pipeline.StatusOf(err) != 503 || pipeline.ReasonOf(err, "") != "cel_cancelled" {
		t.Errorf("err = %v", err)
	}
}

func TestEmptyRequestAndSessionEvaluate(t *testing.T) {
	a, err := New(Config{Expression: `size(request.headers) == 0 && size(extra) == 0 && size(captures) == 0 && subject == "" && size(request.query) == 0 && size(request.context_extensions) == 0`})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Authorize(context.Background(), &pipeline.Request{}, &pipeline.Session{}); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentEvaluationsDoNotShareState runs one program from many
// goroutines with different requests; the pooled activation must not leak
// one request into another.
func TestConcurrentEvaluationsDoNotShareState(t *testing.T) {
	a, err := New(Config{Expression: `request.headers["x-id"] == subject`})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := string(rune('a' + i%26))
			for range 50 {
				r := &pipeline.Request{Header: pipeline.Header{"x-id": {id}}}
				if err := a.Authorize(context.Background(), r, &pipeline.Session{Subject: id}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestConfigDecodesStrictly(t *testing.T) {
	tests := []struct {
		name    string
		config  map[string]any
		wantErr string
	}{
		{"expression and message", map[string]any{"expression": "true", "message": "no"}, ""},
		{"expression only", map[string]any{"expression": `subject != ""`}, ""},
		{"unknown key", map[string]any{"expression": "true", "cost_limit": 10}, `unknown field "cost_limit"`},
		{"expression of the wrong type", map[string]any{"expression": true}, "expression: must be a string, not true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			err := pipeline.MapDecoder(tt.config).Decode(&c)
			if err == nil {
				_, err = New(c)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
