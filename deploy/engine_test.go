package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"deploybot/deploy"
	"deploybot/deploy/redisstore"
	"deploybot/internal/clock"
	"deploybot/internal/testkit"
	"deploybot/runbook"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// twoPhase is a small runbook: a manual step above an automated one, then a
// production phase, and a two-step rollback.
const twoPhase = `
name: test
distinct_approver: true
approvers: [U0ANA, U0BOB, U0CAT, "@release"]
phases:
  - id: prep
    title: Preparation
    steps:
      - id: review
        title: Code review completed
      - id: build
        title: Build the release
        run: shell
        with: {command: ["true"]}
  - id: prod
    title: Production
    production: true
    steps:
      - id: deploy
        title: Deploy to production
        run: shell
        on_failure: rollback
        with: {command: ["true"]}
rollback:
  steps:
    - id: notify
      title: Notify the team
      run: notify
      with: {text: "rolling back"}
    - id: revert
      title: Revert DNS
`

var (
	ana = deploy.Actor{ID: "U0ANA", Name: "ana", Platform: "slack"}
	bob = deploy.Actor{ID: "U0BOB", Name: "bob", Platform: "slack"}
	cat = deploy.Actor{ID: "U0CAT", Name: "cat", Platform: "slack"}
	eve = deploy.Actor{ID: "U0EVE", Name: "eve", Platform: "slack"}
)

type harness struct {
	e      *deploy.Engine
	store  deploy.Store
	prefix string // the store's Redis key prefix
	clk    *clock.Fake
	gate   *gate
	mu     sync.Mutex
	pub    []deploy.Event
}

type gate struct {
	mu   sync.Mutex
	open bool
}

func (g *gate) Window(context.Context, string, string, string, time.Time) (bool, *deploy.WindowAt, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open, nil, nil
}

func (g *gate) set(open bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = open
}

func parseRunbook(t testing.TB, src string) *runbook.Runbook {
	t.Helper()
	rb, err := runbook.Parse("test.yaml", []byte(src), nil)
	if err != nil {
		t.Fatalf("runbook: %v", err)
	}
	return rb
}

func newHarness(t testing.TB, src string) *harness {
	t.Helper()
	srv := testkit.Redis(t)
	prefix := srv.Prefix(t)
	st, err := redisstore.Open(srv.URL(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{store: st, prefix: prefix, clk: clock.NewFake(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)), gate: &gate{open: true}}
	h.e = deploy.NewEngine(deploy.Config{Store: st, Runbook: parseRunbook(t, src), Clock: h.clk, Windows: h.gate, Logger: slog.New(slog.DiscardHandler),
		Sink: deploy.SinkFunc(func(_ context.Context, _ *deploy.Run, evs []deploy.Event) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.pub = append(h.pub, evs...)
		})})
	return h
}

func (h *harness) start(t testing.TB, by deploy.Actor) *deploy.Run {
	t.Helper()
	out, err := h.e.Start(context.Background(), deploy.StartRequest{Release: "v1.4", Env: "production", Channel: "C1", Platform: "slack", Actor: by})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return out.Run
}

func (h *harness) do(t testing.TB, a deploy.Action) (*deploy.Run, error) {
	t.Helper()
	out, err := h.e.Do(context.Background(), a)
	return out.Run, err
}

func (h *harness) must(t testing.TB, a deploy.Action) *deploy.Run {
	t.Helper()
	r, err := h.do(t, a)
	if err != nil {
		t.Fatalf("%s %s/%s by %s: %v", a.Kind, a.Phase, a.Step, a.Actor.Name, err)
	}
	return r
}

func (h *harness) get(t testing.TB, id string) *deploy.Run {
	t.Helper()
	r, err := h.e.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// finishRunning reports the running step of the current phase as ok or failed.
func (h *harness) finishRunning(t testing.TB, id string, ok bool, summary string) *deploy.Run {
	t.Helper()
	r := h.get(t, id)
	p := r.Current()
	for _, s := range p.Steps {
		if s.State == deploy.StepRunning {
			out, err := h.e.Report(context.Background(), deploy.StepReport{RunID: id, Phase: p.ID, Step: s.ID, Attempt: s.Attempt, OK: ok, Summary: summary})
			if err != nil {
				t.Fatalf("report: %v", err)
			}
			return out.Run
		}
	}
	t.Fatalf("no running step in %s", p.ID)
	return nil
}

func stepState(r *deploy.Run, phase, step string) deploy.StepState {
	for _, p := range r.Phases {
		if p.ID != phase {
			continue
		}
		for _, s := range p.Steps {
			if s.ID == step {
				return s.State
			}
		}
	}
	return "missing"
}

func wantErr(t testing.TB, err error, kind error, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %v containing %q, got nil", kind, substr)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("want %v, got %v (%T)", kind, err, err)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %q does not contain %q", err.Error(), substr)
	}
}

