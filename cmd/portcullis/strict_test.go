package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestValidateOathkeeperStrict: the Portcullis match extensions, mode and
// the other Portcullis-only fields load by default and are each named,
// with their rule and line, under --oathkeeper-strict.
func TestValidateOathkeeperStrict(t *testing.T) {
	file := "testdata/extensions/rules.yaml"
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"rules", "validate", file}, &stdout, &stderr); code != 0 || stdout.String() != "2 rules OK\n" {
		t.Fatalf("without --oathkeeper-strict: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	code := run(context.Background(), []string{"rules", "validate", "--oathkeeper-strict", file}, &stdout, &stderr)
	const why = ": Portcullis-only field, unknown to Oathkeeper (--oathkeeper-strict)"
	want := []string{
		file + `:1: rules[0] (id "tenant-acme"): match.headers` + why,
		file + `:1: rules[0] (id "tenant-acme"): priority` + why,
		file + `:1: rules[0] (id "tenant-acme"): mode` + why,
		file + `:1: rules[0] (id "tenant-acme"): authorizers` + why,
		file + `:1: rules[0] (id "tenant-acme"): authenticators[0].fallthrough` + why,
		"portcullis: rules validate: 5 errors",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")); code != 1 || diff != "" {
		t.Fatalf("exit %d; stderr (-want +got):\n%s", code, diff)
	}
}
