package slackfront

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"deploybot/internal/testkit/slackfake"
)

// ack waits for the acknowledgement of an envelope and checks it came in time.
func (h *harness) ack(env string) slackfake.Ack {
	h.t.Helper()
	var a slackfake.Ack
	var took time.Duration
	waitFor(h.t, "the acknowledgement of "+env, func() bool {
		var ok bool
		a, took, ok = h.fake.AckFor(env)
		return ok
	})
	if took > 3*time.Second {
		h.t.Errorf("envelope %s acknowledged after %s", env, took)
	}
	return a
}

func (h *harness) socketClick(u slackfake.User, m slackfake.Message, label, idPart string) slackfake.Ack {
	h.t.Helper()
	a, ok := m.Action(label, idPart)
	if !ok {
		h.t.Fatalf("no %q button on:\n%s", label, m.Visible())
	}
	env, err := h.fake.SendInteraction(h.fake.Click(u, m, a, "").Payload())
	if err != nil {
		h.t.Fatal(err)
	}
	return h.ack(env)
}

// TestSocketMode: the same start → done → approve flow with no public URL.
func TestSocketMode(t *testing.T) {
	h := newHarness(t, options{socket: true})
	waitFor(t, "the Socket Mode connection", func() bool { return h.fake.SocketConnections() == 1 })

	env, err := h.fake.SendCommand(h.fake.Command(uAna, deployChannel, "start v1.4"))
	if err != nil {
		t.Fatal(err)
	}
	var reply CommandResponse
	if err := json.Unmarshal(h.ack(env).Payload, &reply); err != nil || !strings.HasPrefix(reply.Text, "Started run") || reply.ResponseType != "ephemeral" {
		t.Fatalf("the acknowledgement should carry the reply: %+v %v", reply, err)
	}
	card := h.message(deployChannel, "Phase 1/2 · Prepare the release")
	h.message(noticeChannel, "🚀 payments-api: Deployment of v1.4 to production started")

	if a := h.socketClick(uAna, card, "Done", ":review"); len(a.Payload) != 0 && string(a.Payload) != "null" {
		t.Errorf("a click is acknowledged without payload, got %s", a.Payload)
	}
	card = h.message(deployChannel, "✅ Build the release artifact", "exit 0")

	h.socketClick(uAna, card, "Approve", "")
	h.ephemeral(uAna, "someone else must approve")
	h.socketClick(uBob, card, "Approve", "")
	next := h.message(deployChannel, "Phase 2/2 · Roll out to production")

	// Rollback's reason dialog works over Socket Mode too.
	h.socketClick(uBob, next, "Rollback", "")
	views := h.fake.Views()
	if len(views) != 1 {
		t.Fatalf("want the reason dialog, got %d views", len(views))
	}
	env, err = h.fake.SendInteraction(h.fake.Submit(uBob, views[0], map[string]string{"reason": "smoke tests red"}).Payload())
	if err != nil {
		t.Fatal(err)
	}
	h.ack(env)
	h.message(noticeChannel, "🚨 payments-api: Rolling back v1.4 on production", "smoke tests red")
	h.message(deployChannel, "↩️ Rollback Procedure")

	// With no signing secret, the HTTP endpoints take nothing.
	status, _, _ := h.do(slackfake.CommandRequest(h.srv.URL+CommandsPath, "", time.Now(), h.fake.Command(uAna, deployChannel, "list")))
	if status != http.StatusUnauthorized {
		t.Errorf("HTTP command in Socket Mode: %d, want 401", status)
	}
}

// TestSocketModeRefusedToken: an app-level token Slack refuses stops Run
// with an error instead of retrying forever.
func TestSocketModeRefusedToken(t *testing.T) {
	h := newHarness(t, options{noExecutor: true, noPoster: true})
	f, err := New(Config{BotToken: slackfake.BotToken, AppToken: "xapp-wrong", APIURL: h.fake.APIURL(), Bot: h.core.Bot, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Run(t.Context()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "invalid_auth") {
			t.Errorf("Run = %v, want invalid_auth", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run kept going with a refused token")
	}
}

func TestSocketModeSendsALongAnswerThroughTheResponseURL(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: long\nphases:\n")
	for p := range 3 {
		fmt.Fprintf(&b, "  - id: p%d\n    title: Phase %d\n    steps:\n", p, p)
		for s := range 60 {
			fmt.Fprintf(&b, "      - id: s%d-%d\n        title: Step %d of phase %d, described at length so that the runbook listing grows long %s\n", p, s, s, p, strings.Repeat("x", 40))
		}
	}
	b.WriteString("rollback:\n  steps:\n    - id: revert\n      title: Revert\n")
	h := newHarness(t, options{socket: true, yaml: b.String(), noExecutor: true})
	waitFor(t, "the Socket Mode connection", func() bool { return h.fake.SocketConnections() == 1 })
	cmd := h.fake.Command(uAna, deployChannel, "runbook")
	env, err := h.fake.SendCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	a := h.ack(env)
	if len(a.Payload) > 20000 {
		t.Fatalf("acknowledgement of %d bytes; Slack takes about 20 KB", len(a.Payload))
	}
	var reply CommandResponse
	if err := json.Unmarshal(a.Payload, &reply); err != nil || !strings.Contains(reply.Text, "follows in a moment") {
		t.Fatalf("ack = %s (%v)", a.Payload, err)
	}
	waitFor(t, "the full answer on the response_url", func() bool {
		for _, r := range h.fake.Responses() {
			if strings.Contains(r.Text, "Step 59 of phase 2") && r.ResponseType == "ephemeral" {
				return true
			}
		}
		return false
	})
}
