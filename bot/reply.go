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

// The acknowledgement discipline, the same on every front:
//
//   - A person's command or click is answered within the platform's deadline
//     (3 s on Slack and Discord). The front starts the work and waits for its
//     reply at most AckBudget.
//   - When the reply is ready within the budget, the acknowledgement carries
//     it (Slack: the command response, the dialog's errors, or an ephemeral
//     message right after the empty 200 of a button; Discord: the
//     interaction response itself).
//   - Otherwise the front acknowledges at once without it (Slack: an empty
//     200 or "Working on it…"; Discord: a deferred response), the work goes
//     on under its own longer deadline — never cut off by the
//     acknowledgement — and the reply follows up when it is ready (Slack:
//     response_url or an ephemeral message; Discord: a followup message).
//
// Handoff is the rendezvous between the work and the acknowledgement.

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
