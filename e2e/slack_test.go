package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"deploybot/internal/testkit"
	"deploybot/internal/testkit/slackfake"
)

const signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"

var (
	ana = slackfake.User{ID: "U0ANA", Name: "ana"}
	bob = slackfake.User{ID: "U0BOB", Name: "bob"}
)

const (
	deployChannel = "C0DEPLOY"
	noticeChannel = "C0NOTICE"
)

// slackRunbook: a manual step above a shell step, then a production phase.
const slackRunbook = `
name: two-phase
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
          command: ["echo", "smoke ok for", "{{ .Version }}"]
  - id: prod
    title: Production
    production: true
    steps:
      - id: rollout
        title: Roll out
        run: shell
        with:
          command: ["echo", "rolled out", "{{ .Version }}"]
rollback:
  steps:
    - id: notify
      title: Notify the team
      run: notify
      with: {text: "Rolling back {{ .Version }}: {{ .Reason }}"}
    - id: revert
      title: Revert DNS
`

// slackDriver plays Slack against one or more deploybot processes.
type slackDriver struct {
	t    *testing.T
	fake *slackfake.Server
	env  map[string]string
	dir  string
}

func newSlackDriver(t *testing.T, runbookYAML string) *slackDriver {
	t.Helper()
	dir := t.TempDir()
	rb := filepath.Join(dir, "runbook.yaml")
	if err := os.WriteFile(rb, []byte(runbookYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	redis := testkit.Redis(t)
	fake := slackfake.New(t)
	return &slackDriver{t: t, fake: fake, dir: dir, env: map[string]string{
		"SLACK_BOT_TOKEN": slackfake.BotToken, "SLACK_SIGNING_SECRET": signingSecret, "SLACK_API_URL": fake.APIURL(),
		"REDIS_URL": redis.URL(), "DEPLOYBOT_REDIS_PREFIX": redis.Prefix(t), "DEPLOYBOT_RUNBOOK": rb,
		"DEPLOYBOT_NOTICE_CHANNEL": noticeChannel,
	}}
}

func (d *slackDriver) start() *proc {
	env := map[string]string{}
	for k, v := range d.env {
		env[k] = v
	}
	return start(d.t, d.dir, env)
}

// command types a slash command and returns the answer only the typist sees.
func (d *slackDriver) command(p *proc, u slackfake.User, text string) string {
	d.t.Helper()
	req := slackfake.CommandRequest("http://"+p.addr+"/slack/commands", signingSecret, time.Now(), d.fake.Command(u, deployChannel, text))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		d.t.Fatalf("%q: HTTP %d %s", text, resp.StatusCode, body)
	}
	var r struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(body, &r)
	return r.Text
}

// click presses the button labelled label (with idPart in its action id) on
// the latest version of message m, and returns the HTTP status.
func (d *slackDriver) click(p *proc, u slackfake.User, m slackfake.Message, label, idPart string) int {
	d.t.Helper()
	m, _ = d.fake.Message(m.Channel, m.TS)
	a, ok := m.Action(label, idPart)
	if !ok {
		d.t.Fatalf("no %q button (%s) on:\n%s\nbuttons: %v", label, idPart, m.Visible(), m.Labels())
	}
	req := slackfake.InteractionRequest("http://"+p.addr+"/slack/interactions", signingSecret, time.Now(), d.fake.Click(u, m, a, "").Payload())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// submitReason fills the reason dialog the last click opened.
func (d *slackDriver) submitReason(p *proc, u slackfake.User, reason string) {
	d.t.Helper()
	var views []slackfake.View
	waitFor(d.t, "the reason dialog", 10*time.Second, func() bool { views = d.fake.Views(); return len(views) > 0 })
	v := views[len(views)-1]
	var blocks []map[string]any
	_ = json.Unmarshal(v.Blocks, &blocks)
	values := map[string]string{}
	for _, b := range blocks {
		if b["type"] == "input" {
			values[b["block_id"].(string)] = reason
		}
	}
	req := slackfake.InteractionRequest("http://"+p.addr+"/slack/interactions", signingSecret, time.Now(), d.fake.Submit(u, v, values).Payload())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	resp.Body.Close()
}

// find waits for a message in channel whose visible text has all parts.
func (d *slackDriver) find(channel string, parts ...string) slackfake.Message {
	d.t.Helper()
	var m slackfake.Message
	ok := false
	deadline := time.Now().Add(20 * time.Second)
	for !ok {
		if m, ok = d.fake.Find(channel, parts...); ok {
			break
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("no message with %q in %s:\n%s", parts, channel, d.fake.Transcript(channel))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return m
}

// ephemeralTo waits for an ephemeral answer to u containing text (or one of or).
func (d *slackDriver) ephemeralTo(u slackfake.User, text string, or ...string) {
	d.t.Helper()
	texts := append([]string{text}, or...)
	waitFor(d.t, fmt.Sprintf("an ephemeral %q to %s", texts, u.Name), 20*time.Second, func() bool {
		for _, e := range d.fake.Ephemerals(u.ID) {
			for _, t := range texts {
				if strings.Contains(e.Text, t) {
					return true
				}
			}
		}
		return false
	})
}

// TestSlackDriver walks a two-phase runbook from Slack against the real
// binary on a real Redis: a shell step, approvals, a restart, a rate-limit
// storm, a second run, a refused third run and a rollback, reading the
// channels as a person would.
func TestSlackDriver(t *testing.T) {
	d := newSlackDriver(t, slackRunbook)
	p := d.start()

	if got := d.command(p, ana, "start v1.4; rm -rf /"); !strings.Contains(got, "invalid version") {
		t.Fatalf("injection answer: %q", got)
	}
	if got := d.command(p, ana, "frobnicate"); !strings.Contains(got, "/deploy help") {
		t.Fatalf("unknown command answer: %q", got)
	}
	if got := d.command(p, ana, "start v1.4"); !strings.Contains(got, "Started run") {
		t.Fatalf("start answer: %q", got)
	}
	d.find(noticeChannel, "v1.4", "production", "started")
	summary := d.find(deployChannel, "v1.4", "production", "@ana")
	card := d.find(deployChannel, "Build and verify", "Release notes written", "Smoke test")
	if card.ThreadTS != summary.TS {
		t.Fatalf("the phase card is not a reply in the summary's thread:\n%s", d.fake.Transcript(deployChannel))
	}

	if code := d.click(p, bob, card, "Done", ":notes"); code != 200 {
		t.Fatalf("Done: HTTP %d", code)
	}
	card = d.find(deployChannel, "Build and verify", "smoke ok for v1.4")
	d.click(p, ana, card, "Approve", "")
	d.ephemeralTo(ana, "two-person rule")

	// Restart: the bot edits the same messages instead of posting new ones.
	posts := d.fake.CallCount("chat.postMessage")
	p.kill(syscall.SIGTERM)
	d.env["DEPLOYBOT_ADDR"] = p.addr
	p = d.start()
	d.click(p, bob, card, "Approve", "")
	prod := d.find(deployChannel, "Production", "rolled out v1.4")
	d.find(deployChannel, "“Production” of v1.4 to production is ready for approval")
	if got := d.fake.CallCount("chat.postMessage"); got != posts+2 {
		t.Fatalf("after the restart %d messages were posted, want only the new phase's card and its request for approval:\n%s", got-posts, d.fake.Transcript(deployChannel))
	}
	if prod.ThreadTS != summary.TS {
		t.Fatal("the new phase card is not in the summary's thread")
	}

	// A rate-limit storm: the last approval and its notices still land.
	d.fake.RateLimit(4, 1, "chat.update", "chat.postMessage")
	d.click(p, bob, prod, "Approve", "")
	d.find(noticeChannel, "v1.4 is deployed to production")
	waitFor(t, "the summary to say completed", 30*time.Second, func() bool {
		m, _ := d.fake.Message(summary.Channel, summary.TS)
		return strings.Contains(m.Visible(), "completed")
	})
	if got := d.command(p, ana, "list"); !strings.Contains(got, "completed") {
		t.Fatalf("list: %q", got)
	}

	// A second run, a refused third, and a rollback.
	second := d.command(p, ana, "start v1.5")
	if !strings.Contains(second, "Started run") {
		t.Fatalf("second start: %q", second)
	}
	runID := strings.Fields(strings.TrimPrefix(second, "Started run "))[0]
	runID = strings.TrimSuffix(runID, ":")
	if got := d.command(p, bob, "start v1.6"); !strings.Contains(got, "already has a deployment in progress: run "+runID) {
		t.Fatalf("third start: %q", got)
	}
	// Nothing is deployed before the production phase: the card offers
	// Abort (not Rollback); Slack confirms, then the bot asks why.
	secondCard := d.find(deployChannel, "Build and verify", "run "+runID)
	d.click(p, bob, secondCard, "Abort", "")
	d.submitReason(p, bob, "smoke tests fail on v1.5")
	d.find(noticeChannel, "Deployment of v1.5 to production aborted", "smoke tests fail on v1.5")
	if got := d.command(p, ana, "list"); strings.Contains(got, "degraded") {
		t.Errorf("an abort before production marks the environment degraded: %q", got)
	}
	if got := d.command(p, bob, "start v1.6"); !strings.Contains(got, "Started run") {
		t.Fatalf("after the abort the environment is free: %q", got)
	}
}

// TestSlackRequestsAreVerified: forged, stale and oversized requests change nothing.
func TestSlackRequestsAreVerified(t *testing.T) {
	d := newSlackDriver(t, slackRunbook)
	p := d.start()
	target := "http://" + p.addr + "/slack/commands"
	cmd := d.fake.Command(ana, deployChannel, "start v1.4")
	cases := map[string]*http.Request{
		"wrong secret": slackfake.CommandRequest(target, "not-the-secret", time.Now(), cmd),
		"stale":        slackfake.CommandRequest(target, signingSecret, time.Now().Add(-6*time.Minute), cmd),
	}
	for name, req := range cases {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: HTTP %d, want 401", name, resp.StatusCode)
		}
	}
	// Slack's certificate check of the command URL comes unsigned and gets
	// 200; anything else unsigned, there or on the interactions URL, 401.
	unsigned := []struct {
		path, body string
		want       int
	}{
		{"/slack/commands", "ssl_check=1&token=legacy", http.StatusOK},
		{"/slack/commands", "command=%2Fdeploy&text=start+v1.4&user_id=U1", http.StatusUnauthorized},
		{"/slack/interactions", "ssl_check=1&token=legacy", http.StatusUnauthorized},
	}
	for _, u := range unsigned {
		resp, err := http.Post("http://"+p.addr+u.path, "application/x-www-form-urlencoded", strings.NewReader(u.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != u.want {
			t.Errorf("unsigned %q to %s: HTTP %d, want %d", u.body, u.path, resp.StatusCode, u.want)
		}
	}
	big := slackfake.SignedRequest(target, signingSecret, time.Now(), []byte("text="+strings.Repeat("a", 2<<20)))
	resp, err := http.DefaultClient.Do(big)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB body: HTTP %d, want 413", resp.StatusCode)
	}
	if got := d.command(p, ana, "list"); !strings.Contains(got, "No active runs") {
		t.Fatalf("a refused request changed something: %q", got)
	}
	if n := d.fake.CallCount("chat.postMessage"); n != 0 {
		t.Fatalf("refused requests posted %d messages", n)
	}
}
