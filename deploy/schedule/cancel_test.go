package schedule

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"deploybot/deploy"
	"deploybot/runbook"
)

// onceRecorder is an OnceNotices that records a notice under its claim in
// the store, the way the bot's publisher does (one atomic write).
type onceRecorder struct {
	recorder
	store deploy.Store
}

func (r *onceRecorder) RecordWindowNotice(ctx context.Context, claim string, ttl time.Duration, n Notice) (bool, error) {
	first, err := r.store.ScheduleOnce(ctx, claim, ttl)
	if err != nil || !first {
		return false, err
	}
	return true, r.PostWindowNotice(ctx, n)
}

// process is one deploybot process of a test: its store connection, engine
// and reminder loop, over the Redis keys every process of the test shares.
type process struct {
	store deploy.Store
	s     *Scheduler
	rec   interface{ all() []Notice }
}

// newProcess builds a process over the store under prefix, sharing the
// fixture's clock. With once it records notices through OnceNotices.
func newProcess(t *testing.T, f *fixture, rb *runbook.Runbook, withEngine, once bool) *process {
	t.Helper()
	p := &process{store: newStore(t, f.prefix)}
	cal := NewCalendar(CalendarConfig{Store: p.store, Runbook: rb, Clock: f.clk, Logger: quiet()})
	var (
		e Engine
		n Notices
	)
	if withEngine {
		e = deploy.NewEngine(deploy.Config{Store: p.store, Runbook: rb, Clock: f.clk, Logger: quiet(), Windows: cal})
	}
	if once {
		r := &onceRecorder{store: p.store}
		n, p.rec = r, r
	} else {
		r := &recorder{}
		n, p.rec = r, r
	}
	p.s = New(Config{Calendar: cal, Store: p.store, Engine: e, Notices: n, Clock: f.clk, Logger: quiet(), NoticeChannel: "C-notices"})
	return p
}

func (p *process) tick(t *testing.T, at time.Time) {
	t.Helper()
	if err := p.s.Tick(t.Context()); err != nil {
		t.Fatalf("tick at %s: %v", at.Format(time.TimeOnly), err)
	}
}

