package envoy

import (
	"net/http"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// ToCheckResponse translates a decision into the CheckResponse Envoy acts on.
// Run ValidateDecision first and turn its error into a 500 deny: this
// function never fails and never panics, so it silently drops what it must
// not emit (see below).
//
// Envoy decides by status.code alone (ENVOY_PROTOCOL.md §3), so:
//   - Allowed: status OK and an ok_response carrying d.Session's mutations:
//     headers, headers_to_remove, response_headers_to_add,
//     query_parameters_to_set (sorted by key) and query_parameters_to_remove.
//   - Denied: a non-zero status.code, always, whatever d.Denial.Status is
//     (see grpcCode), with status.message = d.Reason and a denied_response
//     carrying the HTTP status, d.Denial.Header and d.Denial.Body. Status 0
//     becomes an explicit 403, Envoy's own default; a status outside
//     200..599 becomes 500.
//   - A nil decision is a 500 deny: fail closed.
//
// Both carry dynamic_metadata (see dynamicMetadata), which Envoy publishes
// under envoy.filters.http.ext_authz for access logs, RBAC and rate limits.
//
// Header keys are emitted in sorted order and values in slice order, so the
// output is deterministic. Every header option sets `append` as described on
// headerOptions. A header name or value Envoy could not take (empty name;
// NUL, CR or LF; invalid UTF-8, which proto3 strings cannot carry) is
// dropped; so are such names in the remove lists and such query parameters.
// When every value of an upstream header or query parameter is dropped, its
// name goes to headers_to_remove or query_parameters_to_remove instead: the
// session owns that name, and the client's own copy must not reach the
// upstream in its place.
func ToCheckResponse(d *pipeline.Decision) *authv3.CheckResponse {
	d = orInvalid(d)
	if d.Allowed {
		return allow(d)
	}
	return deny(d)
}

// orInvalid returns d, or the 500 denial that stands for a nil decision.
func orInvalid(d *pipeline.Decision) *pipeline.Decision {
	if d == nil {
		return &pipeline.Decision{Reason: "invalid_decision", Denial: pipeline.Denial{Status: http.StatusInternalServerError}}
	}
	return d
}

func allow(d *pipeline.Decision) *authv3.CheckResponse {
	ok := &authv3.OkHttpResponse{}
	if s := d.Session; s != nil {
		var orphans []string
		ok.Headers, orphans = headerOptions(s.Header, true)
		ok.HeadersToRemove = removals(s.RemoveHeaders, s.Header, orphans)
		ok.ResponseHeadersToAdd, _ = headerOptions(s.ResponseHeader, true)
		ok.QueryParametersToSet, orphans = queryParams(s.SetQuery)
		ok.QueryParametersToRemove = appendMissing(filterNames(s.RemoveQuery, validName), orphans)
	}
	return &authv3.CheckResponse{
		Status:          &status.Status{Code: int32(code.Code_OK)},
		HttpResponse:    &authv3.CheckResponse_OkResponse{OkResponse: ok},
		DynamicMetadata: dynamicMetadata(d),
	}
}

func deny(d *pipeline.Decision) *authv3.CheckResponse {
	st := httpStatus(d.Denial.Status)
	headers, _ := headerOptions(d.Denial.Header, false)
	return &authv3.CheckResponse{
		Status: &status.Status{Code: int32(grpcCode(st)), Message: validUTF8(d.Reason)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(st)},
			Headers: headers,
			Body:    validUTF8(string(d.Denial.Body)),
		}},
		DynamicMetadata: dynamicMetadata(d),
	}
}

// httpStatus returns the status of the local reply: 403 (Envoy's default)
// for 0, 500 for anything Envoy could not send as a final response.
func httpStatus(s int) int {
	switch {
	case s == 0:
		return http.StatusForbidden
	case s < 200 || s > 599:
		return http.StatusInternalServerError
	}
	return s
}

// grpcCode maps the HTTP status of a denial to the in-band google.rpc code.
// Envoy only checks that it is not OK (any other code is a deny); the exact
// code is for humans reading logs and traces. It is never OK, so a denial
// can never turn into an allow.
func grpcCode(s int) code.Code {
	switch {
	case s == http.StatusBadRequest:
		return code.Code_INVALID_ARGUMENT
	case s == http.StatusUnauthorized:
		return code.Code_UNAUTHENTICATED
	case s == http.StatusTooManyRequests:
		return code.Code_RESOURCE_EXHAUSTED
	case s == http.StatusServiceUnavailable, s == http.StatusGatewayTimeout:
		return code.Code_UNAVAILABLE
	case s >= 500:
		return code.Code_INTERNAL
	default: // 403, 404, other 4xx, redirects
		return code.Code_PERMISSION_DENIED
	}
}

