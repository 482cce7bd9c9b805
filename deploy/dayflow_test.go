package deploy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"deploybot/deploy"
)

// day is a release manager's runbook: an announcement (the bot's own
// notice), a window-gated production phase with a watch above a manual
// step, then a follow-up phase.
const day = `
name: day
distinct_approver: true
approvers: [U0BOB, "@release"]
phases:
  - id: comms
    title: Communication
    approval_timeout: 1h
    steps:
      - id: announce
        title: Deployment announcement sent to stakeholders
        notice: announcement
      - id: brief
        title: Support team briefed
  - id: prod
    title: Production
    production: true
    window: required
    steps:
      - id: canary
        title: Deploy the canary
      - id: watch
        title: Monitor the canary for 30 minutes
        run: watch
        with: {for: 30m}
      - id: half
        title: Deploy to 50%
  - id: followup
    title: Follow-up Actions
    follow_up: true
    steps:
      - id: retro
        title: Review the deployment process
rollback:
  steps:
    - id: notify
      title: Notify the team
      notice: rollback
    - id: revert
      title: Revert DNS
`

func effectsOf(out deploy.Outcome, kind deploy.EffectKind) []deploy.Owed {
	var fx []deploy.Owed
	for _, o := range out.Effects {
		if o.Kind == kind {
			fx = append(fx, o)
		}
	}
	return fx
}

// TestNoticeStepIsTheAutomaticNotice: the announcement step passes by
// itself and the start owes exactly one announcement, no second message.
func TestNoticeStepIsTheAutomaticNotice(t *testing.T) {
	h := newHarness(t, day)
	out, err := h.e.Start(context.Background(), deploy.StartRequest{Release: "v2", Env: "production", Channel: "C1", Platform: "slack", Actor: ana})
	if err != nil {
		t.Fatal(err)
	}
	if got := stepState(out.Run, "comms", "announce"); got != deploy.StepDone {
		t.Fatalf("announcement step is %s, want done by itself", got)
	}
	notices := effectsOf(out, deploy.EffectNotice)
	if len(notices) != 1 || notices[0].Notice != deploy.NoticeAnnouncement {
		t.Fatalf("start owes notices %+v, want one announcement", notices)
	}
	if n := len(effectsOf(out, deploy.EffectText)); n != 0 {
		t.Fatalf("start owes %d notify texts besides the announcement", n)
	}
}

// TestApproversAreAskedOncePerRequest: a ready gate owes one ask; a
// re-evaluation owes none; a renewed request after expiry asks again.
func TestApproversAreAskedOncePerRequest(t *testing.T) {
	h := newHarness(t, day)
	r := h.start(t, ana)
	out, err := h.e.Do(context.Background(), deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "comms", Step: "brief", Actor: ana})
	if err != nil {
		t.Fatal(err)
	}
	asks := effectsOf(out, deploy.EffectAsk)
	if len(asks) != 1 || asks[0].Phase != "comms" {
		t.Fatalf("the ready gate owes asks %+v, want one for comms", asks)
	}
	first := asks[0].Slot()
	out, err = h.e.Advance(context.Background(), r.ID)
	if err != nil || len(effectsOf(out, deploy.EffectAsk)) != 0 {
		t.Fatalf("a re-evaluation asked again: %+v, %v", out.Effects, err)
	}
	h.clk.Advance(time.Hour + time.Minute)
	x := deploy.ExpiryItem{RunID: r.ID, Phase: "comms", Since: out.Run.Phases[0].AwaitingSince}
	if _, err := h.e.Expire(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	out, err = h.e.Do(context.Background(), deploy.Action{Kind: deploy.ActRequestApproval, RunID: r.ID, Phase: "comms", Actor: ana})
	if err != nil {
		t.Fatal(err)
	}
	asks = effectsOf(out, deploy.EffectAsk)
	if len(asks) != 1 || asks[0].Slot() == first {
		t.Fatalf("the renewed request owes asks %+v, want one new one (not %s)", asks, first)
	}
}