func TestStartTakesTheEnvironment(t *testing.T) {
	h := newHarness(t, twoPhase)
	r := h.start(t, ana)
	if r.Status != deploy.StatusActive || r.Phase != 0 || r.Phases[0].Started.IsZero() {
		t.Fatalf("run not started in phase 1: %+v", r)
	}
	if got := stepState(r, "prep", "build"); got != deploy.StepPending {
		t.Fatalf("automated step below a manual one started early: %s", got)
	}
	_, err := h.e.Start(context.Background(), deploy.StartRequest{Release: "v1.5", Env: "production", Channel: "C1", Platform: "slack", Actor: bob})
	wantErr(t, err, deploy.ErrEnvLocked, "run "+r.ID+" (v1.4 by @ana")
	if _, err := h.e.Start(context.Background(), deploy.StartRequest{Release: "v1.5", Env: "staging", Channel: "C1", Platform: "slack", Actor: bob}); err != nil {
		t.Fatalf("another environment is free: %v", err)
	}
	live, _ := h.e.Live(context.Background())
	if len(live) != 2 {
		t.Fatalf("live runs = %d, want 2", len(live))
	}
}

func TestStartRefusesBadInput(t *testing.T) {
	h := newHarness(t, twoPhase)
	for _, v := range []string{"v1.4; rm -rf /", "$(reboot)", "-rf", "", strings.Repeat("a", 65), "v1.4\n"} {
		_, err := h.e.Start(context.Background(), deploy.StartRequest{Release: v, Env: "production", Actor: ana})
		wantErr(t, err, deploy.ErrInvalid, "invalid version")
	}
	live, _ := h.e.Live(context.Background())
	if len(live) != 0 {
		t.Fatalf("a refused start created %d runs", len(live))
	}
}

func TestDoneStartsTheAutomatedStepBelow(t *testing.T) {
	h := newHarness(t, twoPhase)
	r := h.start(t, ana)
	r = h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "review", Actor: bob})
	if got := stepState(r, "prep", "build"); got != deploy.StepRunning {
		t.Fatalf("build = %s, want running", got)
	}
	items, err := h.store.Pending(context.Background(), deploy.DueKindStep)
	if err != nil || len(items) != 1 || !strings.Contains(items[0].ID, ":build:1") {
		t.Fatalf("due items = %+v, %v; want the build step's first attempt", items, err)
	}
	_, err = h.do(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "review", Actor: cat})
	wantErr(t, err, deploy.ErrAlreadyDone, "already done by @bob just now")
	h.clk.Advance(2 * time.Minute)
	_, err = h.do(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "review", Actor: cat})
	wantErr(t, err, deploy.ErrAlreadyDone, "already done by @bob 2 min ago")
	_, err = h.do(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "build", Actor: cat})
	wantErr(t, err, deploy.ErrInvalid, "automated")
}

func TestApproveRules(t *testing.T) {
	h := newHarness(t, twoPhase)
	r := h.start(t, ana)
	approve := func(by deploy.Actor) error {
		_, err := h.do(t, deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "prep", Actor: by})
		return err
	}
	wantErr(t, approve(bob), deploy.ErrInvalid, "2 open step(s)")
	h.must(t, deploy.Action{Kind: deploy.ActSkip, RunID: r.ID, Phase: "prep", Step: "review", Actor: bob, Reason: "reviewed in the PR"})
	h.finishRunning(t, r.ID, true, "exit 0")
	wantErr(t, approve(ana), deploy.ErrNotAllowed, "two-person rule")
	wantErr(t, approve(eve), deploy.ErrNotAllowed, "approver list")
	group := deploy.Actor{ID: "U0DAN", Name: "dan", Platform: "slack", Groups: []string{"@release"}}
	if err := approve(group); err != nil {
		t.Fatalf("a member of an approver group: %v", err)
	}
	wantErr(t, approve(bob), deploy.ErrAlreadyDone, "already approved by @dan")
	r = h.get(t, r.ID)
	if r.Phase != 1 || stepState(r, "prod", "deploy") != deploy.StepRunning {
		t.Fatalf("after approval: phase %d, deploy %s", r.Phase, stepState(r, "prod", "deploy"))
	}
}

