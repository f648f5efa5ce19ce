package json

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Config is the json handler's config, with Oathkeeper's keys.
type Config struct {
	// Verbose adds the failure's reason, id and details to the body.
	Verbose bool `json:"verbose"`
	// When selects the failures this handler renders; empty means all.
	When pipeline.When `json:"when"`
}

// Validate parses the when conditions (their CIDRs).
func (c *Config) Validate() error { return c.When.Validate() }

// Handler renders failures as JSON. It is immutable and safe for
// concurrent use.
type Handler struct {
	verbose bool
	when    pipeline.When
}

// New returns the handler for c. It validates c itself, so it is safe to
// call without the registry.
func New(c Config) (pipeline.ErrorHandler, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Handler{verbose: c.Verbose, when: c.When}, nil
}

// Handles reports whether the when conditions select err for r.
func (h *Handler) Handles(r *pipeline.Request, err error) bool { return h.when.Match(r, err) }

// envelope and body are herodot's wire shape. Field order follows what
// clients usually print first; JSON consumers do not depend on it.
type envelope struct {
	Error body `json:"error"`
}

type body struct {
	Code    int            `json:"code"`
	Status  string         `json:"status"`
	Message string         `json:"message"`
	Reason  string         `json:"reason,omitempty"`
	ID      string         `json:"id,omitempty"`
	Request string         `json:"request,omitempty"`
	Details map[string]any `json:"details,omitempty"`
}

// HandleError renders err. The status is pipeline.StatusOf(err); a status
// outside 400–599 (a handler bug) is reported as 500 so a failure can never
// turn into a success status. Headers the failure carries (Retry-After on
// 429, ...) are copied when they are well-formed; malformed ones are
// dropped, never sent (C-14).
func (h *Handler) HandleError(_ context.Context, r *pipeline.Request, err error) (pipeline.Denial, error) {
	status := pipeline.StatusOf(err)
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	var pe *pipeline.Error
	errors.As(err, &pe)

	b := body{Code: status, Status: statusText(status), Message: genericMessage(status)}
	if r != nil {
		b.Request = r.ID
	}
	if h.verbose && pe != nil && pe.Status == status {
		b.Message = pe.Message
		if b.Message == "" {
			b.Message = verboseMessage(status, pe.ID)
		}
		b.Reason, b.ID, b.Details = pe.Reason, pe.ID, pe.Details
	}
	raw, mErr := json.Marshal(envelope{Error: b})
	if mErr != nil {
		// Details held something JSON cannot encode; the rest always can.
		b.Details = nil
		raw, _ = json.Marshal(envelope{Error: b})
	}

	hdr := make(pipeline.Header, 2)
	if pe != nil {
		copySafeHeaders(hdr, pe.Header)
	}
	hdr.Set("content-type", "application/json")
	return pipeline.Denial{Status: status, Header: hdr, Body: raw}, nil
}

// genericMessage is the message a non-verbose handler shows. These are
// the texts Oathkeeper's json handler writes, so clients written for it
// see the same words: herodot's generic errors for the statuses it
// replaces (400, 401, 403, 404, 409, 415, 500), Oathkeeper's own for 429,
// 503 and 504. Other statuses get the generic text of their class.
func genericMessage(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "The request was malformed or contained invalid parameters"
	case http.StatusUnauthorized:
		return "The request could not be authorized"
	case http.StatusForbidden:
		return "The requested action was forbidden"
	case http.StatusNotFound:
		return "The requested resource could not be found"
	case http.StatusConflict:
		return "The resource could not be created due to a conflict"
	case http.StatusUnsupportedMediaType:
		return "The request is using an unknown content type"
	case http.StatusTooManyRequests:
		return "Too many requests"
	case http.StatusServiceUnavailable:
		return "The upstream service is not available"
	case http.StatusGatewayTimeout:
		return "The upstream service is timing out"
	}
	if status >= 500 {
		return "An internal server error occurred, please contact the system administrator"
	}
	return "The request could not be processed"
}

// verboseMessage is the message a verbose handler shows when the failure
// carries none of its own: the text of the error Oathkeeper raises for the
// same failure, which its verbose json handler writes unchanged.
func verboseMessage(status int, id string) string {
	switch {
	case status == http.StatusUnauthorized:
		return "Access credentials are invalid"
	case status == http.StatusForbidden:
		return "Access credentials are not sufficient to access this resource"
	case id == pipeline.ReasonNoRule, id == pipeline.ReasonMethodNotAllowed:
		// Oathkeeper matches the method with the URL: a method no rule
		// allows is a URL that matches no rule.
		return "Requested url does not match any rules"
	case id == pipeline.ReasonAmbiguous:
		return "Expected exactly one rule but found multiple rules"
	}
	return genericMessage(status)
}

func statusText(status int) string {
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "Error"
}

// reserved names are never copied from a failure into a denial: the front
// door or the HTTP framing owns them, and a handler that sets one is wrong.
var reserved = map[string]bool{
	"content-length":    true,
	"content-type":      true,
	"transfer-encoding": true,
	"connection":        true,
	"keep-alive":        true,
	"upgrade":           true,
	"te":                true,
	"trailer":           true,
	"host":              true,
}

// copySafeHeaders copies the failure's client headers into dst, dropping
// any name that is not an RFC 9110 token (pseudo-headers included) and any
// value with a control character (CR, LF, NUL, DEL, ...) or invalid UTF-8.
// A failure's headers may carry text from a remote service, so they are
// checked here, at the last point before the client (C-14).
func copySafeHeaders(dst, src pipeline.Header) {
	for k, vs := range src {
		if !httpguts.ValidHeaderFieldName(k) || reserved[strings.ToLower(k)] {
			continue
		}
		for _, v := range vs {
			if httpguts.ValidHeaderFieldValue(v) && utf8.ValidString(v) {
				dst.Add(k, v)
			}
		}
	}
}

var _ pipeline.ErrorHandler = (*Handler)(nil)
