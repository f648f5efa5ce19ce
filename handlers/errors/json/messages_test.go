package json

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestMessagesMatchOathkeeper pins the body of every status the json
// handler renders to the texts Oathkeeper writes (issue #10 item 4):
// clients written for Oathkeeper parse error.message. Non-verbose,
// Oathkeeper replaces the failure by herodot's generic error for 400, 401,
// 403, 404, 409, 415 and 500 and keeps its own errors for 429, 503 and
// 504; verbose, it writes the error its pipeline raised.
func TestMessagesMatchOathkeeper(t *testing.T) {
	tests := []struct {
		name                   string
		err                    error
		wantStatus             int
		wantStatusText         string
		wantPlain, wantVerbose string
	}{
		{"400", pipeline.NewError(400, pipeline.ReasonMalformed, "", nil), 400, "Bad Request",
			"The request was malformed or contained invalid parameters", "The request was malformed or contained invalid parameters"},
		{"401", pipeline.Unauthorized("jwt_expired", "", nil), 401, "Unauthorized",
			"The request could not be authorized", "Access credentials are invalid"},
		{"401 nobody responsible", pipeline.ErrSkip, 401, "Unauthorized",
			"The request could not be authorized", "The request could not be authorized"},
		{"403", pipeline.Forbidden("authorization_denied", "", nil), 403, "Forbidden",
			"The requested action was forbidden", "Access credentials are not sufficient to access this resource"},
		{"404 no rule", pipeline.NewError(404, pipeline.ReasonNoRule, "", nil), 404, "Not Found",
			"The requested resource could not be found", "Requested url does not match any rules"},
		{"404 method not allowed", pipeline.NewError(404, pipeline.ReasonMethodNotAllowed, "", nil), 404, "Not Found",
			"The requested resource could not be found", "Requested url does not match any rules"},
		{"404 other", pipeline.NewError(404, "session_gone", "", nil), 404, "Not Found",
			"The requested resource could not be found", "The requested resource could not be found"},
		{"409", pipeline.NewError(409, "x", "", nil), 409, "Conflict",
			"The resource could not be created due to a conflict", "The resource could not be created due to a conflict"},
		{"415", pipeline.NewError(415, "x", "", nil), 415, "Unsupported Media Type",
			"The request is using an unknown content type", "The request is using an unknown content type"},
		{"429", pipeline.NewError(429, "introspection_rate_limited", "", nil), 429, "Too Many Requests",
			"Too many requests", "Too many requests"},
		{"500", pipeline.Internal("mutation_failed", "", nil), 500, "Internal Server Error",
			"An internal server error occurred, please contact the system administrator", "An internal server error occurred, please contact the system administrator"},
		{"500 ambiguous", pipeline.Internal(pipeline.ReasonAmbiguous, "", nil), 500, "Internal Server Error",
			"An internal server error occurred, please contact the system administrator", "Expected exactly one rule but found multiple rules"},
		{"500 plain error", errors.New("boom"), 500, "Internal Server Error",
			"An internal server error occurred, please contact the system administrator", "An internal server error occurred, please contact the system administrator"},
		{"503", pipeline.Unavailable("jwks_unavailable", "", nil), 503, "Service Unavailable",
			"The upstream service is not available", "The upstream service is not available"},
		{"504", pipeline.NewError(504, "session_timeout", "", nil), 504, "Gateway Timeout",
			"The upstream service is timing out", "The upstream service is timing out"},
		{"502 falls back to the 5xx text", pipeline.NewError(502, "x", "", nil), 502, "Bad Gateway",
			"An internal server error occurred, please contact the system administrator", "An internal server error occurred, please contact the system administrator"},
	}
	for _, tt := range tests {
		for _, verbose := range []bool{false, true} {
			name := tt.name
			want := tt.wantPlain
			if verbose {
				name, want = name+" verbose", tt.wantVerbose
			}
			t.Run(name, func(t *testing.T) {
				d, err := mustNew(t, map[string]any{"verbose": verbose}).HandleError(context.Background(), &pipeline.Request{}, tt.err)
				if err != nil {
					t.Fatal(err)
				}
				if d.Status != tt.wantStatus || d.Header.Get("content-type") != "application/json" {
					t.Fatalf("status %d content-type %q", d.Status, d.Header.Get("content-type"))
				}
				got := decodeBody(t, d.Body)
				wantBody := map[string]any{"code": float64(tt.wantStatus), "status": tt.wantStatusText, "message": want}
				// Verbose adds the failure's own fields; only the three
				// herodot fields are under test here.
				trimmed := map[string]any{"code": got["code"], "status": got["status"], "message": got["message"]}
				if diff := cmp.Diff(wantBody, trimmed); diff != "" {
					t.Errorf("body %s (-want +got):\n%s", d.Body, diff)
				}
				if !verbose && len(got) != 3 {
					t.Errorf("non-verbose body has more than code, status and message: %s", d.Body)
				}
			})
		}
	}
}
