package deploy_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"deploybot/deploy"
)

// gates has operators and approvers, an automated check above a 30-minute
// canary watch, and a last phase. It marks no phase production, so Rollback
// is allowed on every phase.
const gates = `
name: gates
operators: [U0OPS, "@oncall"]
approvers: [U0ANA]
phases:
  - id: canary
    title: Canary
    steps:
      - id: check
        title: Health check
        run: shell
        with: {command: ["false"]}
      - id: watch
        title: Watch the canary
        run: watch
        with: {for: 30m}
  - id: prod
    title: Production
    steps:
      - id: deploy
        title: Deploy to production
rollback:
  steps:
    - id: revert
      title: Revert
`

var (
	ops    = deploy.Actor{ID: "U0OPS", Name: "ops", Platform: "slack", Workspace: "T1"}
	oncall = deploy.Actor{ID: "U0ONC", Name: "oncall", Platform: "slack", Workspace: "T1", Groups: []string{"oncall"}}
	boss   = deploy.Actor{ID: "U0ANA", Name: "ana", Platform: "slack", Workspace: "T1"}
	other  = deploy.Actor{ID: "U0EVE", Name: "eve", Platform: "slack", Workspace: "T1"}
)

func startIn(t *testing.T, h *harness, by deploy.Actor) *deploy.Run {
	t.Helper()
	out, err := h.e.Start(context.Background(), deploy.StartRequest{Release: "v1.4", Env: "production", Channel: "C1", Platform: "slack", Actor: by})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return out.Run
}

func refusedSaying(t *testing.T, err error, kind error, words ...string) {
	t.Helper()
	var de *deploy.Error
	if !errors.As(err, &de) || !errors.Is(err, kind) {
		t.Fatalf("err = %v, want a refusal of kind %v", err, kind)
	}
	for _, w := range words {
		if !strings.Contains(de.Msg, w) {
			t.Errorf("refusal %q does not say %q", de.Msg, w)
		}
	}
}

func TestOnlyOperatorsStartAndAct(t *testing.T) {
	h := newHarness(t, gates)
	_, err := h.e.Start(context.Background(), deploy.StartRequest{Release: "v1.4", Env: "production", Channel: "C1", Platform: "slack", Actor: other})
	refusedSaying(t, err, deploy.ErrNotAllowed, "operators", "U0OPS", "@oncall")

	r := startIn(t, h, oncall) // an operator by user group
	if r.Workspace != "T1" {
		t.Errorf("run workspace %q, want T1 (the starter's)", r.Workspace)
	}
	_, err = h.do(t, deploy.Action{Kind: deploy.ActRollback, RunID: r.ID, Actor: other, Channel: "C1", Reason: "x"})
	refusedSaying(t, err, deploy.ErrNotAllowed, "operators")
	// Rolling back is the safe direction: any operator may.
	h.must(t, deploy.Action{Kind: deploy.ActRollback, RunID: r.ID, Actor: ops, Channel: "C1", Reason: "p99 up"})
}

