package pipeline

import (
	"errors"
	"net/http"
	"strings"
)

// ErrSkip is returned by an authenticator that is not responsible for a
// request (no credential of its kind): the chain passes to the next one.
var ErrSkip = errors.New("not responsible")

// Error is a pipeline failure with the HTTP status the client should see.
// Handlers return it (usually through the constructors below) so that error
// handlers and the decision log can classify failures without comparing
// strings.
type Error struct {
	// Status is the HTTP status code (401, 403, 429, 500, 503, ...).
	Status int
	// ID is a stable snake_case reason for logs and metrics, e.g.
	// "jwt_expired" or "introspection_unavailable".
	ID string
	// Message is a short public message; Reason may carry more detail that
	// only verbose error handlers reveal. Neither may contain a credential.
	Message, Reason string
	// Details carries structured, non-secret detail for verbose handlers.
	Details map[string]any
	// Header holds headers for the client response, e.g. Retry-After on 429.
	Header Header
	// Err is the cause (kept for logs; never shown to clients).
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(strings.ToLower(http.StatusText(e.Status)))
	if e.ID != "" {
		b.WriteString(" (")
		b.WriteString(e.ID)
		b.WriteByte(')')
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnauthorized) (and the other sentinels) true for
// any *Error of the same status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.ID == "" && t.Reason == "" && t.Err == nil && t.Status == e.Status
}

// Sentinels for errors.Is; compare by status.
var (
	ErrUnauthorized    = &Error{Status: http.StatusUnauthorized}
	ErrForbidden       = &Error{Status: http.StatusForbidden}
	ErrNotFound        = &Error{Status: http.StatusNotFound}
	ErrTooManyRequests = &Error{Status: http.StatusTooManyRequests}
	ErrInternal        = &Error{Status: http.StatusInternalServerError}
	ErrUnavailable     = &Error{Status: http.StatusServiceUnavailable}
)

// NewError returns an *Error with the given status, reason id and cause.
func NewError(status int, id, reason string, cause error) *Error {
	return &Error{Status: status, ID: id, Reason: reason, Err: cause}
}

// Unauthorized returns a 401 error: the credentials are missing or invalid.
func Unauthorized(id, reason string, cause error) *Error {
	return NewError(http.StatusUnauthorized, id, reason, cause)
}

// Forbidden returns a 403 error: the caller is known but not allowed.
func Forbidden(id, reason string, cause error) *Error {
	return NewError(http.StatusForbidden, id, reason, cause)
}

// Internal returns a 500 error: a misconfiguration or unexpected answer.
func Internal(id, reason string, cause error) *Error {
	return NewError(http.StatusInternalServerError, id, reason, cause)
}

// Unavailable returns a 503 error: a dependency is down or timed out.
func Unavailable(id, reason string, cause error) *Error {
	return NewError(http.StatusServiceUnavailable, id, reason, cause)
}

// StatusOf returns the HTTP status an error maps to: the Status of the first
// *Error in its chain, 401 for ErrSkip (nobody was responsible), else 500.
func StatusOf(err error) int {
	var pe *Error
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &pe):
		return pe.Status
	case errors.Is(err, ErrSkip):
		return http.StatusUnauthorized
	default:
		return http.StatusInternalServerError
	}
}

// StatusKey returns Oathkeeper's name for a status as used in error handler
// "when" conditions: lower-case status text with '_' for spaces
// ("unauthorized", "internal_server_error").
func StatusKey(status int) string {
	t := http.StatusText(status)
	if t == "" {
		return "internal_server_error"
	}
	return strings.ReplaceAll(strings.ToLower(t), " ", "_")
}

// ReasonOf returns the stable reason id of err: the ID of the first *Error
// that has one, else fallback.
func ReasonOf(err error, fallback string) string {
	for e := err; e != nil; {
		var pe *Error
		if !errors.As(e, &pe) {
			break
		}
		if pe.ID != "" {
			return pe.ID
		}
		e = pe.Err
	}
	return fallback
}
