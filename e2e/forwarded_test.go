package e2e

import (
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serve.api.forwarded reaches the decision API: forwarded headers are
// believed from the configured proxies only.
func TestDecisionsForwardedTrustConfig(t *testing.T) {
	dir := setup(t, allowRules)
	writeFile(t, filepath.Join(dir, "config.yaml"), config+"serve:\n  api:\n    forwarded:\n      trusted_proxies: [127.0.0.2/32]\n")
	p := startPortcullis(t, dir, "serve", "--config", "config.yaml")

	for _, tt := range []struct {
		from       string
		wantStatus int
	}{
		{from: "127.0.0.2", wantStatus: http.StatusOK},
		{from: "127.0.0.1", wantStatus: http.StatusBadRequest},
	} {
		t.Run(tt.from, func(t *testing.T) {
			tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(tt.from)}, Timeout: 10 * time.Second}).DialContext}
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequest("GET", "http://"+p.apiAddr+"/decisions", nil)
			for k, v := range map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.test", "X-Forwarded-Uri": "/public/x"} {
				req.Header.Set(k, v)
			}
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
		})
	}
	p.waitLog(t, `not in serve.api.forwarded.trusted_proxies`)
}

func TestInvalidForwardedConfigExitNonZero(t *testing.T) {
	dir := setup(t, allowRules)
	writeFile(t, filepath.Join(dir, "config.yaml"), config+"serve:\n  api:\n    forwarded:\n      trusted_proxies: [proxy.internal]\n      headers: [X-Forwarded-For]\n")
	out, code := run(t, dir, "serve", "--config", "config.yaml")
	for _, want := range []string{`serve.api.forwarded: trusted_proxies: "proxy.internal" is not a CIDR or an IP address`,
		`headers: "X-Forwarded-For" is not a forwarded header the decision API reads`} {
		if code == 0 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want %q in:\n%s", code, want, out)
		}
	}
}