func TestConcurrentApprovalsOneWins(t *testing.T) {
	h := newHarness(t, twoPhase)
	r := h.start(t, ana)
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "review", Actor: bob})
	h.finishRunning(t, r.ID, true, "exit 0")
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			by := deploy.Actor{ID: fmt.Sprintf("U0X%02d", i), Name: fmt.Sprintf("p%d", i), Platform: "slack", Groups: []string{"@release"}}
			_, errs[i] = h.e.Do(context.Background(), deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "prep", Actor: by})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, deploy.ErrAlreadyDone) && strings.Contains(err.Error(), "already approved by @p"):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d approvals won, want exactly 1", won)
	}
	audit, _ := h.e.Audit(context.Background(), r.ID)
	approvals := 0
	for _, a := range audit {
		if a.Action == "approve" {
			approvals++
		}
	}
	if approvals != 1 {
		t.Fatalf("audit has %d approvals, want 1", approvals)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	started := 0
	for _, ev := range h.pub {
		if ev.Kind == deploy.EventPhaseStarted && ev.Phase == "prod" {
			started++
		}
	}
	if started != 1 {
		t.Fatalf("the next phase started %d times, want 1", started)
	}
}

func TestFailureRetryAndStaleReports(t *testing.T) {
	h := newHarness(t, twoPhase)
	r := h.start(t, ana)
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "review", Actor: bob})
	r = h.finishRunning(t, r.ID, false, "exit 3: boom")
	if got := stepState(r, "prep", "build"); got != deploy.StepFailed {
		t.Fatalf("build = %s, want failed", got)
	}
	r = h.must(t, deploy.Action{Kind: deploy.ActRetry, RunID: r.ID, Phase: "prep", Step: "build", Actor: bob})
	if s := r.Phases[0].Steps[1]; s.State != deploy.StepRunning || s.Attempt != 2 {
		t.Fatalf("after retry: %+v", s)
	}
	_, err := h.do(t, deploy.Action{Kind: deploy.ActRetry, RunID: r.ID, Phase: "prep", Step: "build", Actor: cat})
	wantErr(t, err, deploy.ErrAlreadyDone, "already retried")
	_, err = h.e.Report(context.Background(), deploy.StepReport{RunID: r.ID, Phase: "prep", Step: "build", Attempt: 1, OK: true})
	wantErr(t, err, deploy.ErrAlreadyDone, "stale report")
	r = h.finishRunning(t, r.ID, false, "exit 3: boom again")
	// A second click on the Retry button drawn for attempt 1 is not a new retry.
	_, err = h.do(t, deploy.Action{Kind: deploy.ActRetry, RunID: r.ID, Phase: "prep", Step: "build", Attempt: 1, Actor: cat})
	wantErr(t, err, deploy.ErrAlreadyDone, "already retried after attempt 1")
	r = h.must(t, deploy.Action{Kind: deploy.ActRetry, RunID: r.ID, Phase: "prep", Step: "build", Attempt: 2, Actor: cat})
	r = h.finishRunning(t, r.ID, true, "exit 0")
	if s := r.Phases[0].Steps[1]; s.State != deploy.StepDone || s.Attempt != 3 {
		t.Fatalf("build = %+v, want done at attempt 3", s)
	}
}

