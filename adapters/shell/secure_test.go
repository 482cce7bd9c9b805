package shell_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"deploybot/adapters/shell"
)

// TestOnlyAllowListedEnvironment: a command sees PATH, HOME, LANG, TZ,
// DEPLOY_* and what the step names, never the rest of the bot's environment.
func TestOnlyAllowListedEnvironment(t *testing.T) {
	environ := func() []string {
		return []string{
			"PATH=" + os.Getenv("PATH"), "HOME=/home/bot", "LANG=C.UTF-8", "TZ=UTC",
			"DATABASE_URL=postgres://app:db-pass-123@db:5432/app", "AWS_ACCESS_KEY_ID=AKIAEXAMPLE",
			"KUBECONFIG=/etc/kube", "DEPLOY_REGION=eu", "DEPLOYBOT_DASHBOARD_TOKEN=dash-secret", "SLACK_SIGNING_SECRET=sss",
		}
	}
	a := shell.New(shell.Config{Supervisor: supervisor, Environ: environ})
	s := parse(t, a, map[string]any{"command": []any{"env"}, "pass_env": []any{"KUBECONFIG"}, "env": map[string]any{"TARGET": "x"}})
	res := s.Run(context.Background(), vars, nil)
	if !res.OK {
		t.Fatalf("Run = %+v", res)
	}
	got := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(res.Output), "\n") {
		k, _, _ := strings.Cut(line, "=")
		got[k] = true
	}
	for _, k := range []string{"PATH", "HOME", "LANG", "TZ", "DEPLOY_REGION", "KUBECONFIG", "TARGET", "DEPLOY_VERSION"} {
		if !got[k] {
			t.Errorf("%s missing from the command's environment", k)
		}
	}
	for _, k := range []string{"DATABASE_URL", "AWS_ACCESS_KEY_ID", "DEPLOYBOT_DASHBOARD_TOKEN", "SLACK_SIGNING_SECRET"} {
		if got[k] {
			t.Errorf("the command inherited %s", k)
		}
	}
	if strings.Contains(res.Output, "db-pass-123") {
		t.Error("a password shows in the output")
	}
}

// TestURLPasswordsAreRedacted: a password in a URL is hidden wherever it
// shows, even when no variable holding it is known.
func TestURLPasswordsAreRedacted(t *testing.T) {
	environ := func() []string {
		return append(testEnviron(), "DATABASE_URL=postgres://app:db-pass-123@db:5432/app")
	}
	a := shell.New(shell.Config{Supervisor: supervisor, Environ: environ})
	s := parse(t, a, map[string]any{
		"command": []any{"sh", "-c", `echo "connecting to postgres://app:other-pass@db2/app"; echo "mirror https://ci:pa:ss@git.example.com/x.git" >&2; exit 4`},
	})
	res := s.Run(context.Background(), vars, nil)
	want := "connecting to postgres://app:***@db2/app\nmirror https://ci:***@git.example.com/x.git\n"
	if res.Output != want {
		t.Errorf("Output = %q, want %q", res.Output, want)
	}
	if res.Summary != "exit 4: mirror https://ci:***@git.example.com/x.git" {
		t.Errorf("Summary = %q", res.Summary)
	}
}

// TestChatTextNeverBecomesAnOption: an argument that would begin with "-"
// because of a reason is refused and nothing runs; an option the runbook
// writes itself takes the reason as its value.
func TestChatTextNeverBecomesAnOption(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	a := shell.New(shell.Config{Supervisor: supervisor, Environ: testEnviron})
	s := parse(t, a, map[string]any{"command": []any{"sh", "-c", `touch "$1"`, "sh", marker, "{{ .Reason }}"}})
	v := vars
	v.Reason = "--force"
	res := s.Run(context.Background(), v, nil)
	if res.OK || !strings.Contains(res.Summary, `argument 5 (--force) would begin with "-" from a template value`) || !strings.Contains(res.Summary, "nothing was run") {
		t.Errorf("Run = ok %v %q, want refused", res.OK, res.Summary)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the command ran (%v)", err)
	}
	s = parse(t, a, map[string]any{"command": []any{"printf", "%s", "--reason={{ .Reason }}"}})
	if res := s.Run(context.Background(), v, nil); !res.OK || res.Output != "--reason=--force" {
		t.Errorf("Run = ok %v %q %q, want --reason=--force", res.OK, res.Summary, res.Output)
	}
}
