package oauth2cc

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no grant goroutine outlives the tests. Idle
// keep-alive connections of the shared transport are not leaks.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}
