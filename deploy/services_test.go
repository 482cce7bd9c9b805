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
	"deploybot/deploy/redisstore"
	"deploybot/internal/clock"
	"deploybot/internal/testkit"
	"deploybot/runbook"
)

// paymentsRunbook deploys to production (approvers sign off) and staging
// (gates pass by themselves); its one automated step prints the service
// and the previous version from argv and from the environment.
const paymentsRunbook = `name: payments
approvers: [U0BOB, U0CAT]
environments:
  production:
  staging:
    approval: false
  qa:
    approvers: [U0CAT]
phases:
  - id: deploy
    title: Deploy
    steps:
      - id: ship
        title: "Ship {{ .Version }}{{ with .Previous }} over {{ . }}{{ end }}"
        run: shell
        with:
          command: ["sh", "-c", "echo argv service=$1 previous=$2; echo env service=$DEPLOY_SERVICE previous=$DEPLOY_PREVIOUS", "sh", "{{ .Service }}", "{{ .Previous }}"]
  - id: verify
    title: Verify
    steps:
      - id: look
        title: Look at the dashboards
rollback:
  steps:
    - id: revert
      title: "Revert to the previous version{{ with .Previous }} ({{ . }}){{ end }}"
`

// searchRunbook names no environments (any) and no name (its file's).
const searchRunbook = `approvers: [U0BOB, U0CAT]
phases:
  - id: deploy
    title: Deploy
    steps:
      - id: ship
        title: Ship it
`

type servicesHarness struct {
	e     *deploy.Engine
	x     *deploy.Executor
	store deploy.Store
	clk   *clock.Fake
}

