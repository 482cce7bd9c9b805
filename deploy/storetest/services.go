package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"deploybot/deploy"
)

// Service returns a new active run of service in env (SampleRun with its Service set).
func Service(id, service, env string, at time.Time) *deploy.Run {
	r := SampleRun(id, env, at)
	r.Service = service
	return r
}

// testServiceLocks: one deployment at a time per service and environment;
// services do not block each other.
func testServiceLocks(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	holder := func(service, env, want string) {
		t.Helper()
		got, err := s.EnvHolder(ctx, service, env)
		must(t, err)
		if got != want {
			t.Errorf("EnvHolder(%s, %s) = %q, want %q", service, env, got, want)
		}
	}
	pay := Service("pay1", "payments", "production", t0)
	apply(t, s, Create(pay, true))
	apply(t, s, Create(Service("srch1", "search", "production", t0), true)) // another service, same env
	holder("payments", "production", "pay1")
	holder("search", "production", "srch1")
	holder("payments", "staging", "")

	err := s.Apply(ctx, Create(Service("pay2", "payments", "production", t0.Add(time.Minute)), true))
	var le *deploy.LockedError
	if !errors.As(err, &le) || !errors.Is(err, deploy.ErrEnvLocked) {
		t.Fatalf("a second run of payments in production: %v, want *LockedError", err)
	}
	if want := (deploy.LockedError{Env: "production", Service: "payments", RunID: "pay1"}); *le != want {
		t.Errorf("LockedError = %+v, want %+v", *le, want)
	}
	if _, err := s.Run(ctx, "pay2"); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("the refused run was written (Run: %v)", err)
	}
	apply(t, s, Create(Service("pay3", "payments", "staging", t0), true)) // same service, another env

	c := Update(pay, Finish(pay, deploy.StatusCompleted), "complete")
	c.UnlockEnv = true
	apply(t, s, c)
	holder("payments", "production", "")
	holder("search", "production", "srch1")
	apply(t, s, Create(Service("pay2", "payments", "production", t0.Add(time.Minute)), true))
	holder("payments", "production", "pay2")
}

// testServiceFreezes: a freeze without a service freezes every service in
// its environment; a freeze of one service freezes only it; each has its
// own scope in GetFreeze and DeleteFreeze.
func testServiceFreezes(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	frozen := func(r *deploy.Run, want deploy.Freeze) {
		t.Helper()
		err := s.Apply(ctx, Create(r, true))
		var fe *deploy.FrozenError
		if !errors.As(err, &fe) {
			t.Fatalf("Apply %s/%s: %v, want *FrozenError", r.Service, r.Env, err)
		}
		if !reflect.DeepEqual(fe.Freeze, want) {
			t.Errorf("FrozenError.Freeze = %+v, want %+v", fe.Freeze, want)
		}
	}
	all := deploy.Freeze{Env: "production", By: alice(), Reason: "change freeze", At: t0}
	one := deploy.Freeze{Env: "production", Service: "payments", By: alice(), Reason: "payments incident", At: t0}
	must(t, s.SetFreeze(ctx, all))
	frozen(Service("p1", "payments", "production", t0), all)
	frozen(Service("s1", "search", "production", t0), all)
	must(t, s.SetFreeze(ctx, one))
	got, err := s.GetFreeze(ctx, "production", "payments")
	must(t, err)
	if !reflect.DeepEqual(*got, one) {
		t.Errorf("GetFreeze(production, payments) = %+v, want %+v", *got, one)
	}
	got, err = s.GetFreeze(ctx, "production", "")
	must(t, err)
	if !reflect.DeepEqual(*got, all) {
		t.Errorf("GetFreeze(production, \"\") = %+v, want %+v (the service's freeze is its own)", *got, all)
	}
	if _, err := s.GetFreeze(ctx, "production", "search"); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("GetFreeze(production, search): %v, want ErrNotFound", err)
	}

	must(t, s.DeleteFreeze(ctx, "production", ""))
	frozen(Service("p1", "payments", "production", t0), one)
	apply(t, s, Create(Service("s1", "search", "production", t0), true))
	apply(t, s, Create(Service("p2", "payments", "staging", t0), true))
	if err := s.DeleteFreeze(ctx, "production", "search"); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("DeleteFreeze of a service that is not frozen: %v, want ErrNotFound", err)
	}
	must(t, s.DeleteFreeze(ctx, "production", "payments"))
	apply(t, s, Create(Service("p1", "payments", "production", t0), true))
}

