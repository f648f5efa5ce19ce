package authz

import (
	"fmt"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestAddrStringMatchesNetip: the source address of a decision call is
// what netip prints for the unmapped peer, whether or not it is sliced
// out of RemoteAddr.
func TestAddrStringMatchesNetip(t *testing.T) {
	for _, remote := range []string{
		"127.0.0.1:40000", "10.1.2.3:1", "255.255.255.255:65535", "0.0.0.0:0",
		"[::1]:80", "[::ffff:10.0.0.1]:80", "[::ffff:7f00:1]:443", "[2001:db8:0:0::1]:8080",
		"[2001:DB8::1]:1", "[fe80::1%eth0]:80", "[::]:0",
	} {
		ap, err := netip.ParseAddrPort(remote)
		if err != nil {
			t.Fatalf("%s: %v", remote, err)
		}
		if got, want := addrString(remote, ap), ap.Addr().Unmap().String(); got != want {
			t.Errorf("addrString(%q) = %q, want %q", remote, got, want)
		}
	}
}

// TestHeaderNamesBounded: headerNames answers conv(k) for every name, and
// remembers at most max names of at most maxRememberedName bytes.
func TestHeaderNamesBounded(t *testing.T) {
	n := newHeaderNames(http.CanonicalHeaderKey, 3, "x-seed")
	long := "x-" + strings.Repeat("a", maxRememberedName)
	for i := range 10 {
		for _, k := range []string{fmt.Sprintf("x-name-%d", i), long, "x-seed", "X-Already"} {
			if got, want := n.get(k), http.CanonicalHeaderKey(k); got != want {
				t.Fatalf("get(%q) = %q, want %q", k, got, want)
			}
		}
	}
	m := *n.m.Load()
	if len(m) != 3 {
		t.Errorf("remembers %d names, want 3: %v", len(m), m)
	}
	if _, ok := m[long]; ok {
		t.Errorf("remembers a %d-byte name", len(long))
	}
}

// TestAddHeadersIsAdd: addHeaders leaves h as http.Header.Add of every
// value would, and shares no slice with src, whether the values fit in
// the array it is given or not; it writes no more of that array than
// the values need.
func TestAddHeadersIsAdd(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    http.Header
		src  map[string][]string
	}{
		{"empty", http.Header{}, nil},
		{"lower-case names", http.Header{}, map[string][]string{"x-user": {"alice"}, "x-roles": {"a", "b"}}},
		{"canonical and odd names", http.Header{}, map[string][]string{"WWW-Authenticate": {"Bearer"}, "content-type": {"text/plain"}, "x y": {"v"}}},
		{"no values", http.Header{}, map[string][]string{"x-empty": {}, "x-nil": nil, "x-one": {""}}},
		{"appends to what is set", http.Header{"Connection": {"close"}, "X-User": {"first"}}, map[string][]string{"connection": {"keep-alive"}, "x-user": {"second"}}},
		{"two spellings of one name", http.Header{}, map[string][]string{"x-a": {"1"}, "X-A": {"2"}}},
	} {
		for _, bufCap := range []int{0, 1, decisionCallHeaderValues} {
			t.Run(fmt.Sprintf("%s/buf %d", tt.name, bufCap), func(t *testing.T) {
				src := make(map[string][]string, len(tt.src))
				for k, vs := range tt.src {
					src[k] = slices.Clone(vs)
				}
				want := tt.h.Clone()
				for k, vs := range src {
					for _, v := range vs {
						want.Add(k, v)
					}
				}
				got := tt.h.Clone()
				arr := make([]string, bufCap+1)
				arr[bufCap] = "past the buffer"
				addHeaders(got, src, arr[:0:bufCap])
				if !equalHeaderSets(got, want) {
					t.Fatalf("got %v, want %v", got, want)
				}
				if arr[bufCap] != "past the buffer" {
					t.Errorf("wrote past the buffer's capacity: %q", arr[bufCap])
				}
				for _, vs := range src {
					for i := range vs {
						vs[i] = "overwritten"
					}
				}
				if !equalHeaderSets(got, want) {
					t.Errorf("changing src changed the headers: %v", got)
				}
			})
		}
	}
}

// equalHeaderSets compares headers, ignoring the order of values under
// one name (map order decides it when src spells a name twice).
func equalHeaderSets(a, b http.Header) bool {
	count := func(h http.Header) map[string]map[string]int {
		m := map[string]map[string]int{}
		for k, vs := range h {
			m[k] = map[string]int{}
			for _, v := range vs {
				m[k][v]++
			}
		}
		return m
	}
	return reflect.DeepEqual(count(a), count(b))
}