// newServices loads a directory of the two runbooks, as DEPLOYBOT_RUNBOOK
// would name it, and builds an engine and executor on real Redis.
func newServices(t *testing.T) *servicesHarness {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"payments.yaml": paymentsRunbook, "search.yml": searchRunbook} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := adapters.NewRegistry(shell.New(shell.Config{Grace: 200 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	services, err := runbook.LoadCatalog(dir, reg)
	if err != nil {
		t.Fatalf("LoadCatalog: %v", err)
	}
	srv := testkit.Redis(t)
	st, err := redisstore.Open(srv.URL(), srv.Prefix(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &servicesHarness{store: st, clk: clock.NewFake(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))}
	h.e = deploy.NewEngine(deploy.Config{Store: st, Services: services, Clock: h.clk, Logger: slog.New(slog.DiscardHandler)})
	h.x = deploy.NewExecutor(deploy.ExecutorConfig{Engine: h.e, Steps: reg, Lease: 30 * time.Second, Renew: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	return h
}

func (h *servicesHarness) start(service, release, env string) (*deploy.Run, error) {
	out, err := h.e.Start(context.Background(), deploy.StartRequest{Service: service, Release: release, Env: env, Channel: "C1", Platform: "slack", Actor: ana})
	return out.Run, err
}

// runSteps runs the automated steps that are due, to the end.
func (h *servicesHarness) runSteps(t *testing.T) {
	t.Helper()
	for h.x.Poll(context.Background()) > 0 {
		h.x.Wait()
	}
}

func (h *servicesHarness) get(t *testing.T, id string) *deploy.Run {
	t.Helper()
	r, err := h.e.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (h *servicesHarness) do(t *testing.T, a deploy.Action) *deploy.Run {
	t.Helper()
	out, err := h.e.Do(context.Background(), a)
	if err != nil {
		t.Fatalf("%s %s/%s: %v", a.Kind, a.Phase, a.Step, err)
	}
	return out.Run
}

// TestServicesCheckedBy plays the "Checked by" on the engine: a
// directory of two runbooks; both services run at once in one environment;
// a second run of one is refused; after a first completed run a shell step
// reads {{ .Service }} and {{ .Previous }} (argv) and DEPLOY_SERVICE and
// DEPLOY_PREVIOUS (env); a start into an unlisted environment is refused
// with the list; a staging run with approval: false completes without an
// Approve.
func TestServicesCheckedBy(t *testing.T) {
	h := newServices(t)
	ctx := context.Background()

	// Several services: the request must say which.
	_, err := h.start("", "v1", "production")
	wantErr(t, err, deploy.ErrInvalid, "say which service: payments, search (e.g. /deploy start payments VERSION)")

	// Both services at once in production.
	pay, err := h.start("payments", "v1", "production")
	if err != nil {
		t.Fatal(err)
	}
	search, err := h.start("search", "s1", "production")
	if err != nil {
		t.Fatalf("search beside payments in production: %v", err)
	}
	if pay.Service != "payments" || search.Service != "search" || pay.Previous != "" {
		t.Fatalf("services %q, %q; previous %q", pay.Service, search.Service, pay.Previous)
	}
	// A second payments run in production is refused, naming the service.
	_, err = h.start("payments", "v1.1", "production")
	wantErr(t, err, deploy.ErrEnvLocked, "payments already has a deployment in progress in production: run "+pay.ID)

	// The unlisted environment is refused with the list, and nothing starts.
	_, err = h.start("payments", "v1", "prodution")
	wantErr(t, err, deploy.ErrInvalid, `payments does not deploy to "prodution": its environments are production, qa, staging`)

	// The first payments run completes: its step ran with no previous version.
	h.runSteps(t)
	r := h.get(t, pay.ID)
	if s := r.Phases[0].Steps[0]; s.State != deploy.StepDone || !strings.Contains(s.Output, "argv service=payments previous=\n") {
		t.Fatalf("first run's step = %+v", s)
	}
	h.do(t, deploy.Action{Kind: deploy.ActApprove, RunID: pay.ID, Phase: "deploy", Actor: bob})
	h.do(t, deploy.Action{Kind: deploy.ActDone, RunID: pay.ID, Phase: "verify", Step: "look", Actor: ana})
	r = h.do(t, deploy.Action{Kind: deploy.ActApprove, RunID: pay.ID, Phase: "verify", Actor: bob})
	if r.Status != deploy.StatusCompleted {
		t.Fatalf("first run is %s, want completed", r.Status)
	}
	if prev, err := h.e.Previous(ctx, "payments", "production"); err != nil || prev != "v1" {
		t.Fatalf("Previous(payments, production) = %q, %v; want v1", prev, err)
	}
	if prev, _ := h.e.Previous(ctx, "search", "production"); prev != "" {
		t.Errorf("Previous(search, production) = %q, want none (search is still running)", prev)
	}

	// The second run knows the version it replaces, in argv, env and titles.
	pay2, err := h.start("payments", "v2", "production")
	if err != nil {
		t.Fatal(err)
	}
	if pay2.Previous != "v1" {
		t.Fatalf("second run's Previous = %q, want v1", pay2.Previous)
	}
	h.runSteps(t)
	s := h.get(t, pay2.ID).Phases[0].Steps[0]
	for _, want := range []string{"argv service=payments previous=v1\n", "env service=payments previous=v1\n"} {
		if !strings.Contains(s.Output, want) {
			t.Errorf("second run's step output lacks %q:\n%s", want, s.Output)
		}
	}
	if got := pay2.StepTitle(0, 0); got != "Ship v2 over v1" {
		t.Errorf("StepTitle = %q, want %q", got, "Ship v2 over v1")
	}
	if got := pay2.StepTitle(len(pay2.Runbook.Phases), 0); got != "Revert to the previous version (v1)" {
		t.Errorf("rollback StepTitle = %q", got)
	}

	// Staging says approval: false: the run goes through without an Approve.
	st, err := h.start("payments", "v2", "staging")
	if err != nil {
		t.Fatal(err)
	}
	h.runSteps(t)
	st = h.do(t, deploy.Action{Kind: deploy.ActDone, RunID: st.ID, Phase: "verify", Step: "look", Actor: ana})
	if st.Status != deploy.StatusCompleted {
		t.Fatalf("staging run is %s, want completed without an Approve", st.Status)
	}
	audit, err := h.e.Audit(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	passed := 0
	for _, a := range audit {
		if a.Action != "approve" {
			continue
		}
		if a.Actor.ID != deploy.System.ID || !strings.Contains(a.Reason, "approval: false for staging") {
			t.Errorf("approve entry %+v, want the bot with the reason", a)
		}
		passed++
	}
	if passed != 2 {
		t.Errorf("%d gates passed by the bot in the audit, want 2", passed)
	}
	if prev, _ := h.e.Previous(ctx, "payments", "staging"); prev != "v2" {
		t.Errorf("Previous(payments, staging) = %q, want v2", prev)
	}
}

// An environment's approvers replace the runbook's for runs there.
func TestEnvironmentApproversGovernItsRuns(t *testing.T) {
	h := newServices(t)
	r, err := h.start("payments", "v1", "qa")
	if err != nil {
		t.Fatal(err)
	}
	h.runSteps(t)
	_, err = h.e.Do(context.Background(), deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "deploy", Actor: bob})
	wantErr(t, err, deploy.ErrNotAllowed, "not on this runbook's approver list for qa (U0CAT)")
	h.do(t, deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "deploy", Actor: cat})
	if got := h.get(t, r.ID).Approvers(); len(got) != 1 || got[0] != "U0CAT" {
		t.Errorf("Approvers() = %q, want [U0CAT]", got)
	}
	// A freeze of payments in qa and its lift are qa's approvers' call too.
	ctx := context.Background()
	wantErr(t, h.e.Freeze(ctx, "qa", "payments", bob, "incident"), deploy.ErrNotAllowed, "only approvers of payments can freeze it (approvers: U0CAT)")
	if err := h.e.Freeze(ctx, "qa", "payments", cat, "incident"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, h.e.Unfreeze(ctx, "qa", "payments", bob), deploy.ErrNotAllowed, "only approvers of payments can lift its freeze (approvers: U0CAT)")
	if err := h.e.Unfreeze(ctx, "qa", "payments", cat); err != nil {
		t.Fatal(err)
	}
}

// A freeze of every service stops them all; a freeze of one stops only it.
func TestFreezesPerService(t *testing.T) {
	h := newServices(t)
	ctx := context.Background()
	wantErr(t, h.e.Freeze(ctx, "production", "billing", bob, "x"), deploy.ErrInvalid, `unknown service "billing": the services are payments, search`)
	if err := h.e.Freeze(ctx, "production", "payments", bob, "payments incident"); err != nil {
		t.Fatal(err)
	}
	_, err := h.start("payments", "v1", "production")
	wantErr(t, err, deploy.ErrFrozen, "payments is frozen in production by @bob just now: payments incident. An approver can lift it with /deploy unlock production payments")
	if _, err := h.start("search", "s1", "production"); err != nil {
		t.Fatalf("search is not frozen: %v", err)
	}
	if _, err := h.start("payments", "v1", "staging"); err != nil {
		t.Fatalf("payments is not frozen in staging: %v", err)
	}
	if err := h.e.Freeze(ctx, "staging", "", bob, "change freeze"); err != nil {
		t.Fatal(err)
	}
	_, err = h.start("search", "s1", "staging")
	wantErr(t, err, deploy.ErrFrozen, "staging is frozen by @bob just now: change freeze")
	wantErr(t, h.e.Unfreeze(ctx, "production", "search", bob), deploy.ErrInvalid, "search in production is not frozen")
	if err := h.e.Unfreeze(ctx, "production", "payments", cat); err != nil {
		t.Fatal(err)
	}
	if _, err := h.start("payments", "v1", "production"); err != nil {
		t.Fatalf("after the unfreeze: %v", err)
	}
}

// Plan shows the version a rollback returns to and the environment's policy,
// and refuses an environment the runbook does not list.
func TestPlanPerServiceAndEnvironment(t *testing.T) {
	h := newServices(t)
	rb, err := h.e.Services().Lookup("payments")
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := adapters.NewRegistry(shell.New(shell.Config{}))
	_, err = deploy.Plan(rb, reg, adapters.Vars{Version: "v2", Env: "prodution"})
	wantErr(t, err, deploy.ErrInvalid, "its environments are production, qa, staging")
	plan, err := deploy.Plan(rb, reg, adapters.Vars{Version: "v2", Previous: "v1", Env: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	if plan[0].Approval || plan[0].Steps[0].Title != "Ship v2 over v1" || !strings.Contains(plan[0].Steps[0].Plan, "payments") {
		t.Errorf("plan[0] = %+v", plan[0])
	}
	if last := plan[len(plan)-1]; last.Steps[0].Title != "Revert to the previous version (v1)" {
		t.Errorf("rollback plan = %+v", last)
	}
	prod, err := deploy.Plan(rb, reg, adapters.Vars{Version: "v2", Env: "production"})
	if err != nil || !prod[0].Approval {
		t.Errorf("production plan = %+v, %v; want approvals", prod, err)
	}
}

// A run stored before services (Service "", an environment-only lock)
// still reads as its service's, still blocks a new start of that service
// in its environment, and releases its old lock when it ends.
func TestARunStoredBeforeServicesKeepsItsLock(t *testing.T) {
	h := newHarness(t, twoPhase) // one service: "test"
	ctx := context.Background()
	old := h.start(t, ana)
	// Rewrite it in the old shape: no service in the document, the
	// environment-only lock instead of the service's.
	srv := testkit.Redis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	prefix := h.prefix
	doc, err := c.HGet(ctx, prefix+"run:"+old.ID, "doc").Result()
	if err != nil {
		t.Fatal(err)
	}
	doc = strings.Replace(doc, `"service":"test",`, "", 1)
	if strings.Contains(doc, `"service"`) {
		t.Fatalf("the document still names its service: %s", doc)
	}
	if err := c.HSet(ctx, prefix+"run:"+old.ID, "doc", doc).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename(ctx, prefix+"lock:production:test", prefix+"lock:production").Err(); err != nil {
		t.Fatal(err)
	}

	if r := h.get(t, old.ID); r.Service != "test" {
		t.Errorf("the old run reads as service %q, want test", r.Service)
	}
	_, err = h.e.Start(ctx, deploy.StartRequest{Release: "v2", Env: "production", Actor: ana, Platform: "slack"})
	wantErr(t, err, deploy.ErrEnvLocked, "production already has a deployment in progress: run "+old.ID)

	h.must(t, deploy.Action{Kind: deploy.ActAbort, RunID: old.ID, Actor: bob, Reason: "superseded"})
	if n, _ := c.Exists(ctx, prefix+"lock:production").Result(); n != 0 {
		t.Error("the old lock is still there after its run ended")
	}
	if _, err := h.e.Start(ctx, deploy.StartRequest{Release: "v2", Env: "production", Actor: ana, Platform: "slack"}); err != nil {
		t.Fatalf("start after the old run ended: %v", err)
	}
}

const followUpRunbook = `name: api
phases:
  - id: ship
    title: Ship
    steps:
      - id: deploy
        title: Deploy
  - id: retro
    title: Retrospective
    follow_up: true
    steps:
      - id: notes
        title: Write the notes
`

// The version is recorded by the transition that deploys it; an older
// run whose follow-ups finish later does not take it back.
func TestTheVersionIsRecordedWhenDeployed(t *testing.T) {
	h := newHarness(t, followUpRunbook)
	ctx := context.Background()
	start := func(release string) *deploy.Run {
		t.Helper()
		out, err := h.e.Start(ctx, deploy.StartRequest{Release: release, Env: "production", Actor: ana, Platform: "slack"})
		if err != nil {
			t.Fatal(err)
		}
		return out.Run
	}
	deployed := func(r *deploy.Run) {
		t.Helper()
		h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "ship", Step: "deploy", Actor: ana})
		if got := h.must(t, deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "ship", Actor: bob}); got.Status != deploy.StatusDeployed {
			t.Fatalf("run %s is %s, want deployed", r.ID, got.Status)
		}
	}
	previous := func(want string) {
		t.Helper()
		if got, err := h.e.Previous(ctx, "api", "production"); err != nil || got != want {
			t.Fatalf("Previous = %q, %v; want %q", got, err, want)
		}
	}
	a := start("v1")
	deployed(a)
	previous("v1")
	b := start("v2") // the environment is free once a is deployed
	if b.Previous != "v1" {
		t.Fatalf("b.Previous = %q, want v1", b.Previous)
	}
	deployed(b)
	previous("v2")
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: a.ID, Phase: "retro", Step: "notes", Actor: ana})
	if got := h.must(t, deploy.Action{Kind: deploy.ActApprove, RunID: a.ID, Phase: "retro", Actor: bob}); got.Status != deploy.StatusCompleted {
		t.Fatalf("a is %s, want completed", got.Status)
	}
	previous("v2")
	// A run that is rolled back or aborted records nothing.
	c := start("v3")
	h.must(t, deploy.Action{Kind: deploy.ActAbort, RunID: c.ID, Actor: bob, Reason: "wrong tag"})
	previous("v2")
}
