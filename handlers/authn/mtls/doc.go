// Package mtls is the "mtls" authenticator: it trusts the client
// certificate the proxy already verified and takes the subject from
// Request.Source.Principal, which Envoy fills with the first URI SAN (a
// SPIFFE ID in a mesh), else the first DNS SAN, else the subject DN.
//
// trust_domains and allowed_ids restrict which SPIFFE IDs are accepted;
// allowed_ids are SPIFFE IDs whose path segments may be "*" (one segment
// each), chosen over regexps because they cannot be accidentally
// unanchored. The session's Extra holds principal, certificate_present and,
// for SPIFFE IDs, spiffe.trust_domain and spiffe.path.
//
// With no principal the authenticator is not responsible: it returns a 401
// (mtls_required) wrapping pipeline.ErrSkip, so a later authenticator may
// try. It performs no I/O.
//
// It imports pipeline only; it must not import authz, rulestore, envoy or
// another handler package.
package mtls
