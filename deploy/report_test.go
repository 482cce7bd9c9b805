package deploy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"deploybot/deploy"
)

// reportBook: a manual step above an automated one, then a production
// phase that waits for a maintenance window, and a one-step rollback.
const reportBook = `
name: shop
approvers: [U0ANA, U0BOB]
phases:
  - id: prep
    title: Preparation
    steps:
      - id: review
        title: Code review
      - id: build
        title: Build the release
        run: shell
        with: {command: ["true"]}
  - id: prod
    title: Production
    production: true
    window: required
    steps:
      - id: deploy
        title: Deploy to production
        run: shell
        with: {command: ["true"]}
      - id: verify
        title: Verify dashboards
rollback:
  steps:
    - id: revert
      title: Revert DNS
`

func mustContain(t *testing.T, text string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(text, p) {
			t.Errorf("the report does not say %q:\n%s", p, text)
		}
	}
}

// The report of a run with a skip, a retry, an approval with a note, a
// window override and a rollback says each of them, with who, when and why.
func TestReportHoldsSkipsRetriesApprovalsOverridesAndTheRollback(t *testing.T) {
	h := newHarness(t, reportBook)
	r := h.start(t, ana)
	act := func(kind deploy.ActionKind, phase, step, reason string, by deploy.Actor) {
		t.Helper()
		h.clk.Advance(time.Minute)
		h.must(t, deploy.Action{Kind: kind, RunID: r.ID, Phase: phase, Step: step, Reason: reason, Actor: by})
	}
	act(deploy.ActSkip, "prep", "review", "reviewed in PR 12", bob)
	h.clk.Advance(2 * time.Minute)
	h.finishRunning(t, r.ID, false, "exit 1: registry timeout")
	act(deploy.ActRetry, "prep", "build", "", bob)
	h.clk.Advance(3 * time.Minute)
	h.finishRunning(t, r.ID, true, "exit 0: image pushed")
	h.gate.set(false) // the production phase waits for its window
	act(deploy.ActApprove, "prep", "", "build is green", bob)
	act(deploy.ActOverrideWindow, "prod", "", "hotfix for the outage", bob)
	h.clk.Advance(time.Minute)
	h.finishRunning(t, r.ID, true, "exit 0")
	act(deploy.ActRollback, "prod", "", "error rate went up", ana)
	act(deploy.ActDone, deploy.RollbackPhaseID, "revert", "", bob)
	run := h.get(t, r.ID)
	if run.Status != deploy.StatusRolledBack {
		t.Fatalf("run is %s, want rolled back", run.Status)
	}
	audit, err := h.store.Audit(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	rep := deploy.BuildRunReport(run, audit, h.clk.Now())
	md := rep.Markdown(deploy.StyleText)
	mustContain(t, md,
		"Deployment report: v1.4 to production — rolled back",
		"**Service**: shop",
		"**Environment**: production",
		"**Started by**: @ana at 2026-11-25 10:00 UTC",
		"**Outcome**: rolled back",
		"**Ended**: 2026-11-25 10:12 UTC", "**Total duration**: 12m",
		// per-phase durations and the gates
		"**Preparation**: 8m — approved by @bob at 2026-11-25 10:08 UTC: build is green",
		"**Production**: 3m (production) — stopped",
		"started outside its maintenance window by @bob at 2026-11-25 10:09 UTC: hotfix for the outage",
		"**Rollback Procedure**: 1m — passed by itself at 2026-11-25 10:12 UTC (no approval required)",
		// the skip
		"Preparation › Code review — skipped by @bob at 2026-11-25 10:01 UTC: reviewed in PR 12",
		// the retry, with both results
		"Preparation › Build the release — passed after 2 attempts",
		"attempt 1: failed (exit 1: registry timeout) at 2026-11-25 10:03 UTC; retried by @bob at 2026-11-25 10:04 UTC",
		"attempt 2: passed (exit 0: image pushed) at 2026-11-25 10:07 UTC",
		// the rollback
		"**Started by**: @ana at 2026-11-25 10:11 UTC from “Production”",
		"**Reason**: error rate went up",
	)
	head := "unchained"
	if run.AuditHead != "" {
		head = run.AuditHead[:deploy.ShortHead]
	}
	mustContain(t, md, "**Audit head**: "+head)
	if strings.Contains(md, "In progress") {
		t.Errorf("the report of an ended run says it is in progress:\n%s", md)
	}
	// The deploy step passed at its first attempt: it is not among the retried.
	if strings.Contains(md, "Deploy to production —") {
		t.Errorf("a step that passed at once is listed as failed or retried:\n%s", md)
	}
}

// An aborted run's report says who aborted it and why; a live run's says
// it is in progress, with the report so far.
func TestReportOfAnAbortAndOfALiveRun(t *testing.T) {
	h := newHarness(t, reportBook)
	r := h.start(t, ana)
	h.clk.Advance(90 * time.Second)
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "review", Actor: bob}) // the build starts
	live := deploy.BuildRunReport(h.get(t, r.ID), nil, h.clk.Now())
	md := live.Markdown(deploy.StyleText)
	mustContain(t, md, "— in progress", "In progress: this is the report so far", "**Preparation**: in progress for 1m 30s", "**Production**: not reached",
		"**Total duration**: 1m 30s so far")
	h.must(t, deploy.Action{Kind: deploy.ActAbort, RunID: r.ID, Reason: "wrong build", Actor: bob})
	run := h.get(t, r.ID)
	audit, err := h.store.Audit(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	rep := deploy.BuildRunReport(run, audit, h.clk.Now())
	md = rep.Markdown(deploy.StyleText)
	mustContain(t, md, "— aborted", "**Aborted by**: @bob at 2026-11-25 10:01 UTC", "**Reason**: wrong build",
		// the build was running when the abort stopped it
		"Preparation › Build the release — stopped after 1 attempt", "attempt 1: stopped (stopped by the abort)")
}

