package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), Env{Args: args, Getenv: func(string) string { return "" }, Stdout: &out, Stderr: &errb, Version: "v9.9.9-test"})
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 || strings.TrimSpace(out) != "deploybot v9.9.9-test" {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestUnknownArgumentsPrintUsage(t *testing.T) {
	code, _, errOut := runCLI(t, "deploy", "now")
	if code != exitUsage || !strings.Contains(errOut, "deploybot runbook check FILE") {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
}

// checklistLines reads the seed checklist's step lines in order.
func checklistLines(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "runbook", "testdata", "seed-checklist.md"))
	if err != nil {
		t.Fatalf("the seed checklist is expected at runbook/testdata/seed-checklist.md: %v", err)
	}
	var lines []string
	item := regexp.MustCompile(`^(?:- \[ \] |\d+\. )(.+)$`)
	for _, l := range strings.Split(string(data), "\n") {
		if m := item.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			lines = append(lines, m[1])
		}
	}
	return lines
}

func TestRunbookShowListsEverySeedStepInOrder(t *testing.T) {
	code, out, errOut := runCLI(t, "runbook", "show")
	if code != 0 {
		t.Fatalf("runbook show: %d %s", code, errOut)
	}
	want := checklistLines(t)
	if len(want) != 50 {
		t.Fatalf("the seed has %d step lines, want 50", len(want))
	}
	pos := 0
	for _, line := range want {
		i := strings.Index(out[pos:], line)
		if i < 0 {
			t.Fatalf("%q missing or out of order in:\n%s", line, out)
		}
		pos += i + len(line)
	}
}

func TestRunbookCheckReportsEveryProblemWithItsLine(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.yaml")
	src := `name: bad
phases:
  - id: one
    title: One
    steps:
      - id: a
        title: First
        colour: blue
      - id: a
        title: Second
        run: shell
        with: {command: ["echo", "{{ .Version "]}
rollback:
  steps:
    - id: r
      title: Revert
`
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "runbook", "check", file)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, errOut)
	}
	for _, want := range []string{file + ":8: ", "colour", file + ":9: ", `duplicate step id "a"`, file + ":"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(errOut, "template") {
		t.Errorf("the broken template was not reported:\n%s", errOut)
	}
}

func TestRunbookCheckPassesTheExamplesAndTheBuiltin(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		code, out, errOut := runCLI(t, "runbook", "check", f)
		if code != 0 {
			t.Errorf("%s: exit %d\n%s", f, code, errOut)
		}
		if !strings.Contains(out, ": ok (") {
			t.Errorf("%s: %q", f, out)
		}
	}
}

// TestRunbookCheckWarnsWhereTheReasonFeedsAStep: the runbook passes, and the
// check says where chat text (the rollback reason) feeds more than a notice.
func TestRunbookCheckWarnsWhereTheReasonFeedsAStep(t *testing.T) {
	file := filepath.Join(t.TempDir(), "api.yaml")
	src := "name: api\nphases:\n  - id: deploy\n    title: Deploy\n    steps:\n      - id: ship\n        title: Ship\n        run: shell\n        with:\n          command: [\"./ship.sh\", \"{{ .Version }}\"]\n" +
		"rollback:\n  steps:\n    - id: revert\n      title: Revert\n      run: shell\n      with:\n        command: [\"./revert.sh\", \"--why={{ .Reason }}\"]\n"
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "runbook", "check", file)
	if code != 0 || !strings.Contains(out, file+":13: warning: rollback step \"revert\" (run: shell) uses {{ .Reason }} in with.command[1]") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, f := range []string{"payments-api.yaml"} {
		_, out, _ := runCLI(t, "runbook", "check", filepath.Join("..", "..", "examples", f))
		if strings.Contains(out, "warning") {
			t.Errorf("%s warns:\n%s", f, out)
		}
	}
}
