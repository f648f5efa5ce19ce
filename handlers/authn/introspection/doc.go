// Package introspection is the "oauth2_introspection" authenticator: it
// asks an RFC 7662 endpoint about an opaque token and, when the token is an
// active access token for the configured audiences, issuers and scopes,
// sets the subject and extra from the answer.
//
// Oathkeeper's keys, check order (token_use 403, active 401, exp 401,
// audience 403, issuer 403, scope 403) and status mapping (429 passed on,
// other non-200 500) are kept. Portcullis differs where Oathkeeper was
// unsafe: answers are read strictly (exact member names and types, no
// duplicate members: SECURITY D-05, D-17); the call has a deadline and
// bounded retries (retry.give_up_after is the whole budget, 4xx never
// retried); an unreachable endpoint is a 503; the cache key covers the
// token, the URL and every option that shapes the call, every check re-runs
// on cached answers (GHSA-qvp4-rpmr-xwrr, GHSA-4mq7-pvjg-xp2r, D-07), and
// entries never outlive the token's exp nor cache.ttl (default 30s, D-09).
// With scope_strategy none the required scopes are sent as scope, and the
// answer is cached under that scope, where Oathkeeper skipped the cache.
//
// introspection imports pipeline and handlers/internal/*; it must not
// import another handler package, authz, rulestore or envoy.
package introspection
