package shell_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"deploybot/adapters"
	"deploybot/adapters/shell"
	"deploybot/internal/clock"
)

var vars = adapters.Vars{Service: "payments", Version: "v1.4", Previous: "v1.3", Env: "production", RunID: "r42", Phase: "deploy", Step: "migrate"}

// supervisor lets the tests run their steps supervised, as deploybot does:
// this test binary is a step's supervisor too (TestMain).
var supervisor *shell.Supervisor

func TestMain(m *testing.M) {
	supervisor = shell.Supervise()
	os.Exit(m.Run())
}

func parse(t *testing.T, a *shell.Adapter, with map[string]any) adapters.Step {
	t.Helper()
	s, err := a.Parse(with)
	if err != nil {
		t.Fatalf("Parse(%v): %v", with, err)
	}
	return s
}

func testEnviron() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"KEEP_ME=kept",
		"SLACK_BOT_TOKEN=xoxb-very-secret",
		"GITHUB_TOKEN=ghp_secret_value",
		"REDIS_URL=redis://:hunter22@localhost:6379",
		"DEPLOY_VERSION=stale",
	}
}

// modes are the two ways a step runs: supervised (deploybot) and directly
// (a binary that did not call Supervise).
var modes = []struct {
	name string
	sup  func() *shell.Supervisor
}{{"supervised", func() *shell.Supervisor { return supervisor }}, {"direct", func() *shell.Supervisor { return nil }}}

func TestRunExitCodes(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			testRunExitCodes(t, shell.New(shell.Config{Supervisor: m.sup(), Environ: testEnviron}))
		})
	}
}

func testRunExitCodes(t *testing.T, a *shell.Adapter) {
	tests := []struct {
		name    string
		command []any
		ok      bool
		summary string
	}{
		{"success", []any{"true"}, true, "exit 0"},
		{"failure with last line", []any{"sh", "-c", "echo first; echo 'boom: disk full' >&2; exit 3"}, false, "exit 3: boom: disk full"},
		{"failure without output", []any{"false"}, false, "exit 1"},
		{"killed by a signal", []any{"sh", "-c", "kill -KILL $$"}, false, "killed by signal 9 (killed)"},
		{"program not found", []any{"./no-such-program-here"}, false, "cannot start ./no-such-program-here: no such file or directory"},
		{"program not in PATH", []any{"no-such-program-here"}, false, "cannot start no-such-program-here: not found in PATH"},
		{"program not executable", []any{"./shell_test.go"}, false, "cannot start ./shell_test.go: permission denied"},
		{"a directory", []any{"./"}, false, "cannot start ./: permission denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := parse(t, a, map[string]any{"command": tc.command}).Run(context.Background(), vars, nil)
			if res.OK != tc.ok || res.Summary != tc.summary {
				t.Fatalf("Run = ok %v %q, want ok %v %q (output %q)", res.OK, res.Summary, tc.ok, tc.summary, res.Output)
			}
		})
	}
}

