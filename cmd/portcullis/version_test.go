package main

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// vcsBuild is what `go build` embeds inside a git checkout.
func vcsBuild(mainVersion string, settings ...string) *debug.BuildInfo {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/portcullis-authz/portcullis", Version: mainVersion}}
	for i := 0; i+1 < len(settings); i += 2 {
		bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
	}
	return bi
}

func TestResolveBuildPrefersLdflagsThenVCS(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	stamped := []string{"vcs", "git", "vcs.revision", "0123456789abcdef0123456789abcdef01234567", "vcs.time", "2026-12-01T10:00:00Z", "vcs.modified", "true"}
	tests := []struct {
		name                  string
		bi                    *debug.BuildInfo
		ldVersion, ldRevision string
		want                  buildInfo
	}{
		{
			name: "plain go build in a checkout: the VCS stamp",
			bi:   vcsBuild("(devel)", stamped...),
			want: buildInfo{Version: "dev", Revision: "0123456789abcdef0123456789abcdef01234567", Modified: true, CommitTime: "2026-12-01T10:00:00Z", GoVersion: "go1.26.8", Platform: platform},
		},
		{
			name:      "release build: -ldflags win over the stamp",
			bi:        vcsBuild("(devel)", stamped...),
			ldVersion: "v1.2.3", ldRevision: "fedcba9876543210fedcba9876543210fedcba98",
			want: buildInfo{Version: "v1.2.3", Revision: "fedcba9876543210fedcba9876543210fedcba98", CommitTime: "2026-12-01T10:00:00Z", GoVersion: "go1.26.8", Platform: platform},
		},
		{
			name: "go install ...@v1.4.0: the module version",
			bi:   vcsBuild("v1.4.0"),
			want: buildInfo{Version: "v1.4.0", Revision: "unknown", GoVersion: "go1.26.8", Platform: platform},
		},
		{
			name:      "container build without .git: -ldflags only",
			bi:        vcsBuild("(devel)"),
			ldVersion: "v1.2.3", ldRevision: "abc",
			want: buildInfo{Version: "v1.2.3", Revision: "abc", GoVersion: "go1.26.8", Platform: platform},
		},
		{
			name: "no build information at all",
			want: buildInfo{Version: "dev", Revision: "unknown", GoVersion: runtime.Version(), Platform: platform},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ldVersion := tt.ldVersion
			if ldVersion == "" {
				ldVersion = "dev" // the variable's default
			}
			if diff := cmp.Diff(tt.want, resolveBuild(tt.bi, ldVersion, tt.ldRevision)); diff != "" {
				t.Errorf("-want +got:\n%s", diff)
			}
		})
	}
}

func TestVersionCommandOutputs(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"version", "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var got buildInfo
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("version --json: %v", err)
	}
	if got.GoVersion != runtime.Version() || got.Platform != runtime.GOOS+"/"+runtime.GOARCH || got.Version == "" || got.Revision == "" {
		t.Fatalf("version --json = %+v", got)
	}

	stdout.Reset()
	if code := run(context.Background(), []string{"version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	fields := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("line %q is not key: value", line)
		}
		fields[k] = strings.TrimSpace(v)
	}
	for k, want := range map[string]string{"Version": got.Version, "Revision": got.Revision, "Go version": got.GoVersion, "Platform": got.Platform} {
		if fields[k] != want {
			t.Errorf("%s: %q, want %q (output:\n%s)", k, fields[k], want, stdout.String())
		}
	}
}
