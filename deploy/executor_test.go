package deploy_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"deploybot/adapters"
	"deploybot/adapters/shell"
	"deploybot/deploy"
	"deploybot/internal/testkit"
)

const shellRunbook = `
name: exec
phases:
  - id: one
    title: One
    steps:
      - id: run
        title: Run the command
        run: shell
        timeout: %TIMEOUT%
        with: {command: %CMD%}
rollback:
  steps:
    - id: revert
      title: Revert
`

func newExecutor(t *testing.T, cmd, timeout string) (*harness, *deploy.Executor) {
	t.Helper()
	src := strings.ReplaceAll(strings.ReplaceAll(shellRunbook, "%CMD%", cmd), "%TIMEOUT%", timeout)
	h := newHarness(t, src)
	reg, err := adapters.NewRegistry(shell.New(shell.Config{Grace: 200 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	x := deploy.NewExecutor(deploy.ExecutorConfig{Engine: h.e, Steps: reg, Lease: 30 * time.Second, Renew: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	return h, x
}

// waitUntil polls cond until it holds or ten seconds pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestExecutorRunsAStepWithTheRunsVariables(t *testing.T) {
	h, x := newExecutor(t, `["sh", "-c", "echo deploying \"$1\" to $DEPLOY_ENV", "sh", "{{ .Version }}"]`, "1m")
	out, err := h.e.Start(context.Background(), deploy.StartRequest{Release: "v1.4+build/7", Env: "production", Actor: ana, Platform: "slack"})
	if err != nil {
		t.Fatal(err)
	}
	if n := x.Poll(context.Background()); n != 1 {
		t.Fatalf("claimed %d items, want 1", n)
	}
	x.Wait()
	r := h.get(t, out.Run.ID)
	s := r.Phases[0].Steps[0]
	if s.State != deploy.StepDone || s.Result != "exit 0" || !strings.Contains(s.Output, "deploying v1.4+build/7 to production") {
		t.Fatalf("step = %+v", s)
	}
	if n := x.Poll(context.Background()); n != 0 {
		t.Fatalf("the finished step was claimed again (%d)", n)
	}
}

func TestExecutorKeepsInjectionInOneArgument(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	h, x := newExecutor(t, `["printf", "%s", "{{ .Version }}"]`, "1m")
	// The engine refuses such versions outright; the executor must keep even
	// an allowed version with shell-looking characters as one argument.
	out, err := h.e.Start(context.Background(), deploy.StartRequest{Release: "v1.4;touch", Env: "production", Actor: ana, Platform: "slack"})
	if err == nil {
		t.Fatalf("a version with ';' was accepted: %s", out.Run.ID)
	}
	out, err = h.e.Start(context.Background(), deploy.StartRequest{Release: "v1.4/../..+x", Env: "production", Actor: ana, Platform: "slack"})
	if err != nil {
		t.Fatal(err)
	}
	x.Poll(context.Background())
	x.Wait()
	s := h.get(t, out.Run.ID).Phases[0].Steps[0]
	if s.Output != "v1.4/../..+x" {
		t.Fatalf("output = %q, want the version verbatim", s.Output)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a file was created")
	}
}

func TestExecutorFailureAndTimeout(t *testing.T) {
	h, x := newExecutor(t, `["sleep", "30"]`, "1s")
	run := h.start(t, ana)
	x.Poll(context.Background())
	x.Wait()
	s := h.get(t, run.ID).Phases[0].Steps[0]
	if s.State != deploy.StepFailed || s.Result != "timed out after 1s" {
		t.Fatalf("step = %+v", s)
	}
}

func TestExpiredLeaseMarksTheStepInterruptedWithoutRerunning(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	h, x := newExecutor(t, `["touch", "`+marker+`"]`, "1m")
	ctx := context.Background()
	run := h.start(t, ana)
	// Another process claims the step and dies before reporting.
	claimed, err := h.store.Claim(ctx, deploy.DueKindStep, h.clk.Now(), 30*time.Second, 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	if n := x.Poll(ctx); n != 0 {
		t.Fatalf("a leased step was claimed again before its lease ran out")
	}
	h.clk.Advance(31 * time.Second)
	if n := x.Poll(ctx); n != 1 {
		t.Fatalf("the expired lease was not reclaimed (%d)", n)
	}
	x.Wait()
	s := h.get(t, run.ID).Phases[0].Steps[0]
	if s.State != deploy.StepInterrupted || !strings.Contains(s.Result, "interrupted") {
		t.Fatalf("step = %+v", s)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the interrupted step was re-run")
	}
	pending, _ := h.store.Pending(ctx, deploy.DueKindStep)
	if len(pending) != 0 {
		t.Fatalf("queue items left: %+v", pending)
	}
	// Retry is a person's decision, and runs it.
	h.must(t, deploy.Action{Kind: deploy.ActRetry, RunID: run.ID, Phase: "one", Step: "run", Actor: bob})
	x.Poll(ctx)
	x.Wait()
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the retried step did not run")
	}
}

func TestReconcileFindsRunningStepsWithoutAQueueItem(t *testing.T) {
	h, x := newExecutor(t, `["true"]`, "1m")
	ctx := context.Background()
	run := h.start(t, ana)
	pending, _ := h.store.Pending(ctx, deploy.DueKindStep)
	if len(pending) != 1 {
		t.Fatalf("pending = %v", pending)
	}
	if err := h.store.Ack(ctx, pending[0].ID); err != nil { // the lease entry vanished
		t.Fatal(err)
	}
	if err := x.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if s := h.get(t, run.ID).Phases[0].Steps[0]; s.State != deploy.StepInterrupted {
		t.Fatalf("step = %s, want interrupted", s.State)
	}
}

func TestRollbackCancelsTheRunningProcess(t *testing.T) {
	h, x := newExecutor(t, `["sleep", "60"]`, "10m")
	ctx := context.Background()
	run := h.start(t, ana)
	x.Poll(ctx)
	waitUntil(t, "the lease renewal timer", func() bool { return h.clk.Waiters() > 0 })
	h.must(t, deploy.Action{Kind: deploy.ActRollback, RunID: run.ID, Actor: bob, Reason: "bad canary"})
	h.clk.Advance(5 * time.Second)
	done := make(chan struct{})
	go func() { x.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the step's process was not stopped by the rollback")
	}
	s := h.get(t, run.ID).Phases[0].Steps[0]
	if s.State != deploy.StepStopped || s.Result != "stopped by the rollback" {
		t.Fatalf("step = %+v", s)
	}
}

func TestPlanDescribesWithoutRunning(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	h, _ := newExecutor(t, `["touch", "`+marker+`", "{{ .Version }}"]`, "1m")
	reg, _ := adapters.NewRegistry(shell.New(shell.Config{}))
	rb, _ := h.e.Services().Only()
	plan, err := deploy.Plan(rb, reg, adapters.Vars{Version: "v2.0", Env: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 2 || plan[0].Steps[0].Adapter != "shell" || !strings.Contains(plan[0].Steps[0].Plan, "v2.0") {
		t.Fatalf("plan = %+v", plan)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("planning ran the command")
	}
	if live, _ := h.e.Live(context.Background()); len(live) != 0 {
		t.Fatal("planning created a run")
	}
}

func TestExclusiveStoreRecoversAnEarlierLifesLeasesAtOnce(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	h, _ := newExecutor(t, `["touch", "`+marker+`"]`, "1m")
	ctx := context.Background()
	run := h.start(t, ana)
	// The earlier life claimed the step and was killed.
	if _, err := h.store.Claim(ctx, deploy.DueKindStep, h.clk.Now(), 30*time.Second, 10); err != nil {
		t.Fatal(err)
	}
	reg, _ := adapters.NewRegistry(shell.New(shell.Config{}))
	x := deploy.NewExecutor(deploy.ExecutorConfig{Engine: h.e, Steps: reg, Exclusive: true, Logger: slog.New(slog.DiscardHandler)})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- x.Run(runCtx) }()
	waitUntil(t, "the step to show interrupted", func() bool {
		return h.get(t, run.ID).Phases[0].Steps[0].State == deploy.StepInterrupted
	})
	cancel()
	<-done
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the interrupted step was re-run")
	}
}

func TestAWorkerThatLostItsLeaseStopsTheStep(t *testing.T) {
	h, x := newExecutor(t, `["sleep", "60"]`, "10m")
	ctx := context.Background()
	run := h.start(t, ana)
	x.Poll(ctx)
	waitUntil(t, "the lease renewal timer", func() bool { return h.clk.Waiters() > 0 })
	// Another process sees the lease as run out (say this one stalled) and takes the item over.
	taken, err := h.store.Claim(ctx, deploy.DueKindStep, h.clk.Now().Add(31*time.Second), 30*time.Second, 10)
	if err != nil || len(taken) != 1 || taken[0].Claims != 2 {
		t.Fatalf("take over: %+v %v", taken, err)
	}
	h.clk.Advance(5 * time.Second) // this worker's next renewal finds it lost the item
	done := make(chan struct{})
	go func() { x.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker kept running a step it no longer holds")
	}
	if s := h.get(t, run.ID).Phases[0].Steps[0]; s.State != deploy.StepRunning {
		t.Fatalf("the old holder reported a result: %+v", s)
	}
	pending, _ := h.store.Pending(ctx, deploy.DueKindStep)
	if len(pending) != 1 || pending[0].Claims != 2 {
		t.Fatalf("the old holder removed the new holder's item: %+v", pending)
	}
}

func TestASilentStepStillShowsItIsAlive(t *testing.T) {
	h, x := newExecutor(t, `["sleep", "60"]`, "10m")
	ctx := context.Background()
	run := h.start(t, ana)
	x.Poll(ctx)
	waitUntil(t, "the heartbeat and renewal timers", func() bool { return h.clk.Waiters() >= 2 })
	h.clk.Advance(15 * time.Second)
	waitUntil(t, "a heartbeat", func() bool { return !h.get(t, run.ID).Phases[0].Steps[0].Beat.IsZero() })
	h.must(t, deploy.Action{Kind: deploy.ActRollback, RunID: run.ID, Actor: bob, Reason: "done testing"})
	h.clk.Advance(5 * time.Second)
	x.Wait()
}

func TestAnUnansweredApprovalRequestExpires(t *testing.T) {
	h := newHarness(t, `
name: expiry
phases:
  - id: one
    title: One
    approval_timeout: 1h
    steps:
      - id: a
        title: Check the dashboards
  - id: two
    title: Two
    steps:
      - id: b
        title: Deploy
`)
	reg, _ := adapters.NewRegistry(shell.New(shell.Config{}))
	x := deploy.NewExecutor(deploy.ExecutorConfig{Engine: h.e, Steps: reg, Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	r := h.start(t, ana)
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "one", Step: "a", Actor: bob})

	h.clk.Advance(59 * time.Minute)
	x.Poll(ctx)
	if got := h.get(t, r.ID).Phases[0].ApprovalExpired; !got.IsZero() {
		t.Fatal("the request expired early")
	}
	h.clk.Advance(2 * time.Minute)
	x.Poll(ctx)
	if got := h.get(t, r.ID).Phases[0].ApprovalExpired; got.IsZero() {
		t.Fatal("the request did not expire after its hour")
	}
	_, err := h.do(t, deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "one", Actor: bob})
	wantErr(t, err, deploy.ErrInvalid, "expired")

	h.must(t, deploy.Action{Kind: deploy.ActRequestApproval, RunID: r.ID, Phase: "one", Actor: cat})
	_, err = h.do(t, deploy.Action{Kind: deploy.ActRequestApproval, RunID: r.ID, Phase: "one", Actor: bob})
	wantErr(t, err, deploy.ErrAlreadyDone, "already requested")
	h.clk.Advance(30 * time.Minute)
	x.Poll(ctx) // the old request's item is gone; the new one is not due
	r = h.must(t, deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "one", Actor: bob})
	if r.Phase != 1 {
		t.Fatalf("phase %d after the approval", r.Phase)
	}
	h.clk.Advance(2 * time.Hour)
	x.Poll(ctx)
	if got := h.get(t, r.ID).Phases[0]; got.Approval == nil || got.Approval.By.ID != bob.ID {
		t.Fatalf("a late expiry touched an approved phase: %+v", got)
	}
	audit, _ := h.e.Audit(ctx, r.ID)
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	if got := strings.Join(actions, " "); got != "start done approval_expired request_approval approve" {
		t.Fatalf("audit = %q", got)
	}
}

// The store loses its data while a step runs: the worker's next renewal
// finds its lease gone, stops the step and, since the run is gone too,
// tells RunLost with the run as the step found it. A lease lost to another
// process (the run still stored) tells nobody.
func TestAStepWhoseRunVanishedIsStoppedAndReported(t *testing.T) {
	for _, wipe := range []bool{true, false} {
		t.Run(map[bool]string{true: "data lost", false: "taken over"}[wipe], func(t *testing.T) {
			src := strings.ReplaceAll(strings.ReplaceAll(shellRunbook, "%CMD%", `["sleep", "60"]`), "%TIMEOUT%", "10m")
			h := newHarness(t, src)
			reg, err := adapters.NewRegistry(shell.New(shell.Config{Grace: 200 * time.Millisecond}))
			if err != nil {
				t.Fatal(err)
			}
			type lost struct {
				run         *deploy.Run
				phase, step string
			}
			told := make(chan lost, 1)
			x := deploy.NewExecutor(deploy.ExecutorConfig{Engine: h.e, Steps: reg, Lease: 30 * time.Second, Renew: 5 * time.Second,
				Logger:  slog.New(slog.DiscardHandler),
				RunLost: func(_ context.Context, run *deploy.Run, phase, step string) { told <- lost{run, phase, step} }})
			ctx := context.Background()
			run := h.start(t, ana)
			x.Poll(ctx)
			waitUntil(t, "the heartbeat and lease renewal timers", func() bool { return h.clk.Waiters() >= 2 })
			if wipe {
				h.wipe(t)
			} else if _, err := h.store.Claim(ctx, deploy.DueKindStep, h.clk.Now().Add(31*time.Second), 30*time.Second, 10); err != nil {
				t.Fatal(err)
			}
			h.clk.Advance(5 * time.Second)
			done := make(chan struct{})
			go func() { x.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the worker kept running the step")
			}
			select {
			case l := <-told:
				if !wipe {
					t.Fatalf("RunLost told of a run still stored: %+v", l)
				}
				if l.run.ID != run.ID || l.run.Channel != "C1" || l.run.Env != "production" || l.phase != "one" || l.step != "run" {
					t.Fatalf("RunLost: %+v %s %s", l.run, l.phase, l.step)
				}
			default:
				if wipe {
					t.Fatal("RunLost was not told")
				}
			}
		})
	}
}

// wipe deletes every key of the harness's store, as a Redis restarted
// without its data would have none.
func (h *harness) wipe(t *testing.T) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testkit.Redis(t).Addr()})
	defer c.Close()
	keys, err := c.Keys(t.Context(), h.prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	if err := c.Del(t.Context(), keys...).Err(); err != nil {
		t.Fatal(err)
	}
}
