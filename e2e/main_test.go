package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "portcullis-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "portcullis")
	args := []string{"build", "-o", binary}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "../cmd/portcullis")...)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build portcullis:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process is one running portcullis.
type process struct {
	cmd      *exec.Cmd
	grpcAddr string
	apiAddr  string
	// metricsAddr is serve.metrics (/metrics, /debug/rules).
	metricsAddr string
	mu          sync.Mutex
	out         bytes.Buffer
	done        chan error
}

// logs returns everything the process printed so far.
func (p *process) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// startPortcullis runs the binary with args and PORTCULLIS_ port overrides,
// waits for /health/ready and stops it (SIGTERM) when the test ends.
func startPortcullis(t *testing.T, dir string, args ...string) *process {
	t.Helper()
	p := launchPortcullis(t, dir, args...)
	p.waitReady(t)
	return p
}

// launchPortcullis is startPortcullis without the wait for readiness.
func launchPortcullis(t *testing.T, dir string, args ...string) *process {
	t.Helper()
	return launchBinary(t, binary, dir, args...)
}

// launchBinary is launchPortcullis for another build of portcullis (bin).
func launchBinary(t *testing.T, bin, dir string, args ...string) *process {
	t.Helper()
	grpcPort, apiPort, metricsPort := freePort(t), freePort(t), freePort(t)
	p := &process{grpcAddr: fmt.Sprintf("127.0.0.1:%d", grpcPort), apiAddr: fmt.Sprintf("127.0.0.1:%d", apiPort), done: make(chan error, 1)}
	p.metricsAddr = fmt.Sprintf("127.0.0.1:%d", metricsPort)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	// If the test binary dies (timeout, ^C), the server dies with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Env = append(os.Environ(),
		"PORTCULLIS_SERVE_GRPC_HOST=127.0.0.1", fmt.Sprintf("PORTCULLIS_SERVE_GRPC_PORT=%d", grpcPort),
		"PORTCULLIS_SERVE_API_HOST=127.0.0.1", fmt.Sprintf("PORTCULLIS_SERVE_API_PORT=%d", apiPort),
		fmt.Sprintf("PORTCULLIS_SERVE_METRICS_PORT=%d", metricsPort),
		// No test here is about the check budget, and a race-enabled
		// binary on a busy machine can take longer than the default
		// serve.check_timeout (180ms) to decide: a generous one keeps
		// such checks from being denied with reason deadline. It
		// overrides every config file; a test about the budget needs
		// its own launcher.
		"PORTCULLIS_SERVE_CHECK_TIMEOUT=30s")
	w := writerFunc(func(b []byte) (int, error) { p.mu.Lock(); defer p.mu.Unlock(); return p.out.Write(b) })
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("portcullis output:\n%s", p.logs())
		}
	})
	return p
}

// waitReady waits until /health/ready answers 200 (see waitLog).
func (p *process) waitReady(t *testing.T) {
	t.Helper()
	deadline := testDeadline(t)
	for {
		resp, err := http.Get("http://" + p.apiAddr + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("portcullis exited early: %v\n%s", err, p.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("portcullis not ready:\n%s", p.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *process) dial(t *testing.T) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// waitLog waits until the process output contains s. It gives up only
// near the test binary's deadline (testDeadline): how long the event takes
// depends on the machine, never on the test.
func (p *process) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := testDeadline(t)
	for !strings.Contains(p.logs(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in output:\n%s", s, p.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func run(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
