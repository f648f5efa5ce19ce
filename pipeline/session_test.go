package pipeline_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestSetHeader: SetHeader lower-cases names, replaces earlier values,
// and keeps every value apart from the others, whether it is stored in
// the session's inline slots or beyond them, and whatever is later
// appended to one of them.
func TestSetHeader(t *testing.T) {
	for _, n := range []int{1, 4, 5, 9} {
		t.Run(fmt.Sprintf("%d headers", n), func(t *testing.T) {
			var s pipeline.Session
			for i := range n {
				s.SetHeader(fmt.Sprintf("X-H%d", i), fmt.Sprintf("v%d", i))
			}
			s.Header.Add("x-h0", "added")
			s.SetHeader("X-H1", "replaced")
			for i := range n {
				want := []string{fmt.Sprintf("v%d", i)}
				switch i {
				case 0:
					want = append(want, "added")
				case 1:
					want = []string{"replaced"}
				}
				if got := s.Header.Values(fmt.Sprintf("x-h%d", i)); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("x-h%d = %q, want %q", i, got, want)
				}
			}
			if len(s.Header) != max(n, 2) {
				t.Fatalf("%d headers, want %d: %v", len(s.Header), max(n, 2), s.Header)
			}
		})
	}
}

// TestSetHeaderAllocations: the first headers of a session cost no
// allocation of their own, only the map's (the header mutator of a
// typical rule sets up to four).
func TestSetHeaderAllocations(t *testing.T) {
	var sink *pipeline.Session
	allocs := testing.AllocsPerRun(100, func() {
		s := &pipeline.Session{}
		s.SetHeader("x-user", "alice") // the header mutator's names are lower case
		s.SetHeader("x-tenant", "acme")
		s.SetHeader("x-email", "alice@example.com")
		s.SetHeader("x-roles", "admin")
		sink = s
	})
	// The session, the map and its one group of slots.
	if allocs > 3 {
		t.Fatalf("a session with four headers costs %v allocations, want at most 3", allocs)
	}
	if sink.Header.Get("x-roles") != "admin" {
		t.Fatal("header lost")
	}
}

// TestReleasedSessionsStartClean: a check that reuses the session of a
// released decision sees nothing of the check before it: not its
// subject, headers, captures or URL. Two rules with different mutators
// (five headers, more than a session stores inline, and one)
// take turns, each decision released once it has been checked.
func TestReleasedSessionsStartClean(t *testing.T) {
	reg := registry()
	pipeline.RegisterMutator(reg, "everything", func(struct{}) (pipeline.Mutator, error) {
		return pipeline.MutatorFunc(func(_ context.Context, _ *pipeline.Request, s *pipeline.Session) error {
			s.Extra, s.Metadata = map[string]any{"k": "v"}, map[string]any{"k": "v"}
			s.RemoveHeaders, s.RemoveQuery = []string{"authorization"}, []string{"token"}
			s.ResponseHeader, s.SetQuery = pipeline.Header{"x-r": {"v"}}, map[string]string{"k": "v"}
			return nil
		}), nil
	})
	a := rule("a", "https://api.test/a/<[0-9]+>", []pipeline.HandlerSpec{h("a", "")})
	a.Mutators = []pipeline.HandlerSpec{h("one", ""), h("two", ""), h("three", ""), h("four", ""), h("five", ""), {Handler: "everything"}}
	b := rule("b", "https://api.test/b", []pipeline.HandlerSpec{h("b", "")}) // sets x-m only
	cfg := config()
	cfg.Mutators["everything"] = pipeline.HandlerConfig{Enabled: true}
	s, err := pipeline.Compile([]pipeline.RuleSpec{a, b}, cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		path, want := "/b", "sub-b"
		if i%2 == 0 {
			path, want = "/a/7", "sub-a"
		}
		d, _ := run(t, s, get(path+"?i=x"))
		if !d.Allowed {
			t.Fatalf("check %d denied: %v", i, d.Err)
		}
		sess := d.Session
		switch {
		case sess.Subject != want:
			t.Fatalf("check %d: subject %q, want %q", i, sess.Subject, want)
		case path == "/b" && (len(sess.Header) != 1 || sess.Header.Get("x-m") != "sub-b" || len(sess.MatchContext.RegexpCaptureGroups) != 0):
			t.Fatalf("check %d: headers %v, captures %q", i, sess.Header, sess.MatchContext.RegexpCaptureGroups)
		case path == "/b" && (sess.Extra != nil || sess.Metadata != nil || sess.RemoveHeaders != nil || sess.RemoveQuery != nil ||
			sess.ResponseHeader != nil || sess.SetQuery != nil):
			t.Fatalf("check %d: mutations of an earlier check: %+v", i, sess)
		case path != "/b" && (len(sess.Header) != 5 || sess.Header.Get("x-five") != "sub-a" || sess.MatchContext.RegexpCaptureGroups[0] != "7"):
			t.Fatalf("check %d: headers %v, captures %q", i, sess.Header, sess.MatchContext.RegexpCaptureGroups)
		case sess.MatchContext.URL.String() != "https://api.test"+path+"?i=x":
			t.Fatalf("check %d: URL %s", i, sess.MatchContext.URL)
		}
		d.Release()
		if d.Session != nil {
			t.Fatal("Release left the session in the decision")
		}
		d.Release() // a second call does nothing
	}
}

// TestReleaseOfADenialDoesNothing: a denial has no session to give back.
func TestReleaseOfADenialDoesNothing(t *testing.T) {
	s := mustCompile(t, rule("r", "https://api.test/r", []pipeline.HandlerSpec{h("a", "401")}))
	d, _ := run(t, s, get("/r"))
	if d.Allowed {
		t.Fatal("allowed")
	}
	denial := d.Denial
	d.Release()
	if d.Denial.Status != denial.Status || d.Err == nil {
		t.Fatalf("Release changed a denial: %+v", d)
	}
}
