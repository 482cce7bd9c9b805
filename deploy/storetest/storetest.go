package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"deploybot/deploy"
)

// Run runs the deploy.Store contract against the stores open returns. open
// is called once per subtest and must return a fresh, empty store that it
// closes when the test ends (t.Cleanup); Close must tolerate a second call.
func Run(t *testing.T, open func(t *testing.T) deploy.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s deploy.Store)
	}{
		{"CreateAndGet", testCreateAndGet},
		{"ApplyConflicts", testApplyConflicts},
		{"RaceFromSameRev", testRaceFromSameRev},
		{"WriteIDReplay", testWriteIDReplay},
		{"LockEnv", testLockEnv},
		{"Freeze", testFreeze},
		{"Runs", testRuns},
		{"RunsDefaultLimit", testRunsDefaultLimit},
		{"AuditOrder", testAuditOrder},
		{"RunIDs", testRunIDs},
		{"DueClaim", testDueClaim},
		{"DueLease", testDueLease},
		{"DueAckAndReplace", testDueAckAndReplace},
		{"DueLeaseLost", testDueLeaseLost},
		{"DueConcurrentClaimers", testDueConcurrentClaimers},
		{"DueInChange", testDueInChange},
		{"DueAckIf", testDueAckIf},
		{"DueHold", testDueHold},
		{"EffectsInChange", testEffectsInChange},
		{"ClaimOnce", testClaimOnce},
		{"ScheduleOnce", testScheduleOnce},
		{"Windows", testWindows},
		{"Messages", testMessages},
		{"FreezeCRUD", testFreezeCRUD},
		{"ServiceLocks", testServiceLocks},
		{"ServiceFreezes", testServiceFreezes},
		{"CurrentVersion", testCurrentVersion},
		{"StatsIndex", testStatsIndex},
		{"StatsHistory", testStatsHistory},
		{"PutStats", testPutStats},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, open(t)) })
	}
}

// RunRestart checks that everything a store keeps survives closing it:
// it writes a run with its audit log and lock, a window, a freeze, a claimed
// due item, a message reference, a once-key and a write id through the store
// open returns, closes it, and reads them all back through reopen's.
func RunRestart(t *testing.T, open func(t *testing.T) deploy.Store, reopen func(t *testing.T) deploy.Store) {
	ctx := t.Context()
	s := open(t)

	r1 := SampleRun("r1", "production", t0)
	apply(t, s, Create(r1, true))
	r2 := Next(r1, func(r *deploy.Run) { r.Phases[0].Steps[0].State = deploy.StepDone })
	ch2 := Update(r1, r2, "step.done")
	apply(t, s, ch2)
	done := Finish(SampleRun("r0", "staging", t0.Add(-time.Hour)), deploy.StatusCompleted)
	done.Rev = 1
	doneEntry := deploy.StatsEntryOf(done)
	createDone := Create(done, false)
	createDone.Stats = &doneEntry
	apply(t, s, createDone)
	w := sampleWindow("w1", t0.Add(time.Hour))
	must(t, s.PutWindow(ctx, w))
	fz := deploy.Freeze{Env: "staging", By: alice(), Reason: "quarter close", At: t0}
	must(t, s.SetFreeze(ctx, fz))
	svcFz := deploy.Freeze{Env: "production", Service: "search", By: alice(), Reason: "reindex", At: t0}
	must(t, s.SetFreeze(ctx, svcFz))
	pay := Service("pay", "payments", "production", t0)
	apply(t, s, Create(pay, true))
	payDone := Finish(pay, deploy.StatusCompleted)
	payCh := Update(pay, payDone, "complete")
	payCh.UnlockEnv, payCh.SetCurrent = true, true
	apply(t, s, payCh)
	must(t, s.Schedule(ctx, deploy.DueItem{ID: "step:r1:backup", Kind: "step", Due: t0, Payload: `{"run":"r1"}`}))
	claimed, err := s.Claim(ctx, "step", t0, time.Minute, 10)
	must(t, err)
	if len(claimed) != 1 {
		t.Fatalf("claimed %d items before the restart, want 1", len(claimed))
	}
	must(t, s.SetMessage(ctx, "r1", "slack:summary", "C0DEPLOY/1700000000.000100"))
	first, err := s.ClaimOnce(ctx, "reminder:w1:1h", time.Hour)
	must(t, err)
	if !first {
		t.Fatal("first ClaimOnce = false")
	}
	must(t, s.Close())

	s = reopen(t)
	got, err := s.Run(ctx, "r1")
	must(t, err)
	equalRun(t, got, r2)
	checkAudit(t, s, "r1", "start", "step.done")
	live, err := s.Runs(ctx, deploy.RunFilter{Live: true})
	must(t, err)
	checkRunIDs(t, "live runs", live, "r1")
	finished, err := s.Runs(ctx, deploy.RunFilter{})
	must(t, err)
	checkRunIDs(t, "finished runs", finished, "pay", "r0")
	holder, err := s.EnvHolder(ctx, "", "production")
	must(t, err)
	if holder != "r1" {
		t.Errorf("EnvHolder(production) = %q after the restart, want r1", holder)
	}
	checkEntries(t, "the stats index after the restart", statsSince(t, s, time.Time{}), doneEntry)
	ws, err := s.Windows(ctx, t0)
	must(t, err)
	if len(ws) != 1 || !reflect.DeepEqual(ws[0], w) {
		t.Errorf("Windows after the restart = %+v, want [%+v]", ws, w)
	}
	gotFz, err := s.GetFreeze(ctx, "staging", "")
	must(t, err)
	if !reflect.DeepEqual(*gotFz, fz) {
		t.Errorf("GetFreeze after the restart = %+v, want %+v", *gotFz, fz)
	}
	gotFz, err = s.GetFreeze(ctx, "production", "search")
	must(t, err)
	if !reflect.DeepEqual(*gotFz, svcFz) {
		t.Errorf("GetFreeze(production, search) after the restart = %+v, want %+v", *gotFz, svcFz)
	}
	if v, err := s.CurrentVersion(ctx, "payments", "production"); err != nil || v != "v1.4.0" {
		t.Errorf("CurrentVersion(payments, production) after the restart = %q, %v; want v1.4.0", v, err)
	}
	pending, err := s.Pending(ctx, "step")
	must(t, err)
	checkItems(t, "pending after the restart", pending, []deploy.DueItem{
		{ID: "step:r1:backup", Kind: "step", Due: t0, Payload: `{"run":"r1"}`, Claims: 1, LeaseUntil: t0.Add(time.Minute)},
	})
	msgs, err := s.Messages(ctx, "r1")
	must(t, err)
	if want := map[string]string{"slack:summary": "C0DEPLOY/1700000000.000100"}; !reflect.DeepEqual(msgs, want) {
		t.Errorf("Messages after the restart = %v, want %v", msgs, want)
	}
	again, err := s.ClaimOnce(ctx, "reminder:w1:1h", time.Hour)
	must(t, err)
	if again {
		t.Error("ClaimOnce after the restart = true; the key was claimed before it")
	}
	if err := s.Apply(ctx, ch2); !errors.Is(err, deploy.ErrAlreadyApplied) {
		t.Errorf("replaying a write id after the restart: %v, want ErrAlreadyApplied", err)
	}
}

