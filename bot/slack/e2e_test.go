package slackfront

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/internal/testkit/slackfake"
)

// startRun starts v1.4 as ana and returns the run's first card.
func (h *harness) startRun() slackfake.Message {
	h.t.Helper()
	status, reply := h.command(uAna, "start v1.4")
	if status != http.StatusOK || !strings.HasPrefix(reply.Text, "Started run") || reply.ResponseType != "ephemeral" {
		h.t.Fatalf("start: %d %+v", status, reply)
	}
	return h.message(deployChannel, "Phase 1/2 · Prepare the release")
}

// TestDeployment walks a run from /deploy start to the completion notice
// through the real HTTP handlers, as people in Slack would.
func TestDeployment(t *testing.T) {
	h := newHarness(t, options{})
	card := h.startRun()

	// The announcement goes to the notice channel; the summary to the run's
	// channel, with the phase card as a reply in its thread.
	h.message(noticeChannel, "🚀 payments-api: Deployment of v1.4 to production started", "Started by @ana")
	conv := h.fake.Conversation(deployChannel)
	if len(conv) != 1 || !strings.Contains(conv[0].Visible(), "🚀 payments-api v1.4 → production") {
		t.Fatalf("the run's channel should hold the summary only:\n%s", h.fake.Transcript(deployChannel))
	}
	if len(conv[0].Replies) != 1 || conv[0].Replies[0].TS != card.TS {
		t.Fatalf("the first phase card should be the summary's thread reply:\n%s", h.fake.Transcript(deployChannel))
	}
	if got := card.Labels(); strings.Join(got, ",") != "Done,Skip,Abort" {
		t.Errorf("first card's buttons = %v; want Done and Skip on the manual step, then Abort (nothing to roll back before production)", got)
	}

	// Done on the manual step: the shell step below it runs by itself.
	if s := h.click(uAna, card, "Done", ":review"); s != http.StatusOK {
		t.Fatalf("click Done: HTTP %d", s)
	}
	card = h.message(deployChannel, "✅ Build the release artifact", "exit 0", "Waiting for approval by an approver other than @ana")
	if !strings.Contains(card.Visible(), "done · @ana") {
		t.Errorf("the card should say who ticked the review:\n%s", card.Visible())
	}

	// The gate is ready: one new message in the thread asks for approval
	// (no approvers named: anyone but the starter).
	h.message(deployChannel, "ready for approval by anyone but @ana")

	// The starter may not approve (distinct_approver).
	h.click(uAna, card, "Approve", "")
	h.ephemeral(uAna, "you started this run, so someone else must approve")

	// bob approves: the card says so and loses its buttons; the next phase is posted.
	h.click(uBob, card, "Approve", "")
	next := h.message(deployChannel, "Phase 2/2 · Roll out to production")
	card = h.message(deployChannel, "Phase 1/2", "Approved by @bob")
	if len(card.Actions()) != 0 {
		t.Errorf("an approved card keeps buttons %v", card.Labels())
	}
	approve, ok := next.Action("Done", ":deploy")
	if !ok {
		t.Fatalf("no Done on the production step:\n%s", next.Visible())
	}
	if approve.Confirm != "" {
		t.Errorf("Done should not ask to confirm")
	}
	h.click(uAna, next, "Done", ":deploy")
	next = h.message(deployChannel, "Phase 2/2", "Waiting for approval")
	if a, _ := next.Action("Approve", ""); a.Confirm != "Approve production phase?" {
		t.Errorf("the production Approve should ask to confirm, has %q", a.Confirm)
	}

	// The last approval completes the run.
	h.click(uBob, next, "Approve", "")
	h.message(noticeChannel, "✅ payments-api: v1.4 is deployed to production", "Approvers @bob")
	h.message(deployChannel, "🚀 payments-api v1.4 → production", "completed in")
	h.flush()

	// Every message was posted once and then edited in place; each gate
	// asked once.
	msgs := h.fake.Messages()
	if len(msgs) != 8 {
		t.Errorf("want 8 messages (announcement, summary, 2 cards, 2 requests for approval, completion, report), got %d:\n%s%s",
			len(msgs), h.fake.Transcript(noticeChannel), h.fake.Transcript(deployChannel))
	}
	if n := h.fake.CallCount("chat.postMessage"); n != 8 {
		t.Errorf("chat.postMessage called %d times, want 8", n)
	}
	if s, _ := h.fake.Find(deployChannel, "🚀 payments-api v1.4 → production"); s.Edits == 0 {
		t.Error("the summary was never updated")
	}
}

