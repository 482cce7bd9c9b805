package console

import (
	"context"
	"testing"
	"time"

	"deploybot/deploy"
	"deploybot/deploy/storetest"
	"deploybot/internal/clock"
)

// lazyConsole is a dashboard console with a fake clock and no engine: enough
// for Publish and the hub.
func lazyConsole(t *testing.T) (*Console, *clock.Fake) {
	t.Helper()
	tmpl, err := parseTemplates()
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2030, 3, 4, 10, 0, 0, 0, time.UTC))
	h := newHub("e", hubSize)
	h.now = clk.Now
	return &Console{Page: &Page{readOnly: true, tmpl: tmpl, clock: clk, hub: h, mem: newMemory(4), revs: map[string]int64{},
		pending: map[string]*pendingRun{}}}, clk
}

// ring returns the events the hub holds.
func ring(h *hub) []event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]event(nil), h.ring...)
}

// waitEvents waits until the hub holds at least n events and returns them.
func waitEvents(t *testing.T, h *hub, n int) []event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs := ring(h)
		if len(evs) >= n || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPublishRendersOnlyForOpenPages: with no page open, transitions render
// nothing; a page rendered (or a stream open) turns rendering on, and a page
// that resumes from before a skipped update reloads instead of missing it.
func TestPublishRendersOnlyForOpenPages(t *testing.T) {
	c, clk := lazyConsole(t)
	run := storetest.SampleRun("r1", "production", clk.Now())
	ev := []deploy.Event{{Kind: deploy.EventRunStarted, Phase: "prepare"}}

	before := c.hub.cursor() // a page rendered now…
	clk.Advance(pageGrace + time.Second)
	// …long gone: nobody is looking.
	for i := range 50 {
		r := storetest.Next(run, nil)
		r.Rev = int64(i + 2)
		c.Publish(context.Background(), r, ev)
	}
	if evs := ring(c.hub); len(evs) != 0 {
		t.Fatalf("with no page open the hub got %d rendered updates, want none", len(evs))
	}
	seq, ok := c.hub.parse(before)
	if !ok {
		t.Fatalf("parse(%q) failed", before)
	}
	if _, _, gap, _ := c.hub.since(seq); !gap {
		t.Error("a page from before the skipped updates may resume: it would miss them; want a reset")
	}

	// A page opens: the next transition is rendered (off the caller's goroutine).
	c.hub.open()
	r := storetest.Next(run, nil)
	r.Rev = 100
	c.Publish(context.Background(), r, ev)
	evs := waitEvents(t, c.hub, 3)
	if len(evs) != 3 {
		t.Fatalf("with a page open the hub got %d updates, want the run item, the summary and the card", len(evs))
	}
	c.hub.done()

	// The stream ended a moment ago (a reconnect): still rendered within the grace.
	clk.Advance(pageGrace / 2)
	r = storetest.Next(r, nil)
	c.Publish(context.Background(), r, ev)
	if evs := waitEvents(t, c.hub, 6); len(evs) != 6 {
		t.Fatalf("during the reconnect grace the hub got %d updates in all, want 6", len(evs))
	}
}

// TestPublishCoalescesPerRun: transitions queued while the renderer is busy
// are rendered once per run, from the newest revision, with the phases of all.
func TestPublishCoalescesPerRun(t *testing.T) {
	c, clk := lazyConsole(t)
	c.hub.open()
	defer c.hub.done()
	run := storetest.SampleRun("r1", "production", clk.Now())
	c.pmu.Lock()
	c.draining = true // hold the renderer
	c.pmu.Unlock()
	for i := range 10 {
		r := storetest.Next(run, nil)
		r.Rev = int64(i + 2)
		c.Publish(context.Background(), r, []deploy.Event{{Kind: deploy.EventStepChanged, Phase: "prepare"}})
	}
	c.pmu.Lock()
	p := c.pending["r1"]
	c.pmu.Unlock()
	if p == nil || p.run.Rev != 11 || !p.phases["prepare"] {
		t.Fatalf("pending = %+v, want rev 11 with phase prepare", p)
	}
	c.drain()
	if evs := ring(c.hub); len(evs) != 3 {
		t.Errorf("10 queued transitions rendered %d updates, want 3 (one of each)", len(evs))
	}
}
