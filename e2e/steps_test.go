package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// stepsRunbook has a shell step, an HTTP check and a watch whose nested
// check fails, which rolls the run back by itself.
const stepsRunbook = `
name: steps
phases:
  - id: deploy
    title: Deploy
    approval: false
    steps:
      - id: rollout
        title: Roll out
        run: shell
        with:
          command: ["echo", "rolled out", "{{ .Version }}", "to", "{{ .Env }}"]
      - id: health
        title: Validate all API endpoints
        run: http
        with:
          endpoints: ["%URL%/healthz", "%URL%/api/v1/status"]
          expect_status: [200]
      - id: canary
        title: Monitor canary
        run: watch
        on_failure: rollback
        with:
          for: 1m
          every: 1s
          failures: 2
          check:
            run: http
            with: {url: "%URL%/metrics/errors"}
  - id: verify
    title: Verify
    steps:
      - id: done
        title: Looks good
rollback:
  steps:
    - id: notify
      title: Notify the team
      run: notify
      with: {text: "Rolled back {{ .Version }}: {{ .Reason }}"}
`

// TestStepsDriver runs shell, http and watch steps through the real binary
// from Slack, including a watch that fails and rolls back by itself, and
// asks for /deploy plan first.
func TestStepsDriver(t *testing.T) {
	var errorsUp atomic.Bool
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics/errors" && errorsUp.Load() {
			http.Error(w, "error rate 12%", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer svc.Close()
	d := newSlackDriver(t, strings.ReplaceAll(stepsRunbook, "%URL%", svc.URL))
	p := d.start()

	plan := d.command(p, ana, "plan v2.0 to staging")
	for _, want := range []string{"echo 'rolled out' v2.0 to staging", svc.URL + "/healthz", svc.URL + "/api/v1/status", "watch", "nothing runs"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	if got := d.command(p, ana, "list"); !strings.Contains(got, "No active runs") {
		t.Fatalf("plan started a run: %q", got)
	}

	errorsUp.Store(true)
	if got := d.command(p, ana, "start v2.0"); !strings.Contains(got, "Started run") {
		t.Fatalf("start: %q", got)
	}
	card := d.find(deployChannel, "Deploy", "rolled out v2.0 to production", "2/2 endpoints")
	_ = card
	d.find(noticeChannel, "Rolling back v2.0", "Monitor canary")
	d.find(noticeChannel, "Rolled back v2.0")
	d.find(noticeChannel, "v2.0 on production is rolled back")
	status := d.command(p, ana, "list")
	if !strings.Contains(status, "rolled back") {
		t.Fatalf("list after the rollback: %q", status)
	}
}

// TestWindowsAcrossTwoProcesses schedules a window a few seconds ahead from
// chat on one process, lists it through another on the same Redis, and
// counts the "window open" notices: exactly one, on time.
func TestWindowsAcrossTwoProcesses(t *testing.T) {
	d := newSlackDriver(t, slackRunbook)
	a := d.start()
	b := d.start()
	opens := time.Now().Add(4 * time.Second).UTC().Truncate(time.Second).Add(time.Second)
	got := d.command(a, ana, "schedule v3.0 "+opens.Format(time.RFC3339)+" for 1h")
	if !strings.Contains(got, "booked") {
		t.Fatalf("schedule: %q", got)
	}
	id := ""
	for _, f := range strings.Fields(got) {
		if strings.HasPrefix(f, "w") && len(f) == 6 {
			id = f
		}
	}
	if list := d.command(b, bob, "windows"); !strings.Contains(list, id) || !strings.Contains(list, "v3.0") {
		t.Fatalf("the other process does not list window %q: %q", id, list)
	}
	open := d.find(noticeChannel, "is open")
	seen := time.Now()
	if late := seen.Sub(opens); late < -time.Second || late > 3*time.Second {
		t.Errorf("the open notice came %s after the window opened", late)
	}
	// Both processes scan every second; give a duplicate time to appear.
	time.Sleep(3 * time.Second)
	n := 0
	for _, m := range d.fake.Conversation(noticeChannel) {
		if strings.Contains(m.Visible(), "is open") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d window-open notices, want exactly 1:\n%s", n, d.fake.Transcript(noticeChannel))
	}
	if !strings.Contains(open.Visible(), "v3.0") {
		t.Errorf("open notice: %s", open.Visible())
	}
}
