// Package match owns rule URL matching with Ory Oathkeeper's semantics: the
// "<...>" delimiter syntax of match.url under the regexp and glob strategies
// (Compile, Pattern), the string a request is matched as (MatchString), the
// host and path canonicalisation that must run before matching
// (CanonicalHost, NormalizePath, PathLimits), and an Index that finds every
// rule matching a request without scanning them all, and the rules a
// request would select if its path were cased differently (CaseVariants).
//
// Compatibility with Oathkeeper (rule/rule.go, rule/engine_*.go, ory/ladon's
// compiler) is the contract; testdata/matching_cases.yaml pins it. The
// deliberate departures are safety ones: NormalizePath rejects encoded
// slashes, backslashes, ';', double encoding, fragments, control
// characters, invalid UTF-8 and ambiguous segments that Oathkeeper would
// pass on; hosts, in requests and in rules, are compared in CanonicalHost
// form where Oathkeeper compares them byte for byte; and a regexp is run by
// Go's linear-time RE2 engine whenever RE2 accepts it. Only patterns RE2
// rejects (lookahead, backreferences) use the backtracking regexp2 engine,
// which Oathkeeper uses for everything, bounded by a match timeout. The
// most common shapes ("<http|https>://host/svc/<.*>", "<[0-9]+>" before a
// '/') need no engine at all: a partsMatcher gives RE2's answer and
// captures with string comparisons, in a fraction of the memory.
//
// Everything here is compiled once per rule snapshot and is immutable
// afterwards, so it is safe for concurrent use without locks.
//
// match is imported by pipeline, which must stay at the bottom of the import
// graph: this package may import only the standard library,
// github.com/dlclark/regexp2/v2 and github.com/gobwas/glob. Never Envoy,
// gRPC, koanf, zap, pipeline itself or any handler.
package match