// TestConcurrentApprove: two approvers click Approve at the same moment;
// exactly one approval applies and the other person is told who was first.
func TestConcurrentApprove(t *testing.T) {
	h := newHarness(t, options{})
	card := h.startRun()
	h.click(uAna, card, "Done", ":review")
	card = h.message(deployChannel, "Waiting for approval")

	a, _ := card.Action("Approve", "")
	payloads := [][]byte{h.fake.Click(uBob, card, a, "").Payload(), h.fake.Click(uCat, card, a, "").Payload()}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, p := range payloads {
		wg.Go(func() {
			<-start
			if s, _ := h.interact(p); s != http.StatusOK {
				t.Errorf("approve: HTTP %d", s)
			}
		})
	}
	close(start)
	wg.Wait()

	h.message(deployChannel, "Phase 2/2 · Roll out to production")
	var loser slackfake.User
	waitFor(t, "one 'already approved' ephemeral", func() bool {
		for _, u := range []slackfake.User{uBob, uCat} {
			for _, e := range h.fake.Ephemerals(u.ID) {
				if strings.Contains(e.Text, "was already approved by @") {
					loser = u
					return true
				}
			}
		}
		return false
	})
	h.flush()
	winner := map[string]string{uBob.ID: "@cat", uCat.ID: "@bob"}[loser.ID]
	if got := h.fake.Ephemerals(loser.ID); len(got) != 1 || !strings.Contains(got[0].Text, "already approved by "+winner) {
		t.Errorf("%s should be told %s approved first, got %+v", loser.Name, winner, got)
	}
	other := map[string]string{uBob.ID: uCat.ID, uCat.ID: uBob.ID}[loser.ID]
	if got := h.fake.Ephemerals(other); len(got) != 0 {
		t.Errorf("the approver who won got %+v", got)
	}
	cards := 0
	for _, m := range h.fake.Messages() {
		if strings.Contains(m.Visible(), "Phase 2/2") {
			cards++
		}
	}
	if cards != 1 {
		t.Errorf("%d cards for phase 2, want 1", cards)
	}
}

// TestRestartEditsInPlace: a new bot process on the same Redis edits the
// messages the old one posted instead of posting them again.
func TestRestartEditsInPlace(t *testing.T) {
	h := newHarness(t, options{})
	card := h.startRun()
	h.flush()
	before := h.fake.CallCount("chat.postMessage")

	h.restart()
	h.click(uAna, card, "Done", ":review")
	h.message(deployChannel, "✅ Build the release artifact", "exit 0")
	h.message(deployChannel, "ready for approval")
	h.flush()
	// The one new message is the request for approval.
	if after := h.fake.CallCount("chat.postMessage"); after != before+1 {
		t.Errorf("the restarted bot posted %d new messages instead of editing (want only the request for approval):\n%s", after-before, h.fake.Transcript(deployChannel))
	}
	got, _ := h.fake.Message(card.Channel, card.TS)
	if got.Edits == 0 || !strings.Contains(got.Visible(), "exit 0") {
		t.Errorf("the original card was not edited:\n%s", got.Visible())
	}
}

