// Package e2e drives the real deploybot binary from outside, as its users and
// their chat platforms do: it builds the binary once, starts it with
// environment variables, and talks to it over HTTP.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
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

	"deploybot/internal/testkit"
)

// binary is the path of the deploybot binary built by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deploybot-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "deploybot")
	build := exec.Command("go", "build", "-o", binary, "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building deploybot:", err)
		os.Exit(1)
	}
	testkit.Main(m)
	os.RemoveAll(dir)
}

// proc is a running deploybot process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex // mu protects out
	out  strings.Builder
	done chan struct{}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the binary with env (plus DEPLOYBOT_ADDR on a free port unless
// given) and waits until /healthz answers.
func start(t *testing.T, dir string, env map[string]string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, done: make(chan struct{})}
	if env["DEPLOYBOT_ADDR"] == "" {
		env["DEPLOYBOT_ADDR"] = freeAddr(t)
	}
	p.addr = env["DEPLOYBOT_ADDR"]
	p.cmd = exec.Command(binary, args...)
	p.cmd.Dir = dir
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	go func() {
		_ = p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("deploybot exited early:\n%s", p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("deploybot did not answer /healthz:\n%s", p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStartLineIsAnAddressToOpen: listening on every interface (0.0.0.0,
// or no host), the start-up line gives a URL a person can open on this
// machine, not http://[::]:PORT/ or http://0.0.0.0:PORT/.
func TestStartLineIsAnAddressToOpen(t *testing.T) {
	for _, host := range []string{"0.0.0.0", ""} {
		t.Run("host "+host, func(t *testing.T) {
			_, port, err := net.SplitHostPort(freeAddr(t))
			if err != nil {
				t.Fatal(err)
			}
			p := start(t, t.TempDir(), map[string]string{"DEPLOYBOT_ADDR": host + ":" + port})
			first := strings.SplitN(p.output(), "\n", 2)[0]
			want := "deploybot: serving the console on http://localhost:" + port + "/ with the embedded store"
			if !strings.HasPrefix(first, want) {
				t.Errorf("first line %q, want prefix %q", first, want)
			}
			p.kill(syscall.SIGTERM)
		})
	}
}

func TestConsoleModeServesAndSaysWhere(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, map[string]string{})
	first := strings.SplitN(p.output(), "\n", 2)[0]
	want := "deploybot: serving the console on http://" + p.addr + "/ with the embedded store"
	if !strings.HasPrefix(first, want) {
		t.Fatalf("first line %q, want prefix %q", first, want)
	}
	for path, code := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200} {
		resp, err := http.Get("http://" + p.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("%s = %d, want %d: %s", path, resp.StatusCode, code, body)
		}
		if path == "/metrics" && !strings.Contains(string(body), "go_goroutines") {
			t.Errorf("/metrics lacks the Go collector")
		}
	}
	p.kill(syscall.SIGTERM)
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("SIGTERM exit code %d:\n%s", code, p.output())
	}
	if _, err := os.Stat(filepath.Join(dir, "deploybot-data", "deploybot.db")); err != nil {
		t.Fatalf("the embedded store was not created: %v", err)
	}
}

func TestBadConfigurationStopsWithOneLine(t *testing.T) {
	cases := map[string]struct {
		env  map[string]string
		want string
	}{
		"redis url":         {map[string]string{"REDIS_URL": "mysql://x"}, "REDIS_URL: "},
		"half a slack pair": {map[string]string{"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"},
		"runbook":           {map[string]string{"DEPLOYBOT_RUNBOOK": "/nonexistent.yaml"}, "DEPLOYBOT_RUNBOOK: "},
		"log level":         {map[string]string{"DEPLOYBOT_LOG_LEVEL": "loud"}, "DEPLOYBOT_LOG_LEVEL"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary)
			cmd.Dir = t.TempDir()
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DEPLOYBOT_ADDR=" + freeAddr(t)}
			for k, v := range tc.env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "goroutine ") {
				t.Fatalf("output %q does not name %q (or has a stack trace)", out, tc.want)
			}
			if strings.Contains(string(out), "xoxb-1") {
				t.Fatalf("a secret was printed: %q", out)
			}
		})
	}
}
