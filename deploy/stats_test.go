package deploy_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"deploybot/deploy"
	"deploybot/deploy/boltstore"
	"deploybot/deploy/redisstore"
	"deploybot/internal/clock"
	"deploybot/internal/testkit"
)

// statsBook has manual steps only (no executor needed): a gate before
// production, a production gate, and a follow-up phase that passes by itself.
const statsBook = `
name: api
phases:
  - id: prep
    title: Preparation
    steps:
      - id: check
        title: Checks done
  - id: prod
    title: Production
    production: true
    steps:
      - id: ship
        title: Ship it
  - id: retro
    title: Retrospective
    follow_up: true
    approval: false
    steps:
      - id: notes
        title: Notes written
rollback:
  steps:
    - id: revert
      title: Revert
`

// endings is the real store, recording each change that carries a stats entry.
type endings struct {
	deploy.Store
	mu   sync.Mutex
	seen []deploy.Change
}

func (s *endings) Apply(ctx context.Context, c deploy.Change) error {
	err := s.Store.Apply(ctx, c)
	if err == nil && c.Stats != nil {
		s.mu.Lock()
		s.seen = append(s.seen, c)
		s.mu.Unlock()
	}
	return err
}

// statsStores opens each store kind the index lives in.
func statsStores(t *testing.T) map[string]func(t *testing.T) deploy.Store {
	return map[string]func(t *testing.T) deploy.Store{
		"redis": func(t *testing.T) deploy.Store {
			srv := testkit.Redis(t)
			st, err := redisstore.Open(srv.URL(), srv.Prefix(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
		"bolt": func(t *testing.T) deploy.Store {
			st, err := boltstore.Open(filepath.Join(t.TempDir(), "deploybot.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
}

// TestRunsEndInTheStatsIndex plays four runs through the engine on each
// store with a fake clock (completed with follow-ups, rolled back, aborted,
// completed again) and checks the index the ending transitions wrote and
// the figures computed from it, by hand.
func TestRunsEndInTheStatsIndex(t *testing.T) {
	for name, open := range statsStores(t) {
		t.Run(name, func(t *testing.T) { testRunsEndInTheStatsIndex(t, open(t)) })
	}
}

func testRunsEndInTheStatsIndex(t *testing.T, store deploy.Store) {
	ctx := t.Context()
	rec := &endings{Store: store}
	T := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC) // a Monday
	clk := clock.NewFake(T)
	e := deploy.NewEngine(deploy.Config{Store: rec, Runbook: parseRunbook(t, statsBook), Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	m := time.Minute
	start := func() string {
		t.Helper()
		out, err := e.Start(ctx, deploy.StartRequest{Release: "v1", Env: "production", Channel: "C1", Platform: "slack", Actor: ana})
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		return out.Run.ID
	}
	do := func(after time.Duration, a deploy.Action) *deploy.Run {
		t.Helper()
		clk.Advance(after)
		if a.Actor.ID == "" {
			a.Actor = bob
		}
		out, err := e.Do(ctx, a)
		if err != nil {
			t.Fatalf("%s %s/%s: %v", a.Kind, a.Phase, a.Step, err)
		}
		return out.Run
	}
	approve := func(after time.Duration, id, phase string) *deploy.Run {
		return do(after, deploy.Action{Kind: deploy.ActApprove, RunID: id, Phase: phase})
	}
	done := func(after time.Duration, id, step string) *deploy.Run {
		return do(after, deploy.Action{Kind: deploy.ActDone, RunID: id, Step: step})
	}

	// A: started at T; prep waits from T+10m, approved at T+25m (15m);
	// prod waits from T+45m, approved T+50m (5m): deployed at T+50m.
	a := start()
	done(10*m, a, "check")
	approve(15*m, a, "prep")
	done(20*m, a, "ship")
	if r := approve(5*m, a, "prod"); r.Status != deploy.StatusDeployed {
		t.Fatalf("run A is %s, want deployed", r.Status)
	}
	// Its follow-ups complete it an hour later: no second entry.
	if r := done(time.Hour, a, "notes"); r.Status != deploy.StatusCompleted {
		t.Fatalf("run A is %s after its follow-ups, want completed", r.Status)
	}

	// B: started at T+2h; prep approved 5m after waiting; production
	// reached; rollback at T+2h30m; revert ticked at T+3h: rolled back.
	clk.Set(T.Add(2 * time.Hour))
	b := start()
	done(10*m, b, "check")
	approve(5*m, b, "prep")
	done(10*m, b, "ship")
	do(5*m, deploy.Action{Kind: deploy.ActRollback, RunID: b, Reason: "errors up"})
	if r := done(30*m, b, "revert"); r.Status != deploy.StatusRolledBack {
		t.Fatalf("run B is %s, want rolled back", r.Status)
	}

	// C: started at T+4h, aborted at T+4h15m before production.
	clk.Set(T.Add(4 * time.Hour))
	c := start()
	done(10*m, c, "check")
	do(5*m, deploy.Action{Kind: deploy.ActAbort, RunID: c, Reason: "wrong build"})

	// D: started at T+5h; prep waits 20m, prod waits 10m: deployed at T+5h50m.
	clk.Set(T.Add(5 * time.Hour))
	d := start()
	done(10*m, d, "check")
	approve(20*m, d, "prep")
	done(10*m, d, "ship")
	approve(10*m, d, "prod")

	entries, err := e.StatsSince(ctx, T)
	if err != nil {
		t.Fatal(err)
	}
	waits := func(ws ...time.Duration) []deploy.ApprovalWait {
		out := []deploy.ApprovalWait{{Phase: "prep", Wait: ws[0]}}
		if len(ws) > 1 {
			out = append(out, deploy.ApprovalWait{Phase: "prod", Wait: ws[1]})
		}
		return out
	}
	at := func(d time.Duration) time.Time { return T.Add(d) }
	base := deploy.StatsEntry{Service: "api", Env: "production", Release: "v1"}
	entry := func(id string, out deploy.Status, started, ended time.Duration, prod bool, rollback time.Duration, w []deploy.ApprovalWait) deploy.StatsEntry {
		x := base
		x.RunID, x.Outcome, x.Started, x.Ended, x.Production, x.Waits = id, out, at(started), at(ended), prod, w
		if rollback > 0 {
			x.RollbackAt = at(rollback)
		}
		return x
	}
	h := time.Hour
	want := []deploy.StatsEntry{
		entry(a, deploy.OutcomeCompleted, 0, 50*m, true, 0, waits(15*m, 5*m)),
		entry(b, deploy.OutcomeRolledBack, 2*h, 3*h, true, 2*h+30*m, waits(5*m)),
		entry(c, deploy.OutcomeAborted, 4*h, 4*h+15*m, false, 0, nil),
		entry(d, deploy.OutcomeCompleted, 5*h, 5*h+50*m, true, 0, waits(20*m, 10*m)),
	}
	if !reflect.DeepEqual(entries, want) {
		t.Fatalf("index after four runs:\n got  %+v\n want %+v", entries, want)
	}

	// Replaying an ending change (go-redis resending the script, a retry)
	// changes nothing: the same write id is answered "already applied", a
	// new one conflicts with the run's moved-on rev.
	rec.mu.Lock()
	ends := append([]deploy.Change(nil), rec.seen...)
	rec.mu.Unlock()
	if len(ends) != 4 {
		t.Fatalf("%d changes carried a stats entry, want 4 (one per run)", len(ends))
	}
	for _, ch := range ends {
		if err := store.Apply(ctx, ch); !errors.Is(err, deploy.ErrAlreadyApplied) {
			t.Errorf("replaying the end of %s: %v, want ErrAlreadyApplied", ch.Run.ID, err)
		}
		ch.WriteID = "retry-" + ch.Run.ID
		if err := store.Apply(ctx, ch); !errors.Is(err, deploy.ErrConflict) {
			t.Errorf("retrying the end of %s: %v, want ErrConflict", ch.Run.ID, err)
		}
	}
	if again, err := e.StatsSince(ctx, T); err != nil || !reflect.DeepEqual(again, want) {
		t.Fatalf("index after replays (err %v):\n got  %+v\n want %+v", err, again, want)
	}

	// The figures over the day:
	got := deploy.ComputeStats(entries, deploy.Period("", "", 1, T.Add(24*h)))
	// deployments A and D; leads 50m and 50m: median 50m, p90 = the 2nd = 50m.
	if got.Deployments != 2 || got.Lead != (deploy.Spread{N: 2, Median: 50 * m, P90: 50 * m, Mean: 50 * m}) {
		t.Errorf("deployments %d, lead %+v; want 2, all 50m", got.Deployments, got.Lead)
	}
	// production reached by A, B, D (C aborted before it); failed: B → 1/3.
	if got.Production != 3 || got.Failed != 1 {
		t.Errorf("change failure = %d/%d, want 1/3", got.Failed, got.Production)
	}
	// waits 15 5 5 20 10 → 5 5 10 15 20: median 10m, p90 = the 5th = 20m, mean 55m/5 = 11m.
	if want := (deploy.Spread{N: 5, Median: 10 * m, P90: 20 * m, Mean: 11 * m}); got.Approval != want {
		t.Errorf("approval waits = %+v, want %+v", got.Approval, want)
	}
	// B's rollback started at T+2h30m; D, the next completed run, ended at T+5h50m: 3h20m.
	if want := (deploy.Spread{N: 1, Median: 3*h + 20*m, P90: 3*h + 20*m, Mean: 3*h + 20*m}); got.Restore != want || got.Unrestored != 0 {
		t.Errorf("restore = %+v (%d unrestored), want %+v", got.Restore, got.Unrestored, want)
	}
}

func TestSpreadOf(t *testing.T) {
	s := time.Second
	tests := []struct {
		name string
		in   []time.Duration
		want deploy.Spread
	}{
		{"none", nil, deploy.Spread{}},
		{"one", []time.Duration{7 * s}, deploy.Spread{N: 1, Median: 7 * s, P90: 7 * s, Mean: 7 * s}},
		// 1 2 3 4: median (2+3)/2 = 2.5s; p90 = the ⌈3.6⌉ = 4th = 4s; mean 10/4 = 2.5s.
		{"even", []time.Duration{4 * s, 1 * s, 3 * s, 2 * s}, deploy.Spread{N: 4, Median: 2500 * time.Millisecond, P90: 4 * s, Mean: 2500 * time.Millisecond}},
		// 1…10: median (5+6)/2 = 5.5s; p90 = the ⌈9⌉ = 9th = 9s; mean 55/10 = 5.5s.
		{"ten", []time.Duration{10 * s, 9 * s, 8 * s, 7 * s, 6 * s, 5 * s, 4 * s, 3 * s, 2 * s, 1 * s},
			deploy.Spread{N: 10, Median: 5500 * time.Millisecond, P90: 9 * s, Mean: 5500 * time.Millisecond}},
		// 1 1 100: median 1s; p90 = the ⌈2.7⌉ = 3rd = 100s; mean 34s.
		{"skewed", []time.Duration{100 * s, 1 * s, 1 * s}, deploy.Spread{N: 3, Median: 1 * s, P90: 100 * s, Mean: 34 * s}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := deploy.SpreadOf(tt.in); got != tt.want {
				t.Errorf("SpreadOf(%v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestStatsSayNoData(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC) // a Sunday
	s := deploy.ComputeStats(nil, deploy.Period("api", "production", 30, now))
	if _, ok := s.FailureRate(); ok || s.Runs != 0 || s.Lead.N != 0 || s.Approval.N != 0 || s.Restore.N != 0 || s.PerWeek != 0 {
		t.Errorf("figures without runs = %+v, want none", s)
	}
	// 30 days back from Sunday 29 November is Friday 30 October (W44):
	// weeks W44 … W48 = 5 rows, each empty.
	if len(s.Weeks) != 5 || s.Weeks[0].Label() != "2026-W44" || s.Weeks[4].Label() != "2026-W48" {
		t.Errorf("weeks = %+v, want 2026-W44 … 2026-W48", s.Weeks)
	}
}

func TestStatsEntryOf(t *testing.T) {
	T := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	m := time.Minute
	rb := parseRunbook(t, statsBook) // prep, prod (production), retro (follow-up)
	run := func(status deploy.Status, edit func(*deploy.Run)) deploy.StatsEntry {
		r := &deploy.Run{ID: "r1", Release: "v1", Env: "production", Workspace: "T1", Status: status, Created: T, Updated: T.Add(time.Hour), Runbook: *rb,
			Phases: []deploy.PhaseRun{{ID: "prep"}, {ID: "prod"}, {ID: "retro"}}}
		if edit != nil {
			edit(r)
		}
		return deploy.StatsEntryOf(r)
	}
	t.Run("a deployed run counts as completed when it was deployed, under its runbook's name", func(t *testing.T) {
		e := run(deploy.StatusDeployed, func(r *deploy.Run) {
			r.Ended = T.Add(40 * m)
			r.Phases[0].Started, r.Phases[0].AwaitingSince = T, T.Add(5*m)
			r.Phases[0].Approval = &deploy.Approval{By: bob, At: T.Add(12 * m)}
			r.Phases[1].Started, r.Phases[1].AwaitingSince = T.Add(12*m), T.Add(30*m)
			r.Phases[1].Approval = &deploy.Approval{By: bob, At: T.Add(40 * m)}
		})
		want := deploy.StatsEntry{RunID: "r1", Service: "api", Env: "production", Release: "v1", Workspace: "T1", Outcome: deploy.OutcomeCompleted,
			Started: T, Ended: T.Add(40 * m), Production: true,
			Waits: []deploy.ApprovalWait{{Phase: "prep", Wait: 7 * m}, {Phase: "prod", Wait: 10 * m}}}
		if !reflect.DeepEqual(e, want) {
			t.Errorf("entry:\n got  %+v\n want %+v", e, want)
		}
	})
	t.Run("a run recomputed after its follow-ups gets the entry it was given when deployed", func(t *testing.T) {
		gates := func(r *deploy.Run) {
			r.Ended = T.Add(40 * m)
			r.Phases[0].Started, r.Phases[0].AwaitingSince = T, T.Add(5*m)
			r.Phases[0].Approval = &deploy.Approval{By: bob, At: T.Add(12 * m)}
			r.Phases[1].Started, r.Phases[1].AwaitingSince = T.Add(12*m), T.Add(30*m)
			r.Phases[1].Approval = &deploy.Approval{By: bob, At: T.Add(40 * m)}
		}
		deployed := run(deploy.StatusDeployed, gates)
		completed := run(deploy.StatusCompleted, func(r *deploy.Run) {
			gates(r)
			r.Updated = T.Add(3 * time.Hour)
			r.Phases[2].Started, r.Phases[2].AwaitingSince = T.Add(40*m), T.Add(2*time.Hour)
			r.Phases[2].Approval = &deploy.Approval{By: bob, At: T.Add(3 * time.Hour)} // the follow-up gate
		})
		if !reflect.DeepEqual(completed, deployed) {
			t.Errorf("entry after the follow-ups:\n got  %+v\n want %+v (the one written when it was deployed)", completed, deployed)
		}
	})
	t.Run("gates the bot passed and the rollback phase are no approval waits", func(t *testing.T) {
		e := run(deploy.StatusRolledBack, func(r *deploy.Run) {
			r.Service, r.Ended = "payments", T.Add(time.Hour)
			r.Phases[0].Started, r.Phases[0].AwaitingSince = T, T.Add(5*m)
			r.Phases[0].Approval = &deploy.Approval{By: deploy.System, At: T.Add(5 * m), Reason: "approval: false in this environment"}
			r.Phases[1].Started = T.Add(5 * m)
			r.Rollback = &deploy.RollbackInfo{By: bob, Reason: "errors", FromPhase: "prod", At: T.Add(20 * m)}
			r.Phases = append(r.Phases, deploy.PhaseRun{ID: deploy.RollbackPhaseID, Started: T.Add(20 * m), AwaitingSince: T.Add(30 * m),
				Approval: &deploy.Approval{By: bob, At: T.Add(50 * m)}})
		})
		if e.Service != "payments" || e.Outcome != deploy.OutcomeRolledBack || !e.Production || !e.RollbackAt.Equal(T.Add(20*m)) || len(e.Waits) != 0 {
			t.Errorf("entry %+v: want payments, rolled back, production, rollback at +20m, no waits", e)
		}
	})
	t.Run("an abort before the production phase did not reach it", func(t *testing.T) {
		e := run(deploy.StatusAborted, func(r *deploy.Run) { r.Ended = T.Add(3 * m); r.Phases[0].Started = T })
		if e.Production || e.Outcome != deploy.OutcomeAborted || !e.Ended.Equal(T.Add(3*m)) {
			t.Errorf("entry %+v: want aborted before production", e)
		}
	})
	t.Run("without a production phase a run reached production unless aborted", func(t *testing.T) {
		plain := *rb
		plain.Phases = slices.Clone(rb.Phases)
		plain.Phases[1].Production = false
		for status, want := range map[deploy.Status]bool{deploy.StatusCompleted: true, deploy.StatusRolledBack: true, deploy.StatusAborted: false} {
			if e := run(status, func(r *deploy.Run) { r.Runbook = plain; r.Ended = T.Add(m) }); e.Production != want {
				t.Errorf("%s run of a runbook without a production phase: Production = %v, want %v", status, e.Production, want)
			}
		}
	})
}
