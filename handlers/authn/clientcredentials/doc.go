// Package clientcredentials is the "oauth2_client_credentials"
// authenticator: a caller presents its OAuth 2.0 client id and secret as
// HTTP Basic credentials, and the handler checks them by performing a
// client-credentials grant at the token endpoint (requesting
// required_scope). The subject is the client id.
//
// Oathkeeper's keys and its token-endpoint status table are kept (429, 503,
// 500, 504 and 404 passed on; other statuses 401; no answer 503). Portcullis
// bounds the grant with a deadline and retries (4xx never retried), caches
// tokens under a salted digest that covers the secret, never the secret
// itself, and never lets a cached token outlive its expiry or cache.ttl.
// The grant itself lives in handlers/internal/oauth2cc.
//
// clientcredentials imports pipeline and handlers/internal/*; it must not
// import another handler package, authz, rulestore or envoy.
package clientcredentials