// --- runs and transitions ---

func testCreateAndGet(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	if _, err := s.Run(ctx, "r1"); !errors.Is(err, deploy.ErrNotFound) {
		t.Fatalf("Run of a missing id: %v, want ErrNotFound", err)
	}
	r := SampleRun("r1", "production", t0)
	apply(t, s, Create(r, false))
	got, err := s.Run(ctx, "r1")
	must(t, err)
	equalRun(t, got, r)

	r2 := Next(r, func(n *deploy.Run) {
		n.Phases[0].Steps[0] = deploy.StepRun{ID: "announce", State: deploy.StepDone, By: ptr(alice()), At: n.Updated}
	})
	apply(t, s, Update(r, r2, "step.done"))
	got, err = s.Run(ctx, "r1")
	must(t, err)
	equalRun(t, got, r2)
}

func testApplyConflicts(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	r1 := SampleRun("r1", "production", t0)
	apply(t, s, Create(r1, false))
	r2 := Next(r1, nil)
	apply(t, s, Update(r1, r2, "one"))
	r3 := Next(r2, nil)

	tests := []struct {
		name         string
		change       deploy.Change
		wantConflict bool // else: any error
	}{
		{name: "create an existing run", change: withWriteID(Create(SampleRun("r1", "production", t0), false), "recreate"), wantConflict: true},
		{name: "prev rev behind", change: deploy.Change{Run: Next(r1, nil), PrevRev: 1, WriteID: "behind"}, wantConflict: true},
		{name: "prev rev ahead", change: deploy.Change{Run: Next(r3, nil), PrevRev: 3, WriteID: "ahead"}, wantConflict: true},
		{name: "update a missing run", change: deploy.Change{Run: Next(SampleRun("r9", "production", t0), nil), PrevRev: 1, WriteID: "missing"}, wantConflict: true},
		{name: "rev does not follow prev rev", change: deploy.Change{Run: Next(r3, nil), PrevRev: 2, WriteID: "skip"}},
		{name: "no run", change: deploy.Change{PrevRev: 2, WriteID: "nil"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.change
			c.Audit = append(c.Audit, deploy.AuditEntry{RunID: "r1", Action: "must-not-appear"})
			err := s.Apply(ctx, c)
			switch {
			case err == nil:
				t.Fatal("Apply succeeded")
			case tt.wantConflict && !errors.Is(err, deploy.ErrConflict):
				t.Fatalf("Apply: %v, want ErrConflict", err)
			}
			got, err := s.Run(ctx, "r1")
			must(t, err)
			equalRun(t, got, r2)
			checkAudit(t, s, "r1", "start", "one")
			if _, err := s.Run(ctx, "r9"); !errors.Is(err, deploy.ErrNotFound) {
				t.Errorf("run r9: %v, want ErrNotFound", err)
			}
		})
	}
	// A refused change leaves its write id unused: the writer that re-reads
	// the run and tries again with it (as the engine does after a conflict)
	// is applied, not answered "already applied".
	apply(t, s, withWriteID(Update(r2, r3, "retried"), "behind"))
	got, err := s.Run(ctx, "r1")
	must(t, err)
	equalRun(t, got, r3)
}

func testRaceFromSameRev(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	r1 := SampleRun("r1", "production", t0)
	apply(t, s, Create(r1, false))

	const n = 32
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			next := Next(r1, func(r *deploy.Run) { r.Phases[0].Steps[0].Result = fmt.Sprint(i) })
			errs[i] = s.Apply(ctx, Update(r1, next, fmt.Sprintf("racer-%d", i)))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("racers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, deploy.ErrConflict):
			t.Errorf("racer %d: %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no racer won")
	}
	got, err := s.Run(ctx, "r1")
	must(t, err)
	if got.Rev != 2 || got.Phases[0].Steps[0].Result != fmt.Sprint(winner) {
		t.Errorf("stored run has rev %d and result %q, want rev 2 written by racer %d", got.Rev, got.Phases[0].Steps[0].Result, winner)
	}
	checkAudit(t, s, "r1", "start", fmt.Sprintf("racer-%d", winner))
}

