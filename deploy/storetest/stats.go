package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"deploybot/deploy"
)

// The stats index contract: Change.Stats writes one entry per run id in
// the same atomic step as the run, StatsSince reads them by end time.

// statsEntry is an index entry of run id of service api.
func statsEntry(id, env string, outcome deploy.Status, started, ended time.Time) deploy.StatsEntry {
	return deploy.StatsEntry{RunID: id, Service: "api", Env: env, Release: "v1.4.0", Outcome: outcome, Started: started, Ended: ended}
}

// ending returns the change that ends run (created at e.Started, Rev 1)
// with index entry e: the run's second revision, its status e's outcome.
func ending(run *deploy.Run, e deploy.StatsEntry) deploy.Change {
	next := Next(run, func(n *deploy.Run) {
		n.Status, n.Ended, n.Updated = e.Outcome, e.Ended, e.Ended
	})
	c := Update(run, next, "end")
	c.UnlockEnv = true
	c.Stats = &e
	return c
}

// seed creates a run for e and ends it with e as its index entry.
func seed(t *testing.T, s deploy.Store, e deploy.StatsEntry) {
	t.Helper()
	r := SampleRun(e.RunID, e.Env, e.Started)
	apply(t, s, Create(r, false))
	apply(t, s, ending(r, e))
}

func statsSince(t *testing.T, s deploy.Store, since time.Time) []deploy.StatsEntry {
	t.Helper()
	es, err := s.StatsSince(t.Context(), since)
	must(t, err)
	return es
}

func checkEntries(t *testing.T, what string, got []deploy.StatsEntry, want ...deploy.StatsEntry) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func testStatsIndex(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	checkEntries(t, "an empty store's index", statsSince(t, s, time.Time{}))

	r1 := SampleRun("r1", "production", t0)
	apply(t, s, Create(r1, true))
	checkEntries(t, "the index after a start", statsSince(t, s, time.Time{}))

	e1 := statsEntry("r1", "production", deploy.OutcomeRolledBack, t0, t0.Add(2*time.Hour))
	e1.Workspace, e1.Production, e1.RollbackAt = "T0ACME", true, t0.Add(time.Hour)
	e1.Waits = []deploy.ApprovalWait{{Phase: "prepare", Wait: 90 * time.Second}, {Phase: "deploy", Wait: 20 * time.Minute}}
	end := ending(r1, e1)
	apply(t, s, end)
	checkEntries(t, "the index after the run ended", statsSince(t, s, time.Time{}), e1)

	t.Run("a replayed ending change writes no second entry", func(t *testing.T) {
		if err := s.Apply(ctx, end); !errors.Is(err, deploy.ErrAlreadyApplied) {
			t.Fatalf("replay: %v, want ErrAlreadyApplied", err)
		}
		checkEntries(t, "the index after the replay", statsSince(t, s, time.Time{}), e1)
	})
	t.Run("a retry under another write id conflicts and writes nothing", func(t *testing.T) {
		retry := withWriteID(end, "another")
		other := e1
		other.Outcome = deploy.OutcomeCompleted
		retry.Stats = &other
		if err := s.Apply(ctx, retry); !errors.Is(err, deploy.ErrConflict) {
			t.Fatalf("retry: %v, want ErrConflict", err)
		}
		checkEntries(t, "the index after the conflict", statsSince(t, s, time.Time{}), e1)
	})
	t.Run("an entry of another run is refused and nothing is written", func(t *testing.T) {
		cur, err := s.Run(ctx, "r1")
		must(t, err)
		c := Update(cur, Next(cur, nil), "wrong")
		wrong := statsEntry("r9", "production", deploy.OutcomeCompleted, t0, t0)
		c.Stats = &wrong
		if err := s.Apply(ctx, c); err == nil {
			t.Fatal("Apply with the stats entry of another run succeeded")
		}
		got, err := s.Run(ctx, "r1")
		must(t, err)
		equalRun(t, got, cur)
		checkEntries(t, "the index after the refusal", statsSince(t, s, time.Time{}), e1)
	})
	t.Run("writing a run's entry again replaces it", func(t *testing.T) {
		cur, err := s.Run(ctx, "r1")
		must(t, err)
		moved := e1
		moved.Ended = t0.Add(3 * time.Hour)
		c := Update(cur, Next(cur, nil), "again")
		c.Stats = &moved
		apply(t, s, c)
		checkEntries(t, "the index after the second entry", statsSince(t, s, time.Time{}), moved)
		checkEntries(t, "entries since the first entry's end", statsSince(t, s, e1.Ended.Add(time.Millisecond)), moved)
		checkEntries(t, "entries after the second entry's end", statsSince(t, s, moved.Ended.Add(time.Millisecond)))
		e1 = moved
	})
	t.Run("entries come oldest end first, from since on", func(t *testing.T) {
		early := statsEntry("r0", "staging", deploy.OutcomeAborted, t0.Add(-time.Hour), t0.Add(-30*time.Minute))
		late := statsEntry("r2", "staging", deploy.OutcomeCompleted, t0.Add(time.Hour), t0.Add(5*time.Hour))
		same := statsEntry("r3", "staging", deploy.OutcomeCompleted, t0.Add(time.Hour), t0.Add(5*time.Hour))
		for _, e := range []deploy.StatsEntry{late, same, early} {
			seed(t, s, e)
		}
		checkEntries(t, "every entry", statsSince(t, s, time.Time{}), early, e1, late, same)
		checkEntries(t, "since an entry's end (inclusive)", statsSince(t, s, e1.Ended), e1, late, same)
		checkEntries(t, "since just after it", statsSince(t, s, e1.Ended.Add(time.Millisecond)), late, same)
		checkEntries(t, "since after the last end", statsSince(t, s, late.Ended.Add(time.Millisecond)))
	})
}