// A window booked on process A and cancelled on process B shortly before a
// notice about it falls due: neither process sends that notice (nor any
// later one), although A read the window a moment before the cancellation.
// Without the cancellation, the same notice goes out exactly once across
// both processes. Both processes scan every second of the fake clock.
func TestCancelledOnAnotherProcessSendsNothing(t *testing.T) {
	// The notices fall due between two of A's reads of the windows (every
	// WindowsRefresh from t0): A last read them before the cancellation.
	const off = WindowsRefresh / 2
	tests := []struct {
		name    string
		engine  bool          // a live production run (closing and ended notices need one)
		start   time.Duration // after t0
		length  time.Duration
		cancel  time.Duration // after t0: when B cancels
		until   time.Duration // after t0: scan until
		kind    NoticeKind    // the notice that falls due just after the cancellation
		dueAt   time.Duration // after t0
		offsets []time.Duration
	}{
		// The e2e bug: booked 12 s ahead, cancelled 3 s later, announced open at the start.
		{name: "open", start: 12 * time.Second, length: 30 * time.Minute, cancel: 3 * time.Second, until: 2 * time.Minute,
			kind: KindOpen, dueAt: 12 * time.Second},
		{name: "open, cancelled a second before", start: 10*time.Minute + off, length: 30 * time.Minute, cancel: 10*time.Minute + off - time.Second,
			until: 12 * time.Minute, kind: KindOpen, dueAt: 10*time.Minute + off},
		{name: "reminder", start: time.Hour + off, length: 30 * time.Minute, cancel: 45*time.Minute + off - time.Second, until: 65 * time.Minute,
			kind: KindReminder, dueAt: 45*time.Minute + off, offsets: []time.Duration{15 * time.Minute}},
		{name: "closing", engine: true, start: 10*time.Minute + off, length: time.Hour, cancel: 55*time.Minute + off - time.Second,
			until: 75 * time.Minute, kind: KindClosing, dueAt: 55*time.Minute + off},
		{name: "ended", engine: true, start: 10*time.Minute + off, length: 20 * time.Minute, cancel: 30*time.Minute + off - time.Second,
			until: 35 * time.Minute, kind: KindEnded, dueAt: 30*time.Minute + off},
	}
	for _, tt := range tests {
		for _, once := range []bool{false, true} {
			for _, cancel := range []bool{true, false} {
				name := tt.name
				if once {
					name += "/once"
				}
				if !cancel {
					name += "/not cancelled"
				}
				t.Run(name, func(t *testing.T) {
					rb := &runbook.Runbook{Reminders: dur(tt.offsets...)}
					if tt.engine {
						rb = gatedRunbook()
						rb.Reminders = dur(tt.offsets...)
					}
					if len(tt.offsets) == 0 {
						rb.Reminders = dur(24 * time.Hour) // none applies: every window here is booked less than a day ahead
					}
					f := newFixture(t, rb, t0)
					a := newProcess(t, f, rb, tt.engine, once)
					b := newProcess(t, f, rb, tt.engine, once)
					if tt.engine {
						e := deploy.NewEngine(deploy.Config{Store: a.store, Runbook: rb, Clock: f.clk, Logger: quiet(), Windows: a.s.Calendar})
						if _, err := e.Start(t.Context(), deploy.StartRequest{Release: "v1.4", Env: "production", Channel: "C-team", Platform: "slack", Actor: ana}); err != nil {
							t.Fatal(err)
						}
					}
					w, err := a.s.Schedule(t.Context(), deploy.ScheduleRequest{Release: "v1.4", Start: t0.Add(tt.start), Length: tt.length,
						Channel: "C-team", Platform: "slack", Actor: ana})
					if err != nil {
						t.Fatal(err)
					}
					for d := time.Duration(0); d <= tt.until; d += time.Second {
						now := t0.Add(d)
						f.clk.Set(now)
						if cancel && d == tt.cancel {
							if err := b.s.Unschedule(t.Context(), w.ID, bob); err != nil {
								t.Fatal(err)
							}
						}
						a.tick(t, now)
						b.tick(t, now)
					}

					var due []Notice
					for _, p := range []*process{a, b} {
						for _, n := range p.rec.all() {
							if cancel && n.At.After(t0.Add(tt.cancel)) {
								t.Errorf("%s notice sent at %s about window %s, cancelled at %s", n.Kind,
									n.At.Format(time.TimeOnly), n.Window.ID, t0.Add(tt.cancel).Format(time.TimeOnly))
							}
							if n.Kind == tt.kind {
								due = append(due, n)
							}
						}
					}
					switch {
					case cancel && len(due) != 0:
						t.Errorf("%s notices of the cancelled window: %+v", tt.kind, due)
					case !cancel && (len(due) != 1 || !due[0].At.Equal(t0.Add(tt.dueAt))):
						t.Errorf("%s notices = %+v, want one at %s", tt.kind, due, t0.Add(tt.dueAt).Format(time.TimeOnly))
					}
				})
			}
		}
	}
}

// A window moved by another process (cancelled and booked again at another
// time, as people do) is announced at its new time only, with the new
// details, once.
func TestMovedOnAnotherProcess(t *testing.T) {
	rb := &runbook.Runbook{Reminders: dur(5 * time.Minute)}
	f := newFixture(t, rb, t0)
	a := newProcess(t, f, rb, false, false)
	b := newProcess(t, f, rb, false, false)
	old, err := a.s.Schedule(t.Context(), deploy.ScheduleRequest{Release: "v1.4", Start: t0.Add(10*time.Minute + WindowsRefresh/2), Length: time.Hour, Platform: "slack", Actor: ana})
	if err != nil {
		t.Fatal(err)
	}
	var moved deploy.Window
	for d := time.Duration(0); d <= 30*time.Minute; d += time.Second {
		now := t0.Add(d)
		f.clk.Set(now)
		if d == 5*time.Minute+WindowsRefresh/2-time.Second { // a second before the old window's reminder, after A read the windows
			if err := b.s.Unschedule(t.Context(), old.ID, bob); err != nil {
				t.Fatal(err)
			}
			if moved, err = b.s.Schedule(t.Context(), deploy.ScheduleRequest{Release: "v1.5", Start: t0.Add(20 * time.Minute), Length: time.Hour,
				Platform: "slack", Actor: bob}); err != nil {
				t.Fatal(err)
			}
		}
		a.tick(t, now)
		b.tick(t, now)
	}
	var got []string
	for _, p := range []*process{a, b} {
		for _, n := range p.rec.all() {
			got = append(got, string(n.Kind)+" "+n.Window.ID+" "+n.Window.Release+" "+n.At.Format(time.TimeOnly))
		}
	}
	want := []string{
		"reminder " + moved.ID + " v1.5 " + t0.Add(15*time.Minute).Format(time.TimeOnly),
		"window_open " + moved.ID + " v1.5 " + t0.Add(20*time.Minute).Format(time.TimeOnly),
	}
	if len(got) != len(want) {
		t.Fatalf("notices = %q, want %q", got, want)
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("notices = %q, want %q", got, want)
		}
	}
}

