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
