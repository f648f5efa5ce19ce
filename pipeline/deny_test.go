package pipeline_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestNoMatchingErrorHandlerAnswers500 covers issue #10 item 5: when the
// when lists of the rule's error handlers and of every fallback rule the
// failure out, Oathkeeper answers 500, whatever the failure was. The
// decision keeps the failure's reason for the log and metrics.
func TestNoMatchingErrorHandlerAnswers500(t *testing.T) {
	onlyNotFound := []any{map[string]any{"error": []any{"not_found"}}}
	cfg := config()
	cfg.ErrorHandlers = map[string]pipeline.HandlerConfig{"fake": {Enabled: true, Config: map[string]any{"tag": "global", "when": onlyNotFound}}}
	xml := []any{map[string]any{"request": map[string]any{"header": map[string]any{"accept": []any{"application/xml"}}}}}

	tests := []struct {
		name       string
		authn      string
		wantReason string
		wantErr    error
	}{
		{"unauthorized", "401", "fake_a", pipeline.ErrUnauthorized},
		{"forbidden", "403", pipeline.ReasonAuthnFailed, pipeline.ErrForbidden},
		{"internal", "500", pipeline.ReasonAuthnFailed, pipeline.ErrInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := rule("r", "https://api.test/<.*>", []pipeline.HandlerSpec{h("a", tt.authn)})
			spec.Errors = []pipeline.HandlerSpec{{Handler: "fake", Config: map[string]any{"tag": "xml", "when": xml}}}
			s, err := pipeline.Compile([]pipeline.RuleSpec{spec}, cfg, registry())
			if err != nil {
				t.Fatal(err)
			}
			d, tr := run(t, s, get("/x"))
			if d.Allowed || d.Denial.Status != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500 (trace %v)", d.Denial.Status, tr)
			}
			const body = `{"error":{"code":500,"status":"Internal Server Error","message":"An internal server error occurred, please contact the system administrator"}}`
			if string(d.Denial.Body) != body || d.Denial.Header.Get("content-type") != "application/json" {
				t.Errorf("denial %q %v", d.Denial.Body, d.Denial.Header)
			}
			if d.Reason != tt.wantReason || d.RuleID != "r" || d.Handler != "fake" {
				t.Errorf("reason %q rule %q handler %q", d.Reason, d.RuleID, d.Handler)
			}
			if !errors.Is(d.Err, tt.wantErr) {
				t.Errorf("decision error lost the failure: %v", d.Err)
			}
		})
	}

	// The fallback still answers what its when list selects.
	s, err := pipeline.Compile([]pipeline.RuleSpec{rule("r", "https://api.test/<.*>", []pipeline.HandlerSpec{h("a", "401")})}, cfg, registry())
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := run(t, s, &pipeline.Request{Method: "GET", Scheme: "https", Host: "other.test", RawPath: "/", Header: pipeline.Header{}}); d.Denial.Status != http.StatusNotFound || d.Denial.Header.Get("x-handler") != "global" {
		t.Fatalf("no-rule 404: status %d handler %q", d.Denial.Status, d.Denial.Header.Get("x-handler"))
	}
}
