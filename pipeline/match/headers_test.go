package match

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// headerFunc serves the first value of lower-case names from h.
func headerFunc(h map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) { v, ok := h[name]; return v, ok }
}

func mustHeaders(t *testing.T, s Strategy, h map[string]string) []HeaderCond {
	t.Helper()
	c, err := CompileHeaders(s, h)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSelectHeaders(t *testing.T) {
	tests := []struct {
		name     string
		strategy Strategy
		cond     map[string]string
		req      map[string]string
		want     bool
	}{
		{"no condition", Regexp, nil, nil, true},
		{"exact", Regexp, map[string]string{"X-Tenant": "acme"}, map[string]string{"x-tenant": "acme"}, true},
		{"exact differs", Regexp, map[string]string{"X-Tenant": "acme"}, map[string]string{"x-tenant": "acme2"}, false},
		{"exact is whole value", Regexp, map[string]string{"x-tenant": "acme"}, map[string]string{"x-tenant": "xacme"}, false},
		{"name case ignored", Regexp, map[string]string{"X-TENANT": "acme"}, map[string]string{"x-tenant": "acme"}, true},
		{"value case kept", Regexp, map[string]string{"x-tenant": "acme"}, map[string]string{"x-tenant": "ACME"}, false},
		{"missing header", Regexp, map[string]string{"x-tenant": "acme"}, map[string]string{"x-other": "acme"}, false},
		{"empty value present", Regexp, map[string]string{"x-flag": ""}, map[string]string{"x-flag": ""}, true},
		{"empty value missing", Regexp, map[string]string{"x-flag": ""}, nil, false},
		{"regexp pattern", Regexp, map[string]string{"x-version": "v<[0-9]+>"}, map[string]string{"x-version": "v12"}, true},
		{"regexp pattern anchored", Regexp, map[string]string{"x-version": "v<[0-9]+>"}, map[string]string{"x-version": "v12b"}, false},
		{"glob pattern", Glob, map[string]string{"x-env": "<{prod,stage}>"}, map[string]string{"x-env": "stage"}, true},
		{"glob pattern miss", Glob, map[string]string{"x-env": "<{prod,stage}>"}, map[string]string{"x-env": "dev"}, false},
		{"all must match", Regexp, map[string]string{"a": "1", "b": "2"}, map[string]string{"a": "1", "b": "3"}, false},
		{"all match", Regexp, map[string]string{"a": "1", "b": "2"}, map[string]string{"a": "1", "b": "2"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.strategy, "https://a.test/x")
			if err != nil {
				t.Fatal(err)
			}
			ix := NewIndex([]Entry{{Pattern: p, Methods: []string{"GET"}, Headers: mustHeaders(t, tt.strategy, tt.cond)}})
			hits, err := ix.Lookup("GET", "https", "a.test", "/x", nil)
			if err != nil || len(hits) != 1 {
				t.Fatalf("Lookup = %v, %v; want one hit", hits, err)
			}
			got, err := ix.Select(hits, headerFunc(tt.req))
			if err != nil {
				t.Fatal(err)
			}
			if (len(got) == 1) != tt.want {
				t.Fatalf("Select = %v, want match %v", got, tt.want)
			}
		})
	}
}

func TestCompileHeadersErrors(t *testing.T) {
	for _, h := range []map[string]string{
		{"": "x"},
		{"X-A": "1", "x-a": "2"},
		{"x-a": "<[>"},
	} {
		if _, err := CompileHeaders(Regexp, h); err == nil {
			t.Errorf("CompileHeaders(%v) accepted", h)
		}
	}
}

func TestSelectPriority(t *testing.T) {
	p, err := Compile(Regexp, "https://a.test/<.*>")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		priorities []int
		want       []int
	}{
		{"one rule", []int{0}, []int{0}},
		{"higher wins", []int{0, 5}, []int{1}},
		{"higher wins first", []int{5, 0}, []int{0}},
		{"negative loses", []int{-1, 0}, []int{1}},
		{"tie stays ambiguous", []int{3, 3, 1}, []int{0, 1}},
		{"default tie", []int{0, 0}, []int{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries := make([]Entry, len(tt.priorities))
			for i, pr := range tt.priorities {
				entries[i] = Entry{Pattern: p, Methods: []string{"GET"}, Priority: pr}
			}
			ix := NewIndex(entries)
			hits, err := ix.Lookup("GET", "https", "a.test", "/x", nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ix.Select(hits, headerFunc(nil))
			if err != nil {
				t.Fatal(err)
			}
			var idx []int
			for _, h := range got {
				idx = append(idx, h.Index)
			}
			if fmt.Sprint(idx) != fmt.Sprint(tt.want) {
				t.Fatalf("Select kept %v, want %v", idx, tt.want)
			}
		})
	}
}

// linearSelect is the reference for Lookup followed by Select: every entry
// whose method, URL and headers match, then only the highest priority.
func linearSelect(entries []Entry, method, scheme, host, path string, header func(string) (string, bool)) (top []Hit, limited bool) {
	var hits []Hit
	matched, limited := linearScan(entries, method, scheme, host, path)
	for _, h := range matched {
		ok := true
		for _, c := range entries[h.Index].Headers {
			v, present := header(c.Name)
			if _, m, _ := c.Value.Match(v); !present || !m {
				ok = false
				break
			}
		}
		if ok {
			hits = append(hits, h)
		}
	}
	best := 0
	for i, h := range hits {
		if pr := entries[h.Index].Priority; i == 0 || pr > best {
			best = pr
		}
	}
	for _, h := range hits {
		if entries[h.Index].Priority == best {
			top = append(top, h)
		}
	}
	return top, limited
}

// TestIndexSelectAgreesWithLinearScan extends the Index's contract to the
// Portcullis match extensions: Lookup then Select gives exactly what a
// linear scan checking URL, method, headers and priority of every entry
// gives.
func TestIndexSelectAgreesWithLinearScan(t *testing.T) {
	values := []string{"a", "b", "<[ab]>", "<.*>"}
	for seed := range uint64(10) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			g := ruleGen{rng: rand.New(rand.NewPCG(seed, 13))}
			entries := make([]Entry, 100+g.rng.IntN(200))
			for i := range entries {
				e := g.entry()
				cond := map[string]string{}
				for range g.rng.IntN(3) {
					cond[g.pick([]string{"X-A", "x-b"})] = g.pick(values)
				}
				e.Headers = mustHeaders(t, Regexp, cond)
				e.Priority = g.rng.IntN(3) - 1
				entries[i] = e
			}
			ix := NewIndex(entries)
			multi := 0
			for range 2000 {
				method, scheme, host, path := g.request(entries)
				req := map[string]string{}
				for _, n := range []string{"x-a", "x-b"} {
					if g.rng.IntN(3) > 0 {
						req[n] = g.pick([]string{"a", "b", "c"})
					}
				}
				want, limited := linearSelect(entries, method, scheme, host, path, headerFunc(req))
				hits, err := ix.Lookup(method, scheme, host, path, nil)
				if timedOut(t, err, hits) || limited {
					continue
				}
				if len(hits) > 1 {
					multi++
				}
				got, err := ix.Select(hits, headerFunc(req))
				if err != nil {
					t.Fatal(err)
				}
				if !hitsEqual(got, want) {
					t.Fatalf("Select(Lookup(%s %s), %v) = %v, linear scan gives %v", method, MatchString(scheme, host, path), req, got, want)
				}
			}
			if multi < 20 {
				t.Fatalf("only %d requests had several hits; priorities were not exercised", multi)
			}
		})
	}
}
