package discord_test

import (
	"strings"
	"testing"
	"time"

	"deploybot/internal/testkit/discordfake"
)

// TestStalledStoreIsAnsweredInTime: when Redis stalls, a command is still
// answered within the front's acknowledgement budget (Discord gives 3
// seconds), with a clear "try again", whether the interaction came over
// HTTP or the Gateway. Each store call is bounded by the engine, but a
// command makes several; the front must bound them together.
func TestStalledStoreIsAnsweredInTime(t *testing.T) {
	const (
		budget = 400 * time.Millisecond
		stall  = 600 * time.Millisecond // per Redis command: each engine call alone stays under its own bound
		slack  = 350 * time.Millisecond // what the answer may take beyond the budget (HTTP, the race detector)
	)
	cases := []struct {
		name    string
		gateway bool
		sub     string
		opts    map[string]string
	}{
		{name: "list over HTTP", sub: "list"},
		{name: "list over the Gateway", gateway: true, sub: "list"},
		{name: "approve without a run over HTTP", sub: "approve"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{gateway: tc.gateway, noExecutor: true, ackBudget: budget})
			h.delay.Store(int64(stall))
			in := h.fake.Command(ana, runChannel, tc.sub, tc.opts)
			began := time.Now()
			cb := h.deliver(in)
			took := time.Since(began)
			h.delay.Store(0)
			if took > budget+slack {
				t.Errorf("/deploy %s answered after %s, want within the %s budget", tc.sub, took.Round(time.Millisecond), budget)
			}
			if cb.Type != 4 {
				t.Fatalf("/deploy %s answered with type %d, want 4 (a message)", tc.sub, cb.Type)
			}
			m, ok := h.fake.ResponseMessage(in.ID)
			if !ok {
				t.Fatalf("/deploy %s: no response message", tc.sub)
			}
			if v := m.Visible(); !strings.Contains(v, "nothing was changed") {
				t.Errorf("/deploy %s answered %q, want a clear try-again", tc.sub, v)
			}
			if !m.Ephemeral {
				t.Errorf("/deploy %s: the refusal is not ephemeral", tc.sub)
			}
		})
	}
}

// TestClicksBeyondTheWorkersAreRefused: the work after acknowledgements runs
// on a bounded number of workers; a click that finds them all busy is
// answered at once with "busy, nothing was changed" instead of parking a
// goroutine per click, and clicks work again once a worker is free.
func TestClicksBeyondTheWorkersAreRefused(t *testing.T) {
	// The acknowledgement budget is short, so the first click is
	// acknowledged (deferred) while its work still waits on Redis.
	h := newHarness(t, harnessConfig{noExecutor: true, workers: 1, ackBudget: 300 * time.Millisecond})
	h.command(ana, "start", map[string]string{"version": "v1.4.2"})
	card := h.card("build", has("Code review completed", "3 of 3 steps open"))

	// Redis stalls: the first click's work outlasts its acknowledgement and
	// holds the only worker. (Release notes first: once the review is done,
	// the CI check below it runs, and with no executor the notes below the
	// check could not be ticked.)
	h.delay.Store(int64(time.Second))
	first, cb := h.click(ana, card, h.button(card, "Done", ":notes"))
	if cb.Type != 6 {
		t.Fatalf("first Done answered with type %d, want 6 (deferred update)", cb.Type)
	}
	cases := []struct {
		name   string
		who    discordfake.User
		button string
		id     string
	}{
		{name: "another step's Done", who: bob, button: "Done", id: ":review"},
		{name: "the same Done again", who: ana, button: "Done", id: ":notes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, cb := h.click(tc.who, card, h.button(card, tc.button, tc.id))
			m, ok := h.fake.ResponseMessage(in.ID)
			if cb.Type != 4 || !ok || !m.Ephemeral || !strings.Contains(m.Content, "busy") || !strings.Contains(m.Content, "nothing was changed") {
				t.Errorf("%s while the worker is busy: type %d, message %+v; want an ephemeral \"busy … nothing was changed\"", tc.button, cb.Type, m)
			}
		})
	}
	h.delay.Store(0)
	card = h.card("build", has("✅ `3` Release notes drafted · @ana"))
	if fs := h.fake.Followups(first.ID); len(fs) != 0 {
		t.Errorf("the first Done got a followup: %v", fs)
	}

	// Once the worker is free, a click works again (a person told "busy"
	// simply clicks again, as this does until the worker has let go).
	h.eventually("Done 1 to be taken", func() bool {
		in, cb := h.click(bob, card, h.button(card, "Done", ":review"))
		if cb.Type == 4 {
			m, _ := h.fake.ResponseMessage(in.ID)
			if !strings.Contains(m.Content, "busy") {
				t.Fatalf("Done 1 answered %q", m.Content)
			}
			return false
		}
		return cb.Type == 6
	})
	h.card("build", has("✅ `1` Code review completed · @bob"))
}

// TestAcknowledgementDiscipline: a click is answered within the
// acknowledgement budget whatever Redis does. A refusal ready in time is
// the interaction's own answer (an ephemeral message); when the click takes
// longer, it is acknowledged at the budget with a deferred update, goes on,
// and the refusal follows up once it is known.
func TestAcknowledgementDiscipline(t *testing.T) {
	const budget = 300 * time.Millisecond
	h := newHarness(t, harnessConfig{noExecutor: true, ackBudget: budget})
	h.command(ana, "start", map[string]string{"version": "v1.4.2"})
	card := h.card("build", has("Code review completed", "3 of 3 steps open"))
	h.click(ana, card, h.button(card, "Done", ":review"))
	h.card("build", has("✅ `1` Code review completed · @ana"))

	t.Run("ready in time", func(t *testing.T) {
		start := time.Now()
		in, cb := h.click(bob, card, h.button(card, "Done", ":review"))
		if took := time.Since(start); took > budget {
			t.Errorf("a quick refusal was answered after %s, want before the %s budget", took, budget)
		}
		m, _ := h.fake.ResponseMessage(in.ID)
		if cb.Type != 4 || !m.Ephemeral || m.User != bob.ID || !strings.Contains(m.Content, "already done by @ana") {
			t.Errorf("answered with type %d, message %+v; want the ephemeral refusal as the answer", cb.Type, m)
		}
		if fs := h.fake.Followups(in.ID); len(fs) != 0 {
			t.Errorf("a refusal answered in time also followed up: %v", fs)
		}
	})
	t.Run("late", func(t *testing.T) {
		h.delay.Store(int64(2 * budget)) // every Redis command stalls past the budget
		defer h.delay.Store(0)
		start := time.Now()
		in, cb := h.click(carl, card, h.button(card, "Done", ":review"))
		if took := time.Since(start); took < budget || took > budget+350*time.Millisecond {
			t.Errorf("late click answered after %s, want at the %s budget", took, budget)
		}
		if cb.Type != 6 {
			t.Errorf("late click answered with type %d, want 6 (deferred update)", cb.Type)
		}
		f := h.told(in)
		if !f.Ephemeral || f.User != carl.ID || !strings.Contains(f.Content, "already done by @ana") {
			t.Errorf("late refusal %+v, want an ephemeral followup for carl", f)
		}
	})
}