// TestOrderWhereItMatters: nothing is ticked while the phase waits for its
// window; nothing below a running watch until it settles; a watch ends
// early only with a reason and shows it.
func TestOrderWhereItMatters(t *testing.T) {
	h := newHarness(t, day)
	h.gate.set(false)
	r := h.start(t, ana)
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "comms", Step: "brief", Actor: ana})
	h.must(t, deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "comms", Actor: bob})

	_, err := h.do(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prod", Step: "half", Actor: ana})
	wantErr(t, err, deploy.ErrInvalid, "waits for its maintenance window")
	_, err = h.do(t, deploy.Action{Kind: deploy.ActSkip, RunID: r.ID, Phase: "prod", Step: "canary", Actor: ana, Reason: "x"})
	wantErr(t, err, deploy.ErrInvalid, "waits for its maintenance window")

	h.gate.set(true)
	if _, err := h.e.Advance(context.Background(), r.ID); err != nil {
		t.Fatal(err)
	}
	h.gate.set(false) // a window that closes again does not stop the phase
	r = h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prod", Step: "canary", Actor: ana})
	if got := stepState(r, "prod", "watch"); got != deploy.StepRunning {
		t.Fatalf("watch is %s, want running", got)
	}
	_, err = h.do(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prod", Step: "half", Actor: ana})
	wantErr(t, err, deploy.ErrInvalid, "still running")

	_, err = h.do(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prod", Step: "watch", Actor: bob})
	wantErr(t, err, deploy.ErrInvalid, "End watch")
	_, err = h.do(t, deploy.Action{Kind: deploy.ActEndWatch, RunID: r.ID, Phase: "prod", Step: "watch", Actor: bob})
	wantErr(t, err, deploy.ErrInvalid, "needs a reason")
	r = h.must(t, deploy.Action{Kind: deploy.ActEndWatch, RunID: r.ID, Phase: "prod", Step: "watch", Actor: bob, Reason: "error budget fine"})
	w := r.Phases[1].Steps[1]
	if w.State != deploy.StepDone || !w.EndedEarly || w.Reason != "error budget fine" || w.By.ID != bob.ID {
		t.Fatalf("ended watch = %+v, want done, ended early by bob with the reason", w)
	}
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prod", Step: "half", Actor: ana})
}

// TestDeployedFreesTheEnvironmentWhileFollowUpsStayOpen: approving the last
// phase before the follow-ups deploys the run (one completion notice,
// environment free), and the follow-ups complete it later.
func TestDeployedFreesTheEnvironmentWhileFollowUpsStayOpen(t *testing.T) {
	h := newHarness(t, day)
	r := h.start(t, ana)
	_, err := h.do(t, deploy.Action{Kind: deploy.ActRollback, RunID: r.ID, Actor: ana, Reason: "x"})
	wantErr(t, err, deploy.ErrInvalid, "/deploy abort")

	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "comms", Step: "brief", Actor: ana})
	h.must(t, deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "comms", Actor: bob})
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prod", Step: "canary", Actor: ana})
	h.must(t, deploy.Action{Kind: deploy.ActEndWatch, RunID: r.ID, Phase: "prod", Step: "watch", Actor: bob, Reason: "fine"})
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prod", Step: "half", Actor: ana})
	out, err := h.e.Do(context.Background(), deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "prod", Actor: bob})
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != deploy.StatusDeployed || out.Run.Phase != 2 || out.Run.Ended.IsZero() {
		t.Fatalf("after the last gate: status %s, phase %d, ended %v; want deployed, on the follow-ups", out.Run.Status, out.Run.Phase, out.Run.Ended)
	}
	if n := effectsOf(out, deploy.EffectNotice); len(n) != 1 || n[0].Notice != deploy.NoticeCompletion {
		t.Fatalf("deploying owes notices %+v, want the completion notice", n)
	}
	deployedAt := out.Run.Ended
	// Without a run id, the deployed run is still the channel's run.
	if got, err := h.e.Resolve(context.Background(), "", out.Run.Channel); err != nil || got.ID != r.ID {
		t.Fatalf("Resolve without an id after deploying = %v, %v; want the deployed run %s", got, err, r.ID)
	}

	next := h.start(t, cat) // the environment is free
	// A live run in the channel comes first.
	if got, err := h.e.Resolve(context.Background(), "", out.Run.Channel); err != nil || got.ID != next.ID {
		t.Fatalf("Resolve without an id with a live run = %v, %v; want the live run %s", got, err, next.ID)
	}
	if next.Status != deploy.StatusActive {
		t.Fatalf("second start: %s", next.Status)
	}
	_, err = h.do(t, deploy.Action{Kind: deploy.ActRollback, RunID: r.ID, Actor: bob, Reason: "x"})
	wantErr(t, err, deploy.ErrInvalid, "already deployed")

	h.clk.Advance(time.Hour)
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "followup", Step: "retro", Actor: ana})
	out, err = h.e.Do(context.Background(), deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "followup", Actor: bob})
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != deploy.StatusCompleted || !out.Run.Ended.Equal(deployedAt) {
		t.Fatalf("after the follow-ups: %s ended %v, want completed, ended when deployed (%v)", out.Run.Status, out.Run.Ended, deployedAt)
	}
	if n := effectsOf(out, deploy.EffectNotice); len(n) != 0 {
		t.Fatalf("finishing the follow-ups owes notices %+v, want none (the completion went out when deployed)", n)
	}
	// The second run still holds the environment.
	_, err = h.e.Start(context.Background(), deploy.StartRequest{Release: "v3", Env: "production", Channel: "C1", Platform: "slack", Actor: ana})
	wantErr(t, err, deploy.ErrEnvLocked, next.ID)
}

