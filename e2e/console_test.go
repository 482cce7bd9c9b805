package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"deploybot/internal/testkit/browser"
)

// consoleReply is the console's answer to a command or click.
type consoleReply struct {
	OK   bool   `json:"ok"`
	Text string `json:"text"`
	Run  string `json:"run"`
}

// post sends a console form as the named person, the way the page does.
func post(t *testing.T, p *proc, path, name string, form url.Values) consoleReply {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+p.addr+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "deploybot_name", Value: name})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r consoleReply
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
	}
	return r
}

// crashRunbook's automated step records each start and then runs long
// enough to be killed in the middle.
const crashRunbook = `
name: crash
phases:
  - id: deploy
    title: Deploy
    steps:
      - id: rollout
        title: Roll out
        run: shell
        with:
          command: ["sh", "-c", "echo $$ >> %DIR%/starts; exec sleep 120"]
rollback:
  steps:
    - id: revert
      title: Revert
`

// TestKilledMidStepShowsInterruptedAndNeverReruns kills the bot with SIGKILL
// while a shell step runs, restarts it on the same embedded store, and
// checks the step shows interrupted and its command ran exactly once.
func TestKilledMidStepShowsInterruptedAndNeverReruns(t *testing.T) {
	dir := t.TempDir()
	rb := filepath.Join(dir, "runbook.yaml")
	if err := os.WriteFile(rb, []byte(strings.ReplaceAll(crashRunbook, "%DIR%", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DEPLOYBOT_RUNBOOK": rb, "DEPLOYBOT_DATA": filepath.Join(dir, "data")}
	starts := filepath.Join(dir, "starts")
	t.Cleanup(func() { // the orphaned sleep of the killed bot
		data, _ := os.ReadFile(starts)
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})

	p := start(t, dir, env)
	r := post(t, p, "/console/command", "ana", url.Values{"text": {"/deploy start v1.4"}})
	if !r.OK || r.Run == "" {
		t.Fatalf("start: %+v", r)
	}
	waitFor(t, "the step's command to start", 20*time.Second, func() bool {
		data, _ := os.ReadFile(starts)
		return len(strings.Fields(string(data))) == 1
	})
	p.kill(syscall.SIGKILL)

	env["DEPLOYBOT_ADDR"] = p.addr
	p2 := start(t, dir, env)
	var status string
	waitFor(t, "the step to show interrupted", 20*time.Second, func() bool {
		status = post(t, p2, "/console/command", "ana", url.Values{"text": {"/deploy status " + r.Run}}).Text
		return strings.Contains(status, "interrupted")
	})
	if !strings.Contains(status, "Roll out") {
		t.Fatalf("status does not show the step:\n%s", status)
	}
	// Give a wrongly re-run step every chance to show itself.
	time.Sleep(2 * time.Second)
	data, _ := os.ReadFile(starts)
	if n := len(strings.Fields(string(data))); n != 1 {
		t.Fatalf("the step's command started %d times, want exactly 1", n)
	}
	// Retry is a person's decision: the same button now offers it.
	retry := post(t, p2, "/console/click", "bob", url.Values{"action": {"retry:" + r.Run + ":deploy:rollout"}})
	if !retry.OK {
		t.Fatalf("retry: %+v", retry)
	}
	waitFor(t, "the retried command to start", 20*time.Second, func() bool {
		data, _ := os.ReadFile(starts)
		return len(strings.Fields(string(data))) == 2
	})
}

const consoleRunbook = `
name: small
distinct_approver: true
phases:
  - id: build
    title: Build
    steps:
      - id: notes
        title: Release notes written
      - id: smoke
        title: Smoke test
        run: shell
        with:
          command: ["echo", "smoke test passed for", "{{ .Version }}"]
rollback:
  steps:
    - id: revert
      title: Revert
`

// TestConsoleInTheBrowserAgainstTheBinary plays the console check: the
// binary with nothing configured and a small runbook, the page in headless
// Chromium, the start command typed into the box, Done clicked under the
// first step, and the automated step below it finishing until Approve shows.
func TestConsoleInTheBrowserAgainstTheBinary(t *testing.T) {
	dir := t.TempDir()
	rb := filepath.Join(dir, "runbook.yaml")
	if err := os.WriteFile(rb, []byte(consoleRunbook), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, map[string]string{"DEPLOYBOT_RUNBOOK": rb, "DEPLOYBOT_DATA": filepath.Join(dir, "data")})
	b := browser.Start(t)
	page := b.NewPage(t)
	page.Do(t, "open the console and pick a name",
		chromedp.Navigate("http://"+p.addr+"/"),
		chromedp.WaitVisible(`#name-input`),
		chromedp.SetValue(`#name-input`, "ana"),
		chromedp.Click(`#name-form button`),
	)
	// Picking a name reloads the page, and the page before the reload shows
	// a (guest) name and a live stream too: wait for the new page, under the
	// picked name and live, before acting on its nodes.
	page.WaitAcrossReload(t, "the page is ana's and live", `(function(){ const me = document.getElementById("me-name"); const conn = document.getElementById("conn"); return !!me && me.textContent === "@ana" && !!conn && conn.dataset.state === "live"; })()`, 20*time.Second)
	page.Do(t, "type the start command",
		chromedp.SetValue(`#command-input`, "/deploy start v1.4"),
		chromedp.Click(`#command-form button[type=submit]`),
		chromedp.WaitVisible(`li.step[data-step="notes"] button[data-label="Done"]`),
		chromedp.Click(`li.step[data-step="notes"] button[data-label="Done"]`),
	)
	page.WaitFor(t, "the automated step to finish", `!!document.querySelector('li.step[data-step="smoke"].state-done')`, 20*time.Second)
	page.WaitFor(t, "Approve to show", `!!document.querySelector('button[data-label="Approve"]')`, 20*time.Second)
	got := browser.Eval[string](t, page, `document.querySelector('li.step[data-step="smoke"]').textContent`)
	if !strings.Contains(got, "exit 0") {
		t.Fatalf("the automated step shows %q", got)
	}
}

// TestGracefulShutdownStopsAndReportsRunningSteps: SIGTERM while a shell
// step runs stops its process, shows the step interrupted (never a guessed
// result), and exits 0; after a restart nothing re-runs it.
func TestGracefulShutdownStopsAndReportsRunningSteps(t *testing.T) {
	dir := t.TempDir()
	rb := filepath.Join(dir, "runbook.yaml")
	if err := os.WriteFile(rb, []byte(strings.ReplaceAll(crashRunbook, "%DIR%", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DEPLOYBOT_RUNBOOK": rb, "DEPLOYBOT_DATA": filepath.Join(dir, "data")}
	starts := filepath.Join(dir, "starts")
	p := start(t, dir, env)
	r := post(t, p, "/console/command", "ana", url.Values{"text": {"/deploy start v1.4"}})
	var pid int
	waitFor(t, "the step's command to start", 20*time.Second, func() bool {
		data, _ := os.ReadFile(starts)
		f := strings.Fields(string(data))
		if len(f) == 1 {
			pid, _ = strconv.Atoi(f[0])
		}
		return pid > 0
	})
	p.kill(syscall.SIGTERM)
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.output())
	}
	if err := syscall.Kill(pid, 0); err == nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatal("the step's process outlived the bot's shutdown")
	}
	env["DEPLOYBOT_ADDR"] = p.addr
	p2 := start(t, dir, env)
	status := post(t, p2, "/console/command", "ana", url.Values{"text": {"/deploy status " + r.Run}}).Text
	if !strings.Contains(status, "interrupted") {
		t.Fatalf("status after a graceful shutdown:\n%s", status)
	}
	data, _ := os.ReadFile(starts)
	if n := len(strings.Fields(string(data))); n != 1 {
		t.Fatalf("the command started %d times", n)
	}
}

// TestConsoleFirstVisitActsAsAGuest: a newcomer can type a command at once;
// the page names them a guest, and a second browser is a second person.
func TestConsoleFirstVisitActsAsAGuest(t *testing.T) {
	dir := t.TempDir()
	rb := filepath.Join(dir, "runbook.yaml")
	if err := os.WriteFile(rb, []byte(consoleRunbook), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, map[string]string{"DEPLOYBOT_RUNBOOK": rb, "DEPLOYBOT_DATA": filepath.Join(dir, "data")})
	b := browser.Start(t)
	first, second := b.NewPage(t), b.NewPage(t)
	for _, page := range []*browser.Page{first, second} {
		page.Do(t, "open the console", chromedp.Navigate("http://"+p.addr+"/"), chromedp.WaitVisible(`#me-name`))
		page.WaitFor(t, "the live stream", `document.getElementById("conn").dataset.state === "live"`, 20*time.Second)
	}
	a := browser.Eval[string](t, first, `document.getElementById("me-name").textContent`)
	z := browser.Eval[string](t, second, `document.getElementById("me-name").textContent`)
	if !strings.HasPrefix(a, "@guest-") || a == z {
		t.Fatalf("guest names %q and %q", a, z)
	}
	first.Do(t, "start without picking a name",
		chromedp.SetValue(`#command-input`, "/deploy start v2.0"),
		chromedp.Click(`#command-form button[type=submit]`),
		chromedp.WaitVisible(`li.step[data-step="notes"] button[data-label="Done"]`),
	)
}