// TestRollback: Rollback asks for a reason in a dialog, then posts the
// rollback notice and the rollback procedure; finishing it ends the run.
func TestRollback(t *testing.T) {
	h := newHarness(t, options{})
	first := h.startRun()
	if _, ok := first.Action("Rollback", ""); ok {
		t.Errorf("Rollback offered before the production phase:\n%s", first.Visible())
	}
	h.click(uAna, first, "Done", ":review")
	h.click(uBob, h.message(deployChannel, "Phase 1/2", "Waiting for approval"), "Approve", "")
	card := h.message(deployChannel, "Phase 2/2 · Roll out to production")
	if a, _ := card.Action("Rollback", ""); a.Confirm != "Roll back?" {
		t.Errorf("Rollback should ask to confirm, has %q", a.Confirm)
	}
	if s := h.click(uBob, card, "Rollback", ""); s != http.StatusOK {
		t.Fatalf("click Rollback: HTTP %d", s)
	}
	views := h.fake.Views()
	if len(views) != 1 || views[0].TitleText() != "Roll back" {
		t.Fatalf("want the reason dialog, got %+v", views)
	}

	// An empty reason keeps the dialog open with a message under the field.
	status, body := h.interact(h.fake.Submit(uBob, views[0], map[string]string{"reason": "  "}).Payload())
	if status != http.StatusOK || !strings.Contains(string(body), `"response_action":"errors"`) {
		t.Errorf("empty reason: %d %s", status, body)
	}
	status, body = h.interact(h.fake.Submit(uBob, views[0], map[string]string{"reason": "error rate doubled <!channel>"}).Payload())
	if status != http.StatusOK || len(bytes.TrimSpace(body)) != 0 {
		t.Fatalf("reason accepted should close the dialog: %d %s", status, body)
	}
	h.message(noticeChannel, "🚨 payments-api: Rolling back v1.4 on production", "error rate doubled <!channel>")
	if n, _ := h.fake.Find(noticeChannel, "Rolling back"); strings.Contains(string(n.Blocks), "<!channel>") {
		t.Error("the reason reached Slack unescaped (it would ping the channel)")
	}
	rb := h.message(deployChannel, "↩️ Rollback Procedure", "Revert to the previous version")
	h.message(deployChannel, "Phase 2/2", "Stopped: run rolling back")

	// A second submission of the same dialog is answered in the dialog.
	_, body = h.interact(h.fake.Submit(uCat, views[0], map[string]string{"reason": "me too"}).Payload())
	if !strings.Contains(string(body), "already rolling back") {
		t.Errorf("second rollback: %s", body)
	}

	h.click(uBob, rb, "Done", ":revert")
	h.message(noticeChannel, "↩️ payments-api: v1.4 on production is rolled back")
	h.message(deployChannel, "🚀 payments-api v1.4 → production", "rolled back (by @bob")
}