// testStatsHistory seeds a history of completed, rolled-back and aborted
// runs through Store.Apply and checks the figures computed from the
// entries the store gives back against the arithmetic in the comments.
func testStatsHistory(t *testing.T, s deploy.Store) {
	// t0 is Monday 2030-03-04 10:00 UTC (ISO week 2030-W10). The period is
	// the 14 days from t0: it touches W10, W11 and W12 (Monday 18 March, before 10:00).
	h, d := time.Hour, 24*time.Hour
	m := time.Minute
	wait := func(ds ...time.Duration) []deploy.ApprovalWait {
		out := make([]deploy.ApprovalWait, len(ds))
		for i, w := range ds {
			out[i] = deploy.ApprovalWait{Phase: fmt.Sprintf("gate%d", i), Wait: w}
		}
		return out
	}
	at := func(off time.Duration) time.Time { return t0.Add(off) }
	type ent = deploy.StatsEntry
	ok, rb, ab := deploy.OutcomeCompleted, deploy.OutcomeRolledBack, deploy.OutcomeAborted
	history := []ent{
		// api to production:
		{RunID: "a1", Outcome: ok, Started: at(1 * h), Ended: at(3 * h), Production: true, Waits: wait(10*m, 20*m)},                      // W10, lead 2h
		{RunID: "a2", Outcome: rb, Started: at(d), Ended: at(d + 2*h), Production: true, RollbackAt: at(d + h), Waits: wait(30 * m)},     // W10, failed
		{RunID: "a3", Outcome: ok, Started: at(d + 3*h), Ended: at(d + 7*h), Production: true, Waits: wait(5 * m)},                       // W10, lead 4h; restores a2
		{RunID: "a4", Outcome: ab, Started: at(2 * d), Ended: at(2*d + 30*m)},                                                            // W10, aborted before production
		{RunID: "a5", Outcome: ok, Started: at(8 * d), Ended: at(8*d + h), Production: true, Waits: wait(40 * m)},                        // W11, lead 1h
		{RunID: "a6", Outcome: ab, Started: at(9 * d), Ended: at(9*d + 2*h), Production: true},                                           // W11, failed
		{RunID: "a7", Outcome: rb, Started: at(10 * d), Ended: at(10*d + 90*m), Production: true, RollbackAt: at(10*d + h)},              // W11, failed, not restored
		{RunID: "old", Outcome: ok, Started: at(-3 * h), Ended: at(-h), Production: true},                                                // before the period
		{RunID: "late", Outcome: ok, Started: at(14*d + h), Ended: at(14*d + 2*h), Production: true},                                     // after it
		{RunID: "s1", Env: "staging", Outcome: ok, Started: at(d + 2*h), Ended: at(d + 3*h), Production: true},                           // W10, another env: restores nothing
		{RunID: "b1", Service: "web", Outcome: ok, Started: at(d + 90*m), Ended: at(d + 100*m), Production: true, Waits: wait(3 * h)},    // W10, another service
		{RunID: "b2", Service: "web", Outcome: rb, Started: at(8 * d), Ended: at(8*d + h), Production: true, RollbackAt: at(8*d + 30*m)}, // W11, web, not restored
	}
	for _, e := range history {
		if e.Service == "" {
			e.Service = "api"
		}
		if e.Env == "" {
			e.Env = "production"
		}
		e.Release = "v1"
		seed(t, s, e)
	}
	entries := statsSince(t, s, t0.Add(-d))
	if len(entries) != len(history) {
		t.Fatalf("the index holds %d entries, want the %d seeded", len(entries), len(history))
	}
	got := deploy.ComputeStats(entries, deploy.StatsFilter{Service: "api", Env: "production", From: t0, To: at(14 * d)})

	// Kept: a1 … a7 (old and late are outside the period, s1 and b* are
	// another environment or service).
	if got.Runs != 7 {
		t.Errorf("runs = %d, want 7 (a1…a7)", got.Runs)
	}
	// Deployments: a1, a3, a5 completed = 3; over 14 days = 2 weeks: 3/2 = 1.5 per week.
	if got.Deployments != 3 || got.PerWeek != 1.5 {
		t.Errorf("deployments = %d (%.2f per week), want 3 (1.50 per week)", got.Deployments, got.PerWeek)
	}
	// Change failure rate: reached production a1 a2 a3 a5 a6 a7 = 6 (a4 was
	// aborted before it); rolled back or aborted of those: a2 a6 a7 = 3; 3/6 = 50%.
	if r, ok := got.FailureRate(); got.Production != 6 || got.Failed != 3 || !ok || r != 0.5 {
		t.Errorf("change failure rate = %d/%d (%v, %v), want 3/6 = 0.5", got.Failed, got.Production, r, ok)
	}
	// Lead times (start to completion): a1 2h, a3 4h, a5 1h → sorted 1h 2h 4h:
	// median 2h; p90 = the ⌈0.9·3⌉ = 3rd = 4h; mean 7h/3.
	if want := (deploy.Spread{N: 3, Median: 2 * h, P90: 4 * h, Mean: 7 * h / 3}); got.Lead != want {
		t.Errorf("lead time = %+v, want %+v", got.Lead, want)
	}
	// Approval waits: a1 10m 20m, a2 30m, a3 5m, a5 40m → 5 10 20 30 40:
	// median 20m; p90 = the ⌈0.9·5⌉ = 5th = 40m; mean 105m/5 = 21m.
	if want := (deploy.Spread{N: 5, Median: 20 * m, P90: 40 * m, Mean: 21 * m}); got.Approval != want {
		t.Errorf("approval wait = %+v, want %+v", got.Approval, want)
	}
	// Time to restore: a2's rollback started at d+1h; the next completed api
	// run in production is a3, ended d+7h: 6h (s1 at d+3h is staging, b1 is
	// web). a7 has no completed run after it: 1 unrestored.
	if want := (deploy.Spread{N: 1, Median: 6 * h, P90: 6 * h, Mean: 6 * h}); got.Restore != want || got.Unrestored != 1 {
		t.Errorf("restore = %+v, %d unrestored; want %+v, 1 unrestored", got.Restore, got.Unrestored, want)
	}
	// Weeks: W10 a1 a3 deployed (leads 2h 4h: median 3h), production a1 a2 a3,
	// failed a2; W11 a5 deployed (1h), production a5 a6 a7, failed a6 a7; W12 nothing.
	type week struct {
		label                    string
		deployments, prod, fails int
		median                   time.Duration
	}
	var weeks []week
	for _, w := range got.Weeks {
		weeks = append(weeks, week{w.Label(), w.Deployments, w.Production, w.Failed, w.Lead.Median})
	}
	wantWeeks := []week{{"2030-W10", 2, 3, 1, 3 * h}, {"2030-W11", 1, 3, 2, h}, {"2030-W12", 0, 0, 0, 0}}
	if !reflect.DeepEqual(weeks, wantWeeks) {
		t.Errorf("weeks = %+v, want %+v", weeks, wantWeeks)
	}

	// Every service and environment: a1…a7, s1, b1, b2 = 10 runs; completed
	// a1 a3 a5 s1 b1 = 5; failed a2 a6 a7 b2 = 4 of 9 in production (a4 not).
	// b2 (web) is not restored by a later api or staging run: 2 unrestored.
	all := deploy.ComputeStats(entries, deploy.StatsFilter{From: t0, To: at(14 * d)})
	if all.Runs != 10 || all.Deployments != 5 || all.Failed != 4 || all.Production != 9 || all.Unrestored != 2 || all.Restore.N != 1 {
		t.Errorf("all services: runs %d, deployments %d, failed %d/%d, restores %d, unrestored %d; want 10, 5, 4/9, 1, 2",
			all.Runs, all.Deployments, all.Failed, all.Production, all.Restore.N, all.Unrestored)
	}
}