func TestRunEnvironment(t *testing.T) {
	a := shell.New(shell.Config{Supervisor: supervisor, Environ: testEnviron})
	s := parse(t, a, map[string]any{
		"command": []any{"env"},
		"env":     map[string]any{"TARGET": "{{ .Env }}-cluster", "KEEP_ME": "overridden"},
	})
	res := s.Run(context.Background(), vars, nil)
	if !res.OK {
		t.Fatalf("Run = %+v", res)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(res.Output), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	want := map[string]string{
		"DEPLOY_SERVICE":  "payments",
		"DEPLOY_VERSION":  "v1.4",
		"DEPLOY_PREVIOUS": "v1.3",
		"DEPLOY_ENV":      "production",
		"DEPLOY_RUN_ID":   "r42",
		"DEPLOY_PHASE":    "deploy",
		"DEPLOY_STEP":     "migrate",
		"TARGET":          "production-cluster",
		"KEEP_ME":         "overridden",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, k := range []string{"SLACK_BOT_TOKEN", "GITHUB_TOKEN", "REDIS_URL"} {
		if _, ok := got[k]; ok {
			t.Errorf("the command inherited the bot's secret %s", k)
		}
	}
}

func TestPassEnvIsRedacted(t *testing.T) {
	a := shell.New(shell.Config{Supervisor: supervisor, Environ: testEnviron})
	s := parse(t, a, map[string]any{
		"command":  []any{"sh", "-c", `echo "token=$GITHUB_TOKEN"; echo "slack=${SLACK_BOT_TOKEN:-unset}"; echo "pw=$DB_PASSWORD"; exit 2`},
		"env":      map[string]any{"DB_PASSWORD": "correct-horse"},
		"pass_env": []any{"GITHUB_TOKEN"},
	})
	res := s.Run(context.Background(), vars, nil)
	if res.Summary != "exit 2: pw=***" {
		t.Errorf("Summary = %q", res.Summary)
	}
	want := "token=***\nslack=unset\npw=***\n"
	if res.Output != want {
		t.Errorf("Output = %q, want %q", res.Output, want)
	}
	for _, secret := range []string{"ghp_secret_value", "correct-horse", "xoxb-very-secret"} {
		if strings.Contains(res.Output+res.Summary, secret) {
			t.Errorf("secret %q visible", secret)
		}
	}
}

func TestVersionIsOneArgument(t *testing.T) {
	marker := filepath.Join(t.TempDir(), fmt.Sprintf("pwned-%d", time.Now().UnixNano()))
	evil := "v1.4; touch " + marker + " $(touch " + marker + ") `touch " + marker + "`"
	a := shell.New(shell.Config{Supervisor: supervisor, Environ: testEnviron})
	s := parse(t, a, map[string]any{"command": []any{"printf", "%s", "{{ .Version }}"}})
	v := vars
	v.Version = evil
	res := s.Run(context.Background(), v, nil)
	if !res.OK || res.Output != evil {
		t.Fatalf("Run = ok %v output %q, want %q printed as one argument", res.OK, res.Output, evil)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the version was executed: %s exists (%v)", marker, err)
	}
	plan := s.Plan(v)
	wantPlan := "run `printf %s '" + evil + "'`"
	if !strings.HasPrefix(plan, wantPlan) {
		t.Errorf("Plan = %q, want prefix %q", plan, wantPlan)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return !(i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X'))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCancelKillsWholeProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	a := shell.New(shell.Config{Supervisor: supervisor, Environ: testEnviron, Grace: 300 * time.Millisecond})
	s := parse(t, a, map[string]any{"command": []any{"sh", "-c", `trap "" TERM; sleep 60 & echo $! > "$PID_FILE.tmp"; mv "$PID_FILE.tmp" "$PID_FILE"; wait`},
		"env": map[string]any{"PID_FILE": pidFile}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan adapters.Result, 1)
	go func() { done <- s.Run(ctx, vars, nil) }()

	var pid int
	waitFor(t, "the grandchild's pid", func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	if !alive(pid) {
		t.Fatalf("grandchild %d not running before cancel", pid)
	}
	cancel()
	var res adapters.Result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
	if res.OK || res.Summary != "cancelled" {
		t.Errorf("Run = ok %v %q, want cancelled", res.OK, res.Summary)
	}
	waitFor(t, fmt.Sprintf("grandchild %d to be gone", pid), func() bool { return !alive(pid) })
}

func TestTimeout(t *testing.T) {
	a := shell.New(shell.Config{Supervisor: supervisor, Environ: testEnviron, Grace: 200 * time.Millisecond})
	s := parse(t, a, map[string]any{"command": []any{"sleep", "60"}})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := s.Run(ctx, vars, nil)
	if res.OK || res.Summary != "timed out after 300ms" {
		t.Errorf("Run = ok %v %q, want timed out after 300ms", res.OK, res.Summary)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %v after a 300ms timeout", d)
	}
}

func TestOutputKeepsTail(t *testing.T) {
	a := shell.New(shell.Config{Supervisor: supervisor, Environ: testEnviron})
	s := parse(t, a, map[string]any{"command": []any{"sh", "-c", "yes 0123456789abcdef | head -c 10485760; echo; echo the-end"}})
	res := s.Run(context.Background(), vars, nil)
	if !res.OK {
		t.Fatalf("Run = %+v", res.Summary)
	}
	if len(res.Output) > adapters.DefaultOutputLimit+64 {
		t.Errorf("kept %d bytes, want at most the last 64 KiB", len(res.Output))
	}
	if len(res.Output) < adapters.DefaultOutputLimit-64 {
		t.Errorf("kept only %d bytes", len(res.Output))
	}
	if !strings.HasPrefix(res.Output, "[earlier output dropped]\n0123456789abcdef\n") || !strings.HasSuffix(res.Output, "\nthe-end\n") {
		t.Errorf("Output = %q … %q", res.Output[:60], res.Output[len(res.Output)-30:])
	}
}

func TestProgressReportsLastLine(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	flag := filepath.Join(t.TempDir(), "go-on")
	a := shell.New(shell.Config{Supervisor: supervisor, Environ: testEnviron, Clock: fake})
	s := parse(t, a, map[string]any{
		"command": []any{"sh", "-c", `echo "migrating 3 of 7 tables"; while [ ! -e "$FLAG" ]; do sleep 0.01; done; echo done`},
		"env":     map[string]any{"FLAG": flag},
	})
	lines := make(chan string, 100)
	done := make(chan adapters.Result, 1)
	go func() { done <- s.Run(context.Background(), vars, func(l string) { lines <- l }) }()

	deadline := time.Now().Add(10 * time.Second)
	var got string
	for got == "" {
		if time.Now().After(deadline) {
			t.Fatal("no progress line")
		}
		if fake.Waiters() > 0 {
			fake.Advance(shell.DefaultProgressEvery)
		}
		select {
		case got = <-lines:
		case <-time.After(10 * time.Millisecond):
		}
	}
	if got != "migrating 3 of 7 tables" {
		t.Errorf("progress = %q", got)
	}
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if res := <-done; !res.OK {
		t.Fatalf("Run = %+v", res)
	}
}

func TestMissingDir(t *testing.T) {
	for _, m := range modes {
		a := shell.New(shell.Config{Supervisor: m.sup(), Environ: testEnviron})
		s := parse(t, a, map[string]any{"command": []any{"pwd"}, "dir": "/no/such/dir"})
		res := s.Run(context.Background(), vars, nil)
		if res.OK || res.Summary != "cannot start pwd: no such file or directory" {
			t.Errorf("%s: Run = ok %v %q", m.name, res.OK, res.Summary)
		}
	}
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	a := shell.New(shell.Config{Supervisor: supervisor, Environ: testEnviron})
	s := parse(t, a, map[string]any{"command": []any{"pwd"}, "dir": dir})
	res := s.Run(context.Background(), vars, nil)
	real, _ := filepath.EvalSymlinks(dir)
	if strings.TrimSpace(res.Output) != real && strings.TrimSpace(res.Output) != dir {
		t.Errorf("pwd = %q, want %q", res.Output, dir)
	}
	if !strings.Contains(s.Plan(vars), " in "+dir) {
		t.Errorf("Plan = %q lacks the dir", s.Plan(vars))
	}
}

func TestPlan(t *testing.T) {
	a := shell.New(shell.Config{Supervisor: supervisor, Environ: testEnviron})
	s := parse(t, a, map[string]any{
		"command": []any{"./scripts/deploy.sh", "--env", "{{ .Env }}", "it's {{ .Version }}"},
		"env":     map[string]any{"TARGET": "x"},
	})
	want := "run `./scripts/deploy.sh --env production 'it'\\''s v1.4'` with DEPLOY_SERVICE, DEPLOY_VERSION, DEPLOY_PREVIOUS, DEPLOY_ENV, DEPLOY_RUN_ID, DEPLOY_PHASE, DEPLOY_STEP, DEPLOY_REASON, TARGET set, in its own process group (SIGTERM then SIGKILL after 5s on timeout)"
	if got := s.Plan(vars); got != want {
		t.Errorf("Plan =\n%s\nwant\n%s", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	a := shell.New(shell.Config{})
	tests := []struct {
		name string
		with map[string]any
		want string
	}{
		{"unknown field", map[string]any{"comand": []any{"true"}}, `shell: unknown parameter "comand" (known: command, dir, env, pass_env)`},
		{"missing command", map[string]any{}, `shell: parameter "command" is required`},
		{"empty program", map[string]any{"command": []any{" "}}, `shell: parameter "command": the program (first element) is empty`},
		{"command not a list", map[string]any{"command": 3}, `must be a list of arguments`},
		{"bad template", map[string]any{"command": []any{"echo", "{{ .Version"}}, `shell: parameter "command[1]": bad template`},
		{"unknown variable", map[string]any{"command": []any{"echo", "{{ .Verison }}"}}, `shell: parameter "command[1]": bad template: unknown variable .Verison`},
		{"unknown variable in untaken branch", map[string]any{"command": []any{"echo", `{{ if eq .Env "x" }}{{ .Nope }}{{ end }}`}}, `unknown variable .Nope`},
		{"reserved env", map[string]any{"command": []any{"true"}, "env": map[string]any{"DEPLOY_VERSION": "x"}}, `shell: parameter "env": DEPLOY_VERSION is set by deploybot`},
		{"bad env name", map[string]any{"command": []any{"true"}, "env": map[string]any{"A B": "x"}}, `shell: parameter "env": "A B" is not a valid variable name`},
		{"env value not a string", map[string]any{"command": []any{"true"}, "env": map[string]any{"N": []any{1}}}, `shell: parameter "env": want a string, got a list`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Parse(tc.with)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// readPid waits for a pid written to file by a command.
func readPid(t *testing.T, file string) int {
	t.Helper()
	var pid int
	waitFor(t, "a pid in "+file, func() bool {
		b, err := os.ReadFile(file)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

// A command that exits and leaves a background process in its group (with
// its output elsewhere, so it holds no pipe) must not leave that process
// running after the step is over: the next step would run alongside it.
func TestExitStopsLeftoverProcesses(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	a := shell.New(shell.Config{Supervisor: supervisor, Environ: testEnviron, Grace: 300 * time.Millisecond})
	s := parse(t, a, map[string]any{"command": []any{"sh", "-c", `sleep 60 >/dev/null 2>&1 & echo $! > "$PID_FILE.tmp"; mv "$PID_FILE.tmp" "$PID_FILE"; echo started`},
		"env": map[string]any{"PID_FILE": pidFile}})
	res := s.Run(context.Background(), vars, nil)
	if !res.OK {
		t.Fatalf("Run = %+v", res)
	}
	pid := readPid(t, pidFile)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if alive(pid) {
		t.Errorf("background process %d of the finished command is still running", pid)
	}
}

// TestHelperParent is not a test: TestParentDeathKillsCommand runs the test
// binary as a stand-in bot process that starts a command and is then killed.
func TestHelperParent(t *testing.T) {
	pidFile := os.Getenv("DEPLOYBOT_SHELL_HELPER_PIDFILE")
	if pidFile == "" {
		return
	}
	command := []any{"sh", "-c", `echo $$ > "$PID_FILE.tmp"; mv "$PID_FILE.tmp" "$PID_FILE"; exec sleep 60`}
	if os.Getenv("DEPLOYBOT_SHELL_HELPER_GRANDCHILD") != "" {
		// The pid written is a grandchild's, which outlives its parent's
		// death (like the migration a script runs), and the step's timeout.
		command = []any{"sh", "-c", `sh -c 'echo $$ > "$PID_FILE.tmp"; mv "$PID_FILE.tmp" "$PID_FILE"; exec sleep 60'; echo after`}
	}
	a := shell.New(shell.Config{Supervisor: supervisor, Environ: testEnviron})
	s := parse(t, a, map[string]any{"command": command, "env": map[string]any{"PID_FILE": pidFile}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Run(ctx, vars, nil)
}

// When the bot process dies (SIGKILL, OOM) the command it started must not
// keep running: the step is then shown as interrupted, and a person's Retry
// would otherwise run it a second time alongside the first.
func TestParentDeathKillsCommand(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperParent$", "-test.count=1")
	helper.Env = append(os.Environ(), "DEPLOYBOT_SHELL_HELPER_PIDFILE="+pidFile)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	pid := readPid(t, pidFile)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if !alive(pid) {
		t.Fatalf("command %d not running", pid)
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	waitFor(t, fmt.Sprintf("command %d to die with its parent", pid), func() bool { return !alive(pid) })
}

// When the bot dies (SIGKILL) while a step's command has started a process
// of its own, that process must die too, promptly: the next life shows the
// step interrupted with a Retry button, and a Retry must not run the
// migration a second time alongside the first. Killing only the direct child
// (Pdeathsig) leaves the grandchild running.
func TestBotDeathKillsCommandsWholeTree(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperParent$", "-test.count=1")
	helper.Env = append(os.Environ(), "DEPLOYBOT_SHELL_HELPER_PIDFILE="+pidFile, "DEPLOYBOT_SHELL_HELPER_GRANDCHILD=1")
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = helper.Process.Kill(); _ = helper.Wait() })
	pid := readPid(t, pidFile)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if !alive(pid) {
		t.Fatalf("grandchild %d not running", pid)
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	killed := time.Now()
	deadline := killed.Add(2 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d still running 2s after the bot was killed", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("grandchild gone %s after the bot was killed", time.Since(killed))
}

// A normal run under the supervisor passes the command's exit status,
// output, argv and environment through unchanged, and leaves no process
// behind.
func TestSupervisedRunIsTransparent(t *testing.T) {
	a := shell.New(shell.Config{Supervisor: supervisor, Environ: testEnviron})
	s := parse(t, a, map[string]any{"command": []any{"sh", "-c", `printf '%s|' "$0" "$@"; echo; env | sort; echo out; echo err >&2; exit 7`, "zero", "a b", "", "--x", "-"}})
	res := s.Run(context.Background(), vars, nil)
	if res.OK || res.Summary != "exit 7: err" {
		t.Fatalf("Run = ok %v %q, want exit 7: err (output %q)", res.OK, res.Summary, res.Output)
	}
	lines := strings.Split(strings.TrimSpace(res.Output), "\n")
	if lines[0] != "zero|a b||--x|-|" {
		t.Errorf("argv = %q, want zero|a b||--x|-|", lines[0])
	}
	var names []string
	for _, l := range lines[1:] {
		if name, _, ok := strings.Cut(l, "="); ok {
			names = append(names, name)
		}
	}
	want := "DEPLOY_ENV DEPLOY_PHASE DEPLOY_PREVIOUS DEPLOY_REASON DEPLOY_RUN_ID DEPLOY_SERVICE DEPLOY_STEP DEPLOY_VERSION PATH"
	// sh itself may set PWD, SHLVL and _ (the rest must come from the bot).
	var got []string
	for _, n := range names {
		if n != "PWD" && n != "SHLVL" && n != "_" && n != "OLDPWD" {
			got = append(got, n)
		}
	}
	if strings.Join(got, " ") != want {
		t.Errorf("environment names = %v, want %s", got, want)
	}
	if !strings.Contains(res.Output, "\nout\n") || !strings.Contains(res.Output, "\nerr\n") {
		t.Errorf("output %q lacks out and err", res.Output)
	}
}

// Progress goes to the chat while the command runs. A line still being
// written may hold the first part of a secret, which the redactor cannot
// recognise yet: only finished lines are reported.
func TestProgressNeverShowsPartOfASecret(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	dir := t.TempDir()
	mark, flag := filepath.Join(dir, "mark"), filepath.Join(dir, "go-on")
	a := shell.New(shell.Config{Supervisor: supervisor, Environ: testEnviron, Clock: fake})
	s := parse(t, a, map[string]any{
		"command":  []any{"sh", "-c", `echo "step one"; printf 'token: ghp_sec'; touch "$MARK"; while [ ! -e "$FLAG" ]; do sleep 0.01; done; printf 'ret_value\n'`},
		"env":      map[string]any{"FLAG": flag, "MARK": mark},
		"pass_env": []any{"GITHUB_TOKEN"},
	})
	lines := make(chan string, 100)
	done := make(chan adapters.Result, 1)
	go func() { done <- s.Run(context.Background(), vars, func(l string) { lines <- l }) }()
	waitFor(t, "the partial line", func() bool { _, err := os.Stat(mark); return err == nil })

	deadline := time.Now().Add(10 * time.Second)
	var got string
	for got == "" {
		if time.Now().After(deadline) {
			t.Fatal("no progress line")
		}
		if fake.Waiters() > 0 {
			fake.Advance(shell.DefaultProgressEvery)
		}
		select {
		case got = <-lines:
		case <-time.After(10 * time.Millisecond):
		}
	}
	if got != "step one" {
		t.Errorf("progress = %q, want the last finished line %q", got, "step one")
	}
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if !res.OK || strings.Contains(res.Output, "ghp_secret_value") || !strings.Contains(res.Output, "token: ***") {
		t.Fatalf("Run = %+v", res)
	}
}

func TestACommandStringIsSplitOnSpacesWithoutAShell(t *testing.T) {
	st, err := shell.New(shell.Config{}).Parse(map[string]any{"command": "printf %s|%s|%s {{ .Version }} --env={{ .Env }} $HOME;x"})
	if err != nil {
		t.Fatal(err)
	}
	v := adapters.Vars{Version: "v1.4", Env: "production", RunID: "r1"}
	res := st.Run(context.Background(), v, nil)
	if !res.OK || res.Output != "v1.4|--env=production|$HOME;x" {
		t.Fatalf("Run = %+v, want the words as separate arguments, nothing expanded", res)
	}
}
