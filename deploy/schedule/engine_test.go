package schedule

import (
	"context"
	"testing"
	"time"

	"deploybot/deploy"
	"deploybot/runbook"
)

// gatedRunbook has one phase that waits for a maintenance window: an
// automated migration and a manual check, in production.
func gatedRunbook() *runbook.Runbook {
	return &runbook.Runbook{
		Name: "gated",
		Phases: []runbook.Phase{{
			ID: "deploy", Title: "Production Deployment", Production: true, Window: runbook.WindowRequired,
			Steps: []runbook.Step{
				{ID: "migrate", Title: "Run database migrations", Run: "shell", With: map[string]any{"command": []any{"true"}}},
				{ID: "verify", Title: "Verify the site"},
			},
		}},
		Rollback: runbook.Rollback{Steps: []runbook.Step{{ID: "revert", Title: "Revert"}}},
	}
}

// engineFixture is a scheduler wired to a real engine over the same store,
// the way main wires them: the engine asks the scheduler whether a window is
// open, the scheduler moves the engine's runs on when one opens.
func engineFixture(t *testing.T, now time.Time) (*fixture, *deploy.Engine) {
	t.Helper()
	rb := gatedRunbook()
	f := newFixture(t, rb, now)
	e := deploy.NewEngine(deploy.Config{Store: f.store, Runbook: rb, Clock: f.clk, Logger: quiet(), Windows: f.s.Calendar})
	f.rebuild(e, f.rec)
	return f, e
}

func stepState(t *testing.T, e *deploy.Engine, runID, step string) deploy.StepState {
	t.Helper()
	r, err := e.Get(t.Context(), runID)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Current().Steps {
		if s.ID == step {
			return s.State
		}
	}
	t.Fatalf("no step %s", step)
	return ""
}

// A run started before its window waits; when the window opens the
// scheduler's scan moves it on and the migration starts, exactly once.
func TestWindowOpeningStartsWaitingPhase(t *testing.T) {
	f, e := engineFixture(t, t0)
	start := t0.Add(30 * time.Minute)
	if _, err := f.s.Schedule(t.Context(), deploy.ScheduleRequest{Release: "v3", Start: start, Length: time.Hour, Platform: "slack", Actor: ana}); err != nil {
		t.Fatal(err)
	}
	out, err := e.Start(t.Context(), deploy.StartRequest{Release: "v3", Env: "production", Channel: "C-team", Platform: "slack", Actor: ana})
	if err != nil {
		t.Fatal(err)
	}
	id := out.Run.ID
	// The waiting phase knows when its window opens.
	if nw := out.Run.Current().NextWindow; nw == nil || !nw.Start.Equal(start) {
		t.Errorf("the waiting phase's next window is %+v, want %v", nw, start)
	}
	f.runUntil(t, start.Add(-time.Minute), time.Minute)
	if got := stepState(t, e, id, "migrate"); got != deploy.StepPending {
		t.Fatalf("before the window the migration is %s, want pending", got)
	}
	f.clk.Set(start)
	f.tick(t)
	if got := stepState(t, e, id, "migrate"); got != deploy.StepRunning {
		t.Fatalf("once the window opened the migration is %s, want running", got)
	}
	// The "window open" notice names the run that was waiting for it.
	if open := f.rec.of(KindOpen); len(open) != 1 || len(open[0].Runs) != 1 || open[0].Runs[0].ID != id {
		t.Errorf("window-open notices %+v, want one naming run %s", open, id)
	}
	items, err := f.store.Pending(t.Context(), deploy.DueKindStep)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 {
		t.Errorf("%d step executions queued, want 1: %+v", len(items), items)
	}
	// A second scan (or another process) does not start it again.
	f.tick(t)
	if items, _ := f.store.Pending(t.Context(), deploy.DueKindStep); len(items) != 1 {
		t.Errorf("%d step executions queued after a second scan, want 1", len(items))
	}
	if got := counter(t, f.reg, "deploybot_scheduler_advances_total", nil); got != 1 {
		t.Errorf("advances counted %v, want 1", got)
	}
}