func testWriteIDReplay(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	r1 := SampleRun("r1", "production", t0)
	create := Create(r1, true)
	apply(t, s, create)
	r2 := Next(r1, nil)
	update := Update(r1, r2, "step.done")
	update.Schedule = []deploy.DueItem{{ID: "step:r1", Kind: "step", Due: t0}}
	apply(t, s, update)
	// The item is claimed meanwhile: a replay must not reschedule it.
	if _, err := s.Claim(ctx, "step", t0, time.Minute, 1); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		change deploy.Change
	}{
		{"replayed create", create},
		{"replayed update", update},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Apply(ctx, tt.change); !errors.Is(err, deploy.ErrAlreadyApplied) {
				t.Fatalf("replay: %v, want ErrAlreadyApplied", err)
			}
			got, err := s.Run(ctx, "r1")
			must(t, err)
			equalRun(t, got, r2)
			checkAudit(t, s, "r1", "start", "step.done")
			pending, err := s.Pending(ctx, "step")
			must(t, err)
			if len(pending) != 1 || pending[0].Claims != 1 {
				t.Errorf("pending after replay = %+v, want the one claimed item", pending)
			}
		})
	}
}

func testLockEnv(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	holder := func(env, want string) {
		t.Helper()
		got, err := s.EnvHolder(ctx, "", env)
		must(t, err)
		if got != want {
			t.Errorf("EnvHolder(%s) = %q, want %q", env, got, want)
		}
	}
	refused := func(c deploy.Change, wantHolder string) {
		t.Helper()
		err := s.Apply(ctx, c)
		var le *deploy.LockedError
		if !errors.As(err, &le) || !errors.Is(err, deploy.ErrEnvLocked) {
			t.Fatalf("Apply: %v, want *LockedError", err)
		}
		if le.Env != c.Run.Env || le.RunID != wantHolder {
			t.Errorf("LockedError = %+v, want env %s held by %s", *le, c.Run.Env, wantHolder)
		}
		if _, err := s.Run(ctx, c.Run.ID); !errors.Is(err, deploy.ErrNotFound) {
			t.Errorf("refused run %s was written (Run: %v)", c.Run.ID, err)
		}
		checkAudit(t, s, c.Run.ID)
	}

	holder("production", "")
	a1 := SampleRun("a", "production", t0)
	apply(t, s, Create(a1, true))
	holder("production", "a")

	t.Run("second live run is refused and nothing is written", func(t *testing.T) {
		b := Create(SampleRun("b", "production", t0.Add(time.Minute)), true)
		b.Schedule = []deploy.DueItem{{ID: "step:b", Kind: "step", Due: t0}}
		refused(b, "a")
		live, err := s.Runs(ctx, deploy.RunFilter{Live: true})
		must(t, err)
		checkRunIDs(t, "live runs", live, "a")
		pending, err := s.Pending(ctx, "step")
		must(t, err)
		checkItems(t, "pending", pending, nil)
		// A refused change leaves its write id unused.
		b.LockEnv = false
		b.Run.Env = "staging"
		apply(t, s, b)
	})
	t.Run("other environments are independent", func(t *testing.T) {
		apply(t, s, Create(SampleRun("c", "eu-production", t0), true))
		holder("eu-production", "c")
		holder("production", "a")
	})
	t.Run("the holder may lock again", func(t *testing.T) {
		a2 := Next(a1, nil)
		c := Update(a1, a2, "relock")
		c.LockEnv = true
		apply(t, s, c)
		holder("production", "a")
		a1 = a2
	})
	t.Run("unlock by a run that does not hold the lock keeps it", func(t *testing.T) {
		d := SampleRun("d", "production", t0)
		apply(t, s, Create(d, false))
		c := Update(d, Finish(d, deploy.StatusAborted), "abort")
		c.UnlockEnv = true
		apply(t, s, c)
		holder("production", "a")
	})
	t.Run("after the holder finishes with UnlockEnv a new run locks", func(t *testing.T) {
		a2 := Finish(a1, deploy.StatusCompleted)
		c := Update(a1, a2, "complete")
		c.UnlockEnv = true
		apply(t, s, c)
		holder("production", "")
		e := SampleRun("e", "production", t0.Add(time.Hour))
		apply(t, s, Create(e, true))
		holder("production", "e")
		refused(Create(SampleRun("f", "production", t0), true), "e")
	})
	t.Run("a lock left by a finished run is taken over", func(t *testing.T) {
		c := SampleRun("c2", "eu-production", t0)
		refused(Create(c, true), "c")
		cur, err := s.Run(ctx, "c")
		must(t, err)
		apply(t, s, Update(cur, Finish(cur, deploy.StatusRolledBack), "rolled-back")) // no UnlockEnv
		holder("eu-production", "")
		apply(t, s, Create(c, true))
		holder("eu-production", "c2")
	})
}

func testFreeze(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	fz := deploy.Freeze{Env: "production", By: alice(), Reason: "incident 42", At: t0}
	must(t, s.SetFreeze(ctx, fz))

	r := SampleRun("r1", "production", t0)
	err := s.Apply(ctx, Create(r, true))
	var fe *deploy.FrozenError
	if !errors.As(err, &fe) || !errors.Is(err, deploy.ErrFrozen) {
		t.Fatalf("Apply to a frozen env: %v, want *FrozenError", err)
	}
	if !reflect.DeepEqual(fe.Freeze, fz) {
		t.Errorf("FrozenError.Freeze = %+v, want %+v", fe.Freeze, fz)
	}
	if _, err := s.Run(ctx, "r1"); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("run in a frozen env was written (Run: %v)", err)
	}
	checkAudit(t, s, "r1")
	holder, err := s.EnvHolder(ctx, "", "production")
	must(t, err)
	if holder != "" {
		t.Errorf("EnvHolder = %q, want none", holder)
	}

	apply(t, s, Create(SampleRun("s1", "staging", t0), true)) // another env is not frozen

	must(t, s.DeleteFreeze(ctx, "production", ""))
	apply(t, s, Create(r, true))
}