// testPutStats: PutStats writes index entries for runs stored without
// them (a rebuild), one per run id: writing the same entries again changes
// nothing, a recomputed entry replaces the one there (its end moves in
// StatsSince too), and a batch holding an entry without a run id writes
// nothing.
func testPutStats(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	// Runs ended without an index entry, as an older deploybot stored them.
	var want []deploy.StatsEntry
	for i, st := range []deploy.Status{deploy.StatusCompleted, deploy.StatusRolledBack, deploy.StatusAborted} {
		r := SampleRun(fmt.Sprintf("old%d", i), "production", t0.Add(time.Duration(i)*time.Hour))
		apply(t, s, Create(r, false))
		end := Finish(r, st)
		apply(t, s, Update(r, end, "end"))
		want = append(want, deploy.StatsEntryOf(end))
	}
	checkEntries(t, "the index before the rebuild", statsSince(t, s, time.Time{}))

	must(t, s.PutStats(ctx)) // nothing to write
	must(t, s.PutStats(ctx, want[2], want[0], want[1]))
	checkEntries(t, "the index after the rebuild", statsSince(t, s, time.Time{}), want...)
	must(t, s.PutStats(ctx, want...))
	checkEntries(t, "the index after a second rebuild", statsSince(t, s, time.Time{}), want...)

	t.Run("an entry written again replaces the run's", func(t *testing.T) {
		moved := want[0]
		moved.Ended, moved.Outcome = want[2].Ended.Add(time.Hour), deploy.OutcomeAborted
		must(t, s.PutStats(ctx, moved))
		checkEntries(t, "the index after the replacement", statsSince(t, s, time.Time{}), want[1], want[2], moved)
		checkEntries(t, "entries since just after the old end", statsSince(t, s, want[0].Ended.Add(time.Millisecond)), want[1], want[2], moved)
		checkEntries(t, "entries since the new end", statsSince(t, s, moved.Ended), moved)
		must(t, s.PutStats(ctx, want[0]))
		checkEntries(t, "the index after putting it back", statsSince(t, s, time.Time{}), want...)
	})
	t.Run("a batch with an entry without a run id writes nothing", func(t *testing.T) {
		fresh := statsEntry("new1", "staging", deploy.OutcomeCompleted, t0, t0.Add(10*time.Hour))
		if err := s.PutStats(ctx, fresh, deploy.StatsEntry{Ended: t0}); err == nil {
			t.Fatal("PutStats with an entry without a run id succeeded")
		}
		checkEntries(t, "the index after the refusal", statsSince(t, s, time.Time{}), want...)
	})
	t.Run("entries written by a change and by PutStats are one index", func(t *testing.T) {
		e := statsEntry("live1", "staging", deploy.OutcomeCompleted, t0.Add(-2*time.Hour), t0.Add(-time.Hour))
		seed(t, s, e)
		must(t, s.PutStats(ctx, e))
		checkEntries(t, "the index", statsSince(t, s, time.Time{}), append([]deploy.StatsEntry{e}, want...)...)
	})
}
