// Package introspection is the "oauth2_introspection" authenticator: it
// asks an RFC 7662 endpoint about an opaque token and, when the token is an
// active access token for the configured audiences, issuers and scopes,
// sets the subject and extra from the answer.
//
// Oathkeeper's keys, check order (token type 403, active 401, exp 401,
// audience 403, issuer 403, scope 403) and status mapping (429 passed on,
// other non-200 500) are kept. Portcullis differs where Oathkeeper was
// unsafe:
//
//   - answers are read strictly (exact member names and types, no
//     duplicate members: SECURITY D-05, D-17); an active member that is
//     not a JSON boolean (missing, null, "true", 1) is a 401 with its own
//     reason, introspection_active_invalid;
//   - the token type is checked against allowed_token_types (default
//     [access_token]): token_use as in Oathkeeper, and also token_type,
//     which Oathkeeper ignored, so a refresh token never authenticates a
//     request unless the rule allows refresh_token (issue #8);
//   - the endpoint refusing this service's own credentials (401, 403, 400
//     invalid_client) is a 500 with the reason
//     introspection_client_unauthorized, not introspection_failed;
//   - the call has a deadline and bounded retries (retry.give_up_after is
//     the whole call, default 150ms, 4xx never retried), within the
//     check's own deadline; an unreachable endpoint is a 503;
//   - concurrent checks of one token share one call (remotecall.Coalesce,
//     keyed like the cache), each still bounded by its own deadline.
//
// Caching follows Oathkeeper's rules: only an answer that passed every
// check of the rule that fetched it is stored, so rejected token types are
// never cached; a rule with scope_strategy none and required_scope neither
// reads nor fills the cache, since the endpoint judges the scope on each
// call; every check re-runs on a cached answer for the rule at hand, which
// may share it with rules of other requirements (GHSA-qvp4-rpmr-xwrr,
// D-07). Portcullis adds: the key covers the token, the URL and every
// option that shapes the call (GHSA-4mq7-pvjg-xp2r), and entries never
// outlive the token's exp nor cache.ttl (default 30s, D-09).
//
// introspection imports pipeline and handlers/internal/*; it must not
// import another handler package, authz, rulestore or envoy.
package introspection