func testRuns(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	// Live: b created before a; finished: ended c < e < d.
	create := func(id string, created time.Time, st deploy.Status, ended time.Time) {
		t.Helper()
		r := SampleRun(id, "env-"+id, created)
		apply(t, s, Create(r, true))
		if st.Live() {
			return
		}
		f := Next(r, func(n *deploy.Run) { n.Status, n.Ended = st, ended })
		c := Update(r, f, string(st))
		c.UnlockEnv = true
		apply(t, s, c)
	}
	create("a", t0.Add(time.Minute), deploy.StatusActive, time.Time{})
	create("b", t0, deploy.StatusRollingBack, time.Time{})
	create("c", t0, deploy.StatusCompleted, t0.Add(5*time.Minute))
	create("d", t0, deploy.StatusAborted, t0.Add(10*time.Minute))
	create("e", t0, deploy.StatusRolledBack, t0.Add(7*time.Minute))

	tests := []struct {
		name   string
		filter deploy.RunFilter
		want   []string
	}{
		{"live by creation time", deploy.RunFilter{Live: true}, []string{"b", "a"}},
		{"live ignores the limit", deploy.RunFilter{Live: true, Limit: 1}, []string{"b", "a"}},
		{"finished newest first", deploy.RunFilter{}, []string{"d", "e", "c"}},
		{"finished with a limit", deploy.RunFilter{Limit: 2}, []string{"d", "e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Runs(ctx, tt.filter)
			must(t, err)
			checkRunIDs(t, "runs", got, tt.want...)
		})
	}

	t.Run("a run that finishes leaves the live list", func(t *testing.T) {
		a, err := s.Run(ctx, "a")
		must(t, err)
		apply(t, s, Update(a, Next(a, func(n *deploy.Run) { n.Status, n.Ended = deploy.StatusCompleted, t0.Add(time.Hour) }), "complete"))
		live, err := s.Runs(ctx, deploy.RunFilter{Live: true})
		must(t, err)
		checkRunIDs(t, "live runs", live, "b")
		done, err := s.Runs(ctx, deploy.RunFilter{Limit: 1})
		must(t, err)
		if len(done) != 1 || done[0].ID != "a" || done[0].Status != deploy.StatusCompleted {
			t.Errorf("newest finished run = %+v, want a, completed", done)
		}
	})
}

func testRunsDefaultLimit(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	var want []string
	for i := range 12 {
		r := SampleRun(fmt.Sprintf("r%02d", i), "staging", t0)
		apply(t, s, Create(r, false))
		apply(t, s, Update(r, Next(r, func(n *deploy.Run) {
			n.Status, n.Ended = deploy.StatusCompleted, t0.Add(time.Duration(i)*time.Minute)
		}), "complete"))
		want = append([]string{r.ID}, want...)
	}
	got, err := s.Runs(ctx, deploy.RunFilter{})
	must(t, err)
	checkRunIDs(t, "finished runs", got, want[:10]...)
}

func testAuditOrder(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	r := SampleRun("r1", "production", t0)
	apply(t, s, Create(r, false))
	actions := []string{"start"}
	for i := range 5 {
		n := Next(r, nil)
		c := Update(r, n, fmt.Sprintf("a%d", i))
		c.Audit = append(c.Audit, Entry(n, fmt.Sprintf("a%d-extra", i)))
		apply(t, s, c)
		actions = append(actions, fmt.Sprintf("a%d", i), fmt.Sprintf("a%d-extra", i))
		r = n
	}
	checkAudit(t, s, "r1", actions...)
	got, err := s.Audit(ctx, "r1")
	must(t, err)
	if want := Entry(r, "a4-extra"); !reflect.DeepEqual(got[len(got)-1], want) {
		t.Errorf("last audit entry = %+v, want %+v", got[len(got)-1], want)
	}
	checkAudit(t, s, "nobody")
}

// --- due queue ---

func item(id, kind string, due time.Time) deploy.DueItem {
	return deploy.DueItem{ID: id, Kind: kind, Due: due, Payload: `{"id":"` + id + `"}`}
}

func testDueClaim(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	must(t, s.Schedule(ctx,
		item("a", "step", t0),
		item("b", "step", t0.Add(time.Minute)),
		item("c", "step", t0.Add(-time.Minute)),
		item("r", "reminder", t0.Add(-time.Hour)),
	))
	lease := 30 * time.Second

	steps := []struct {
		name string
		kind string
		now  time.Time
		max  int
		want []deploy.DueItem
	}{
		{"before anything is due", "step", t0.Add(-2 * time.Minute), 10, nil},
		{"max limits a claim, earliest due first", "step", t0, 1, []deploy.DueItem{claimedAs(item("c", "step", t0.Add(-time.Minute)), 1, t0.Add(lease))}},
		{"due exactly now is claimable", "step", t0, 10, []deploy.DueItem{claimedAs(item("a", "step", t0), 1, t0.Add(lease))}},
		{"leased items are not claimed again", "step", t0.Add(lease), 10, nil},
		{"max 0 claims nothing", "reminder", t0, 0, nil},
		{"kinds are separate", "reminder", t0, 10, []deploy.DueItem{claimedAs(item("r", "reminder", t0.Add(-time.Hour)), 1, t0.Add(lease))}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got, err := s.Claim(ctx, st.kind, st.now, lease, st.max)
			must(t, err)
			checkClaimed(t, got, st.want)
		})
	}

	pending, err := s.Pending(ctx, "step")
	must(t, err)
	checkItems(t, "pending", pending, []deploy.DueItem{
		claimedAs(item("c", "step", t0.Add(-time.Minute)), 1, t0.Add(lease)),
		claimedAs(item("a", "step", t0), 1, t0.Add(lease)),
		item("b", "step", t0.Add(time.Minute)),
	})
}

func claimedAs(it deploy.DueItem, claims int, until time.Time) deploy.DueItem {
	it.Claims, it.LeaseUntil = claims, until
	return it
}

