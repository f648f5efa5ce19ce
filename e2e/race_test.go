//go:build race

package e2e

// raceBuild is true when the tests run under -race: the binary they start
// is then built with the race detector too.
const raceBuild = true
