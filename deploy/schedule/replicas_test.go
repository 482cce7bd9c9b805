package schedule

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"deploybot/deploy"
	"deploybot/internal/clock"
	"deploybot/runbook"
)

// Three schedulers (three processes) share one Redis and scan concurrently,
// each with its own slightly skewed clock: every reminder and every open
// notice of 1,000 windows is sent exactly once.
func TestThreeReplicas(t *testing.T) {
	if testing.Short() {
		t.Log("-short: 100 windows instead of 1,000")
	}
	windows := 1000
	if testing.Short() {
		windows = 100
	}
	prefix := newFixture(t, nil, t0).prefix
	seed := newStore(t, prefix)
	first := t0.Add(25 * time.Hour)
	spread := 5 * time.Hour
	for i := range windows {
		start := first.Add(time.Duration(i) * spread / time.Duration(windows)).Truncate(time.Second)
		book(t, seed, deploy.Window{ID: fmt.Sprintf("w%05d", i), Release: "v1", Env: fmt.Sprintf("env-%d", i), Start: start,
			Length: 30 * time.Minute, Created: t0, Platform: "slack"})
	}

	rec := &recorder{}
	reg := prometheus.NewRegistry()
	skews := []time.Duration{0, 3 * time.Second, -2 * time.Second}
	var (
		clocks []*clock.Fake
		scheds []*Scheduler
	)
	for _, skew := range skews {
		c := clock.NewFake(t0.Add(skew))
		clocks = append(clocks, c)
		scheds = append(scheds, New(Config{Store: newStore(t, prefix), Runbook: &runbook.Runbook{}, Notices: rec, Clock: c,
			Logger: quiet(), Metrics: reg, NoticeChannel: "C-notices"}))
	}
	scanAt := func(at time.Time) {
		var wg sync.WaitGroup
		errs := make(chan error, len(scheds))
		for i, s := range scheds {
			clocks[i].Set(at.Add(skews[i]))
			wg.Go(func() { errs <- s.Tick(context.Background()) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	// Scan every 10 minutes through the stretches where notices fall due:
	// the 24h reminders, then the 1h and 15m reminders and the openings.
	for _, span := range [][2]time.Duration{{0, 7 * time.Hour}, {23*time.Hour + 30*time.Minute, 31 * time.Hour}} {
		for d := span[0]; d <= span[1]; d += 10 * time.Minute {
			scanAt(t0.Add(d))
		}
	}

	count := map[string]int{}
	for _, n := range rec.all() {
		count[noticeKey(n)]++
	}
	var missing, dup int
	for i := range windows {
		start := first.Add(time.Duration(i) * spread / time.Duration(windows)).Truncate(time.Second)
		id := fmt.Sprintf("w%05d", i)
		for _, k := range []struct {
			kind NoticeKind
			off  time.Duration
		}{{KindReminder, 24 * time.Hour}, {KindReminder, time.Hour}, {KindReminder, 15 * time.Minute}, {KindOpen, 0}} {
			key := noticeKey(Notice{Kind: k.kind, Window: deploy.WindowView{ID: id, Start: start}, Offset: k.off})
			switch c := count[key]; {
			case c == 0:
				missing++
				if missing < 5 {
					t.Errorf("%s never sent", key)
				}
			case c > 1:
				dup++
				if dup < 5 {
					t.Errorf("%s sent %d times", key, c)
				}
			}
		}
	}
	if total := len(rec.all()); missing > 0 || dup > 0 || total != 4*windows {
		t.Errorf("%d missing, %d duplicates, %d notices in all (want %d)", missing, dup, total, 4*windows)
	}
	if got := counter(t, reg, "deploybot_reminders_sent_total", map[string]string{"kind": "reminder"}); got != float64(3*windows) {
		t.Errorf("sent counter = %v, want %d", got, 3*windows)
	}
	if got := counter(t, reg, "deploybot_reminders_dropped_total", nil); got != 0 {
		t.Errorf("dropped counter = %v, want 0", got)
	}
}

// panicky is a Notices that panics on its first call and records the rest.
type panicky struct {
	recorder
	once sync.Once
}

func (p *panicky) PostWindowNotice(ctx context.Context, n Notice) error {
	fire := false
	p.once.Do(func() { fire = true })
	if fire {
		panic("chat client exploded")
	}
	return p.recorder.PostWindowNotice(ctx, n)
}

// A Notices implementation that panics loses that one notice (logged and
// counted); the scheduler's loop goes on and sends the next ones.
func TestPanickingNoticesDoNotStopTheScheduler(t *testing.T) {
	f := newFixture(t, &runbook.Runbook{Reminders: dur(15 * time.Minute)}, t0)
	p := &panicky{}
	f.rebuild(nil, p)
	book(t, f.store, deploy.Window{ID: "wfirst", Release: "v1", Start: t0.Add(20 * time.Minute), Created: t0})
	book(t, f.store, deploy.Window{ID: "wsecnd", Release: "v2", Env: "staging", Start: t0.Add(50 * time.Minute), Created: t0})

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.s.Run(ctx) }()

	deadline := time.Now().Add(10 * time.Second)
	for len(p.of(KindOpen)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the scheduler stopped: notices so far %+v", p.all())
		}
		if f.clk.Waiters() > 0 { // the loop waits for its next tick: move time on
			f.clk.Advance(time.Minute)
		}
		time.Sleep(time.Millisecond) // yield to the loop; time itself is the fake clock's
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
	var got []string
	for _, n := range p.all() {
		got = append(got, fmt.Sprintf("%s %s", n.Kind, n.Window.ID))
	}
	want := []string{"window_open wfirst", "reminder wsecnd", "window_open wsecnd"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("notices = %v, want %v (the first reminder was lost to the panic)", got, want)
	}
	if n := counter(t, f.reg, "deploybot_scheduler_panics_total", nil); n != 1 {
		t.Errorf("panics counted %v, want 1", n)
	}
	if n := counter(t, f.reg, "deploybot_reminders_dropped_total", map[string]string{"kind": "reminder", "reason": "failed"}); n != 1 {
		t.Errorf("failed reminders counted %v, want 1", n)
	}
}
