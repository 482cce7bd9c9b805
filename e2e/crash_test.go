package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"deploybot/internal/testkit/slackfake"
)

// killRunbook: two phases of one manual step each, no approvals, so two
// Done clicks complete a run.
const killRunbook = `
name: crash
phases:
  - id: build
    title: Build and verify
    approval: false
    steps:
      - id: notes
        title: Release notes written
  - id: prod
    title: Production
    approval: false
    steps:
      - id: rollout
        title: Roll out
`

// TestKilledWhilePostingOwesNothing SIGKILLs the bot while Slack holds its
// first post of a new run (and drops it when the bot hangs up), restarts
// it, and later kills it again while the completion notice is in flight:
// the announcement, the summary, both cards and the completion notice each
// appear exactly once, delivered by the next life from what the store owes.
func TestKilledWhilePostingOwesNothing(t *testing.T) {
	d := newSlackDriver(t, killRunbook)
	p := d.start()

	d.fake.Script("chat.postMessage", slackfake.Fault{Hold: true})
	if got := d.command(p, ana, "start v1.4"); !strings.Contains(got, "Started run") {
		t.Fatalf("start: %q", got)
	}
	waitFor(t, "a post to be held", 10*time.Second, func() bool { return d.fake.Held() == 1 })
	p.kill(syscall.SIGKILL)
	waitFor(t, "the held post to be dropped", 10*time.Second, func() bool { return d.fake.Held() == 0 })

	p = d.start()
	d.findWithin(40*time.Second, noticeChannel, "Deployment of v1.4 to production started")
	d.findWithin(40*time.Second, deployChannel, "Each phase has its own message")
	card := d.findWithin(40*time.Second, deployChannel, "Phase 1/2", "Release notes written")
	if code := d.click(p, bob, card, "Done", ":notes"); code != 200 {
		t.Fatalf("Done: HTTP %d", code)
	}
	prod := d.findWithin(20*time.Second, deployChannel, "Phase 2/2", "Roll out")

	// The last click owes two posts, the completion notice and the run's
	// report (in either order: the card and summary edits before the report
	// may wait for their pace): hold both and kill.
	d.fake.Script("chat.postMessage", slackfake.Fault{Hold: true}, slackfake.Fault{Hold: true})
	if code := d.click(p, bob, prod, "Done", ":rollout"); code != 200 {
		t.Fatalf("Done: HTTP %d", code)
	}
	waitFor(t, "the completion notice and the report to be held", 10*time.Second, func() bool { return d.fake.Held() == 2 })
	p.kill(syscall.SIGKILL)
	waitFor(t, "the held posts to be dropped", 10*time.Second, func() bool { return d.fake.Held() == 0 })
	d.start() // the next life delivers the completion notice, the report and the last edits
	d.findWithin(40*time.Second, noticeChannel, "v1.4 is deployed to production")
	d.findWithin(40*time.Second, deployChannel, "Deployment report: v1.4 to production — completed")
	d.findWithin(40*time.Second, deployChannel, "Each phase has its own message", "completed")

	time.Sleep(2 * time.Second) // give a duplicate every chance to show
	counts := map[string]int{}
	keys := []string{"Deployment of v1.4 to production started", "Each phase has its own message", "Phase 1/2", "Phase 2/2", "v1.4 is deployed to production",
		"Deployment report: v1.4 to production — completed"}
	for _, m := range d.fake.Messages() {
		for _, key := range keys {
			if strings.Contains(m.Visible(), key) {
				counts[key]++
			}
		}
	}
	for _, key := range keys {
		if counts[key] != 1 {
			t.Errorf("%q posted %d times, want exactly once:\n%s\n%s", key, counts[key], d.fake.Transcript(noticeChannel), d.fake.Transcript(deployChannel))
		}
	}
	if n := len(d.fake.Messages()); n != len(keys) {
		t.Errorf("%d messages posted, want %d", n, len(keys))
	}
	summary, _ := d.fake.Find(deployChannel, "Each phase has its own message")
	if !strings.Contains(summary.Visible(), "completed") {
		t.Errorf("the summary does not show the run completed:\n%s", summary.Visible())
	}
}

// findWithin waits up to within for a message in channel whose visible
// text has all parts.
func (d *slackDriver) findWithin(within time.Duration, channel string, parts ...string) slackfake.Message {
	d.t.Helper()
	var m slackfake.Message
	deadline := time.Now().Add(within)
	for {
		var ok bool
		if m, ok = d.fake.Find(channel, parts...); ok {
			return m
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("no message with %q in %s after %s:\n%s", parts, channel, within, d.fake.Transcript(channel))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
