package hydrator

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

func reply(status int, body string) func(http.ResponseWriter, *http.Request, []byte, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func TestAnswersThatFailClosed(t *testing.T) {
	tests := []struct {
		name       string
		reply      func(http.ResponseWriter, *http.Request, []byte, int)
		basic      bool
		wantStatus int
		wantID     string
		wantReason string
	}{
		{"other subject", reply(200, `{"subject":"mallory","extra":{}}`), false, 500, "hydrator_subject_mismatch", reasonMalformed},
		{"empty object", reply(200, `{}`), false, 500, "hydrator_subject_mismatch", reasonMalformed},
		{"empty body", reply(200, ``), false, 500, "hydrator_response_invalid", reasonMalformed},
		{"null", reply(200, `null`), false, 500, "hydrator_response_invalid", reasonMalformed},
		{"array", reply(200, `[{"subject":"alice"}]`), false, 500, "hydrator_response_invalid", reasonMalformed},
		{"D-17 duplicate subject", reply(200, `{"subject":"mallory","subject":"alice"}`), false, 500, "hydrator_response_invalid", reasonMalformed},
		{"D-17 subject of the wrong type", reply(200, `{"subject":["alice"]}`), false, 500, "hydrator_response_invalid", reasonMalformed},
		{"extra of the wrong type", reply(200, `{"subject":"alice","extra":"x"}`), false, 500, "hydrator_response_invalid", reasonMalformed},
		{"trailing garbage", reply(200, `{"subject":"alice"} {}`), false, 500, "hydrator_response_invalid", reasonMalformed},
		{"C-05 header value with CRLF", reply(200, `{"subject":"alice","header":{"X-A":["a\r\nX-Admin: 1"]}}`), false, 500, "hydrator_header_invalid", ""},
		{"header name not a token", reply(200, `{"subject":"alice","header":{"X A":["a"]}}`), false, 500, "hydrator_header_invalid", ""},
		{"401 with basic auth", reply(401, ``), true, 500, "hydrator_invalid_credentials", reasonInvalidCred},
		{"401 without basic auth", reply(401, ``), false, 500, "hydrator_no_credentials", reasonNoCred},
		{"404", reply(404, `{"subject":"alice"}`), false, 500, "hydrator_unexpected_status", reasonNon200},
		{"201 is not 200", reply(201, `{"subject":"alice"}`), false, 500, "hydrator_unexpected_status", reasonNon200},
		{"429 is final", reply(429, ``), false, 500, "hydrator_unexpected_status", reasonNon200},
		{"redirect is refused", func(w http.ResponseWriter, r *http.Request, _ []byte, _ int) {
			http.Redirect(w, r, "http://127.0.0.66:9/latest/meta-data/", http.StatusFound)
		}, false, 500, "hydrator_redirect", reasonNon200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, tt.reply)
			api := map[string]any{"url": rec.srv.URL}
			if tt.basic {
				api["auth"] = map[string]any{"basic": map[string]any{"username": "gw", "password": "p4ss"}}
			}
			r, s := fixture()
			before := *s
			err := build(t, map[string]any{"api": api}, nil, nil).Mutate(context.Background(), r, s)
			var pe *pipeline.Error
			if !errors.As(err, &pe) || pe.Status != tt.wantStatus || pe.ID != tt.wantID || (tt.wantReason != "" && pe.Reason != tt.wantReason) {
				t.Fatalf("err = %v, want %d %s %q", err, tt.wantStatus, tt.wantID, tt.wantReason)
			}
			if diff := cmp.Diff(before.Extra, s.Extra); diff != "" || s.Header.Get("x-user") != "alice" {
				t.Fatalf("session changed on failure: %s %v", diff, s.Header)
			}
			if strings.Contains(err.Error(), "p4ss") || strings.Contains(err.Error(), "client-token") {
				t.Fatalf("error leaks a credential: %v", err)
			}
			if rec.count() != 1 {
				t.Fatalf("calls = %d, want 1 (not retried)", rec.count())
			}
		})
	}
}