// TestRollbackNoticeStepAndStoppedSteps: the rollback's notice step passes
// by itself; a step running when the rollback started reads stopped.
func TestRollbackNoticeStepAndStoppedSteps(t *testing.T) {
	h := newHarness(t, day)
	r := h.start(t, ana)
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "comms", Step: "brief", Actor: ana})
	h.must(t, deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "comms", Actor: bob})
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prod", Step: "canary", Actor: ana})
	out, err := h.e.Do(context.Background(), deploy.Action{Kind: deploy.ActRollback, RunID: r.ID, Actor: ana, Reason: "p99 up"})
	if err != nil {
		t.Fatal(err)
	}
	if got := stepState(out.Run, "prod", "watch"); got != deploy.StepStopped {
		t.Fatalf("watch is %s, want stopped by the rollback", got)
	}
	if got := stepState(out.Run, deploy.RollbackPhaseID, "notify"); got != deploy.StepDone {
		t.Fatalf("rollback notice step is %s, want done by itself", got)
	}
	if n := effectsOf(out, deploy.EffectNotice); len(n) != 1 || n[0].Notice != deploy.NoticeRollback {
		t.Fatalf("rollback owes notices %+v, want one rollback notice", n)
	}
}

// TestOnFailureRollbackWorksBeforeProduction: a person cannot roll back
// before the first production phase, but on_failure: rollback always can.
func TestOnFailureRollbackWorksBeforeProduction(t *testing.T) {
	h := newHarness(t, strings.Replace(twoPhase, `        run: shell
        with: {command: ["true"]}
  - id: prod`, `        run: shell
        on_failure: rollback
        with: {command: ["true"]}
  - id: prod`, 1))
	r := h.start(t, ana)
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "review", Actor: bob})
	_, err := h.do(t, deploy.Action{Kind: deploy.ActRollback, RunID: r.ID, Actor: bob, Reason: "x"})
	wantErr(t, err, deploy.ErrInvalid, "abort it instead")
	r = h.finishRunning(t, r.ID, false, "exit 1")
	if r.Status != deploy.StatusRollingBack && r.Status != deploy.StatusRolledBack {
		t.Fatalf("after the failure with on_failure: rollback the run is %s", r.Status)
	}
}