// TestRateLimitStorm: Slack answers 429 for a while; every message still
// reaches its final state once the limit lifts.
func TestRateLimitStorm(t *testing.T) {
	h := newHarness(t, options{})
	h.fake.RateLimit(2, 1, "chat.postMessage", "chat.update")
	card := h.startRun()
	h.click(uAna, card, "Done", ":review")
	h.message(deployChannel, "✅ Code review completed", "✅ Build the release artifact", "exit 0")
	h.flush()
	limited := 0
	for _, c := range h.fake.Calls() {
		if c.Status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 4 {
		t.Errorf("%d calls were rate limited, want 4", limited)
	}
	if s, _ := h.fake.Find(deployChannel, "🚀 payments-api v1.4 → production"); !strings.Contains(s.Visible(), "2/3 steps") {
		t.Errorf("the summary did not reach its final state:\n%s", s.Visible())
	}
}

// TestSecondRunRefused: one deployment at a time per environment.
func TestSecondRunRefused(t *testing.T) {
	h := newHarness(t, options{})
	h.startRun()
	live, err := h.core.Bot.Live(context.Background())
	if err != nil || len(live) != 1 {
		t.Fatalf("live runs: %v %v", live, err)
	}
	status, reply := h.command(uBob, "start v1.5")
	want := "production already has a deployment in progress: run " + live[0].ID
	if status != http.StatusOK || reply.ResponseType != "ephemeral" || !strings.Contains(reply.Text, want) || !strings.Contains(reply.Text, "/deploy status "+live[0].ID) {
		t.Errorf("second start: %d %+v, want %q", status, reply, want)
	}
}

// TestRefusedRequests: requests Slack did not sign, or too large, are
// refused before anything else: no Redis command, no Slack call.
func TestRefusedRequests(t *testing.T) {
	h := newHarness(t, options{noExecutor: true})
	body := []byte(h.fake.Command(uAna, deployChannel, "start v1.4").Form().Encode())
	huge := append(append([]byte{}, body...), bytes.Repeat([]byte("&x=y"), (2<<20)/4)...)
	url := h.srv.URL + CommandsPath
	cases := []struct {
		name string
		req  func() *http.Request
		want int
	}{
		{"forged signature", func() *http.Request {
			r := slackfake.SignedRequest(url, "not-the-secret", time.Now(), body)
			return r
		}, http.StatusUnauthorized},
		{"stale timestamp", func() *http.Request {
			return slackfake.SignedRequest(url, testSecret, time.Now().Add(-6*time.Minute), body)
		}, http.StatusUnauthorized},
		{"unsigned", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, http.StatusUnauthorized},
		{"signed body swapped", func() *http.Request {
			r := slackfake.SignedRequest(url, testSecret, time.Now(), body)
			other := []byte(strings.Replace(string(body), "v1.4", "v6.6", 1))
			r2, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(other))
			r2.Header = r.Header
			return r2
		}, http.StatusUnauthorized},
		{"2 MiB body", func() *http.Request {
			return slackfake.SignedRequest(url, testSecret, time.Now(), huge)
		}, http.StatusRequestEntityTooLarge},
		{"2 MiB body without length", func() *http.Request {
			r := slackfake.SignedRequest(url, testSecret, time.Now(), huge)
			r.ContentLength = -1
			r.Body = io.NopCloser(struct{ io.Reader }{bytes.NewReader(huge)})
			return r
		}, http.StatusRequestEntityTooLarge},
		{"forged interaction", func() *http.Request {
			return slackfake.InteractionRequest(h.srv.URL+InteractionsPath, "not-the-secret", time.Now(), []byte(`{"type":"block_actions"}`))
		}, http.StatusUnauthorized},
		{"GET", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, url, nil)
			return r
		}, http.StatusMethodNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, calls := h.count.n.Load(), len(h.fake.Calls())
			status, _, _ := h.do(tc.req())
			if status != tc.want {
				t.Errorf("HTTP %d, want %d", status, tc.want)
			}
			h.flush()
			if n := h.count.n.Load() - before; n != 0 {
				t.Errorf("%d Redis commands for a refused request", n)
			}
			if n := len(h.fake.Calls()) - calls; n != 0 {
				t.Errorf("%d Slack calls for a refused request", n)
			}
		})
	}
}

// TestCommandReplies: what the person who typed a command sees.
func TestCommandReplies(t *testing.T) {
	h := newHarness(t, options{})
	cases := []struct {
		name, text string
		wantType   string
		want       []string
	}{
		{"unknown command", "deploy-it-now", "ephemeral", []string{"deploy-it-now", "start"}},
		{"injection refused", "start v1.4; rm -rf /", "ephemeral", []string{"invalid version", "Usage: /deploy start [SERVICE] VERSION"}},
		{"help", "help", "ephemeral", []string{"/deploy start [SERVICE] VERSION [to ENV]"}},
		{"empty is help", "", "ephemeral", []string{"/deploy status [RUN]"}},
		{"status with no run", "status", "ephemeral", []string{"no deployment is running in this channel"}},
		{"lock is announced", "lock staging db migration &lt;today&gt;", "in_channel", []string{"staging is frozen", "db migration &lt;today&gt;"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, reply := h.command(uAna, tc.text)
			if status != http.StatusOK || reply.ResponseType != tc.wantType {
				t.Fatalf("%d %+v", status, reply)
			}
			for _, w := range tc.want {
				if !strings.Contains(reply.Text, w) {
					t.Errorf("reply %q does not say %q", reply.Text, w)
				}
			}
		})
	}
	live, _ := h.core.Bot.Live(context.Background())
	h.flush()
	if len(live) != 0 || len(h.fake.Messages()) != 0 {
		t.Errorf("refused commands created %d runs and %d messages", len(live), len(h.fake.Messages()))
	}

	// ssl_check posts get an empty 200.
	form := h.fake.Command(uAna, deployChannel, "").Form()
	form.Set("ssl_check", "1")
	status, body, _ := h.do(slackfake.SignedRequest(h.srv.URL+CommandsPath, testSecret, time.Now(), []byte(form.Encode())))
	if status != http.StatusOK || len(body) != 0 {
		t.Errorf("ssl_check: %d %q", status, body)
	}
}

