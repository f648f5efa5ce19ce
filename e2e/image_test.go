package e2e

import (
	"bufio"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
	"sigs.k8s.io/yaml"
)

// No container engine runs in CI, so the image itself is not built here.
// What it ships is: the binary is built with the Dockerfile's own build
// line (read from the Dockerfile, which must agree with the Taskfile's
// release task), checked to be static and stamped, and started with the
// Dockerfile's CMD.

// dockerInstruction is one Dockerfile instruction, continuation lines
// joined.
type dockerInstruction struct {
	line     int
	cmd      string // upper case: FROM, RUN, ...
	args     string
	stageIdx int // index of the FROM it belongs to
}

// readDockerfile splits the Dockerfile into instructions: comment lines
// dropped, backslash continuations joined.
func readDockerfile(t *testing.T, path string) []dockerInstruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []dockerInstruction
	var cur strings.Builder
	start, stage := 0, -1
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		body, more := strings.CutSuffix(line, "\\")
		cur.WriteString(body)
		if more {
			cur.WriteByte(' ')
			continue
		}
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stage++
		}
		out = append(out, dockerInstruction{line: start, cmd: cmd, args: strings.TrimSpace(args), stageIdx: stage})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// shellCommand parses one simple command: its leading VAR=value
// assignments and its words, expanded with env.
func shellCommand(t *testing.T, where, src string, env map[string]string) (assigns map[string]string, words []string) {
	t.Helper()
	file, err := syntax.NewParser().Parse(strings.NewReader(src), where)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	if len(file.Stmts) != 1 {
		t.Fatalf("%s: want one command, got %d", where, len(file.Stmts))
	}
	call, ok := file.Stmts[0].Cmd.(*syntax.CallExpr)
	if !ok {
		t.Fatalf("%s: not a simple command", where)
	}
	var pairs []string
	for k, v := range env {
		pairs = append(pairs, k+"="+v)
	}
	cfg := &expand.Config{Env: expand.ListEnviron(pairs...), NoUnset: true}
	assigns = map[string]string{}
	for _, a := range call.Assigns {
		v, err := expand.Literal(cfg, a.Value)
		if err != nil {
			t.Fatalf("%s: %s: %v", where, a.Name.Value, err)
		}
		assigns[a.Name.Value] = v
	}
	if words, err = expand.Fields(cfg, call.Args...); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	return assigns, words
}

// goBuildLine returns the env and arguments of a `go build` command line,
// and the value of its -o.
func goBuildLine(t *testing.T, where, src string, env map[string]string) (assigns map[string]string, args []string, output string) {
	t.Helper()
	assigns, words := shellCommand(t, where, src, env)
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("%s: %q is not a go build command", where, words)
	}
	args = words[2:]
	i := slices.Index(args, "-o")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("%s: no -o in %q", where, args)
	}
	return assigns, args, args[i+1]
}

