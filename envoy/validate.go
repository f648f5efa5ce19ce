package envoy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// reasonInvalidDecision is the reason id of ValidateDecision errors.
const reasonInvalidDecision = "invalid_decision"

// ValidateDecision reports every part of d that ToCheckResponse would have
// to drop, so that the caller can fail closed instead: run it first and
// answer an error with a 500 deny (ToCheckResponse of a Decision with
// Denial.Status 500). Dropping silently is not enough on its own: a header a
// mutator meant to set would simply be missing upstream.
//
// It checks the parts that go on the wire for this outcome: for an allow,
// the Session's upstream and response headers, the names to remove and the
// query mutations; for a deny, Denial.Header and Denial.Status (0 or
// 200..599). A header or query name must be non-empty; names and values
// must not contain NUL, CR or LF (they would split a header line, and
// go-control-plane's rule for HeaderValue, `^[^\x00\n\r]*$`, forbids them)
// and must be valid UTF-8: proto3 string fields cannot carry anything else,
// the response would fail to marshal and the gRPC error would hand the
// decision to Envoy's failure_mode_allow.
//
// The error is a *pipeline.Error with status 500 and reason
// "invalid_decision" that joins one error per problem, sorted. It names the
// offending header or parameter but never includes a value: values may be
// credentials. ValidateDecision does not allocate when d is valid.
func ValidateDecision(d *pipeline.Decision) error {
	if d == nil {
		return pipeline.Internal(reasonInvalidDecision, "nil decision", nil)
	}
	var errs []error
	if d.Allowed {
		if s := d.Session; s != nil {
			errs = checkHeaders(errs, "upstream header", s.Header)
			errs = checkNames(errs, "header to remove", s.RemoveHeaders)
			errs = checkHeaders(errs, "response header", s.ResponseHeader)
			for k, v := range s.SetQuery {
				errs = check(errs, "query parameter", k, v)
			}
			errs = checkNames(errs, "query parameter to remove", s.RemoveQuery)
		}
	} else {
		if st := d.Denial.Status; st != 0 && (st < 200 || st > 599) {
			errs = append(errs, fmt.Errorf("denial status %d: not a final HTTP status", st))
		}
		errs = checkHeaders(errs, "denial header", d.Denial.Header)
	}
	if len(errs) == 0 {
		return nil
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return pipeline.Internal(reasonInvalidDecision, "", errors.Join(errs...))
}

func checkHeaders(errs []error, what string, h pipeline.Header) []error {
	for k, vs := range h {
		if p := nameProblem(k); p != "" {
			errs = append(errs, fmt.Errorf("%s %q: %s", what, k, p))
			continue
		}
		for _, v := range vs {
			if p := valueProblem(v); p != "" {
				errs = append(errs, fmt.Errorf("%s %q: %s", what, k, p))
				break
			}
		}
	}
	return errs
}

func checkNames(errs []error, what string, names []string) []error {
	for _, n := range names {
		if p := nameProblem(n); p != "" {
			errs = append(errs, fmt.Errorf("%s %q: %s", what, n, p))
		}
	}
	return errs
}

func check(errs []error, what, k, v string) []error {
	if p := nameProblem(k); p != "" {
		return append(errs, fmt.Errorf("%s %q: %s", what, k, p))
	}
	if p := valueProblem(v); p != "" {
		return append(errs, fmt.Errorf("%s %q: %s", what, k, p))
	}
	return errs
}

// nameProblem says what is wrong with a header or query parameter name, or
// returns "".
func nameProblem(k string) string {
	switch {
	case k == "":
		return "empty name"
	case hasCTL(k):
		return "name contains NUL, CR or LF"
	case !utf8.ValidString(k):
		return "name is not valid UTF-8"
	}
	return ""
}

// valueProblem says what is wrong with a header or query parameter value,
// or returns "".
func valueProblem(v string) string {
	switch {
	case hasValueCTL(v):
		return "value contains a control character"
	case !utf8.ValidString(v):
		return "value is not valid UTF-8"
	}
	return ""
}

// hasValueCTL reports control characters RFC 9110 §5.5 does not allow in
// a field value: everything below 0x20 except HTAB, and DEL.
func hasValueCTL(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return true
		}
	}
	return false
}

func validName(k string) bool  { return nameProblem(k) == "" }
func validValue(v string) bool { return valueProblem(v) == "" }