// TestStaleButton: a click on a button whose step was already ticked gets
// an ephemeral "already done by …" through the response_url.
func TestStaleButton(t *testing.T) {
	h := newHarness(t, options{})
	card := h.startRun()
	h.click(uAna, card, "Done", ":review")
	h.message(deployChannel, "✅ Code review completed")
	h.click(uBob, card, "Done", ":review") // the old message still had the button
	e := h.ephemeral(uBob, "is already done by @ana")
	if e.Via != "response_url" || e.Channel != deployChannel {
		t.Errorf("ephemeral %+v", e)
	}
	var resp slackfake.Response
	for _, r := range h.fake.Responses() {
		if r.User == uBob.ID {
			resp = r
		}
	}
	if resp.ResponseType != "ephemeral" || resp.ReplaceOriginal {
		t.Errorf("response_url body %+v: want ephemeral, not replacing the card", resp)
	}
}

// TestSkipAsksForReason: Skip opens the reason dialog; the reason shows on the card.
func TestSkipAsksForReason(t *testing.T) {
	h := newHarness(t, options{})
	card := h.startRun()
	// The dialog opens without a store call: with Redis stalled it still
	// opens at once (the step's title comes from the run this process knows).
	h.count.delay.Store(int64(5 * time.Second))
	start := time.Now()
	h.click(uAna, card, "Skip", ":review")
	var view slackfake.View
	waitFor(t, "the reason dialog", func() bool {
		vs := h.fake.Views()
		if len(vs) == 1 {
			view = vs[0]
		}
		return len(vs) == 1
	})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the reason dialog opened after %s with Redis stalled: it waited for the store", took)
	}
	h.count.delay.Store(0)
	if view.TitleText() != "Skip a step" || !strings.Contains(string(view.Blocks), "Why skip “Code review completed” of run") {
		t.Errorf("dialog %q: %s\nwant it to name the step by its title (Code review completed)", view.TitleText(), view.Blocks)
	}
	var meta reasonMeta
	if err := json.Unmarshal([]byte(view.PrivateMetadata), &meta); err != nil || meta.Channel != deployChannel || !strings.HasPrefix(meta.Button, "skip:") {
		t.Errorf("private_metadata %q", view.PrivateMetadata)
	}
	h.interact(h.fake.Submit(uAna, view, map[string]string{"reason": "reviewed in the pairing session"}).Payload())
	h.message(deployChannel, "⏭️ Code review completed", "reason: reviewed in the pairing session", "exit 0")
}

// TestSlowSlackStillAcknowledged: when Slack's API hangs, clicks are still
// acknowledged within the 3 seconds and the person is told what happened.
func TestSlowSlackStillAcknowledged(t *testing.T) {
	h := newHarness(t, options{})
	card := h.startRun()
	h.fake.Script("views.open", slackfake.Fault{Delay: 6 * time.Second})
	start := time.Now()
	h.click(uBob, card, "Abort", "")
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the click was answered after %s", took)
	}
	h.ephemeral(uBob, "I could not open the dialog that asks for a reason")
}

// TestApproverGroups: runbook approvers named by Slack user group.
func TestApproverGroups(t *testing.T) {
	yaml := strings.Replace(e2eYAML, "distinct_approver: true", "distinct_approver: true\napprovers: [\"@release-managers\"]", 1)
	h := newHarness(t, options{yaml: yaml})
	h.fake.AddUserGroup(slackfake.UserGroup{ID: "S0RM", Handle: "release-managers", Name: "Release managers", Members: []string{uBob.ID}})
	h.fake.AddUserGroup(slackfake.UserGroup{ID: "S0OTHER", Handle: "designers", Members: []string{uCat.ID}})
	card := h.startRun()
	h.click(uAna, card, "Done", ":review")
	card = h.message(deployChannel, "Waiting for approval")

	// The request for approval mentions the group by its ID, so Slack
	// notifies its members; it is a reply in the run's thread.
	ask := h.message(deployChannel, "ready for your approval")
	if !strings.HasPrefix(ask.Text, "<!subteam^S0RM> ") || ask.ThreadTS == "" || ask.ThreadTS == ask.TS {
		t.Errorf("request for approval %q (thread %q): want it to mention <!subteam^S0RM> first, in the run's thread", ask.Text, ask.ThreadTS)
	}

	h.click(uCat, card, "Approve", "")
	h.ephemeral(uCat, "you are not on this runbook's approver list (@release-managers)")
	h.click(uBob, card, "Approve", "")
	h.message(deployChannel, "Phase 2/2")
	if n := h.fake.CallCount("usergroups.list"); n != 1 {
		t.Errorf("usergroups.list called %d times; the groups should be cached", n)
	}
	if n := h.fake.CallCount("usergroups.users.list"); n != 1 {
		t.Errorf("usergroups.users.list called %d times; only the approvers' group is needed", n)
	}
}