// People's text cannot change the report's layout or reach a reader as
// markup: Markdown escapes it, Slack's mrkdwn gets entities.
func TestReportEscapesPeoplesText(t *testing.T) {
	h := newHarness(t, reportBook)
	r := h.start(t, ana)
	h.must(t, deploy.Action{Kind: deploy.ActSkip, RunID: r.ID, Phase: "prep", Step: "review", Reason: "<script>alert(1)</script> *now*\n# heading", Actor: bob})
	rep := deploy.BuildRunReport(h.get(t, r.ID), nil, h.clk.Now())
	md := rep.Markdown(deploy.StyleMarkdown)
	mustContain(t, md, `\<script\>alert(1)\</script\> \*now\* \# heading`)
	if strings.Contains(md, "<script>") || strings.Contains(md, "\n# heading") {
		t.Errorf("Markdown lets a reason through as markup:\n%s", md)
	}
	slack := rep.Markdown(deploy.StyleSlack)
	mustContain(t, slack, "&lt;script&gt;alert(1)&lt;/script&gt;", "*Skipped steps*", "• *Run*: "+r.ID)
}

// The report is owed once, by the transition that ends the run (written in
// the same Apply, after the final cards), and by no other: not while the run
// goes on, not when a rollback starts, only when it is rolled back.
func TestReportIsOwedByTheTransitionThatEndsTheRun(t *testing.T) {
	h := newHarness(t, reportBook)
	r := h.start(t, ana)
	owes := func(out deploy.Outcome) bool {
		t.Helper()
		n := 0
		for i, o := range out.Effects {
			if o.Kind == deploy.EffectReport {
				n++
				if i != len(out.Effects)-1 || o.Slot() != "report" || o.ItemID() != "effect:"+r.ID+":report" {
					t.Errorf("report effect %+v at %d of %d: want the last one, slot report", o.Effect, i, len(out.Effects))
				}
			}
		}
		return n == 1
	}
	do := func(a deploy.Action) deploy.Outcome {
		t.Helper()
		a.RunID = r.ID
		out, err := h.e.Do(context.Background(), a)
		if err != nil {
			t.Fatalf("%s: %v", a.Kind, err)
		}
		return out
	}
	if out := do(deploy.Action{Kind: deploy.ActDone, Phase: "prep", Step: "review", Actor: bob}); owes(out) {
		t.Error("a Done owes the report")
	}
	h.finishRunning(t, r.ID, true, "exit 0")
	do(deploy.Action{Kind: deploy.ActApprove, Phase: "prep", Actor: bob})
	h.finishRunning(t, r.ID, true, "exit 0")
	if out := do(deploy.Action{Kind: deploy.ActRollback, Reason: "alerts", Actor: ana}); owes(out) {
		t.Error("the start of a rollback owes the report")
	}
	out := do(deploy.Action{Kind: deploy.ActDone, Phase: deploy.RollbackPhaseID, Step: "revert", Actor: bob})
	if !owes(out) || out.Run.Status != deploy.StatusRolledBack {
		t.Fatalf("the end of the rollback (%s) does not owe the report: %+v", out.Run.Status, out.Effects)
	}
	items, err := h.store.Pending(context.Background(), deploy.DueKindEffect)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, it := range items {
		found = found || it.ID == "effect:"+r.ID+":report"
	}
	if !found {
		t.Errorf("the report effect is not stored with the transition: %d items", len(items))
	}

	// Completed and aborted runs owe it too.
	const oneStep = "name: one\nphases:\n  - id: only\n    title: Only\n    approval: false\n    steps:\n      - id: s\n        title: S\n"
	h2 := newHarness(t, oneStep)
	r2 := h2.start(t, ana)
	out, err = h2.e.Do(context.Background(), deploy.Action{Kind: deploy.ActDone, RunID: r2.ID, Phase: "only", Step: "s", Actor: bob})
	if err != nil || out.Run.Status != deploy.StatusCompleted {
		t.Fatalf("done: %v", err)
	}
	if n := len(effectsOf(out, deploy.EffectReport)); n != 1 {
		t.Errorf("a completion owes %d reports, want 1", n)
	}
	// A run with follow-ups owes it when they are done, not when it is deployed.
	const followUp = oneStep + "  - id: retro\n    title: Retrospective\n    follow_up: true\n    approval: false\n    steps:\n      - id: notes\n        title: Notes\n"
	h4 := newHarness(t, followUp)
	r4 := h4.start(t, ana)
	out, err = h4.e.Do(context.Background(), deploy.Action{Kind: deploy.ActDone, RunID: r4.ID, Phase: "only", Step: "s", Actor: bob})
	if err != nil || out.Run.Status != deploy.StatusDeployed {
		t.Fatalf("done: %v (%+v)", err, out.Run)
	}
	if n := len(effectsOf(out, deploy.EffectReport)); n != 0 {
		t.Errorf("a deployed run with follow-ups open owes %d reports, want 0", n)
	}
	out, err = h4.e.Do(context.Background(), deploy.Action{Kind: deploy.ActDone, RunID: r4.ID, Phase: "retro", Step: "notes", Actor: bob})
	if err != nil || out.Run.Status != deploy.StatusCompleted {
		t.Fatalf("done: %v", err)
	}
	if n := len(effectsOf(out, deploy.EffectReport)); n != 1 {
		t.Errorf("the end of the follow-ups owes %d reports, want 1", n)
	}
	h3 := newHarness(t, reportBook)
	r3 := h3.start(t, ana)
	out, err = h3.e.Do(context.Background(), deploy.Action{Kind: deploy.ActAbort, RunID: r3.ID, Reason: "not today", Actor: bob})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(effectsOf(out, deploy.EffectReport)); n != 1 {
		t.Errorf("an abort owes %d reports, want 1", n)
	}
}

