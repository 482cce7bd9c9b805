package discord_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/internal/testkit/discordfake"
)

// TestRunThroughDiscord walks a run as people do it in Discord: start it
// with the slash command, tick a step on the card, watch the automated step
// finish, skip a step with a reason, be refused approving one's own run,
// approve as somebody else, and roll back from the production phase.
func TestRunThroughDiscord(t *testing.T) {
	h := newHarness(t, harnessConfig{})

	reply := h.command(ana, "start", map[string]string{"version": "v1.4.2"})
	if !reply.Ephemeral || !strings.Contains(reply.Content, "Started run") {
		t.Fatalf("start answered %+v, want an ephemeral \"Started run …\"", reply)
	}
	h.eventually("the announcement in the notice channel", func() bool {
		_, ok := h.fake.Find(noticeChannel, "🚀 discord-e2e: Deployment of v1.4.2 to production started", "@ana")
		return ok
	})
	var sum discordfake.Message
	h.eventually("the run summary", func() bool {
		var ok bool
		sum, ok = h.fake.Find(runChannel, "Deployment of discord-e2e v1.4.2 to production", "Status: in progress")
		return ok
	})
	card := h.card("build", has("Phase 1/2 · Build", "Code review completed", "3 of 3 steps open"))
	if card.ReplyTo != sum.ID {
		t.Errorf("the phase card replies to %q, want the summary %q", card.ReplyTo, sum.ID)
	}
	var shown []string
	for _, c := range card.Controls() {
		shown = append(shown, c.Visible())
	}
	if got := strings.Join(shown, ","); got != "[1\uFE0F\u20E3 Done],[1\uFE0F\u20E3 Skip],[3\uFE0F\u20E3 Done],[3\uFE0F\u20E3 Skip],[Abort]" {
		t.Errorf("card buttons = %v", got)
	}

	// Done on the first step: the click is acknowledged with a deferred
	// update, the shell step below it runs, and the card shows both.
	in, cb := h.click(ana, card, h.button(card, "Done", ":review"))
	if cb.Type != 6 {
		t.Fatalf("Done answered with type %d, want 6 (deferred update)", cb.Type)
	}
	card = h.card("build", has("✅ `1` Code review completed · @ana", "✅ `2` CI check passes · @deploybot", "exit 0", "1 of 3 steps open"))
	if len(h.fake.Followups(in.ID)) != 0 {
		t.Errorf("a successful click got a followup: %v", h.fake.Followups(in.ID))
	}

	// Clicking the same Done again (a stale card) is refused to the clicker only.
	in, _ = h.click(bob, card, discordfake.Component{CustomID: "done:" + runID(t, card) + ":build:review"})
	if f := h.told(in); !f.Ephemeral || f.User != bob.ID || !strings.Contains(f.Content, "already done by @ana") {
		t.Errorf("second Done: answer %+v, want an ephemeral \"already done by @ana\" for bob", f)
	}

	// Skip of that step is refused at once too: no modal asks for a reason
	// nobody could use.
	stale := bot.Button{Action: deploy.ActSkip, RunID: runID(t, card), Phase: "build", Step: "review"}.ID()
	in, cb = h.click(bob, card, discordfake.Component{CustomID: stale})
	if cb.Type == 9 {
		t.Fatal("a Skip of a step already done opened the reason modal")
	}
	if f := h.told(in); !f.Ephemeral || !strings.Contains(f.Content, "already done by @ana") {
		t.Errorf("stale Skip: answer %+v, want an ephemeral \"already done by @ana\"", f)
	}

	// Skip asks for a reason in a modal; the reason shows on the card.
	_, cb = h.click(ana, card, h.button(card, "Skip", ":notes"))
	if cb.Type != 9 {
		t.Fatalf("Skip answered with type %d, want 9 (modal)", cb.Type)
	}
	md, _ := h.fake.LastModal(ana.ID)
	if md.Title != "Why skip this step?" || len(md.Inputs()) != 1 || md.Inputs()[0].MaxLength != 500 {
		t.Errorf("modal = %+v", md)
	}
	_, cb = h.submitReason(ana, "drafted in the wiki instead")
	if cb.Type != 6 {
		t.Errorf("modal submission answered with type %d, want 6", cb.Type)
	}
	card = h.card("build", has("⏭️ `3` Release notes drafted · @ana", "skipped: drafted in the wiki instead", "Waiting for approval"))
	if got := card.Labels(); strings.Join(got, ",") != "Approve,Abort" {
		t.Errorf("card buttons after the last step = %v, want Approve, Abort (nothing to roll back before production)", got)
	}
	// The gate is ready: one new message in the thread mentions the
	// approver, and only that mention may notify.
	var ask discordfake.Message
	h.eventually("the request for approval", func() bool {
		var ok bool
		ask, ok = h.fake.Find(runChannel, "<@600000000000000001>", "ready for your approval")
		return ok
	})
	if ask.ReplyTo != sum.ID {
		t.Errorf("the request for approval replies to %q, want the summary %q", ask.ReplyTo, sum.ID)
	}

	// The starter may not approve (distinct_approver); carl is no approver.
	for _, u := range []discordfake.User{ana, carl} {
		in, _ = h.click(u, card, h.button(card, "Approve", ""))
		f := h.told(in)
		if !f.Ephemeral || f.User != u.ID {
			t.Errorf("refused approve by %s: answer %+v is not ephemeral for them", u.Username, f)
		}
		t.Logf("%s approving: %s", u.Username, f.Content)
	}
	if run := h.run(t, card); run.Phases[0].Approval != nil {
		t.Fatalf("phase approved by %v after refusals", run.Phases[0].Approval.By)
	}

	// bob (an approver by role) approves; the production phase's card follows.
	in, _ = h.click(bob, card, h.button(card, "Approve", ""))
	h.card("build", has("Approved by @bob"))
	ship := h.card("ship", has("Phase 2/2 · Ship ⚠️ production", "Roll out the new version"))
	if len(h.fake.Followups(in.ID)) != 0 {
		t.Errorf("approve got a followup: %v", h.fake.Followups(in.ID))
	}

	// Rollback: an ephemeral confirmation, then a reason, then the notice.
	_, cb = h.click(bob, ship, h.button(ship, "Rollback", ""))
	if cb.Type != 4 {
		t.Fatalf("Rollback answered with type %d, want 4 (ephemeral confirmation)", cb.Type)
	}
	confirm := h.lastEphemeral(bob)
	if !strings.Contains(confirm.Content, "Roll back?") || strings.Join(confirm.Labels(), ",") != "Roll back,Cancel" {
		t.Fatalf("confirmation = %q %v", confirm.Content, confirm.Labels())
	}
	_, cb = h.click(bob, confirm, h.button(confirm, "Roll back", ""))
	if cb.Type != 9 {
		t.Fatalf("Roll back answered with type %d, want 9 (reason modal)", cb.Type)
	}
	_, cb = h.submitReason(bob, "error rate above 2% after the canary")
	if cb.Type != 7 {
		t.Errorf("reason from the confirmation answered with type %d, want 7 (update it)", cb.Type)
	}
	if c, _ := h.fake.Message(confirm.ID); len(c.Controls()) != 0 {
		t.Errorf("the confirmation still has buttons: %s", c.Visible())
	}
	h.eventually("the rollback notice", func() bool {
		_, ok := h.fake.Find(noticeChannel, "🚨 discord-e2e: Rolling back v1.4.2 on production", "Reason: error rate above 2% after the canary", "From phase: Ship")
		return ok
	})
	h.card("rollback", has("↩️ Rollback Procedure", "Revert the release", "Done"))
	if run := h.run(t, card); run.Status != deploy.StatusRollingBack {
		t.Errorf("run status %s, want rolling_back", run.Status)
	}
}