// A recurring window opens the gate of every environment.
func TestRecurringWindowStartsWaitingPhase(t *testing.T) {
	rb := gatedRunbook()
	rb.Windows = []runbook.RecurringWindow{{Cron: "0 22 * * *", Duration: runbook.Duration(time.Hour), Timezone: "Europe/Berlin"}}
	berlin := mustZone(t, "Europe/Berlin")
	now := time.Date(2030, 6, 3, 21, 50, 0, 0, berlin)
	f := newFixture(t, rb, now)
	e := deploy.NewEngine(deploy.Config{Store: f.store, Runbook: rb, Clock: f.clk, Logger: quiet(), Windows: f.s.Calendar})
	f.rebuild(e, f.rec)
	out, err := e.Start(t.Context(), deploy.StartRequest{Release: "v3", Env: "staging", Channel: "C", Platform: "slack", Actor: ana})
	if err != nil {
		t.Fatal(err)
	}
	f.tick(t)
	if got := stepState(t, e, out.Run.ID, "migrate"); got != deploy.StepPending {
		t.Fatalf("before 22:00 the migration is %s", got)
	}
	f.clk.Set(time.Date(2030, 6, 3, 22, 0, 0, 0, berlin))
	f.tick(t)
	if got := stepState(t, e, out.Run.ID, "migrate"); got != deploy.StepRunning {
		t.Fatalf("at 22:00 the migration is %s, want running", got)
	}
}

// While a run is live, the window warns 15 minutes before it closes; when it
// ends with the production phase still open, a warning names the run. Both once.
func TestClosingAndEndedWarnings(t *testing.T) {
	f, e := engineFixture(t, t0)
	start := t0.Add(10 * time.Minute)
	end := start.Add(time.Hour)
	if _, err := f.s.Schedule(t.Context(), deploy.ScheduleRequest{Release: "v3", Start: start, Length: time.Hour, Platform: "slack", Actor: ana}); err != nil {
		t.Fatal(err)
	}
	out, err := e.Start(t.Context(), deploy.StartRequest{Release: "v3", Env: "production", Channel: "C-team", Platform: "slack", Actor: ana})
	if err != nil {
		t.Fatal(err)
	}
	f.runUntil(t, end.Add(30*time.Minute), time.Minute)

	closing := f.rec.of(KindClosing)
	if len(closing) != 1 {
		t.Fatalf("closing notices = %+v, want 1", closing)
	}
	if c := closing[0]; !c.At.Equal(end.Add(-ClosingLead)) || c.Until != ClosingLead || len(c.Runs) != 1 || c.Runs[0].ID != out.Run.ID ||
		c.Runs[0].Phase != "Production Deployment" {
		t.Errorf("closing notice = %+v", c)
	}
	ended := f.rec.of(KindEnded)
	if len(ended) != 1 {
		t.Fatalf("ended warnings = %+v, want 1", ended)
	}
	if n := ended[0]; !n.At.Equal(end) || len(n.Runs) != 1 || n.Runs[0].ID != out.Run.ID || n.Platform != "slack" || n.Channel != "C-notices" {
		t.Errorf("ended warning = %+v", n)
	}
}

// No closing or ended notices without a live run, nor when another window
// carries on at the end.
func TestNoClosingWarningWhenCovered(t *testing.T) {
	f, e := engineFixture(t, t0)
	start := t0.Add(10 * time.Minute)
	book(t, f.store, deploy.Window{ID: "wfirst", Release: "v3", Start: start, Length: time.Hour, Created: t0})
	book(t, f.store, deploy.Window{ID: "wsecnd", Release: "v3", Start: start.Add(time.Hour), Length: time.Hour, Created: t0})
	if _, err := e.Start(t.Context(), deploy.StartRequest{Release: "v3", Env: "production", Channel: "C-team", Platform: "slack", Actor: ana}); err != nil {
		t.Fatal(err)
	}
	f.runUntil(t, start.Add(90*time.Minute), time.Minute)
	for _, n := range f.rec.all() {
		if (n.Kind == KindClosing || n.Kind == KindEnded) && n.Window.ID == "wfirst" {
			t.Errorf("notice %s about wfirst although wsecnd carries on", n.Kind)
		}
	}
}

// The scheduler's Engine interface is what *deploy.Engine offers.
var _ Engine = (*deploy.Engine)(nil)

// A scan whose store is gone reports an error and the next one works again.
func TestTickReportsStoreErrors(t *testing.T) {
	f := newFixture(t, &runbook.Runbook{}, t0)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := f.s.Tick(ctx); err == nil {
		t.Error("scan with a cancelled context reported no error")
	}
	if err := f.s.Tick(t.Context()); err != nil {
		t.Errorf("next scan: %v", err)
	}
	if got := counter(t, f.reg, "deploybot_scheduler_errors_total", nil); got != 1 {
		t.Errorf("errors counted %v, want 1", got)
	}
}
