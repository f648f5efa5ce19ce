// Package envoy translates between Envoy's ext_authz gRPC messages and the
// pipeline's domain types, in both directions:
//
//   - ToRequest turns an envoy.service.auth.v3 CheckRequest into a
//     pipeline.Request, reading the request attributes the way Envoy really
//     fills them (path with the query inside it, pseudo-headers in the header
//     map, comma-joined duplicates or the raw header_map of
//     encode_raw_headers) rather than the way the proto comments describe
//     them.
//   - ValidateDecision and ToCheckResponse turn a pipeline.Decision into a
//     CheckResponse whose meaning is the same on every Envoy release we
//     support: the decision travels in status.code, header mutations carry
//     an explicit append flag, and nothing that could split a header line or
//     break proto marshalling is ever emitted.
//   - ReadCheckRequest and AppendCheckResponse do the same on the wire
//     form, for the gRPC server's codec: they read a CheckRequest's bytes
//     straight into a pipeline.Request and write a decision's
//     CheckResponse bytes, without the generated messages. Their outcome
//     is always that of proto.Unmarshal + ToRequest and ToCheckResponse +
//     proto.Marshal (differential fuzz tests hold them to it); requests
//     the fast reader cannot vouch for take the standard path.
//
// The package is pure: no I/O, no state, no logging, safe for concurrent
// use. It imports pipeline, go-control-plane's generated API and the
// protobuf runtime only; it must not import grpc, zap, authz, rulestore or
// any handler. The gRPC server that calls it lives in package authz.
//
// The examples directory holds sample Envoy bootstrap configs (gRPC and HTTP
// ext_authz modes); the package tests decode them into go-control-plane's
// Bootstrap type and validate them, so they cannot drift from Envoy's API.
package envoy
