// Package authz holds Portcullis's front doors: the gRPC
// envoy.service.auth.v3.Authorization server (with grpc.health.v1,
// reflection, recovery and logging interceptors; Check goes through its
// own codec, which reads and writes the wire form directly) and the HTTP
// API (health, JWKS). Each check reads the current rule snapshot once, runs it, and
// writes one decision log line.
//
// authz reads rules through the one-method Snapshots interface; it never
// imports rulestore, a handler package or a config library.
package authz