func TestAnswerWithoutExtraOrHeaderClearsThem(t *testing.T) {
	rec := newRecorder(t, reply(200, `{"subject":"alice"}`))
	r, s := fixture()
	if err := build(t, map[string]any{"api": map[string]any{"url": rec.srv.URL}}, nil, nil).Mutate(context.Background(), r, s); err != nil {
		t.Fatal(err)
	}
	if s.Extra != nil || s.Header != nil {
		t.Fatalf("Oathkeeper replaces the session: extra %v header %v", s.Extra, s.Header)
	}
	if s.Subject != "alice" || s.MatchContext.Method != "GET" {
		t.Fatalf("subject and match context must stay: %+v", s)
	}
}

func TestRetriesUnderOneDeadline(t *testing.T) {
	// A minute, which no test reaches, unless the API never answers:
	// then the deadline is the subject, and 300ms end the call.
	cfg := func(url string) map[string]any {
		return map[string]any{"api": map[string]any{"url": url, "retry": map[string]any{"give_up_after": "1m", "max_delay": "20ms"}}}
	}
	hangingCfg := func(url string) map[string]any {
		return map[string]any{"api": map[string]any{"url": url, "retry": map[string]any{"give_up_after": "300ms", "max_delay": "20ms"}}}
	}
	t.Run("5xx then 200 succeeds", func(t *testing.T) {
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, b []byte, n int) {
			if n < 3 {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			echo(w, r, b, n)
		})
		r, s := fixture()
		if err := build(t, cfg(rec.srv.URL), nil, nil).Mutate(context.Background(), r, s); err != nil {
			t.Fatal(err)
		}
		if rec.count() != 3 || s.Extra["role"] != "admin" {
			t.Fatalf("calls = %d extra = %v", rec.count(), s.Extra)
		}
		for i, b := range rec.bodies {
			if len(b) == 0 || string(b) != string(rec.bodies[0]) {
				t.Fatalf("attempt %d sent a different body: %q", i, b)
			}
		}
	})
	t.Run("persistent 500 gives up after the last attempt", func(t *testing.T) {
		rec := newRecorder(t, reply(500, ""))
		r, s := fixture()
		err := build(t, cfg(rec.srv.URL), nil, nil).Mutate(context.Background(), r, s)
		if pipeline.ReasonOf(err, "") != "hydrator_unexpected_status" || pipeline.StatusOf(err) != 500 {
			t.Fatalf("err = %v", err)
		}
		if rec.count() != remotecall.MaxAttempts {
			t.Fatalf("calls = %d, want %d", rec.count(), remotecall.MaxAttempts)
		}
	})
	t.Run("hanging API is a 503 at the deadline", func(t *testing.T) {
		// The API never answers: give_up_after is the only end.
		release := make(chan struct{})
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ []byte, _ int) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		t.Cleanup(func() { close(release) }) // runs before the recorder's Close
		r, s := fixture()
		err := build(t, hangingCfg(rec.srv.URL), nil, nil).Mutate(context.Background(), r, s)
		if pipeline.ReasonOf(err, "") != "hydrator_unavailable" || pipeline.StatusOf(err) != 503 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("caller cancellation is a 503", func(t *testing.T) {
		rec := newRecorder(t, reply(500, ""))
		r, s := fixture()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := build(t, cfg(rec.srv.URL), nil, nil).Mutate(ctx, r, s)
		if pipeline.StatusOf(err) != 503 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unreachable API is a 503", func(t *testing.T) {
		rec := newRecorder(t, echo)
		rec.srv.Close()
		r, s := fixture()
		err := build(t, cfg(rec.srv.URL), nil, nil).Mutate(context.Background(), r, s)
		if pipeline.ReasonOf(err, "") != "hydrator_unreachable" || pipeline.StatusOf(err) != 503 {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestAnswerSizeIsLimited(t *testing.T) {
	rec := newRecorder(t, reply(200, `{"subject":"alice","extra":{"blob":"`+strings.Repeat("x", 4096)+`"}}`))
	client := outbound.New(outbound.Options{Timeout: time.Minute, MaxBodyBytes: 1024})
	r, s := fixture()
	err := build(t, map[string]any{"api": map[string]any{"url": rec.srv.URL}}, client, nil).Mutate(context.Background(), r, s)
	if pipeline.ReasonOf(err, "") != "hydrator_response_too_large" || pipeline.StatusOf(err) != 500 {
		t.Fatalf("err = %v", err)
	}
	if rec.count() != 1 {
		t.Fatalf("calls = %d: an oversized answer must not be retried", rec.count())
	}
}
