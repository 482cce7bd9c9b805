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

// runbook check DIR checks every service in one pass; show takes a service.
func TestRunbookCheckAndShowAServicesDirectory(t *testing.T) {
	examples := filepath.Join("..", "..", "examples", "services")
	code, out, errOut := runCLI(t, "runbook", "check", examples)
	if code != 0 {
		t.Fatalf("check %s: exit %d\n%s", examples, code, errOut)
	}
	for _, want := range []string{"checkout.yaml: ok: service checkout (", "environments: canary, production, staging)", "search.yaml: ok: service search (", "2 services: checkout, search"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}

	dir := t.TempDir()
	files := map[string]string{
		"a.yaml": "name: web\nphases: [{id: p, title: P, steps: [{id: s, title: S}]}]\n",
		"b.yaml": "name: web\nphases: [{id: p, title: P, steps: [{id: s, title: S, colour: red}]}]\n",
		"c.yml":  "name: \"???\"\nphases: [{id: p, title: P, steps: [{id: s, title: S}]}]\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, _, errOut = runCLI(t, "runbook", "check", dir)
	if code != 1 {
		t.Fatalf("check of a bad directory: exit %d, want 1\n%s", code, errOut)
	}
	for _, want := range []string{
		filepath.Join(dir, "b.yaml") + `:2: unknown field "colour"`,
		filepath.Join(dir, "c.yml") + `:1: name "???" has no letter or digit to name its service by`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	// Fixed, b.yaml is a second runbook for web: both files are named.
	files["b.yaml"] = files["a.yaml"]
	files["c.yml"] = "name: api\nphases: [{id: p, title: P, steps: [{id: s, title: S}]}]\n"
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, _, errOut = runCLI(t, "runbook", "check", dir)
	if want := `service "web" is defined twice: in ` + filepath.Join(dir, "a.yaml") + " and in " + filepath.Join(dir, "b.yaml"); code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("exit %d, stderr lacks %q:\n%s", code, want, errOut)
	}

	code, out, errOut = runCLI(t, "runbook", "show", examples, "checkout")
	if code != 0 || !strings.HasPrefix(out, "Checkout Release\n") || strings.Contains(out, "Search Release") ||
		!strings.Contains(out, "environments: canary (approvers: @checkout-oncall), production, staging (approval: false, window: none)") {
		t.Errorf("show checkout: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "runbook", "show", examples, "billing")
	if code != exitUsage || !strings.Contains(errOut, `unknown service "billing": the services are checkout, search`) {
		t.Errorf("show billing: exit %d, %s", code, errOut)
	}
}

// TestRunbookCheckOfAMissingPath: a path that does not exist is a usage
// error (exit 2) told in one line naming the path, not "load runbook: stat …".
func TestRunbookCheckOfAMissingPath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nonexistent")
	for _, args := range [][]string{{"runbook", "check", missing}, {"runbook", "show", missing}} {
		code, out, errOut := runCLI(t, args...)
		want := "deploybot: no runbook file or directory at " + missing + "\n"
		if code != exitUsage || out != "" || errOut != want {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d and stderr %q", strings.Join(args, " "), code, out, errOut, exitUsage, want)
		}
	}
}

// TestRunbookCheckSummaryCountsInGoodEnglish: one phase, one step and one
// rollback step are "1 phase, 1 step, 1 rollback step".
func TestRunbookCheckSummaryCountsInGoodEnglish(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tiny.yaml")
	src := "name: tiny\nphases:\n  - id: p\n    title: P\n    steps:\n      - id: s\n        title: S\nrollback:\n  steps:\n    - id: r\n      title: R\n"
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "runbook", "check", file)
	if want := file + ": ok (1 phase, 1 step, 1 rollback step)\n"; code != 0 || out != want {
		t.Errorf("exit %d, stdout %q, want %q\n%s", code, out, want, errOut)
	}
}
