// Package cel is the "cel" authorizer: a Common Expression Language
// (github.com/google/cel-go) expression, compiled and type-checked once
// when the rule compiles, decides each request.
//
// Variables: request (map: method, scheme, host, path, query as a map of
// string lists, headers with lower-case names and repeated values joined
// by ",", looked up case-insensitively, context_extensions, peer
// {principal, address}), subject (string), extra (map(string, dyn)) and
// captures (list(string), the rule's regexp capture groups). The strings
// and sets extension libraries are available.
//
// The expression must have the static type bool. true allows; false is a
// 403 (cel_denied). Evaluation errors, including a read of an absent key,
// are a 403 (cel_evaluation_failed) rather than a 500, because the client
// controls them; each evaluation is capped at CostLimit
// (cel_cost_limit_exceeded). Nothing ever allows on error. CEL's error
// texts are not propagated since they can quote request values.
//
// Evaluation reuses the compiled program and a pooled, lazy activation:
// request fields are converted only when the expression reads them.
//
// It imports pipeline and cel-go; it must not import authz, rulestore,
// envoy or another handler package.
package cel