// headCountingStore counts the org head reads and window reads.
type headCountingStore struct {
	deploy.Store
	heads, windows atomic.Int64
}

func (c *headCountingStore) OrgHead(ctx context.Context) (deploy.OrgHead, error) {
	c.heads.Add(1)
	return c.Store.OrgHead(ctx)
}

func (c *headCountingStore) Windows(ctx context.Context, after time.Time) ([]deploy.Window, error) {
	c.windows.Add(1)
	return c.Store.Windows(ctx, after)
}

// The check before a notice costs one small read per notice due: a scan
// every second reads nothing while nothing is due (the windows and the head
// every WindowsRefresh), a due notice adds one head read, and the windows
// are read again before it only when another process changed the org chain.
func TestCheckBeforeNoticeCostsWhatIsDue(t *testing.T) {
	rb := &runbook.Runbook{Reminders: dur(15 * time.Minute)}
	f := newFixture(t, rb, t0)
	cs := &headCountingStore{Store: newStore(t, f.prefix)}
	rec := &recorder{}
	s := New(Config{Store: cs, Runbook: rb, Notices: rec, Clock: f.clk, Logger: quiet()})
	other := newProcess(t, f, rb, false, false)
	start := t0.Add(time.Hour + 15*time.Second) // its notices fall between two reads of the windows
	if _, err := other.s.Schedule(t.Context(), deploy.ScheduleRequest{Release: "v1", Start: start, Length: time.Hour, Platform: "slack", Actor: ana}); err != nil {
		t.Fatal(err)
	}
	tickUntil := func(until time.Time) {
		t.Helper()
		for ; !f.clk.Now().After(until); f.clk.Advance(time.Second) {
			if err := s.Tick(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	// 45 minutes of scans every second before the reminder: one head read
	// with each windows read, every WindowsRefresh.
	tickUntil(start.Add(-15*time.Minute - time.Second))
	heads, wins := cs.heads.Load(), cs.windows.Load()
	if want := int64(45*time.Minute/WindowsRefresh) + 1; heads != wins || wins > want {
		t.Errorf("before anything was due: %d head reads, %d windows reads; want equal, at most %d", heads, wins, want)
	}
	// The reminder: one head read more, no windows read more.
	tickUntil(start.Add(-15 * time.Minute))
	if h, w := cs.heads.Load()-heads, cs.windows.Load()-wins; h != 1 || w != 0 {
		t.Errorf("the reminder cost %d head reads and %d windows reads, want 1 and 0", h, w)
	}
	// (It comes into view between two reads of the windows and is sent on
	// time, not at the next read.)
	if got := rec.of(KindReminder); len(got) != 1 || !got[0].At.Equal(start.Add(-15*time.Minute)) {
		t.Fatalf("reminders = %+v, want 1 at %s", got, start.Add(-15*time.Minute))
	}
	// Another process changes the org chain (books another window): the
	// open notice reads the head and, since it moved, the windows once.
	if _, err := other.s.Schedule(t.Context(), deploy.ScheduleRequest{Release: "v2", Start: t0.Add(5 * time.Hour), Length: time.Hour,
		Platform: "slack", Actor: ana}); err != nil {
		t.Fatal(err)
	}
	f.clk.Set(start.Add(-time.Second))
	if err := s.Tick(t.Context()); err != nil { // a WindowsRefresh has passed: reads the windows
		t.Fatal(err)
	}
	if _, err := other.s.Schedule(t.Context(), deploy.ScheduleRequest{Release: "v3", Start: t0.Add(7 * time.Hour), Length: time.Hour,
		Platform: "slack", Actor: ana}); err != nil {
		t.Fatal(err)
	}
	heads, wins = cs.heads.Load(), cs.windows.Load()
	f.clk.Set(start)
	if err := s.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if h, w := cs.heads.Load()-heads, cs.windows.Load()-wins; h != 2 || w != 1 {
		t.Errorf("the open notice after a change elsewhere cost %d head reads and %d windows reads, want 2 (check, re-read) and 1", h, w)
	}
	if got := rec.of(KindOpen); len(got) != 1 {
		t.Errorf("open notices = %+v, want 1", got)
	}
}