func testDueLease(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	lease := 30 * time.Second
	must(t, s.Schedule(ctx, item("a", "step", t0), item("b", "step", t0)))
	got, err := s.Claim(ctx, "step", t0, lease, 10)
	must(t, err)
	if len(got) != 2 {
		t.Fatalf("claimed %d items, want 2", len(got))
	}
	must(t, s.Extend(ctx, "b", t0.Add(2*time.Minute)))

	steps := []struct {
		name string
		now  time.Time
		want []deploy.DueItem
	}{
		{"a lease ending exactly now still holds", t0.Add(lease), nil},
		{"an expired lease is claimed again", t0.Add(lease + time.Second), []deploy.DueItem{claimedAs(item("a", "step", t0), 2, t0.Add(2*lease+time.Second))}},
		{"an extended lease holds past the first expiry", t0.Add(time.Minute), nil},
		{"an extended lease expires at its new end", t0.Add(2*time.Minute + time.Second), []deploy.DueItem{
			claimedAs(item("a", "step", t0), 3, t0.Add(2*time.Minute+time.Second+lease)),
			claimedAs(item("b", "step", t0), 2, t0.Add(2*time.Minute+time.Second+lease)),
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got, err := s.Claim(ctx, "step", st.now, lease, 10)
			must(t, err)
			checkClaimed(t, got, st.want)
		})
	}
	if err := s.Extend(ctx, "nope", t0); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("Extend of a missing item: %v, want ErrNotFound", err)
	}
}

func testDueAckAndReplace(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	must(t, s.Schedule(ctx, item("a", "step", t0), item("b", "step", t0)))
	_, err := s.Claim(ctx, "step", t0, time.Minute, 10)
	must(t, err)

	must(t, s.Ack(ctx, "a"))
	must(t, s.Ack(ctx, "a")) // acking twice is harmless
	if err := s.Extend(ctx, "a", t0.Add(time.Hour)); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("Extend of an acked item: %v, want ErrNotFound", err)
	}

	// Rescheduling a claimed item replaces it and clears its lease.
	replaced := item("b", "step", t0.Add(time.Hour))
	replaced.Payload = "v2"
	must(t, s.Schedule(ctx, replaced))
	pending, err := s.Pending(ctx, "step")
	must(t, err)
	checkItems(t, "pending", pending, []deploy.DueItem{replaced})

	// Rescheduling under another kind moves it.
	moved := item("b", "reminder", t0)
	must(t, s.Schedule(ctx, moved))
	for kind, want := range map[string][]deploy.DueItem{"step": nil, "reminder": {moved}} {
		got, err := s.Pending(ctx, kind)
		must(t, err)
		checkItems(t, "pending "+kind, got, want)
	}
	got, err := s.Claim(ctx, "step", t0.Add(2*time.Hour), time.Minute, 10)
	must(t, err)
	checkClaimed(t, got, nil)
}

// ClaimExtender is implemented by stores that fence lease renewals with the
// claim a worker holds (see redisstore.Store.ExtendClaim).
type ClaimExtender interface {
	ExtendClaim(ctx context.Context, id string, claims int, until time.Time) error
}

// A worker that lost its item (rescheduled, or its lease ran out and
// another worker claimed it) must learn so when it renews, and its renewal
// must change nothing: it must not lease a rescheduled item (which would
// hide it from every claimer) nor stretch the new holder's lease.
func testDueLeaseLost(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	lease := 30 * time.Second
	must(t, s.Schedule(ctx, item("a", "step", t0), item("b", "step", t0)))
	first, err := s.Claim(ctx, "step", t0, lease, 10)
	must(t, err)
	if len(first) != 2 {
		t.Fatalf("claimed %d items, want 2", len(first))
	}

	t.Run("a rescheduled item is not renewed", func(t *testing.T) {
		must(t, s.Schedule(ctx, item("a", "step", t0)))
		if err := s.Extend(ctx, "a", t0.Add(time.Hour)); !errors.Is(err, deploy.ErrNotFound) {
			t.Errorf("Extend of a rescheduled item: %v, want ErrNotFound", err)
		}
		got, err := s.Claim(ctx, "step", t0, lease, 10)
		must(t, err)
		checkClaimed(t, got, []deploy.DueItem{claimedAs(item("a", "step", t0), 1, t0.Add(lease))})
	})

	ce, ok := s.(ClaimExtender)
	if !ok {
		return
	}
	t.Run("a claim taken over by another worker is not renewed by the old holder", func(t *testing.T) {
		late := t0.Add(lease + time.Second)
		second, err := s.Claim(ctx, "step", late, lease, 10)
		must(t, err)
		checkClaimed(t, second, []deploy.DueItem{
			claimedAs(item("a", "step", t0), 2, late.Add(lease)),
			claimedAs(item("b", "step", t0), 2, late.Add(lease)),
		})
		if err := ce.ExtendClaim(ctx, "b", 1, late.Add(time.Hour)); !errors.Is(err, deploy.ErrNotFound) {
			t.Errorf("ExtendClaim by the old holder: %v, want ErrNotFound", err)
		}
		must(t, ce.ExtendClaim(ctx, "b", 2, late.Add(2*lease)))
		pending, err := s.Pending(ctx, "step")
		must(t, err)
		checkItems(t, "pending", pending, []deploy.DueItem{
			claimedAs(item("a", "step", t0), 2, late.Add(lease)),
			claimedAs(item("b", "step", t0), 2, late.Add(2*lease)),
		})
		must(t, s.Ack(ctx, "b"))
		if err := ce.ExtendClaim(ctx, "b", 2, late.Add(time.Hour)); !errors.Is(err, deploy.ErrNotFound) {
			t.Errorf("ExtendClaim of an acked item: %v, want ErrNotFound", err)
		}
	})
}

