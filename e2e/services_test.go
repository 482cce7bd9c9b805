package e2e

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const checkoutRunbook = `name: checkout
environments:
  production:
  staging:
    approval: false
phases:
  - id: deploy
    title: Deploy
    steps:
      - id: ship
        title: Ship it
        run: shell
        with: {command: ["echo", "{{ .Service }}", "{{ .Previous }}"]}
rollback:
  steps:
    - id: revert
      title: Revert{{ with .Previous }} to {{ . }}{{ end }}
`

const searchRunbook = `phases:
  - id: deploy
    title: Deploy
    steps:
      - id: ship
        title: Ship it
rollback:
  steps:
    - id: revert
      title: Revert
`

// TestServicesDirectoryAgainstTheBinary starts the binary with a directory
// of two runbooks (DEPLOYBOT_RUNBOOK=DIR): it serves both services, and a
// start that names no service is answered with the services. A directory
// holding one service twice stops the binary with one message naming both
// files.
func TestServicesDirectoryAgainstTheBinary(t *testing.T) {
	dir := t.TempDir()
	services := filepath.Join(dir, "services")
	if err := os.Mkdir(services, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"checkout.yaml": checkoutRunbook, "search.yml": searchRunbook} {
		if err := os.WriteFile(filepath.Join(services, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := start(t, dir, map[string]string{"DEPLOYBOT_RUNBOOK": services, "DEPLOYBOT_DATA": filepath.Join(dir, "data")})
	r := post(t, p, "/console/command", "ana", url.Values{"text": {"/deploy start v1.4"}})
	if r.Run != "" || !strings.Contains(r.Text, "checkout") || !strings.Contains(r.Text, "search") {
		t.Fatalf("a start naming no service of two: %+v, want a refusal listing checkout and search", r)
	}

	// The same service twice: the binary does not start, and says where.
	if err := os.WriteFile(filepath.Join(services, "checkout-copy.yaml"), []byte(checkoutRunbook), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DEPLOYBOT_ADDR=" + freeAddr(t), "DEPLOYBOT_RUNBOOK=" + services,
		"DEPLOYBOT_DATA=" + filepath.Join(dir, "data2")}
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2; output:\n%s", err, out)
	}
	want := `service "checkout" is defined twice: in ` + filepath.Join(services, "checkout-copy.yaml") + " and in " + filepath.Join(services, "checkout.yaml")
	if !strings.Contains(string(out), "DEPLOYBOT_RUNBOOK: ") || !strings.Contains(string(out), want) {
		t.Fatalf("output does not name both files (%q):\n%s", want, out)
	}

	// runbook check DIR says the same, FILE:LINE.
	check := exec.CommandContext(ctx, binary, "runbook", "check", services)
	out, err = check.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), filepath.Join(services, "checkout.yaml")+":1: "+want[:len(`service "checkout" is defined twice`)]) {
		t.Fatalf("runbook check %s: %v\n%s", services, err, out)
	}
}
