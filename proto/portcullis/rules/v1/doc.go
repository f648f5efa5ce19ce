// Package rulesv1 holds the Go code generated from rules.proto: the Rule
// resource that carries one access rule over xDS. Nothing else lives
// here; `task proto` regenerates rules.pb.go and a test fails
// when the committed file is stale.
package rulesv1
