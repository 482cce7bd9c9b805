package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const replicasRunbook = `
name: replicas
distinct_approver: true
phases:
  - id: build
    title: Build and verify
    steps:
      - id: notes
        title: Release notes written
      - id: smoke
        title: Smoke test
        run: shell
        with:
          command: ["sh", "-c", "echo $DEPLOY_VERSION >> %DIR%/runs; echo smoke ok"]
  - id: prod
    title: Production
    steps:
      - id: rollout
        title: Roll out
        run: shell
        with:
          command: ["sh", "-c", "echo rollout-$DEPLOY_VERSION >> %DIR%/runs; echo rolled out"]
rollback:
  steps:
    - id: revert
      title: Revert DNS
`

// TestTwoProcessesShareTheWork runs one deployment across two bot
// processes on one Redis, each request going to a different process: every
// automated step runs exactly once, and every message is posted once and
// then edited, whichever process handled the click.
func TestTwoProcessesShareTheWork(t *testing.T) {
	dir := t.TempDir()
	d := newSlackDriver(t, strings.ReplaceAll(replicasRunbook, "%DIR%", dir))
	a, b := d.start(), d.start()
	runs := filepath.Join(dir, "runs")
	lines := func() []string {
		data, _ := os.ReadFile(runs)
		return strings.Fields(string(data))
	}

	if got := d.command(a, ana, "start v7.0"); !strings.Contains(got, "Started run") {
		t.Fatalf("start on a: %q", got)
	}
	if got := d.command(b, bob, "start v7.1"); !strings.Contains(got, "already has a deployment in progress") {
		t.Fatalf("a second start on b: %q", got)
	}
	card := d.find(deployChannel, "Build and verify", "Release notes written")
	d.click(b, bob, card, "Done", ":notes")
	d.find(deployChannel, "Build and verify", "smoke ok")
	d.click(a, ana, card, "Approve", "")
	d.ephemeralTo(ana, "two-person rule")
	d.click(b, bob, card, "Approve", "")
	d.find(deployChannel, "Production", "rolled out")
	prod, _ := d.fake.Find(deployChannel, "Production", "rolled out")
	d.click(a, bob, prod, "Approve", "")
	d.find(noticeChannel, "v7.0 is deployed to production")

	// Give a duplicate every chance to show before counting.
	time.Sleep(2 * time.Second)
	if got := lines(); len(got) != 2 || got[0] != "v7.0" || got[1] != "rollout-v7.0" {
		t.Fatalf("step executions = %q, want each step exactly once", got)
	}
	d.postedOnceEach(t, "Phase 1/2", "Phase 2/2", "Deployment of v7.0 to production started", "v7.0 is deployed to production")
}

// postedOnceEach checks that each key appears in exactly one posted message.
func (d *slackDriver) postedOnceEach(t *testing.T, keys ...string) {
	t.Helper()
	counts := map[string]int{}
	for _, m := range d.fake.Messages() {
		v := m.Visible()
		for _, key := range keys {
			if strings.Contains(v, key) {
				counts[key]++
			}
		}
	}
	for _, key := range keys {
		if counts[key] != 1 {
			t.Errorf("%q posted %d times, want once:\n%s", key, counts[key], d.fake.Transcript(deployChannel))
		}
	}
}