func testDueConcurrentClaimers(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	const items, claimers = 24, 8
	var all []deploy.DueItem
	for i := range items {
		all = append(all, item(fmt.Sprintf("i%02d", i), "step", t0.Add(time.Duration(i)*time.Millisecond)))
	}
	must(t, s.Schedule(ctx, all...))

	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	for range claimers {
		wg.Go(func() {
			for {
				got, err := s.Claim(ctx, "step", t0.Add(time.Second), time.Hour, 2)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, it := range got {
					seen[it.ID]++
					if it.Claims != 1 {
						t.Errorf("item %s claimed with Claims %d, want 1", it.ID, it.Claims)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != items {
		t.Errorf("%d distinct items claimed, want %d", len(seen), items)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("item %s claimed %d times, want once", id, n)
		}
	}
}

func testDueInChange(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	r1 := SampleRun("r1", "production", t0)
	c := Create(r1, false)
	c.Schedule = []deploy.DueItem{item("step:r1:announce", "step", t0), item("remind:r1", "reminder", t0.Add(time.Hour))}
	apply(t, s, c)

	r2 := Next(r1, nil)
	t.Run("a conflicting change schedules and cancels nothing", func(t *testing.T) {
		bad := Update(r1, r2, "stale")
		bad.PrevRev = 5
		bad.Run = Next(r2, nil)
		bad.Run.Rev = 6
		bad.Schedule = []deploy.DueItem{item("step:r1:backup", "step", t0)}
		bad.Cancel = []string{"step:r1:announce"}
		if err := s.Apply(ctx, bad); !errors.Is(err, deploy.ErrConflict) {
			t.Fatalf("Apply: %v, want ErrConflict", err)
		}
		got, err := s.Pending(ctx, "step")
		must(t, err)
		checkItems(t, "pending steps", got, []deploy.DueItem{item("step:r1:announce", "step", t0)})
	})
	t.Run("a change cancels and schedules with the run write", func(t *testing.T) {
		ok := Update(r1, r2, "step.done")
		ok.Cancel = []string{"step:r1:announce", "never-scheduled"}
		ok.Schedule = []deploy.DueItem{item("step:r1:backup", "step", t0.Add(time.Minute))}
		apply(t, s, ok)
		got, err := s.Pending(ctx, "step")
		must(t, err)
		checkItems(t, "pending steps", got, []deploy.DueItem{item("step:r1:backup", "step", t0.Add(time.Minute))})
		rem, err := s.Pending(ctx, "reminder")
		must(t, err)
		checkItems(t, "pending reminders", rem, []deploy.DueItem{item("remind:r1", "reminder", t0.Add(time.Hour))})
	})
}

// --- once-keys, windows, messages, freezes ---

func testClaimOnce(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	steps := []struct {
		name string
		key  string
		want bool
	}{
		{"first claim", "reminder:w1:24h", true},
		{"second claim", "reminder:w1:24h", false},
		{"another key", "reminder:w1:1h", true},
	}
	for _, st := range steps {
		got, err := s.ClaimOnce(ctx, st.key, time.Hour)
		must(t, err)
		if got != st.want {
			t.Errorf("%s: ClaimOnce(%s) = %v, want %v", st.name, st.key, got, st.want)
		}
	}

	const n = 16
	wins := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ok, err := s.ClaimOnce(ctx, "post:r1:summary", time.Hour)
			if err != nil {
				t.Error(err)
			}
			wins[i] = ok
		})
	}
	wg.Wait()
	count := 0
	for _, w := range wins {
		if w {
			count++
		}
	}
	if count != 1 {
		t.Errorf("%d of %d concurrent ClaimOnce calls won, want exactly 1", count, n)
	}
}

func sampleWindow(id string, start time.Time) deploy.Window {
	return deploy.Window{ID: id, Release: "v1.4.0", Env: "production", Start: start, Length: 2 * time.Hour,
		Zone: "Europe/Berlin", Channel: "C0DEPLOY", Platform: "slack", By: alice(), Created: t0.Add(-24 * time.Hour)}
}

func testWindows(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	past := sampleWindow("past", t0.Add(-3*time.Hour))    // ends t0-1h
	edge := sampleWindow("edge", t0.Add(-2*time.Hour))    // ends exactly t0
	late := sampleWindow("late", t0.Add(time.Hour))       // ends t0+3h
	open := sampleWindow("open", t0.Add(-90*time.Minute)) // ends t0+30m
	for _, w := range []deploy.Window{past, edge, late, open} {
		must(t, s.PutWindow(ctx, w))
	}
	check := func(after time.Time, want ...deploy.Window) {
		t.Helper()
		got, err := s.Windows(ctx, after)
		must(t, err)
		if len(got) == 0 && len(want) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Windows(%s) = %s, want %s", after.Format(time.RFC3339), windowIDs(got), windowIDs(want))
		}
	}
	check(t0, open, late)
	check(t0.Add(-time.Millisecond), edge, open, late)
	check(t0.Add(-24*time.Hour), past, edge, open, late)
	check(t0.Add(4 * time.Hour))

	moved := late
	moved.Start = t0.Add(-4 * time.Hour) // ends t0-2h
	must(t, s.PutWindow(ctx, moved))
	check(t0, open)

	must(t, s.DeleteWindow(ctx, "open"))
	check(t0)
	if err := s.DeleteWindow(ctx, "open"); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("DeleteWindow of a missing window: %v, want ErrNotFound", err)
	}
}

func windowIDs(ws []deploy.Window) []string {
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.ID
	}
	return ids
}

func testMessages(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	got, err := s.Messages(ctx, "r1")
	must(t, err)
	if len(got) != 0 {
		t.Errorf("Messages of a run without any = %v", got)
	}
	must(t, s.SetMessage(ctx, "r1", "slack:summary", "C1/1.1"))
	must(t, s.SetMessage(ctx, "r1", "slack:phase:prepare", "C1/1.2"))
	must(t, s.SetMessage(ctx, "r1", "slack:summary", "C1/1.3"))
	must(t, s.SetMessage(ctx, "r2", "discord:summary", "123/456"))
	got, err = s.Messages(ctx, "r1")
	must(t, err)
	if want := map[string]string{"slack:summary": "C1/1.3", "slack:phase:prepare": "C1/1.2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Messages(r1) = %v, want %v", got, want)
	}
}

