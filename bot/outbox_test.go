package bot_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/internal/clock"
)

type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func newOutbox(t *testing.T) (*bot.Outbox, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	o := bot.NewOutbox(bot.OutboxConfig{Clock: clk, Logger: slog.New(slog.DiscardHandler), MaxAttempts: 3})
	t.Cleanup(o.Close)
	return o, clk
}

func flush(t *testing.T, o *bot.Outbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// waitTimer waits until the code under test armed a timer on the fake clock.
func waitTimer(t *testing.T, clk *clock.Fake) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for clk.Waiters() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no timer was armed")
		}
		time.Sleep(time.Millisecond)
	}
}

// waitTimers waits until the code under test armed n timers on the fake clock.
func waitTimers(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for clk.Waiters() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d timers armed, want %d", clk.Waiters(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestOutboxKeepsOrderAndCoalescesEditsOfOneMessage(t *testing.T) {
	o, _ := newOutbox(t)
	rec := &recorder{}
	gate := make(chan struct{})
	o.Enqueue("C1", "", func(context.Context) error { <-gate; rec.add("post summary"); return nil })
	for i := range 5 {
		v := i
		o.Enqueue("C1", "card:code", func(context.Context) error { rec.add("edit card v" + string(rune('0'+v))); return nil })
	}
	o.Enqueue("C1", "", func(context.Context) error { rec.add("notice"); return nil })
	close(gate)
	flush(t, o)
	got := rec.list()
	want := []string{"post summary", "edit card v4", "notice"}
	if len(got) != len(want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("calls = %v, want %v", got, want)
		}
	}
}

func TestOutboxWaitsOutRateLimitsAndNeverDrops(t *testing.T) {
	o, clk := newOutbox(t)
	rec := &recorder{}
	limited := 0
	o.Enqueue("C1", "card", func(context.Context) error {
		if limited < 10 {
			limited++
			return &bot.RateLimitError{After: 30 * time.Second, Err: errors.New("429")}
		}
		rec.add("edit landed")
		return nil
	})
	start := clk.Now()
	for range 10 {
		waitTimer(t, clk)
		if len(rec.list()) != 0 {
			t.Fatal("the call went through before Retry-After passed")
		}
		clk.Advance(30 * time.Second)
	}
	flush(t, o)
	if got := rec.list(); len(got) != 1 {
		t.Fatalf("calls = %v; a rate-limited call was dropped (more than MaxAttempts 429s)", got)
	}
	if waited := clk.Now().Sub(start); waited != 300*time.Second {
		t.Fatalf("waited %s, want 10 × Retry-After", waited)
	}
}

func TestOutboxRetriesTransientErrorsThenGivesUp(t *testing.T) {
	o, clk := newOutbox(t)
	rec := &recorder{}
	tries := 0
	o.Enqueue("C1", "", func(context.Context) error { tries++; return errors.New("HTTP 502") })
	o.Enqueue("C1", "", func(context.Context) error { rec.add("next"); return nil })
	waitTimer(t, clk)
	clk.Advance(time.Second) // backoff 1s
	waitTimer(t, clk)
	clk.Advance(2 * time.Second) // backoff 2s, then the third and last attempt
	flush(t, o)
	if tries != 3 {
		t.Fatalf("tries = %d, want MaxAttempts (3)", tries)
	}
	if got := rec.list(); len(got) != 1 {
		t.Fatalf("the queue stalled behind a failing call: %v", got)
	}
}

func TestOutboxDropsPermanentErrorsOnly(t *testing.T) {
	o, _ := newOutbox(t)
	rec := &recorder{}
	tries := 0
	o.Enqueue("C1", "", func(context.Context) error {
		tries++
		return &bot.PermanentError{Err: errors.New("channel_not_found")}
	})
	o.Enqueue("C2", "", func(context.Context) error { rec.add("other channel"); return nil })
	flush(t, o)
	if tries != 1 || len(rec.list()) != 1 {
		t.Fatalf("tries %d, other calls %v", tries, rec.list())
	}
}

func TestOutboxPacesOneQueue(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	o := bot.NewOutbox(bot.OutboxConfig{Clock: clk, Logger: slog.New(slog.DiscardHandler), Interval: time.Second})
	t.Cleanup(o.Close)
	rec := &recorder{}
	for _, s := range []string{"a", "b", "c"} {
		o.Enqueue("C1", "", func(context.Context) error { rec.add(s + "@" + clk.Now().Format("05")); return nil })
	}
	for range 2 {
		waitTimer(t, clk)
		clk.Advance(time.Second)
	}
	flush(t, o)
	got := rec.list()
	if len(got) != 3 || got[0] != "a@00" || got[1] != "b@01" || got[2] != "c@02" {
		t.Fatalf("calls = %v, want one a second", got)
	}
}

// A queue that emptied between two calls is paced all the same: the next
// call waits for the interval since the last one.
func TestOutboxPacesAQueueThatEmptied(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	o := bot.NewOutbox(bot.OutboxConfig{Clock: clk, Logger: slog.New(slog.DiscardHandler), Interval: time.Second})
	t.Cleanup(o.Close)
	rec := &recorder{}
	call := func(s string) func(context.Context) error {
		return func(context.Context) error { rec.add(s + "@" + clk.Now().Format("05")); return nil }
	}
	o.Enqueue("C1", "", call("a"))
	flush(t, o)
	o.Enqueue("C1", "", call("b"))
	o.Enqueue("C2", "", call("other"))
	waitTimer(t, clk)
	waitFor(t, "the other channel's call", func() bool { return len(rec.list()) >= 2 })
	if got := rec.list(); len(got) != 2 || got[1] != "other@00" {
		t.Fatalf("calls = %v, want a and the other channel's at once, b waiting", got)
	}
	clk.Advance(time.Second)
	flush(t, o)
	if got := rec.list(); len(got) != 3 || got[0] != "a@00" || got[2] != "b@01" {
		t.Fatalf("calls = %v, want b a second after a", got)
	}
}