func TestOnFailureRollbackRunsTheProcedureOnce(t *testing.T) {
	h := newHarness(t, twoPhase)
	r := h.start(t, ana)
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "review", Actor: bob})
	h.finishRunning(t, r.ID, true, "exit 0")
	h.must(t, deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "prep", Actor: bob})
	r = h.finishRunning(t, r.ID, false, "exit 1: health check failed")
	if r.Status != deploy.StatusRollingBack || r.Rollback == nil || r.Rollback.FromPhase != "prod" {
		t.Fatalf("want rolling back from prod, got %s %+v", r.Status, r.Rollback)
	}
	if !strings.Contains(r.Rollback.Reason, "Deploy to production") || r.Rollback.By.ID != deploy.System.ID {
		t.Fatalf("rollback reason/by: %+v", r.Rollback)
	}
	if got := stepState(r, deploy.RollbackPhaseID, "notify"); got != deploy.StepRunning {
		t.Fatalf("rollback notify = %s, want running", got)
	}
	_, err := h.do(t, deploy.Action{Kind: deploy.ActRollback, RunID: r.ID, Actor: bob, Reason: "again"})
	wantErr(t, err, deploy.ErrAlreadyDone, "already rolling back")
	_, err = h.do(t, deploy.Action{Kind: deploy.ActAbort, RunID: r.ID, Actor: bob, Reason: "stop"})
	wantErr(t, err, deploy.ErrInvalid, "rolling back")
	h.finishRunning(t, r.ID, true, "sent")
	r = h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: deploy.RollbackPhaseID, Step: "revert", Actor: bob})
	if r.Status != deploy.StatusRolledBack || r.Ended.IsZero() {
		t.Fatalf("want rolled back, got %s", r.Status)
	}
	holder, _ := h.store.EnvHolder(context.Background(), "", "production")
	if holder != "" {
		t.Fatalf("environment still held by %q after the rollback ended", holder)
	}
	h.start(t, bob) // the environment is free again
}

func TestRollbackCancelsRunningSteps(t *testing.T) {
	h := newHarness(t, strings.Replace(twoPhase, "production: true", "", 1))
	r := h.start(t, ana)
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "review", Actor: bob})
	_, err := h.do(t, deploy.Action{Kind: deploy.ActRollback, RunID: r.ID, Actor: bob})
	wantErr(t, err, deploy.ErrInvalid, "needs a reason")
	r = h.must(t, deploy.Action{Kind: deploy.ActRollback, RunID: r.ID, Actor: bob, Reason: "bad canary"})
	if got := stepState(r, "prep", "build"); got != deploy.StepStopped {
		t.Fatalf("running build = %s, want stopped (by the rollback)", got)
	}
	items, _ := h.store.Pending(context.Background(), deploy.DueKindStep)
	for _, it := range items {
		if strings.Contains(it.ID, ":build:") {
			t.Fatalf("the cancelled step's queue item is still there: %s", it.ID)
		}
	}
}

func TestAbortOnlyBeforeProduction(t *testing.T) {
	h := newHarness(t, twoPhase)
	r := h.start(t, ana)
	_, err := h.do(t, deploy.Action{Kind: deploy.ActAbort, RunID: r.ID, Actor: bob})
	wantErr(t, err, deploy.ErrInvalid, "needs a reason")
	r = h.must(t, deploy.Action{Kind: deploy.ActAbort, RunID: r.ID, Actor: bob, Reason: "wrong version"})
	if r.Status != deploy.StatusAborted || r.AbortReason != "wrong version" {
		t.Fatalf("abort: %s %q", r.Status, r.AbortReason)
	}

	r = h.start(t, ana)
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "review", Actor: bob})
	h.finishRunning(t, r.ID, true, "exit 0")
	h.must(t, deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "prep", Actor: bob})
	_, err = h.do(t, deploy.Action{Kind: deploy.ActAbort, RunID: r.ID, Actor: bob, Reason: "too late"})
	wantErr(t, err, deploy.ErrNotAllowed, "use /deploy rollback")
}

func TestCompletionFreesTheEnvironment(t *testing.T) {
	h := newHarness(t, twoPhase)
	r := h.start(t, ana)
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "review", Actor: bob})
	h.finishRunning(t, r.ID, true, "exit 0")
	h.must(t, deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "prep", Actor: bob})
	h.finishRunning(t, r.ID, true, "exit 0")
	h.clk.Advance(time.Minute)
	r = h.must(t, deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "prod", Actor: cat})
	if r.Status != deploy.StatusCompleted || r.Ended.IsZero() {
		t.Fatalf("status %s, want completed", r.Status)
	}
	recent, _ := h.e.Recent(context.Background(), 10)
	if len(recent) != 1 || recent[0].ID != r.ID {
		t.Fatalf("recent = %v", recent)
	}
	_, err := h.do(t, deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "prod", Actor: bob})
	wantErr(t, err, deploy.ErrAlreadyDone, "already completed")
	audit, _ := h.e.Audit(context.Background(), r.ID)
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	want := "start done step_result approve step_result approve complete"
	if strings.Join(actions, " ") != want {
		t.Fatalf("audit = %q\nwant  %q", strings.Join(actions, " "), want)
	}
}

