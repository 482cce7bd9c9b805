package schedule

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"deploybot/deploy"
	"deploybot/runbook"
)

// countingStore counts the store calls a scan makes.
type countingStore struct {
	deploy.Store
	windows, claims atomic.Int64
}

func (c *countingStore) Windows(ctx context.Context, after time.Time) ([]deploy.Window, error) {
	c.windows.Add(1)
	return c.Store.Windows(ctx, after)
}

func (c *countingStore) ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	c.claims.Add(1)
	return c.Store.ClaimOnce(ctx, key, ttl)
}

// countingEngine counts the live-run reads and advances a scan asks for.
type countingEngine struct {
	Engine
	live, advance atomic.Int64
}

func (c *countingEngine) Live(ctx context.Context) ([]*deploy.Run, error) {
	c.live.Add(1)
	return c.Engine.Live(ctx)
}

func (c *countingEngine) Advance(ctx context.Context, runID string) (deploy.Outcome, error) {
	c.advance.Add(1)
	return c.Engine.Advance(ctx, runID)
}

func (c *countingStore) reads() string {
	return fmt.Sprintf("%d windows reads, %d claims", c.windows.Load(), c.claims.Load())
}

// TestScanCostsWhatIsDue: with many live runs waiting for a recurring window
// that opens in hours, a scan every second reads nothing (but the windows,
// every WindowsRefresh); when the window
// opens, one read of the live runs moves every waiting run on, once, and
// while it is open the live runs are read again only every LiveRefresh.
func TestScanCostsWhatIsDue(t *testing.T) {
	const runs = 150
	rb := gatedRunbook()
	rb.Reminders = dur(time.Hour)
	rb.Windows = []runbook.RecurringWindow{{Cron: "0 3 * * 2", Duration: runbook.Duration(time.Hour)}}
	now := time.Date(2030, 6, 3, 23, 0, 0, 0, time.UTC)
	f := newFixture(t, rb, now)
	e := deploy.NewEngine(deploy.Config{Store: f.store, Runbook: rb, Clock: f.clk, Logger: quiet(), Windows: f.s})
	cs := &countingStore{Store: f.store}
	ce := &countingEngine{Engine: e}
	s := New(Config{Store: cs, Runbook: rb, Engine: ce, Notices: f.rec, Clock: f.clk, Logger: quiet()})
	var ids []string
	for i := range runs {
		out, err := e.Start(t.Context(), deploy.StartRequest{Release: "v3", Env: fmt.Sprintf("env-%03d", i), Channel: "C", Platform: "slack", Actor: ana})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, out.Run.ID)
	}
	tick := func() {
		t.Helper()
		if err := s.Tick(t.Context()); err != nil {
			t.Fatalf("tick at %s: %v", f.clk.Now().UTC().Format(time.TimeOnly), err)
		}
	}

	tick() // a fresh process reads the windows once
	cs.windows.Store(0)
	for i := range 60 {
		f.clk.Advance(time.Second)
		tick()
		if i == int(WindowsRefresh/time.Second)-2 && cs.windows.Load() != 0 {
			t.Errorf("scans before the windows are due to be read again read them %d times", cs.windows.Load())
		}
	}
	if cs.windows.Load() > 2 || cs.claims.Load() != 0 || ce.live.Load() != 0 || ce.advance.Load() != 0 {
		t.Errorf("a minute of scans with %d live runs and nothing due: %s, %d live-run reads, %d advances; want no more than the windows every %s",
			runs, cs.reads(), ce.live.Load(), ce.advance.Load(), WindowsRefresh)
	}

	// The reminder at 02:00 is due: it is claimed and sent; no live runs are read.
	f.clk.Set(time.Date(2030, 6, 4, 2, 0, 0, 0, time.UTC))
	tick()
	if got := f.rec.of(KindReminder); len(got) != 1 {
		t.Errorf("reminders at 02:00 = %d, want 1", len(got))
	}
	if ce.live.Load() != 0 {
		t.Errorf("the reminder read the live runs %d times, want 0", ce.live.Load())
	}

	// The window opens at 03:00: 90 seconds of scans around it.
	f.clk.Set(time.Date(2030, 6, 4, 2, 59, 55, 0, time.UTC))
	for range 95 {
		tick()
		f.clk.Advance(time.Second)
	}
	if got := ce.advance.Load(); got != runs {
		t.Errorf("advances = %d, want one per waiting run (%d)", got, runs)
	}
	if got := ce.live.Load(); got < 1 || got > 1+90/int64(LiveRefresh/time.Second) {
		t.Errorf("live runs read %d times in the first 90 s of the window, want 1 at the opening and then one every %s", got, LiveRefresh)
	}
	for _, id := range []string{ids[0], ids[runs/2], ids[runs-1]} {
		if got := stepState(t, e, id, "migrate"); got != deploy.StepRunning {
			t.Errorf("run %s: migration %s after the window opened, want running", id, got)
		}
	}
}
