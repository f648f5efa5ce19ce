package token_test

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/handlers/internal/token"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// FuzzExtract extracts a credential from every token_from location of a
// request with fuzzed Authorization, cookie, query and custom header
// values. Extract never panics, never modifies the request, and returns
// a credential the request really carries, nothing, or a 401 ambiguity
// error; and whenever the request carries two credentials where one is
// expected (two Authorization values, a comma-joined Authorization that
// Envoy made of two, a query parameter twice, Bearer next to
// access_token) it returns none.
func FuzzExtract(f *testing.F) {
	f.Add(uint8(0), "", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "", "", "")
	f.Add(uint8(4), "", "bearer  abc ", "Bearer def", "", "access_token=x")
	f.Add(uint8(0), "", "Bearer a,Bearer b", "", "", "")
	f.Add(uint8(0), "", "Basic dXNlcjpwYXNz, Bearer x", "", "", "")
	f.Add(uint8(0), "", "Bearer\tabc", "", "", "")
	f.Add(uint8(0), "", "Bearer correct token", "", "", "")
	f.Add(uint8(1), "X-Api-Key", "", "k1", "", "")
	f.Add(uint8(1), "Authorization", "Bearer t", "", "", "")
	f.Add(uint8(2), "token", "", "", "", "token=a&token=b")
	f.Add(uint8(2), "token", "Bearer t", "", "", "token=a;b")
	f.Add(uint8(3), "session", "", "", "a=b; session=s1; session=s2", "")
	f.Add(uint8(3), "session", "Bearer t", "", "session=\"quoted\"", "")
	f.Fuzz(func(t *testing.T, mode uint8, name, auth, other, cookie, query string) {
		from := &token.From{}
		switch mode % 4 {
		case 1:
			from.Header = name
		case 2:
			from.QueryParameter = name
		case 3:
			from.Cookie = name
		}
		if from.Validate() != nil {
			return
		}
		_ = from.Location()
		r := &pipeline.Request{Header: pipeline.Header{}, RawQuery: query}
		if auth != "" {
			r.Header.Add("authorization", auth)
		}
		if mode&4 != 0 && other != "" {
			r.Header.Add("authorization", other) // a second Authorization line
		}
		if cookie != "" {
			r.Header.Add("cookie", cookie)
		}
		if from.Header != "" && other != "" {
			r.Header.Add(from.Header, other)
		}
		before := cloneRequest(r)

		tok, err := from.Extract(r)
		tok2, err2 := from.Extract(r)
		switch {
		case !reflect.DeepEqual(r, before):
			t.Fatal("Extract modified the request")
		case tok != tok2 || (err == nil) != (err2 == nil):
			t.Fatalf("Extract is not deterministic: %q, %v then %q, %v", tok, err, tok2, err2)
		case err != nil:
			if tok != "" || !errors.Is(err, token.ErrAmbiguous) || pipeline.StatusOf(err) != 401 || pipeline.ReasonOf(err, "") != token.ReasonAmbiguous {
				t.Fatalf("Extract = %q, %v; an error must be a 401 %s and carry no token", tok, err, token.ReasonAmbiguous)
			}
			return
		case tok == "":
			return
		}
		checkCarried(t, from, r, tok)
	})
}

// checkCarried checks that tok comes from where from says, and that the
// request holds no second credential there.
func checkCarried(t *testing.T, from *token.From, r *pipeline.Request, tok string) {
	t.Helper()
	if (from.QueryParameter != "" || from.Cookie != "") && carriesBearer(r) {
		t.Fatalf("%s gave %q next to a Bearer Authorization %q", from.Location(), tok, r.Header.Values("authorization"))
	}
	switch {
	case from.QueryParameter != "":
		q, _ := url.ParseQuery(r.RawQuery)
		if vs := q[from.QueryParameter]; len(vs) != 1 || vs[0] != tok {
			t.Fatalf("query %q gave %q for parameter %q", r.RawQuery, tok, from.QueryParameter)
		}
	case from.Cookie != "":
		if !strings.Contains(r.Header.Get("cookie"), tok) {
			t.Fatalf("cookie %q gave %q", r.Header.Get("cookie"), tok)
		}
	case from.Header != "" && !strings.EqualFold(from.Header, "authorization"):
		if vs := r.Header.Values(from.Header); len(vs) != 1 || !strings.Contains(vs[0], tok) || strings.Contains(vs[0], ",") {
			t.Fatalf("header %q = %q gave %q", from.Header, vs, tok)
		}
	default:
		vs := r.Header.Values("authorization")
		q, _ := url.ParseQuery(r.RawQuery)
		switch {
		case len(vs) != 1 || !strings.HasSuffix(strings.TrimRight(vs[0], " \t"), strings.TrimRight(tok, " \t")):
			t.Fatalf("Authorization %q gave %q", vs, tok)
		case strings.Contains(tok, ","):
			t.Fatalf("Authorization %q gave %q: a comma joins two credentials", vs, tok)
		case q.Has("access_token"):
			t.Fatalf("Authorization %q gave %q next to access_token", vs, tok)
		}
	}
}

// carriesBearer reports whether some comma-separated part of an
// Authorization value is "Bearer" followed by a space or nothing: a
// credential by any reading.
func carriesBearer(r *pipeline.Request) bool {
	for _, v := range r.Header.Values("authorization") {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimLeft(part, " ")
			if strings.EqualFold(part, "bearer") || len(part) > 7 && strings.EqualFold(part[:7], "bearer ") {
				return true
			}
		}
	}
	return false
}

func cloneRequest(r *pipeline.Request) *pipeline.Request {
	c := *r
	c.Header = r.Header.Clone()
	return &c
}