func TestApproverOnlyActions(t *testing.T) {
	h := newHarness(t, gates)
	r := startIn(t, h, ops)
	check := r.Phases[0].Steps[0]
	if check.State != deploy.StepRunning {
		t.Fatalf("check is %s, want running", check.State)
	}
	if _, err := h.e.Report(context.Background(), deploy.StepReport{RunID: r.ID, Phase: "canary", Step: "check", Attempt: check.Attempt, OK: false, Summary: "exit 1"}); err != nil {
		t.Fatal(err)
	}

	// An operator may retry a failed automated step but not skip it.
	_, err := h.do(t, deploy.Action{Kind: deploy.ActSkip, RunID: r.ID, Phase: "canary", Step: "check", Actor: ops, Channel: "C1", Reason: "flaky"})
	refusedSaying(t, err, deploy.ErrNotAllowed, "only approvers may skip an automated step", "U0ANA")
	r = h.must(t, deploy.Action{Kind: deploy.ActSkip, RunID: r.ID, Phase: "canary", Step: "check", Actor: boss, Channel: "C1", Reason: "known flake"})

	watch := r.Phases[0].Steps[1]
	if watch.State != deploy.StepRunning {
		t.Fatalf("watch is %s, want running", watch.State)
	}
	// Ending a running watch early (End watch or Skip) is an approver's call.
	_, err = h.do(t, deploy.Action{Kind: deploy.ActEndWatch, RunID: r.ID, Phase: "canary", Step: "watch", Actor: ops, Channel: "C1", Reason: "looks fine"})
	refusedSaying(t, err, deploy.ErrNotAllowed, "only approvers may end a running watch early")
	_, err = h.do(t, deploy.Action{Kind: deploy.ActSkip, RunID: r.ID, Phase: "canary", Step: "watch", Actor: ops, Channel: "C1", Reason: "bored"})
	refusedSaying(t, err, deploy.ErrNotAllowed, "only approvers")
	if got, _ := h.e.Get(context.Background(), r.ID); got.Phases[0].Steps[1].State != deploy.StepRunning {
		t.Errorf("watch is %s after refusals, want still running", got.Phases[0].Steps[1].State)
	}

	_, err = h.do(t, deploy.Action{Kind: deploy.ActAbort, RunID: r.ID, Actor: ops, Channel: "C1", Reason: "stop"})
	refusedSaying(t, err, deploy.ErrNotAllowed, "only approvers may abort")
	h.must(t, deploy.Action{Kind: deploy.ActAbort, RunID: r.ID, Actor: boss, Channel: "C1", Reason: "stop"})
}

func TestRunsBelongToTheirWorkspaceAndChannel(t *testing.T) {
	h := newHarness(t, gates)
	r := startIn(t, h, ops)

	stranger := boss
	stranger.Workspace = "T2" // an approver's ID, but in another workspace
	_, err := h.do(t, deploy.Action{Kind: deploy.ActRollback, RunID: r.ID, Actor: stranger, Channel: "C1", Reason: "x"})
	refusedSaying(t, err, deploy.ErrNotAllowed, "another workspace")

	dm := ops
	dm.Workspace = "" // a DM or another guild carries no workspace of the run
	_, err = h.do(t, deploy.Action{Kind: deploy.ActRollback, RunID: r.ID, Actor: dm, Channel: "D1", Reason: "x"})
	refusedSaying(t, err, deploy.ErrNotAllowed, "another workspace")

	// From another channel of the same workspace only approvers may act.
	_, err = h.do(t, deploy.Action{Kind: deploy.ActRollback, RunID: r.ID, Actor: ops, Channel: "C2", Reason: "x"})
	refusedSaying(t, err, deploy.ErrNotAllowed, "only approvers", "outside the channel")
	h.must(t, deploy.Action{Kind: deploy.ActRollback, RunID: r.ID, Actor: boss, Channel: "C2", Reason: "from the war room"})
}

func TestNoApproversMakesEveryOperatorOne(t *testing.T) {
	h := newHarness(t, strings.Replace(gates, "approvers: [U0ANA]\n", "", 1))
	r := startIn(t, h, ops)
	_, err := h.do(t, deploy.Action{Kind: deploy.ActAbort, RunID: r.ID, Actor: other, Channel: "C1", Reason: "x"})
	refusedSaying(t, err, deploy.ErrNotAllowed, "operators")
	h.must(t, deploy.Action{Kind: deploy.ActAbort, RunID: r.ID, Actor: oncall, Channel: "C1", Reason: "x"})
}

// TestOperatorsAreNamedOnce: a refusal names each operator once, in the
// runbook's order, though approvers (who operate too) repeat operators.
func TestOperatorsAreNamedOnce(t *testing.T) {
	h := newHarness(t, strings.Replace(strings.Replace(gates,
		`operators: [U0OPS, "@oncall"]`, `operators: [U0OPS, U0ANA, U0BOB]`, 1),
		`approvers: [U0ANA]`, `approvers: [U0ANA, U0BOB, U0CY]`, 1))
	_, err := h.e.Start(context.Background(), deploy.StartRequest{Release: "v1.4", Env: "production", Channel: "C1", Platform: "slack", Actor: other})
	refusedSaying(t, err, deploy.ErrNotAllowed, "(operators: U0OPS, U0ANA, U0BOB, U0CY)")
}
