package idtoken

import (
	"strings"
	"testing"
)

// Issue #8 item 6: the header that carries the token cannot be a
// hop-by-hop, framing or Envoy-internal header; the rule is refused when it
// loads, naming the header.
func TestHeaderPolicyRefusesForbiddenHeaders(t *testing.T) {
	for _, name := range []string{"Connection", "Content-Length", "Transfer-Encoding", "TE", "Upgrade", "X-Envoy-Original-Path"} {
		c := Config{IssuerURL: "https://gw/", JWKSURL: "file:///k.json", Header: name}
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), `header: header "`+name+`" cannot be set`) {
			t.Errorf("header %q: err = %v, want it refused by name", name, err)
		}
	}
	c := Config{IssuerURL: "https://gw/", JWKSURL: "file:///k.json", Header: "X-Id-Token"}
	if err := c.Validate(); err != nil {
		t.Errorf("X-Id-Token: %v", err)
	}
}
