// Package e2e holds black-box tests of the built portcullis binary: it is
// compiled once, started on free loopback ports with a temporary config,
// and driven over real sockets the way Envoy drives it.
package e2e
