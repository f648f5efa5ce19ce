// Package pipeline is the heart of Portcullis: the domain types of one
// access check (Request, Session, Decision, Denial), the four handler
// interfaces, the typed handler Registry, Compile (rule specs plus global
// handler config into an immutable Snapshot) and Execute, which runs one
// request through the matched rule with Oathkeeper's chain semantics.
//
// pipeline is the bottom layer. It imports the standard library and its own
// subpackages only: never Envoy, gRPC, koanf, zap or any handler. Front doors
// (package authz) translate their wire format into a Request; rule sources
// (package rulestore) decode files into RuleSpecs and publish Snapshots.
package pipeline