func testFreezeCRUD(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	if _, err := s.GetFreeze(ctx, "production", ""); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("GetFreeze without a freeze: %v, want ErrNotFound", err)
	}
	first := deploy.Freeze{Env: "production", By: alice(), Reason: "incident", At: t0}
	second := deploy.Freeze{Env: "production", By: alice(), Reason: "holiday", At: t0.Add(time.Hour)}
	for _, f := range []deploy.Freeze{first, second} {
		must(t, s.SetFreeze(ctx, f))
		got, err := s.GetFreeze(ctx, "production", "")
		must(t, err)
		if !reflect.DeepEqual(*got, f) {
			t.Errorf("GetFreeze = %+v, want %+v", *got, f)
		}
	}
	if _, err := s.GetFreeze(ctx, "staging", ""); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("GetFreeze of another env: %v, want ErrNotFound", err)
	}
	must(t, s.DeleteFreeze(ctx, "production", ""))
	if _, err := s.GetFreeze(ctx, "production", ""); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("GetFreeze after delete: %v, want ErrNotFound", err)
	}
	if err := s.DeleteFreeze(ctx, "production", ""); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("DeleteFreeze twice: %v, want ErrNotFound", err)
	}
}

// --- helpers ---

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func apply(t *testing.T, s deploy.Store, c deploy.Change) {
	t.Helper()
	if err := s.Apply(t.Context(), c); err != nil {
		t.Fatalf("Apply %s rev %d: %v", c.Run.ID, c.Run.Rev, err)
	}
}

func withWriteID(c deploy.Change, id string) deploy.Change {
	c.WriteID = id
	return c
}

func ptr[T any](v T) *T { return &v }

func equalRun(t *testing.T, got, want *deploy.Run) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("run differs:\ngot  %s\nwant %s", g, w)
	}
}

func checkAudit(t *testing.T, s deploy.Store, runID string, actions ...string) {
	t.Helper()
	got, err := s.Audit(t.Context(), runID)
	must(t, err)
	ga := make([]string, len(got))
	for i, e := range got {
		ga[i] = e.Action
	}
	if len(ga) != len(actions) || (len(ga) > 0 && !reflect.DeepEqual(ga, actions)) {
		t.Errorf("audit of %s = %q, want %q", runID, ga, actions)
	}
}

func checkRunIDs(t *testing.T, what string, runs []*deploy.Run, want ...string) {
	t.Helper()
	got := make([]string, len(runs))
	for i, r := range runs {
		got[i] = r.ID
	}
	if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// checkClaimed compares claimed items in any order.
func checkClaimed(t *testing.T, got, want []deploy.DueItem) {
	t.Helper()
	byID := func(items []deploy.DueItem) []deploy.DueItem {
		items = slices.Clone(items)
		slices.SortFunc(items, func(a, b deploy.DueItem) int { return strings.Compare(a.ID, b.ID) })
		return items
	}
	checkItems(t, "claimed", byID(got), byID(want))
}

// checkItems compares due items, times by instant (stores may change the location).
func checkItems(t *testing.T, what string, got, want []deploy.DueItem) {
	t.Helper()
	show := func(items []deploy.DueItem) string {
		var out []string
		for _, it := range items {
			out = append(out, fmt.Sprintf("{%s %s due=%s claims=%d lease=%s %q}", it.ID, it.Kind,
				it.Due.UTC().Format(time.RFC3339Nano), it.Claims, it.LeaseUntil.UTC().Format(time.RFC3339Nano), it.Payload))
		}
		sort.Strings(out)
		return fmt.Sprint(out)
	}
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		g, w := got[i], want[i]
		same = g.ID == w.ID && g.Kind == w.Kind && g.Due.Equal(w.Due) && g.Payload == w.Payload &&
			g.Claims == w.Claims && g.LeaseUntil.Equal(w.LeaseUntil)
	}
	if !same {
		t.Errorf("%s:\ngot  %s\nwant %s", what, show(got), show(want))
	}
}

// AckIf removes only items whose payload is still the one acknowledged: an
// effect written again meanwhile (a newer rev of the same message slot)
// stays queued for delivery.
func testDueAckIf(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	a1, b1, c1 := item("a", "effect", t0), item("b", "effect", t0), item("c", "effect", t0)
	must(t, s.Schedule(ctx, a1, b1, c1))
	_, err := s.Claim(ctx, "effect", t0, time.Minute, 10)
	must(t, err)
	b2 := b1
	b2.Payload = `{"rev":2}`
	must(t, s.Schedule(ctx, b2)) // a newer effect for slot b

	n, err := s.AckIf(ctx, a1, b1, item("missing", "effect", t0))
	must(t, err)
	if n != 1 {
		t.Errorf("AckIf removed %d items, want 1 (a)", n)
	}
	pending, err := s.Pending(ctx, "effect")
	must(t, err)
	checkItems(t, "pending after AckIf", pending, []deploy.DueItem{b2, claimedAs(c1, 1, t0.Add(time.Minute))})

	n, err = s.AckIf(ctx, b2, c1)
	must(t, err)
	if n != 2 {
		t.Errorf("AckIf removed %d items, want 2", n)
	}
	n, err = s.AckIf(ctx)
	must(t, err)
	if n != 0 {
		t.Errorf("AckIf of nothing removed %d", n)
	}
	pending, err = s.Pending(ctx, "effect")
	must(t, err)
	checkItems(t, "pending at the end", pending, nil)
}

