package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"deploybot/commands"
	"deploybot/deploy"
)

// PersonText is the one path from an error to the words a person reads,
// shared by every front. Refusals written for people (a *deploy.Error from
// the engine, a *commands.Error from the parser) are shown as they are. A
// store that did not answer in time says so. Anything else becomes
// "internal error (ref …)": the detail goes to log under that reference,
// never to the person.
func PersonText(log *slog.Logger, err error) string {
	var de *deploy.Error
	var ce *commands.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &de):
		return de.Msg
	case errors.As(err, &ce):
		return ce.Error()
	}
	ref := newRef()
	if log == nil {
		log = slog.Default()
	}
	log.Error("request failed", "ref", ref, "err", err)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, deploy.ErrUnavailable) {
		return fmt.Sprintf("the state store is not answering right now; nothing was changed. Try again in a moment (ref %s)", ref)
	}
	return fmt.Sprintf("internal error (ref %s); nothing was changed", ref)
}

// PersonText is PersonText with the bot's logger.
func (b *Bot) PersonText(err error) string { return PersonText(b.log, err) }

// Recovered is PersonText for a panic a front recovered from.
func (b *Bot) Recovered(v any) string { return PersonText(b.log, fmt.Errorf("panic: %v", v)) }

func newRef() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// The acknowledgement discipline, the same on Slack and Discord:
//
//   - A click (a button, a menu choice, a submitted reason dialog) is
//     answered within the platform's deadline (3 s). The front starts the
//     action at once and waits for its reply at most the acknowledgement
//     budget (AckBudget by default).
//   - When the reply is ready within the budget, the acknowledgement carries
//     it: on Discord the interaction's response is the refusal itself (an
//     ephemeral message) or, on success, a deferred update; on Slack a
//     refusal reaches the clicker through response_url right after the empty
//     200 of a button, or as the dialog's field error.
//   - Otherwise the front acknowledges at the budget without it (Slack: an
//     empty 200, the dialog closes; Discord: a deferred update), the action
//     goes on under its own longer deadline — the acknowledgement never cuts
//     it off halfway — and a refusal follows when it is known (Slack:
//     response_url or an ephemeral message; Discord: an ephemeral followup).
//   - A slash command is answered in its acknowledgement with what is known
//     within the budget: its store calls are bounded by the budget, and a
//     store that does not answer in time is said so ("nothing was changed;
//     try again"), never followed up later.
//
// Handoff is the rendezvous between the action and the acknowledgement.

// AckBudget is how long a front waits for a reply before it acknowledges
// without it, well inside the platforms' 3 seconds.
const AckBudget = 2500 * time.Millisecond

// Handoff passes a reply from the work to whoever still waits for it: the
// acknowledgement while it waits, the follow-up once it has given up.
type Handoff struct {
	mu     sync.Mutex
	ready  chan struct{}
	reply  Reply
	done   bool // the reply is in
	late   bool // the acknowledgement gave up waiting
	follow func(Reply)
}

// NewHandoff returns a handoff whose late reply goes to follow.
func NewHandoff(follow func(Reply)) *Handoff {
	return &Handoff{ready: make(chan struct{}), follow: follow}
}

// Deliver hands the work's reply over: to the waiting acknowledgement, or,
// once it has given up, to the follow-up (called on the caller's goroutine).
func (h *Handoff) Deliver(r Reply) {
	h.mu.Lock()
	if h.done {
		h.mu.Unlock()
		return
	}
	h.done, h.reply = true, r
	late := h.late
	close(h.ready)
	h.mu.Unlock()
	if late && h.follow != nil {
		h.follow(r)
	}
}

// Wait waits at most budget for the reply. It returns the reply and true
// when it came in time; otherwise false, and the reply goes to the follow-up
// when it comes.
func (h *Handoff) Wait(budget time.Duration) (Reply, bool) {
	t := time.NewTimer(budget)
	defer t.Stop()
	select {
	case <-h.ready:
	case <-t.C:
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return h.reply, true
	}
	h.late = true
	return Reply{}, false
}