// run reads the run a card belongs to from the store.
func (h *harness) run(t *testing.T, card discordfake.Message) *deploy.Run {
	t.Helper()
	r, err := h.core.Engine.Get(context.Background(), runID(t, card))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// runID reads the run id from a card's footer ("run r7k2qd · …").
func runID(t *testing.T, m discordfake.Message) string {
	t.Helper()
	for _, e := range m.Embeds {
		if e.Footer != nil && strings.HasPrefix(e.Footer.Text, "run ") {
			return strings.Fields(e.Footer.Text)[1]
		}
	}
	t.Fatalf("no run id on %s", m.Visible())
	return ""
}

// lastEphemeral returns the last ephemeral message shown to u.
func (h *harness) lastEphemeral(u discordfake.User) discordfake.Message {
	h.t.Helper()
	es := h.fake.Ephemerals(u.ID)
	if len(es) == 0 {
		h.t.Fatalf("no ephemeral message for %s", u.Username)
	}
	return es[len(es)-1]
}

func TestCancelledRollbackChangesNothing(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.command(ana, "start", map[string]string{"version": "v1.4.2"})
	card := h.card("build", has("3 of 3 steps open"))
	h.click(bob, card, h.button(card, "Abort", ""))
	confirm := h.lastEphemeral(bob)
	_, cb := h.click(bob, confirm, h.button(confirm, "Cancel", ""))
	if cb.Type != 7 {
		t.Fatalf("Cancel answered with type %d, want 7", cb.Type)
	}
	got, _ := h.fake.Message(confirm.ID)
	if !strings.Contains(got.Content, "Cancelled: nothing was changed.") || len(got.Controls()) != 0 {
		t.Errorf("after Cancel the confirmation reads %q with %v", got.Content, got.Labels())
	}
	if r := h.run(t, card); r.Status != deploy.StatusActive || r.Rollback != nil || r.AbortedBy != nil {
		t.Errorf("run after a cancelled abort: %s %+v", r.Status, r.Rollback)
	}
}

// TestInteractionEndpointRefusesBeforeTouchingTheStore pins the HTTP
// endpoint's checks: a request that fails them is answered 401 or 413 and
// causes no Redis command at all.
func TestInteractionEndpointRefusesBeforeTouchingTheStore(t *testing.T) {
	h := newHarness(t, harnessConfig{noExecutor: true})
	start := h.fake.Command(ana, runChannel, "start", map[string]string{"version": "v9.9.9"})
	body := start.JSON()
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := h.clock.Now()
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
	}{
		{"signed by another key", func() *http.Request {
			r := h.fake.NewRequest(h.url, body, now)
			ts := r.Header.Get("X-Signature-Timestamp")
			r.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(otherKey, append([]byte(ts), body...))))
			return r
		}, http.StatusUnauthorized},
		{"body changed after signing", func() *http.Request {
			r := h.fake.NewRequest(h.url, body, now)
			forged := bytes.Replace(body, []byte("v9.9.9"), []byte("v6.6.6"), 1)
			r2, _ := http.NewRequest(http.MethodPost, h.url, bytes.NewReader(forged))
			r2.Header = r.Header.Clone()
			return r2
		}, http.StatusUnauthorized},
		{"timestamp changed after signing", func() *http.Request {
			r := h.fake.NewRequest(h.url, body, now)
			r.Header.Set("X-Signature-Timestamp", strconv.FormatInt(now.Unix()+1, 10))
			return r
		}, http.StatusUnauthorized},
		{"no signature", func() *http.Request {
			r := h.fake.NewRequest(h.url, body, now)
			r.Header.Del("X-Signature-Ed25519")
			return r
		}, http.StatusUnauthorized},
		{"signature not hex", func() *http.Request {
			r := h.fake.NewRequest(h.url, body, now)
			r.Header.Set("X-Signature-Ed25519", "zz"+r.Header.Get("X-Signature-Ed25519")[2:])
			return r
		}, http.StatusUnauthorized},
		{"stale timestamp (6 minutes old)", func() *http.Request {
			return h.fake.NewRequest(h.url, body, now.Add(-6*time.Minute))
		}, http.StatusUnauthorized},
		{"timestamp 6 minutes ahead", func() *http.Request {
			return h.fake.NewRequest(h.url, body, now.Add(6*time.Minute))
		}, http.StatusUnauthorized},
		{"2 MiB body", func() *http.Request {
			big := bytes.Repeat([]byte(" "), 2<<20)
			return h.fake.NewRequest(h.url, append(body[:len(body)-1:len(body)-1], append(big, '}')...), now)
		}, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.redis.Load()
			res, err := http.DefaultClient.Do(tc.req())
			if err != nil {
				t.Fatal(err)
			}
			text := read(t, res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Errorf("HTTP %d %q, want %d", res.StatusCode, text, tc.status)
			}
			if n := h.redis.Load() - before; n != 0 {
				t.Errorf("%d Redis commands were sent for a refused request", n)
			}
		})
	}
	if cbs := h.fake.Callbacks(); len(cbs) != 0 {
		t.Errorf("refused requests were answered: %+v", cbs)
	}
	if len(h.fake.Messages()) != 0 {
		t.Errorf("refused requests posted messages:\n%s", h.fake.Transcript(runChannel, ana.ID))
	}

	// The same request, properly signed within five minutes, is taken.
	h.clock.Advance(4 * time.Minute)
	res, err := http.DefaultClient.Do(h.fake.NewRequest(h.url, body, now))
	if err != nil {
		t.Fatal(err)
	}
	var answer struct {
		Type int `json:"type"`
		Data struct {
			Content string `json:"content"`
			Flags   int    `json:"flags"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&answer); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if answer.Type != 4 || !strings.Contains(answer.Data.Content, "Started run") || answer.Data.Flags != discordfake.FlagEphemeral {
		t.Errorf("signed start answered %+v", answer)
	}
}

func TestPingIsAnsweredWithPong(t *testing.T) {
	h := newHarness(t, harnessConfig{noExecutor: true})
	before := h.redis.Load()
	res, err := h.fake.Post(h.url, h.fake.Ping())
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusOK || strings.TrimSpace(string(res.Body)) != `{"type":1}` {
		t.Errorf("PING answered HTTP %d %s, want 200 {\"type\":1}", res.Status, res.Body)
	}
	if n := h.redis.Load() - before; n != 0 {
		t.Errorf("PING sent %d Redis commands", n)
	}
}

// TestThirtyStepsCanAllBeTicked: a phase with more steps than fit as
// buttons lists them in "Tick a step…" menus; every one of them can be
// ticked from there, and the menus shrink as steps settle.
func TestThirtyStepsCanAllBeTicked(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: long\nphases:\n  - id: preflight\n    title: Pre-flight\n    steps:\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "      - id: check-%02d\n        title: Pre-flight check %d\n", i, i)
	}
	b.WriteString("rollback:\n  steps:\n    - id: revert\n      title: Revert\n")
	h := newHarness(t, harnessConfig{runbook: b.String()})
	h.command(ana, "start", map[string]string{"version": "v2.0.0", "env": "staging"})
	card := h.card("preflight", has("30 of 30 steps open"))
	if menus := card.Menus(); len(menus) != 2 || len(menus[0].Options) != 25 || len(menus[1].Options) != 5 {
		t.Fatalf("menus = %v", card.Labels())
	}
	menus := 0
	for i := 1; i <= 30; i++ {
		step := fmt.Sprintf("check-%02d", i)
		// While the open steps do not fit as buttons they are in the menus;
		// once they do, the card shows their buttons.
		if done, ok := card.Button(fmt.Sprintf("Done %d", i), step); ok {
			if i == 30 {
				h.click(ana, card, h.button(card, "Skip 30", step))
				h.submitReason(ana, "not needed on staging")
			} else {
				h.click(ana, card, done)
			}
		} else {
			var menu discordfake.Component
			for _, m := range card.Menus() {
				for _, o := range m.Options {
					if o.Value == step {
						menu = m
					}
				}
			}
			if menu.CustomID == "" {
				t.Fatalf("step %s is neither a button nor in a menu: %v", step, card.Labels())
			}
			menus++
			in := h.fake.Choose(ana, card, menu.CustomID, step)
			if cb := h.deliver(in); cb.Type != 4 {
				t.Fatalf("choosing %s answered with type %d, want 4", step, cb.Type)
			}
			picker, _ := h.fake.ResponseMessage(in.ID)
			if !picker.Ephemeral || strings.Join(picker.Labels(), ",") != "Done,Skip" {
				t.Fatalf("picker for %s: %q %v", step, picker.Content, picker.Labels())
			}
			if _, cb := h.click(ana, picker, h.button(picker, "Done", step)); cb.Type != 7 {
				t.Fatalf("Done in the picker answered with type %d, want 7", cb.Type)
			}
		}
		open := 30 - i
		want := fmt.Sprintf("%d of 30 steps open", open)
		if open == 0 {
			want = "Waiting for approval"
		}
		card = h.card("preflight", has(want))
	}
	if got := strings.Join(card.Labels(), ","); got != "Approve,Rollback,Abort" {
		t.Errorf("after every step: %v, want Approve, Rollback, Abort (no phase is marked production)", got)
	}
	if menus < 20 {
		t.Errorf("only %d steps were ticked from a menu", menus)
	}
	if !strings.Contains(card.Visible(), "⏭️ `30` Pre-flight check 30 · @ana just now · skipped: not needed on staging") {
		t.Errorf("step 30 not shown skipped:\n%s", card.Visible())
	}
}
