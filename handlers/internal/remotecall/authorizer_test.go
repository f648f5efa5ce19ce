package remotecall

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestBodyPartialFailsClosed(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   bool
	}{
		{name: "absent", want: false},
		{name: "false", values: []string{"false"}, want: false},
		{name: "False with spaces", values: []string{" False "}, want: false},
		{name: "true", values: []string{"true"}, want: true},
		{name: "merged by Envoy's headers map", values: []string{"false,true"}, want: true},
		{name: "separate values from header_map", values: []string{"false", "true"}, want: true},
		{name: "empty value", values: []string{""}, want: true},
		{name: "unknown value", values: []string{"yes"}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &pipeline.Request{Header: pipeline.Header{}}
			if tt.values != nil {
				r.Header[PartialBodyHeader] = tt.values
			}
			if got := BodyPartial(r); got != tt.want {
				t.Fatalf("BodyPartial(%q) = %v, want %v", tt.values, got, tt.want)
			}
		})
	}
	if e := PartialBodyError("remote"); e.Status != http.StatusRequestEntityTooLarge || e.ID != "remote_body_partial" {
		t.Fatalf("PartialBodyError = %d %s", e.Status, e.ID)
	}
}

func TestRequestHeadersAreCopiedOnlyByName(t *testing.T) {
	names, err := CheckRequestHeaderNames([]string{"authorization", "X-Tenant", "cookie"})
	if err != nil {
		t.Fatal(err)
	}
	r := &pipeline.Request{Header: pipeline.Header{
		"authorization": {"Bearer a"}, "cookie": {"a=1", "b=2"}, "x-other": {"o"},
	}}
	dst := http.Header{}
	CopyRequestHeaders(dst, r, names)
	want := http.Header{"Authorization": {"Bearer a"}, "Cookie": {"a=1", "b=2"}}
	if diff := cmp.Diff(want, dst); diff != "" {
		t.Fatalf("copied (-want +got):\n%s", diff)
	}
	dst["Cookie"][0] = "changed"
	if r.Header["cookie"][0] != "a=1" {
		t.Fatal("the copy shares the request's values")
	}
	for _, bad := range [][]string{{"a b"}, {"Host"}, {"Transfer-Encoding"}, {"X-A", "x-a"}} {
		if _, err := CheckRequestHeaderNames(bad); err == nil {
			t.Errorf("CheckRequestHeaderNames(%q) accepted", bad)
		}
	}
}
