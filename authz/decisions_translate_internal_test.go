package authz

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestDecisionRequestHeaders: the one pass over a decision call's headers
// gives what looking each fact up in http.Header gives: the request ID is
// Header.Get("X-Request-Id"), the forwarded headers sent are those whose
// canonical name is a key (also with no value), a name spelled otherwise
// is an ordinary header, and every header reaches pipeline.Header under
// its lower-case name.
func TestDecisionRequestHeaders(t *testing.T) {
	for _, tt := range []struct {
		name   string
		header http.Header
	}{
		{"none", http.Header{}},
		{"request id", http.Header{"X-Request-Id": {"id-1", "id-2"}, "Accept": {"*/*"}}},
		{"request id without value", http.Header{"X-Request-Id": {}}},
		{"request id not canonical", http.Header{"x-request-id": {"id-1"}}},
		{"every forwarded header", http.Header{
			"X-Forwarded-Method": {"GET"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"api.test"},
			"X-Forwarded-Uri": {"/a"}, "X-Original-Method": {"GET"}, "X-Original-Uri": {"/a"}, "Forwarded": {"proto=https"},
		}},
		{"forwarded without value", http.Header{"X-Forwarded-Host": {}, "X-Forwarded-Uri": nil}},
		{"forwarded not canonical", http.Header{"x-forwarded-host": {"evil.test"}, "X-FORWARDED-URI": {"/admin"}}},
		{"many names", func() http.Header {
			h := http.Header{"X-Forwarded-Proto": {"http"}}
			for _, k := range []string{"A", "B", "C", "D", "E", "F", "G", "H", "I", "J"} {
				h["X-"+k] = []string{k}
			}
			h["X-"+strings.Repeat("Long", 20)] = []string{"past maxRememberedName"}
			return h
		}()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, trust := range []*ForwardedTrust{
				defaultForwardedTrust,
				{proxies: defaultForwardedTrust.proxies, headers: forwardedBit(HeaderXForwardedURI) | forwardedBit(HeaderForwarded)},
			} {
				hr := &http.Request{Method: "GET", Proto: "HTTP/1.1", Host: "api.test", RequestURI: "/decisions",
					RemoteAddr: "192.0.2.1:1234", Header: tt.header}
				var r pipeline.Request
				err := trust.decisionRequest(hr, &r)

				if want := hr.Header.Get("X-Request-Id"); r.ID != want {
					t.Errorf("ID %q, want %q", r.ID, want)
				}
				wantHeader := pipeline.Header{}
				for k, vs := range tt.header {
					wantHeader[strings.ToLower(k)] = vs
				}
				if !reflect.DeepEqual(r.Header, wantHeader) {
					t.Errorf("header %v, want %v", r.Header, wantHeader)
				}
				// The peer is not trusted: any forwarded header read is
				// named in the error, in knownForwarded's order.
				var sent []string
				for _, name := range knownForwarded {
					if _, ok := tt.header[name]; ok && trust.headers&forwardedBit(name) != 0 {
						sent = append(sent, name)
					}
				}
				switch {
				case len(sent) == 0 && err != nil:
					t.Errorf("error %q, want none", err)
				case len(sent) > 0 && (err == nil || !strings.HasPrefix(err.Error(), strings.Join(sent, ", ")+" sent by ")):
					t.Errorf("error %v, want one naming %s", err, strings.Join(sent, ", "))
				}
			}
		})
	}
}

// TestForwardedSetHoldsEveryHeader: each forwarded header has a bit of its
// own in forwardedSet, which a longer knownForwarded would outgrow.
func TestForwardedSetHoldsEveryHeader(t *testing.T) {
	var all forwardedSet
	for _, name := range knownForwarded {
		b := forwardedBit(name)
		if b == 0 || all&b != 0 {
			t.Fatalf("%s has bit %08b, after %08b: forwardedSet is too small", name, b, all)
		}
		all |= b
	}
	if got := all.names(); !reflect.DeepEqual(got, knownForwarded) {
		t.Errorf("names() = %v, want %v", got, knownForwarded)
	}
	if b := forwardedBit("x-forwarded-host"); b != 0 {
		t.Errorf("a name not spelled canonically has bit %08b", b)
	}
}