// TestApproverGroupsUnavailable: when Slack cannot list the groups (an
// error, or no answer), nobody is in a group (the approval is refused), and
// the click is still answered within Slack's 3 seconds.
func TestApproverGroupsUnavailable(t *testing.T) {
	cases := []struct {
		name  string
		fault slackfake.Fault
	}{
		{"error", slackfake.Fault{Error: "missing_scope"}},
		{"no answer", slackfake.Fault{Delay: 3500 * time.Millisecond}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			yaml := strings.Replace(e2eYAML, "distinct_approver: true", "approvers: [\"@release-managers\"]", 1)
			h := newHarness(t, options{yaml: yaml})
			h.fake.AddUserGroup(slackfake.UserGroup{ID: "S0RM", Handle: "release-managers", Members: []string{uBob.ID}})
			h.fake.Script("usergroups.list", tc.fault)
			card := h.startRun()
			h.click(uAna, card, "Done", ":review")
			card = h.message(deployChannel, "Waiting for approval")
			h.click(uBob, card, "Approve", "") // h.interact fails the test past 3 s
			h.ephemeral(uBob, "you are not on this runbook's approver list")
		})
	}
}

// TestPostErrors: Slack's answers mapped onto the outbox's error kinds.
func TestPostErrors(t *testing.T) {
	h := newHarness(t, options{noExecutor: true, noPoster: true})
	cases := []struct {
		name  string
		fault *slackfake.Fault
		chErr string
		check func(t *testing.T, err error)
	}{
		{"ok", nil, "", func(t *testing.T, err error) {
			if err != nil {
				t.Errorf("err %v", err)
			}
		}},
		{"rate limited", &slackfake.Fault{Status: 429, RetryAfter: 7}, "", wantRateLimit(7 * time.Second)},
		{"429 without Retry-After", &slackfake.Fault{Status: 429, RetryAfter: -1}, "", wantRateLimit(time.Second)},
		{"ratelimited error code", &slackfake.Fault{Error: "ratelimited"}, "", wantRateLimit(time.Second)},
		{"server error", &slackfake.Fault{Status: 503}, "", wantRetried},
		{"internal_error", &slackfake.Fault{Error: "internal_error"}, "", wantRetried},
		{"channel_not_found", nil, "channel_not_found", wantPermanent},
		{"not_in_channel", nil, "not_in_channel", wantPermanent},
		{"invalid_auth", &slackfake.Fault{Error: "invalid_auth"}, "", wantPermanent},
		{"bad request", &slackfake.Fault{Status: 400}, "", wantPermanent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fault != nil {
				h.fake.Script("chat.postMessage", *tc.fault)
			}
			h.fake.SetChannelError("C0ERR", tc.chErr)
			_, err := h.front.Post(context.Background(), "C0ERR", "", messageOf("hello"))
			tc.check(t, err)
		})
	}
	t.Run("network error", func(t *testing.T) {
		f, err := New(Config{BotToken: "xoxb-x", SigningSecret: "s", APIURL: "http://" + freePort(t) + "/api/", Bot: h.core.Bot})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		_, err = f.Post(context.Background(), "C1", "", messageOf("hello"))
		wantRetried(t, err)
	})
	t.Run("update of a malformed reference", func(t *testing.T) {
		wantPermanent(t, h.front.Update(context.Background(), "no-slash", messageOf("x")))
	})
}

func messageOf(text string) bot.Message {
	return bot.Message{Notice: &bot.Notice{Kind: bot.NoticeText, Title: text}}
}