// Hold leases an item to whoever has its current version: the writer
// (claims 0) before anyone claimed it, or the claimer. A holder whose item
// was replaced or claimed by someone else learns it lost it.
func testDueHold(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	lease := 30 * time.Second
	a := item("a", "effect", t0)
	must(t, s.Schedule(ctx, a))
	if err := s.Hold(ctx, "a", 0, "another payload", t0.Add(time.Minute)); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("Hold with a stale payload: %v, want ErrNotFound", err)
	}
	if err := s.Hold(ctx, "a", 1, a.Payload, t0.Add(time.Minute)); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("Hold with claims nobody made: %v, want ErrNotFound", err)
	}
	if err := s.Hold(ctx, "missing", 0, "", t0.Add(time.Minute)); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("Hold of a missing item: %v, want ErrNotFound", err)
	}
	// The writer holds its own item: nobody claims it until the hold ends.
	must(t, s.Hold(ctx, "a", 0, a.Payload, t0.Add(time.Minute)))
	got, err := s.Claim(ctx, "effect", t0.Add(time.Minute), lease, 10)
	must(t, err)
	checkClaimed(t, got, nil)
	got, err = s.Claim(ctx, "effect", t0.Add(time.Minute+time.Second), lease, 10)
	must(t, err)
	checkClaimed(t, got, []deploy.DueItem{claimedAs(a, 1, t0.Add(time.Minute+time.Second+lease))})
	// The writer lost it to the claimer; the claimer holds it longer.
	if err := s.Hold(ctx, "a", 0, a.Payload, t0.Add(time.Hour)); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("Hold by the writer after a claim: %v, want ErrNotFound", err)
	}
	must(t, s.Hold(ctx, "a", 1, a.Payload, t0.Add(5*time.Minute)))
	got, err = s.Claim(ctx, "effect", t0.Add(4*time.Minute), lease, 10)
	must(t, err)
	checkClaimed(t, got, nil)
	// A newer version replaces it: the claimer's hold fails, the new writer's holds.
	a2 := a
	a2.Payload = `{"rev":2}`
	must(t, s.Schedule(ctx, a2))
	if err := s.Hold(ctx, "a", 1, a.Payload, t0.Add(time.Hour)); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("Hold of a replaced item: %v, want ErrNotFound", err)
	}
	must(t, s.Hold(ctx, "a", 0, a2.Payload, t0.Add(time.Hour)))
	pending, err := s.Pending(ctx, "effect")
	must(t, err)
	checkItems(t, "pending", pending, []deploy.DueItem{claimedAs(a2, 0, t0.Add(time.Hour))})
}

// Effects ride in the transition's change: several changes of one slot
// leave one item, the newest.
func testEffectsInChange(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	r1 := SampleRun("r1", "production", t0)
	c1 := Create(r1, true)
	sum1 := deploy.DueItem{ID: "effect:r1:summary", Kind: "effect", Due: t0.Add(5 * time.Second), Payload: `{"rev":1}`}
	card1 := deploy.DueItem{ID: "effect:r1:phase:a", Kind: "effect", Due: t0.Add(5 * time.Second), Payload: `{"rev":1}`}
	c1.Schedule = []deploy.DueItem{sum1, card1}
	apply(t, s, c1)
	r2 := Next(r1, func(r *deploy.Run) { r.Phases[0].Steps[0].State = deploy.StepDone })
	c2 := Update(r1, r2, "step.done")
	sum2 := sum1
	sum2.Payload, sum2.Due = `{"rev":2}`, t0.Add(6*time.Second)
	c2.Schedule = []deploy.DueItem{sum2}
	apply(t, s, c2)
	pending, err := s.Pending(ctx, "effect")
	must(t, err)
	checkItems(t, "effects", pending, []deploy.DueItem{card1, sum2})
	// A conflicting change writes no effect.
	stale := Update(r1, Next(r1, func(r *deploy.Run) { r.Status = deploy.StatusAborted }), "abort")
	stale.Schedule = []deploy.DueItem{{ID: "effect:r1:notice:aborted", Kind: "effect", Due: t0, Payload: "x"}}
	if err := s.Apply(ctx, stale); !errors.Is(err, deploy.ErrConflict) {
		t.Fatalf("stale apply: %v, want ErrConflict", err)
	}
	pending, err = s.Pending(ctx, "effect")
	must(t, err)
	checkItems(t, "effects after a conflict", pending, []deploy.DueItem{card1, sum2})
}

// testScheduleOnce: the record of a notice is its own once-only claim: the
// first call records the key and schedules the item together, later calls
// (and ClaimOnce on the same key) change nothing, and of concurrent callers
// exactly one schedules.
func testScheduleOnce(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	first, err := s.ScheduleOnce(ctx, "window:w1:remind:1h", time.Hour, item("notice-a", "effect", t0))
	must(t, err)
	if !first {
		t.Fatal("first ScheduleOnce = false")
	}
	again, err := s.ScheduleOnce(ctx, "window:w1:remind:1h", time.Hour, item("notice-b", "effect", t0))
	must(t, err)
	if again {
		t.Error("second ScheduleOnce on the same key = true")
	}
	claimed, err := s.ClaimOnce(ctx, "window:w1:remind:1h", time.Hour)
	must(t, err)
	if claimed {
		t.Error("ClaimOnce after ScheduleOnce on the same key = true")
	}
	pending, err := s.Pending(ctx, "effect")
	must(t, err)
	checkItems(t, "pending", pending, []deploy.DueItem{item("notice-a", "effect", t0)})

	const n = 16
	wins := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ok, err := s.ScheduleOnce(ctx, "window:w2:open", time.Hour, item(fmt.Sprintf("open-%d", i), "open", t0))
			if err != nil {
				t.Error(err)
			}
			wins[i] = ok
		})
	}
	wg.Wait()
	count := 0
	for _, w := range wins {
		if w {
			count++
		}
	}
	if count != 1 {
		t.Errorf("%d of %d concurrent ScheduleOnce calls won, want exactly 1", count, n)
	}
	opened, err := s.Pending(ctx, "open")
	must(t, err)
	if len(opened) != 1 {
		t.Errorf("%d items scheduled by concurrent ScheduleOnce calls, want 1", len(opened))
	}
}