// headerOptions converts a header map into HeaderValueOptions, keys sorted,
// and returns the valid keys none of whose values survived (orphans).
//
// The first value of each key always carries an explicit `append: false`:
// overwrite-or-add on every Envoy release. Leaving `append` unset would mean
// append_action's default APPEND_IF_EXISTS_OR_ADD on Envoy >= 1.38 (PR
// #42878), i.e. a client-sent copy would survive next to ours.
//
// Later values of the same key depend on where the headers go:
//   - explicitAppend (ok_response.headers, response_headers_to_add):
//     `append: true`. Upstream, Envoy comma-appends to the value just set
//     (a true on a header that does not exist yet is ignored on <= 1.37,
//     #42857, which is why it is never used for the first value); on the
//     client response it adds another line (read in <= 1.37 source; the
//     >= 1.38 refactor maps a deprecated `append: true` to its legacy
//     append, so verify several set-cookie lines there [inferred]).
//   - !explicitAppend (denied_response.headers): `append` is left unset.
//     Envoy <= 1.37 builds a denial only from the entries whose append is
//     false or unset (it removes those names, then adds every entry, so
//     several set-cookie lines work) and silently drops `append: true`
//     entries; >= 1.38 reads unset as APPEND_IF_EXISTS_OR_ADD, another line.
//
// The options, header values and bool wrappers are cut from one backing
// array each: three allocations instead of three per value.
func headerOptions(h pipeline.Header, explicitAppend bool) ([]*corev3.HeaderValueOption, []string) {
	if len(h) == 0 {
		return nil, nil
	}
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	opts := make([]*corev3.HeaderValueOption, 0, n)
	hvo := make([]corev3.HeaderValueOption, n)
	hv := make([]corev3.HeaderValue, n)
	bv := make([]wrapperspb.BoolValue, n)
	orphans := eachHeaderOption(h, explicitAppend, func(k, v string, app appendMode) {
		i := len(opts)
		hv[i].Key, hv[i].Value = k, v
		hvo[i].Header = &hv[i]
		if app != appendUnset {
			bv[i].Value = app == appendTrue
			hvo[i].Append = &bv[i]
		}
		opts = append(opts, &hvo[i])
	})
	if len(opts) == 0 {
		opts = nil
	}
	return opts, orphans
}

// appendMode is the `append` of one header option.
type appendMode uint8

const (
	appendUnset appendMode = iota
	appendFalse
	appendTrue
)

// eachHeaderOption calls f for each header option of h, in the order and
// with the `append` headerOptions documents, and returns the orphans. Both
// headerOptions and the wire encoder (codec_response.go) build on it.
func eachHeaderOption(h pipeline.Header, explicitAppend bool, f func(k, v string, app appendMode)) []string {
	var (
		orphans []string
		buf     [16]string // the keys of most maps, without an allocation
	)
	for _, k := range sortedKeys(buf[:0], h) {
		if !validName(k) {
			continue
		}
		emitted := false
		for _, v := range h[k] {
			if !validValue(v) {
				continue
			}
			app := appendUnset
			switch {
			case !emitted:
				app = appendFalse
			case explicitAppend:
				app = appendTrue
			}
			f(k, v, app)
			emitted = true
		}
		if !emitted {
			orphans = append(orphans, k)
		}
	}
	return orphans
}

// sortedKeys appends the keys of m to dst and sorts them.
func sortedKeys[V any](dst []string, m map[string]V) []string {
	for k := range m {
		dst = append(dst, k)
	}
	slices.Sort(dst)
	return dst
}

// removals builds headers_to_remove: the session's valid names, minus any
// name the session also sets, plus the orphans of headerOptions.
//
// A name that is both set and removed is only set. Envoy <= 1.37 applies
// headers_to_remove after the sets (ext_authz.cc), which would strip the
// value the session just set (say an id_token swapped into authorization),
// and removing is redundant anyway: the explicit `append: false` already
// replaces the client's copy.
func removals(names []string, set pipeline.Header, orphans []string) []string {
	out := filterNames(names, func(n string) bool {
		return validName(n) && !sets(set, n)
	})
	return appendMissing(out, orphans)
}

// sets reports whether headerOptions emits name (in any case) from h: a
// valid name with at least one valid value.
func sets(h pipeline.Header, name string) bool {
	for k, vs := range h {
		if strings.EqualFold(k, name) && validName(k) && slices.ContainsFunc(vs, validValue) {
			return true
		}
	}
	return false
}

// queryParams converts SetQuery, sorted by key for deterministic output, and
// returns the valid keys whose value was dropped.
func queryParams(q map[string]string) ([]*corev3.QueryParameter, []string) {
	if len(q) == 0 {
		return nil, nil
	}
	out := make([]*corev3.QueryParameter, 0, len(q))
	orphans := eachQueryParam(q, func(k, v string) {
		out = append(out, &corev3.QueryParameter{Key: k, Value: v})
	})
	if len(out) == 0 {
		out = nil
	}
	return out, orphans
}

// eachQueryParam calls f for each parameter queryParams emits, in order,
// and returns the orphans.
func eachQueryParam(q map[string]string, f func(k, v string)) []string {
	var (
		orphans []string
		buf     [16]string
	)
	for _, k := range sortedKeys(buf[:0], q) {
		switch v := q[k]; {
		case !validName(k):
		case !validValue(v):
			orphans = append(orphans, k)
		default:
			f(k, v)
		}
	}
	return orphans
}

// filterNames returns the names keep accepts, reusing names itself when it
// accepts them all (the common case): no allocation then.
func filterNames(names []string, keep func(string) bool) []string {
	for i, n := range names {
		if keep(n) {
			continue
		}
		out := slices.Clone(names[:i])
		for _, m := range names[i+1:] {
			if keep(m) {
				out = append(out, m)
			}
		}
		return out
	}
	return names
}

// appendMissing appends the names in extra that dst lacks (exact
// comparison: query parameter names are case-sensitive, and a header name
// removed twice is harmless). The result never shares dst's backing array,
// which may be the session's own slice.
func appendMissing(dst, extra []string) []string {
	if len(extra) == 0 {
		return dst
	}
	out := slices.Clip(dst)
	for _, n := range extra {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