func wantRateLimit(after time.Duration) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var rl *bot.RateLimitError
		if !errors.As(err, &rl) || rl.After != after || !rl.Shared {
			t.Errorf("err = %v, want a rate limit of %s shared by the workspace's calls", err, after)
		}
	}
}

func wantPermanent(t *testing.T, err error) {
	t.Helper()
	var pe *bot.PermanentError
	if !errors.As(err, &pe) {
		t.Errorf("err = %v (%T), want a permanent error", err, err)
	}
}

// wantRetried: a plain error, which the outbox retries with backoff.
func wantRetried(t *testing.T, err error) {
	t.Helper()
	var pe *bot.PermanentError
	var rl *bot.RateLimitError
	if err == nil || errors.As(err, &pe) || errors.As(err, &rl) {
		t.Errorf("err = %v (%T), want a plain (retried) error", err, err)
	}
}

// TestAcknowledgementDiscipline: a click is answered within the
// acknowledgement budget whatever Redis does. A refusal ready in time
// reaches the clicker right after the acknowledgement; when the click takes
// longer, it is acknowledged at the budget, goes on, and the refusal
// follows once it is known.
func TestAcknowledgementDiscipline(t *testing.T) {
	const budget = 300 * time.Millisecond
	h := newHarness(t, options{ackBudget: budget, noExecutor: true})
	card := h.startRun()
	h.click(uAna, card, "Done", ":review")
	h.message(deployChannel, "✅ Code review completed")

	t.Run("ready in time", func(t *testing.T) {
		a, _ := card.Action("Done", ":review")
		start := time.Now()
		h.interact(h.fake.Click(uBob, card, a, "").Payload())
		if took := time.Since(start); took > budget {
			t.Errorf("a quick refusal was acknowledged after %s, want before the %s budget", took, budget)
		}
		h.ephemeral(uBob, "is already done by @ana")
	})
	t.Run("late", func(t *testing.T) {
		h.count.delay.Store(int64(2 * budget)) // every Redis round trip stalls past the budget
		defer h.count.delay.Store(0)
		a, _ := card.Action("Done", ":review")
		start := time.Now()
		status, body := h.interact(h.fake.Click(uCat, card, a, "").Payload())
		took := time.Since(start)
		if status != http.StatusOK || len(strings.TrimSpace(string(body))) != 0 {
			t.Errorf("late click acknowledged with %d %q, want an empty 200", status, body)
		}
		if took < budget || took > budget+250*time.Millisecond {
			t.Errorf("late click acknowledged after %s, want at the %s budget", took, budget)
		}
		h.ephemeral(uCat, "is already done by @ana")
	})
	t.Run("late dialog", func(t *testing.T) {
		// Skip on an open step of a second run opens the reason dialog;
		// Ana ticks the step meanwhile, and the dialog's submission
		// outlasts the budget: the dialog closes and the refusal follows
		// as an ephemeral message in the channel.
		_, started := h.command(uAna, "start v1.5 to staging")
		runID := strings.TrimRight(strings.Fields(strings.TrimPrefix(started.Text, "Started run "))[0], ":.,")
		second := h.message(deployChannel, "Phase 1/2 · Prepare the release", runID)
		h.click(uBob, second, "Skip", ":review")
		var view slackfake.View
		waitFor(t, "the reason dialog", func() bool {
			vs := h.fake.Views()
			if len(vs) > 0 {
				view = vs[len(vs)-1]
			}
			return len(vs) > 0
		})
		h.click(uAna, second, "Done", ":review")
		h.message(deployChannel, "✅ Code review completed", runID)
		h.count.delay.Store(int64(2 * budget))
		defer h.count.delay.Store(0)
		start := time.Now()
		status, body := h.interact(h.fake.Submit(uBob, view, map[string]string{"reason": "done twice"}).Payload())
		if took := time.Since(start); status != http.StatusOK || len(strings.TrimSpace(string(body))) != 0 || took > budget+250*time.Millisecond {
			t.Errorf("late dialog answered %d %q after %s, want an empty 200 (the dialog closes) at the %s budget", status, body, took, budget)
		}
		e := h.ephemeral(uBob, "is already done by @ana")
		if e.Channel != deployChannel {
			t.Errorf("late refusal %+v, want it in the deploy channel", e)
		}
	})
}