// watchBook: a shell step, a watch, then a gate with an approval timeout.
const watchBook = `
name: watched
approvers: [U0ANA, U0BOB]
phases:
  - id: canary
    title: Canary
    approval_timeout: 30m
    steps:
      - id: ship
        title: Ship the canary
        run: shell
        with: {command: ["true"]}
      - id: soak
        title: Watch the error rate
        run: watch
        with: {for: 1h}
rollback:
  steps:
    - id: revert
      title: Revert
`

// The report tells an interrupted attempt and its retry, a watch ended
// early (who, why), and an approval request that expired and was made again.
func TestReportShowsInterruptionsWatchesAndExpiredRequests(t *testing.T) {
	h := newHarness(t, watchBook)
	r := h.start(t, ana)
	run := h.get(t, r.ID)
	h.clk.Advance(time.Minute)
	if _, err := h.e.Report(context.Background(), deploy.StepReport{RunID: r.ID, Phase: "canary", Step: "ship", Attempt: run.Phases[0].Steps[0].Attempt, Interrupted: true}); err != nil {
		t.Fatal(err)
	}
	h.must(t, deploy.Action{Kind: deploy.ActRetry, RunID: r.ID, Phase: "canary", Step: "ship", Actor: ana})
	h.clk.Advance(time.Minute)
	h.finishRunning(t, r.ID, true, "exit 0")
	h.clk.Advance(10 * time.Minute)
	h.must(t, deploy.Action{Kind: deploy.ActEndWatch, RunID: r.ID, Phase: "canary", Step: "soak", Reason: "flat for 10 minutes", Actor: bob})
	since := h.get(t, r.ID).Phases[0].AwaitingSince
	h.clk.Advance(31 * time.Minute)
	if _, err := h.e.Expire(context.Background(), deploy.ExpiryItem{RunID: r.ID, Phase: "canary", Since: since}); err != nil {
		t.Fatal(err)
	}
	h.must(t, deploy.Action{Kind: deploy.ActRequestApproval, RunID: r.ID, Phase: "canary", Actor: ana})
	run = h.get(t, r.ID)
	audit, err := h.store.Audit(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	rep := deploy.BuildRunReport(run, audit, h.clk.Now())
	md := rep.Markdown(deploy.StyleText)
	mustContain(t, md,
		"Canary › Ship the canary — passed after 2 attempts",
		"attempt 1: interrupted (the bot stopped while this step ran) at 2026-11-25 10:01 UTC; retried by @ana at 2026-11-25 10:01 UTC",
		"attempt 2: passed (exit 0) at 2026-11-25 10:02 UTC",
		"**Watches ended early**",
		"Canary › Watch the error rate — ended early by @bob at 2026-11-25 10:12 UTC: flat for 10 minutes",
		"the request for approval expired at 2026-11-25 10:43 UTC",
		"approval requested again by @ana at 2026-11-25 10:43 UTC",
		"**Canary**: in progress for 43m",
	)
}