func TestOutboxBoundsCallsInProgressAndCoalescesWhileWaiting(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	o := bot.NewOutbox(bot.OutboxConfig{Clock: clk, Logger: slog.New(slog.DiscardHandler), MaxCalls: 1})
	t.Cleanup(o.Close)
	var rec recorder
	started, unblock := make(chan struct{}), make(chan struct{})
	o.Enqueue("slack:C1", "card", func(context.Context) error {
		close(started)
		<-unblock
		rec.add("C1 card v1")
		return nil
	})
	<-started
	// The one call slot is taken: the other channel's edits wait, and the
	// newer edit of the card replaces the one queued before it.
	for _, v := range []string{"v1", "v2", "v3"} {
		o.Enqueue("slack:C2", "card", func(context.Context) error {
			rec.add("C2 card " + v)
			return nil
		})
	}
	o.Enqueue("slack:C2", "summary", func(context.Context) error {
		rec.add("C2 summary")
		return nil
	})
	time.Sleep(20 * time.Millisecond)
	if got := rec.list(); len(got) != 0 {
		t.Fatalf("calls ran past the bound: %v", got)
	}
	close(unblock)
	flush(t, o)
	want := []string{"C1 card v1", "C2 card v3", "C2 summary"}
	if got := rec.list(); !slices.Equal(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
}

// A message edited by a burst is edited at once, then once per interval
// with its latest state; other messages of its channel do not wait for it.
func TestOutboxEditsAMessageOncePerInterval(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	o := bot.NewOutbox(bot.OutboxConfig{Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(o.Close)
	rec := &recorder{}
	call := func(s string) func(context.Context) error {
		return func(context.Context) error { rec.add(s + "@" + clk.Now().Format("05")); return nil }
	}
	edit := func(key, s string) { o.EnqueueEvery("C1", key, time.Second, call(s)) }
	edit("card", "card v1")
	flush(t, o)
	for _, v := range []string{"v2", "v3", "v4"} {
		edit("card", "card "+v)
	}
	edit("summary", "summary")
	o.Enqueue("C1", "", call("notice"))
	waitTimer(t, clk)
	waitFor(t, "the calls not paced", func() bool { return len(rec.list()) >= 3 })
	if got, want := rec.list(), []string{"card v1@00", "summary@00", "notice@00"}; !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v (the card's next edit waiting)", got, want)
	}
	clk.Advance(time.Second)
	flush(t, o)
	// The edit of 10:00:01 started the interval again.
	edit("card", "card v5")
	waitTimer(t, clk)
	clk.Advance(time.Second)
	flush(t, o)
	want := []string{"card v1@00", "summary@00", "notice@00", "card v4@01", "card v5@02"}
	if got := rec.list(); !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	// An edit waiting when the outbox closes is abandoned, not run late.
	edit("card", "card v6")
	o.Close()
	if got := rec.list(); len(got) != len(want) {
		t.Fatalf("calls after close = %v", got)
	}
}

// A shared rate limit (Slack limits each method per workspace) holds every
// queue of the platform until it ends; other platforms' queues go on, and a
// limit of one queue alone holds only that queue.
func TestASharedRateLimitHoldsThePlatformsOtherQueues(t *testing.T) {
	o, clk := newOutbox(t)
	rec := &recorder{}
	call := func(s string) func(context.Context) error {
		return func(context.Context) error { rec.add(s + "@" + clk.Now().Format("05")); return nil }
	}
	var tries int
	o.Enqueue("slack:C1", "", func(context.Context) error {
		tries++
		if tries == 1 {
			return &bot.RateLimitError{After: 30 * time.Second, Err: errors.New("ratelimited"), Shared: true}
		}
		rec.add("C1@" + clk.Now().Format("05"))
		return nil
	})
	waitTimer(t, clk) // C1 waits out its limit
	o.Enqueue("slack:C2", "", call("C2"))
	o.Enqueue("discord:D1", "", call("D1"))
	waitFor(t, "the other platform's call", func() bool { return slices.Contains(rec.list(), "D1@00") })
	waitTimers(t, clk, 2) // C1's retry and C2's wait for the limit
	if got := rec.list(); !slices.Equal(got, []string{"D1@00"}) {
		t.Fatalf("calls under Slack's limit = %v, want only Discord's", got)
	}
	clk.Advance(30 * time.Second)
	flush(t, o)
	got := rec.list()
	slices.Sort(got)
	if want := []string{"C1@30", "C2@30", "D1@00"}; !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}

	// A limit of one queue alone (another process posting the message) holds only it.
	o.Enqueue("slack:C3", "", func(context.Context) error {
		return &bot.RateLimitError{After: time.Minute, Err: errors.New("being posted elsewhere")}
	})
	waitTimer(t, clk)
	o.Enqueue("slack:C4", "", call("C4"))
	waitFor(t, "the other channel's call", func() bool { return slices.Contains(rec.list(), "C4@30") })
}
