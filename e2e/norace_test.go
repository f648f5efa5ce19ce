//go:build !race

package e2e

// raceBuild is false without -race, which needs cgo and a C compiler: the
// suite then runs on a machine with only Go.
const raceBuild = false