func TestFreezeRefusesStarts(t *testing.T) {
	h := newHarness(t, twoPhase)
	ctx := context.Background()
	wantErr(t, h.e.Freeze(ctx, "production", "", eve, "incident"), deploy.ErrNotAllowed, "only approvers")
	if err := h.e.Freeze(ctx, "production", "", bob, "incident INC-42"); err != nil {
		t.Fatal(err)
	}
	_, err := h.e.Start(ctx, deploy.StartRequest{Release: "v1.4", Env: "production", Actor: ana, Platform: "slack"})
	wantErr(t, err, deploy.ErrFrozen, "frozen by @bob just now: incident INC-42")
	if err := h.e.Unfreeze(ctx, "production", "", cat); err != nil {
		t.Fatal(err)
	}
	h.start(t, ana)
}

// A freeze and its lifting each leave one entry in the org audit chain
// naming who, with the reason and the scope; refused ones (not an
// approver, no reason, nothing to lift) leave none.
func TestFreezeAndUnfreezeAreAudited(t *testing.T) {
	h := newHarness(t, twoPhase)
	ctx := context.Background()
	t0 := h.clk.Now()
	wantErr(t, h.e.Freeze(ctx, "production", "", eve, "incident"), deploy.ErrNotAllowed, "only approvers")
	wantErr(t, h.e.Freeze(ctx, "production", "", bob, "  "), deploy.ErrInvalid, "say why")
	wantErr(t, h.e.Unfreeze(ctx, "staging", "", cat), deploy.ErrInvalid, "staging is not frozen")
	if err := h.e.Freeze(ctx, "production", "", bob, "incident INC-42"); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(90 * time.Second)
	if err := h.e.Unfreeze(ctx, "production", "", cat); err != nil {
		t.Fatal(err)
	}
	l, err := h.store.OrgAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 2 {
		t.Fatalf("org audit has %d entries, want the freeze and the unfreeze: %+v", len(l.Entries), l.Entries)
	}
	fz, un := l.Entries[0], l.Entries[1]
	if fz.RunID != deploy.OrgAuditID || fz.Action != deploy.OrgFreeze || fz.Actor.ID != bob.ID || fz.Reason != "incident INC-42" ||
		!fz.At.Equal(t0) || fz.After != `{"env":"production"}` || fz.Rev != 1 {
		t.Errorf("freeze entry = %+v, want freeze of production by %s with the reason", fz, bob.ID)
	}
	if un.Action != deploy.OrgUnfreeze || un.Actor.ID != cat.ID || !un.At.Equal(t0.Add(90*time.Second)) || un.After != `{"env":"production"}` || un.Rev != 2 {
		t.Errorf("unfreeze entry = %+v, want unfreeze of production by %s", un, cat.ID)
	}
	if c := deploy.VerifyOrgAudit(l); c.Status != deploy.ChainOK || c.Head != un.Hash || un.Prev != fz.Hash {
		t.Errorf("verify org chain = %s, want ok, the unfreeze chained onto the freeze", c)
	}
}

const gated = `
name: gated
phases:
  - id: prod
    title: Production
    window: required
    approval: false
    steps:
      - id: go
        title: Deploy
        run: shell
        with: {command: ["true"]}
rollback:
  steps:
    - id: revert
      title: Revert
`

func TestWindowGate(t *testing.T) {
	h := newHarness(t, gated)
	h.gate.set(false)
	r := h.start(t, ana)
	if got := stepState(r, "prod", "go"); got != deploy.StepPending {
		t.Fatalf("step started outside a window: %s", got)
	}
	out, err := h.e.Advance(context.Background(), r.ID)
	if err != nil || out.Run.Rev != r.Rev {
		t.Fatalf("advance with the window closed wrote a change (rev %d → %d, %v)", r.Rev, out.Run.Rev, err)
	}
	h.gate.set(true)
	out, err = h.e.Advance(context.Background(), r.ID)
	if err != nil || stepState(out.Run, "prod", "go") != deploy.StepRunning {
		t.Fatalf("window opened: step %s, %v", stepState(out.Run, "prod", "go"), err)
	}
	// The phase needs no approval: the step's success completes the run.
	r = h.finishRunning(t, r.ID, true, "exit 0")
	if r.Status != deploy.StatusCompleted {
		t.Fatalf("status %s, want completed", r.Status)
	}
}