// TestSSLCheck: Slack's certificate check arrives unsigned (no timestamp or
// signature headers) on the command URL and is answered 200 before any
// verification, with nothing else in its body acted on; anything else
// unsigned, and an unsigned ssl_check on the interactions URL, stays 401.
func TestSSLCheck(t *testing.T) {
	h := newHarness(t, options{noExecutor: true})
	unsignedPost := func(path, body string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	// As Slack sends it, and with a command riding along that must not run.
	withCommand := h.fake.Command(uAna, deployChannel, "start v1.4").Form()
	withCommand.Set("ssl_check", "1")
	cases := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"ssl_check as Slack sends it", unsignedPost(CommandsPath, "ssl_check=1&token=legacy-verification-token"), http.StatusOK},
		{"ssl_check carrying a command", unsignedPost(CommandsPath, withCommand.Encode()), http.StatusOK},
		{"unsigned command", unsignedPost(CommandsPath, h.fake.Command(uAna, deployChannel, "start v1.4").Form().Encode()), http.StatusUnauthorized},
		{"ssl_check=0", unsignedPost(CommandsPath, "ssl_check=0"), http.StatusUnauthorized},
		{"unsigned ssl_check on the interactions URL", unsignedPost(InteractionsPath, "ssl_check=1"), http.StatusUnauthorized},
		{"ssl_check with a forged signature", slackfake.SignedRequest(h.srv.URL+CommandsPath, "not-the-secret", time.Now(), []byte("ssl_check=1")), http.StatusUnauthorized},
		{"oversized unsigned body", unsignedPost(CommandsPath, "ssl_check=1&x="+strings.Repeat("y", 8<<10)), http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, calls := h.count.n.Load(), len(h.fake.Calls())
			status, body, _ := h.do(tc.req)
			if status != tc.want {
				t.Errorf("HTTP %d %q, want %d", status, body, tc.want)
			}
			if status == http.StatusOK && len(body) != 0 {
				t.Errorf("ssl_check answered with a body: %q", body)
			}
			h.flush()
			if n := h.count.n.Load() - before; n != 0 {
				t.Errorf("%d Redis commands for an ssl_check or refused request", n)
			}
			if n := len(h.fake.Calls()) - calls; n != 0 {
				t.Errorf("%d Slack calls for an ssl_check or refused request", n)
			}
		})
	}
}

// TestARefusedClickAsksNoReason: a click that needs a reason but would be
// refused anyway (not an operator, or a stale card) is refused at once; no
// dialog opens for a reason nobody could use.
func TestARefusedClickAsksNoReason(t *testing.T) {
	h := newHarness(t, options{yaml: strings.Replace(e2eYAML, "distinct_approver: true", "distinct_approver: true\noperators: [\"U0ANA\", \"U0BOB\"]", 1)})
	card := h.startRun()
	told := func(u slackfake.User, part string) {
		t.Helper()
		waitFor(t, u.Name+" told "+part, func() bool {
			for _, r := range h.fake.Responses() {
				if r.User == u.ID && r.ResponseType == "ephemeral" && strings.Contains(r.Text, part) {
					return true
				}
			}
			return false
		})
	}
	if s := h.click(uCat, card, "Skip", ":review"); s != http.StatusOK {
		t.Fatalf("cat's Skip: HTTP %d", s)
	}
	told(uCat, "operators")
	h.click(uAna, card, "Done", ":review")
	h.message(deployChannel, "✅ Code review completed")
	h.click(uBob, card, "Skip", ":review") // the card before Ana's Done
	told(uBob, "Code review completed")
	if vs := h.fake.Views(); len(vs) != 0 {
		t.Fatalf("a dialog opened for a refused click: %q", vs[0].TitleText())
	}
	// A click that may go on still asks for its reason.
	h.click(uBob, h.message(deployChannel, "Phase 1/2", "Waiting for approval"), "Approve", "")
	h.click(uBob, h.message(deployChannel, "Phase 2/2 · Roll out to production"), "Rollback", "")
	waitFor(t, "the rollback's reason dialog", func() bool { return len(h.fake.Views()) == 1 })
}
