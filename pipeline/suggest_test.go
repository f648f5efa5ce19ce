package pipeline

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSuggest(t *testing.T) {
	handlers := []string{"anonymous", "bearer_token", "cookie_session", "jwt", "noop", "oauth2_introspection", "unauthorized"}
	tests := []struct {
		word       string
		candidates []string
		want       string
	}{
		{"jwtt", handlers, "jwt"},
		{"JWT", handlers, "jwt"},
		{"cookie_sesion", handlers, "cookie_session"},
		{"oauth2_introspect", handlers, "oauth2_introspection"},
		{"anonymus", handlers, "anonymous"},
		{"prot", []string{"host", "max_recv_msg_size", "port"}, "port"},
		{"enabeld", []string{"config", "enabled"}, "enabled"},
		{"mach", []string{"authenticators", "id", "match", "mutators"}, "match"},
		{"authorizers", []string{"authorizer", "authenticators"}, "authorizer"},
		{"keto", handlers, ""},
		{"x", []string{"id"}, ""},
		{"jwt", handlers, ""}, // itself is no suggestion
		{"nope", nil, ""},
	}
	for _, tt := range tests {
		if got := Suggest(tt.word, tt.candidates); got != tt.want {
			t.Errorf("Suggest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}

func TestEditDistanceCountsSwapsOnce(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"port", "prot", 1}, {"kitten", "sitting", 3}, {"ab", "ba", 1}, {"abc", "abc", 0}} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestUnknownFieldsListsEveryKeyWithItsPath(t *testing.T) {
	type retry struct {
		GiveUpAfter Duration `json:"give_up_after"`
		MaxDelay    Duration `json:"max_delay"`
	}
	type embedded struct {
		Inline string `json:"inline"`
	}
	type cfg struct {
		embedded
		URL     string            `json:"url"`
		Retry   *retry            `json:"retry"`
		When    When              `json:"when"`
		Headers map[string]string `json:"headers"`
		Free    map[string]any    `json:"free"`
		Ignored string            `json:"-"`
	}
	doc := `{"url": "x", "URL": "case-insensitive like encoding/json", "inline": "ok", "Ignored": 1,
		"retry": {"give_up_afer": "1s", "max_delay": "1s"},
		"when": [{"error": ["forbidden"], "request": {"header": {"acept": ["text/html"]}, "remote_ip": ["10.0.0.0/8"]}}],
		"headers": {"x-anything": "v"}, "free": {"anything": {"deep": 1}}, "ur": 1}`
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range UnknownFields(v, reflect.TypeOf(cfg{})) {
		got = append(got, u.Error())
	}
	want := []string{
		`unknown field "Ignored"`,
		`retry: unknown field "give_up_afer" (did you mean "give_up_after"?)`,
		`unknown field "ur" (did you mean "url"?)`,
		`when[0].request.header: unknown field "acept" (did you mean "accept"?)`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestJSONDecodeErrorNamesNoGoType(t *testing.T) {
	var spec RuleSpec
	tests := []struct{ doc, want string }{
		{`{"match": {"methods": "GET"}}`, "match.methods: must be a list, not a string"},
		{`{"id": 1}`, "id: must be a string, not a number"},
		{`{"match": []}`, "match: must be an object, not a list"},
		{`{"authenticators": [{"fallthrough": "yes"}]}`, "authenticators.fallthrough: must be true or false, not a string"},
	}
	for _, tt := range tests {
		err := json.Unmarshal([]byte(tt.doc), &spec)
		if err == nil {
			t.Fatalf("%s: no error", tt.doc)
		}
		if got := JSONDecodeError(err).Error(); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.doc, got, tt.want)
		}
	}
}