// taskfileRelease returns the Taskfile release task's environment and
// command line, with {{.VAR}} written as ${VAR} and LDFLAGS substituted.
func taskfileRelease(t *testing.T) (env map[string]string, cmd string) {
	t.Helper()
	raw, err := os.ReadFile("../Taskfile.yml")
	if err != nil {
		t.Fatal(err)
	}
	var tf struct {
		Vars  map[string]any `json:"vars"`
		Tasks map[string]struct {
			Env  map[string]string `json:"env"`
			Cmds []string          `json:"cmds"`
		} `json:"tasks"`
	}
	if err := yaml.Unmarshal(raw, &tf); err != nil {
		t.Fatalf("Taskfile.yml: %v", err)
	}
	rel, ok := tf.Tasks["release"]
	if !ok || len(rel.Cmds) != 1 {
		t.Fatalf("Taskfile.yml: want a release task with one command, got %+v", rel)
	}
	ldflags, _ := tf.Vars["LDFLAGS"].(string)
	cmd = strings.ReplaceAll(rel.Cmds[0], "{{.LDFLAGS}}", ldflags)
	cmd = regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`).ReplaceAllString(cmd, "$${$1}")
	return rel.Env, cmd
}

// TestContainerBinaryBuildsAndServes builds portcullis exactly as the
// Dockerfile's build stage does and starts it with the image's CMD.
func TestContainerBinaryBuildsAndServes(t *testing.T) {
	instrs := readDockerfile(t, "../Dockerfile")
	const wantVersion, wantRevision = "v0.0.0-image-test", "0000000000000000000000000000000000image"
	env := map[string]string{"TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH, "VERSION": wantVersion, "REVISION": wantRevision}

	var (
		buildLine                 string
		buildLineAt               int
		final                     = -1
		copySrc                   string
		user, entrypoint, command string
		healthcheck               string
		goVersionArg              string
	)
	for _, in := range instrs {
		if in.cmd == "FROM" {
			final = in.stageIdx
		}
	}
	for _, in := range instrs {
		switch {
		case in.cmd == "ARG" && strings.HasPrefix(in.args, "GO_VERSION="):
			goVersionArg = strings.TrimPrefix(in.args, "GO_VERSION=")
		case in.cmd == "RUN" && strings.Contains(in.args, "go build"):
			if buildLine != "" {
				t.Fatalf("Dockerfile:%d: a second go build", in.line)
			}
			// Drop the RUN options (--mount=...): the rest is shell.
			rest := in.args
			for strings.HasPrefix(rest, "--") {
				_, rest, _ = strings.Cut(rest, " ")
				rest = strings.TrimSpace(rest)
			}
			buildLine, buildLineAt = rest, in.line
		case in.stageIdx == final && in.cmd == "RUN":
			t.Errorf("Dockerfile:%d: the final image has no shell: RUN is not possible there", in.line)
		case in.stageIdx == final && in.cmd == "COPY":
			f := strings.Fields(in.args)
			if len(f) != 3 || f[0] != "--from=build" || f[2] != "/portcullis" {
				t.Errorf("Dockerfile:%d: want COPY --from=build <binary> /portcullis, got %q", in.line, in.args)
			} else {
				copySrc = f[1]
			}
		case in.stageIdx == final && in.cmd == "FROM":
			if !strings.HasPrefix(in.args, "gcr.io/distroless/static") || !strings.HasSuffix(in.args, ":nonroot") {
				t.Errorf("Dockerfile:%d: the final stage must be distroless static nonroot, got %q", in.line, in.args)
			}
		case in.stageIdx == final && in.cmd == "USER":
			user = in.args
		case in.stageIdx == final && in.cmd == "ENTRYPOINT":
			entrypoint = in.args
		case in.stageIdx == final && in.cmd == "CMD":
			command = in.args
		case in.stageIdx == final && in.cmd == "HEALTHCHECK":
			_, healthcheck, _ = strings.Cut(in.args, "CMD ")
		}
	}

	// The builder's Go is the one go.mod asks for.
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod); m == nil || string(m[1]) != goVersionArg {
		t.Errorf("Dockerfile: ARG GO_VERSION=%s, go.mod says go %s", goVersionArg, m[1])
	}
	// Numeric, non-root: Kubernetes' runAsNonRoot can check it.
	if user != "65532:65532" {
		t.Errorf("Dockerfile: USER %q, want 65532:65532 (distroless nonroot)", user)
	}
	var entry, cmdArgs, health []string
	for _, j := range []struct {
		name string
		src  string
		dst  *[]string
	}{{"ENTRYPOINT", entrypoint, &entry}, {"CMD", command, &cmdArgs}, {"HEALTHCHECK CMD", healthcheck, &health}} {
		// Exec form (a JSON array): there is no shell to run a string.
		if err := json.Unmarshal([]byte(j.src), j.dst); err != nil {
			t.Fatalf("Dockerfile: %s %q must be a JSON array (exec form): %v", j.name, j.src, err)
		}
	}
	if !slices.Equal(entry, []string{"/portcullis"}) || !slices.Equal(health, []string{"/portcullis", "health", "ready"}) || len(cmdArgs) == 0 || cmdArgs[0] != "serve" {
		t.Fatalf("Dockerfile: ENTRYPOINT %q CMD %q HEALTHCHECK %q", entry, cmdArgs, health)
	}

	// One build line, in the Dockerfile and in the Taskfile's release task.
	where := fmt.Sprintf("Dockerfile:%d", buildLineAt)
	dEnv, dArgs, dOut := goBuildLine(t, where, buildLine, env)
	if dOut != copySrc {
		t.Errorf("%s: builds %s but the final stage copies %s", where, dOut, copySrc)
	}
	tEnv, tCmd := taskfileRelease(t)
	_, tArgs, _ := goBuildLine(t, "Taskfile.yml release", tCmd, env)
	withoutOutput := func(args []string) []string {
		i := slices.Index(args, "-o")
		return slices.Delete(slices.Clone(args), i, i+2)
	}
	if !slices.Equal(withoutOutput(dArgs), withoutOutput(tArgs)) {
		t.Errorf("the Dockerfile and the Taskfile's release task build differently:\n  Dockerfile: %q\n  Taskfile:   %q", dArgs, tArgs)
	}
	if dEnv["CGO_ENABLED"] != "0" || tEnv["CGO_ENABLED"] != "0" {
		t.Errorf("CGO_ENABLED: Dockerfile %q, Taskfile %q, want 0 (a static binary)", dEnv["CGO_ENABLED"], tEnv["CGO_ENABLED"])
	}
	for _, flag := range []string{"-trimpath", "-buildvcs=false"} {
		if !slices.Contains(dArgs, flag) {
			t.Errorf("%s: no %s", where, flag)
		}
	}

	// Build it.
	bin := filepath.Join(t.TempDir(), "portcullis")
	args := slices.Clone(dArgs)
	args[slices.Index(args, "-o")+1] = bin
	build := exec.Command("go", append([]string{"build"}, args...)...)
	build.Dir = ".."
	build.Env = os.Environ()
	for k, v := range dEnv {
		build.Env = append(build.Env, k+"="+v)
	}
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: go build %q: %v\n%s", where, args, err, out)
	}

	// Static (no ELF interpreter) and stamped as asked.
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked: distroless/static has no libc")
		}
	}
	ef.Close()
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings %v", settings)
	}
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	var v struct {
		Version   string `json:"version"`
		Revision  string `json:"revision"`
		GoVersion string `json:"go_version"`
	}
	if err := json.Unmarshal(out, &v); err != nil || v.Version != wantVersion || v.Revision != wantRevision || v.GoVersion != runtime.Version() {
		t.Errorf("version --json = %s (%v), want version %s revision %s", out, err, wantVersion, wantRevision)
	}

	// Start it as the image does: ENTRYPOINT + CMD, in an empty folder
	// (no config: the embedded quickstart), and probe it.
	p := launchBinary(t, bin, t.TempDir(), cmdArgs...)
	p.waitReady(t)
	resp, err := http.Get("http://" + p.apiAddr + "/health/alive")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/health/alive: %d", resp.StatusCode)
	}
	// The image's HEALTHCHECK command, pointed at this instance's port.
	hc := exec.Command(bin, append(health[1:], "--endpoint", "http://"+p.apiAddr)...)
	if out, err := hc.CombinedOutput(); err != nil {
		t.Fatalf("HEALTHCHECK %q: %v\n%s", health, err, out)
	}
}

// TestPlainBuildVersionFromVCS: a plain `go build` in a checkout needs no
// -ldflags; `portcullis version` reports the commit from the VCS stamp.
// (CI's environment sets GOFLAGS=-buildvcs=false; a developer's plain
// build stamps by default.)
func TestPlainBuildVersionFromVCS(t *testing.T) {
	git := func(args ...string) string {
		t.Helper()
		c := exec.Command("git", args...)
		c.Dir = ".."
		out, err := c.Output()
		if err != nil {
			t.Fatalf("git %s: %v (the tests run in a git checkout)", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	head := git("rev-parse", "HEAD")

	bin := filepath.Join(t.TempDir(), "portcullis")
	// CGO_ENABLED=0 and -trimpath as in the release build, so the compiled
	// packages are shared with TestContainerBinaryBuildsAndServes.
	build := exec.Command("go", "build", "-buildvcs=true", "-trimpath", "-o", bin, "./cmd/portcullis")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	modified := git("status", "--porcelain") != ""

	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	var v struct {
		Version    string `json:"version"`
		Revision   string `json:"revision"`
		Modified   bool   `json:"modified"`
		CommitTime string `json:"commit_time"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("version --json = %s: %v", out, err)
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	// The module version Go derives from the checkout (a tag, or a
	// pseudo-version naming the commit), the commit, its time, and
	// whether the tree had changes.
	if v.Revision != head || v.Modified != modified || v.CommitTime == "" || v.Version != bi.Main.Version || v.Version == "dev" {
		t.Errorf("version --json = %s, want revision %s modified %v version %s", out, head, modified, bi.Main.Version)
	}
}