// testCurrentVersion: the version completed per service and environment
// is written by the change that says so, and by no other.
func testCurrentVersion(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	current := func(service, env, want string) {
		t.Helper()
		got, err := s.CurrentVersion(ctx, service, env)
		must(t, err)
		if got != want {
			t.Errorf("CurrentVersion(%s, %s) = %q, want %q", service, env, got, want)
		}
	}
	current("payments", "production", "")
	r := Service("p1", "payments", "production", t0)
	apply(t, s, Create(r, true))
	next := Next(r, nil)
	apply(t, s, Update(r, next, "step.done")) // no SetCurrent
	current("payments", "production", "")

	done := Finish(next, deploy.StatusCompleted)
	c := Update(next, done, "complete")
	c.UnlockEnv, c.SetCurrent = true, true
	apply(t, s, c)
	current("payments", "production", "v1.4.0")
	current("payments", "staging", "")
	current("search", "production", "")

	// A refused change records nothing.
	r2 := Service("p2", "payments", "production", t0)
	r2.Release = "v2.0.0"
	must(t, s.SetFreeze(ctx, deploy.Freeze{Env: "production", Reason: "x", At: t0}))
	c2 := Create(r2, true)
	c2.SetCurrent = true
	if err := s.Apply(ctx, c2); !errors.Is(err, deploy.ErrFrozen) {
		t.Fatalf("Apply into a frozen env: %v, want ErrFrozen", err)
	}
	current("payments", "production", "v1.4.0")
	must(t, s.DeleteFreeze(ctx, "production", ""))
	apply(t, s, c2)
	current("payments", "production", "v2.0.0")
}

// RunOldLock checks a store against an environment-only lock written the
// way stores wrote it before services (writeOldLock writes it in the
// store's own layout): EnvHolder reports its live holder for any service
// (the engine judges whose it is), Apply never takes it, and the holder
// releases it when it ends with UnlockEnv (its Service now set).
func RunOldLock(t *testing.T, s deploy.Store, writeOldLock func(t *testing.T, env, runID string)) {
	ctx := t.Context()
	old := SampleRun("old", "production", t0) // Service "": stored before services
	apply(t, s, Create(old, false))
	writeOldLock(t, "production", "old")
	for _, svc := range []string{"orchestration-system", "search"} {
		got, err := s.EnvHolder(ctx, svc, "production")
		must(t, err)
		if got != "old" {
			t.Errorf("EnvHolder(%s, production) = %q, want the old run", svc, got)
		}
	}
	// The old run, read and normalised by the engine, now names its service.
	next := Next(old, func(r *deploy.Run) { r.Service = "orchestration-system" })
	apply(t, s, Update(old, next, "step.done"))
	end := Finish(next, deploy.StatusCompleted)
	c := Update(next, end, "complete")
	c.UnlockEnv = true
	apply(t, s, c)
	got, err := s.EnvHolder(ctx, "orchestration-system", "production")
	must(t, err)
	if got != "" {
		t.Errorf("EnvHolder after the old run ended = %q, want free", got)
	}
	apply(t, s, Create(Service("new", "orchestration-system", "production", t0), true))
	got, err = s.EnvHolder(ctx, "orchestration-system", "production")
	must(t, err)
	if got != "new" {
		t.Errorf("EnvHolder after a new start = %q, want new", got)
	}
}