func TestWindowOverride(t *testing.T) {
	h := newHarness(t, gated)
	h.gate.set(false)
	r := h.start(t, ana)
	_, err := h.do(t, deploy.Action{Kind: deploy.ActOverrideWindow, RunID: r.ID, Actor: bob})
	wantErr(t, err, deploy.ErrInvalid, "needs a reason")
	r = h.must(t, deploy.Action{Kind: deploy.ActOverrideWindow, RunID: r.ID, Actor: bob, Reason: "hotfix for INC-7"})
	if got := stepState(r, "prod", "go"); got != deploy.StepRunning {
		t.Fatalf("override: step %s", got)
	}
	audit, _ := h.e.Audit(context.Background(), r.ID)
	last := audit[len(audit)-1]
	if last.Action != "override_window" || last.Reason != "hotfix for INC-7" || last.Actor.ID != bob.ID {
		t.Fatalf("audit = %+v", last)
	}
}

func TestStaleButtonFromAnEarlierPhase(t *testing.T) {
	h := newHarness(t, twoPhase)
	r := h.start(t, ana)
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "review", Actor: bob})
	h.finishRunning(t, r.ID, true, "exit 0")
	h.must(t, deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "prep", Actor: bob})
	_, err := h.do(t, deploy.Action{Kind: deploy.ActSkip, RunID: r.ID, Phase: "prep", Step: "review", Actor: cat, Reason: "x"})
	wantErr(t, err, deploy.ErrAlreadyDone, "already approved by @bob")
	_, err = h.do(t, deploy.Action{Kind: deploy.ActDone, RunID: "rnope9", Phase: "prep", Step: "review", Actor: cat})
	wantErr(t, err, deploy.ErrNotFound, "no such run")
}

func TestRunbookSnapshotIsKept(t *testing.T) {
	h := newHarness(t, twoPhase)
	r := h.start(t, ana)
	got := h.get(t, r.ID)
	if got.Runbook.Name != "test" || len(got.Runbook.Phases) != 2 || got.Runbook.Phases[0].Steps[1].With["command"] == nil {
		t.Fatalf("stored runbook snapshot lost data: %+v", got.Runbook)
	}
}

func TestStoreDownGivesAClearAnswerAndChangesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there any more
	st, err := redisstore.Open("redis://"+dead+"/0", "test:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := deploy.NewEngine(deploy.Config{Store: st, Runbook: parseRunbook(t, twoPhase), Logger: slog.New(slog.DiscardHandler)})
	_, err = e.Start(context.Background(), deploy.StartRequest{Release: "v1.4", Env: "production", Actor: ana, Platform: "slack"})
	wantErr(t, err, deploy.ErrUnavailable, "not answering right now; nothing was changed")
	_, err = e.Do(context.Background(), deploy.Action{Kind: deploy.ActDone, RunID: "rabcde", Step: "review", Actor: bob})
	wantErr(t, err, deploy.ErrUnavailable, "Try again in a moment")
	if strings.Contains(err.Error(), dead) {
		t.Fatalf("the person is shown internals: %q", err)
	}
}

func TestRollbackWithoutAProcedureEndsAtOnce(t *testing.T) {
	h := newHarness(t, `
name: bare
phases:
  - id: one
    title: One
    steps:
      - id: a
        title: Do it
`)
	r := h.start(t, ana)
	r = h.must(t, deploy.Action{Kind: deploy.ActRollback, RunID: r.ID, Actor: bob, Reason: "changed our minds"})
	if r.Status != deploy.StatusRolledBack || r.Rollback == nil || r.Rollback.Reason != "changed our minds" {
		t.Fatalf("status %s, rollback %+v", r.Status, r.Rollback)
	}
	if holder, _ := h.store.EnvHolder(context.Background(), "", "production"); holder != "" {
		t.Fatalf("environment still held by %s", holder)
	}
}
