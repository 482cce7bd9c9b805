package bot_test

import (
	"strings"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/runbook"
)

// dayRun is a run of a runbook with a window-gated production phase (a
// watch above a manual step) and a follow-up phase, on its production phase.
func dayRun(t *testing.T) *deploy.Run {
	t.Helper()
	rb, err := runbook.Parse("t.yaml", []byte(`
name: t
distinct_approver: true
approvers: [U0ANA, U0BOB, "@release", "&55555"]
phases:
  - id: prep
    title: Preparation
    steps:
      - {id: notes, title: Release notes}
  - id: prod
    title: Production
    production: true
    window: required
    steps:
      - {id: canary, title: Deploy the canary}
      - {id: watch, title: Watch canary, run: watch, with: {for: 30m}}
      - {id: half, title: Deploy to 50%}
  - id: followup
    title: Follow-up Actions
    follow_up: true
    steps:
      - {id: retro, title: Retrospective}
rollback:
  steps:
    - {id: revert, title: Revert}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	ana := deploy.Actor{ID: "U0ANA", Name: "ana", Platform: "slack"}
	bob := deploy.Actor{ID: "U0BOB", Name: "bob", Platform: "slack"}
	return &deploy.Run{ID: "rabcde", Release: "v1.4", Env: "production", Started: ana, Status: deploy.StatusActive, Created: t0, Runbook: *rb, Phase: 1,
		Phases: []deploy.PhaseRun{
			{ID: "prep", Started: t0, Ended: t0.Add(time.Minute), Approval: &deploy.Approval{By: bob, At: t0.Add(time.Minute)},
				Steps: []deploy.StepRun{{ID: "notes", State: deploy.StepDone}}},
			{ID: "prod", Started: t0.Add(time.Minute), Steps: []deploy.StepRun{{ID: "canary", State: deploy.StepPending}, {ID: "watch", State: deploy.StepPending}, {ID: "half", State: deploy.StepPending}}},
			{ID: "followup", Steps: []deploy.StepRun{{ID: "retro", State: deploy.StepPending}}},
		}}
}

func TestWaitingPhaseSaysWhenAndHasNoStepButtons(t *testing.T) {
	r := dayRun(t)
	r.Phases[1].NextWindow = &deploy.WindowAt{Start: time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC), Zone: "Europe/Berlin"}
	now := time.Date(2026, 11, 25, 18, 50, 0, 0, time.UTC)
	c := bot.BuildCard(r, 1, now)
	if c.State != bot.CardWaiting {
		t.Fatalf("state %s, want waiting", c.State)
	}
	for _, s := range c.Steps {
		if len(s.Buttons) != 0 {
			t.Errorf("step %q has buttons %q while the phase waits for its window", s.Title, labels(s.Buttons))
		}
	}
	if g := bot.GateText(c.Gate); !strings.Contains(g, "opens 22:00 Europe/Berlin, in 2 h 10 min") {
		t.Errorf("gate %q does not say when the window opens", g)
	}
	if got := labels(c.Buttons); got != "Start outside window,Rollback" {
		t.Errorf("phase buttons %q", got)
	}
	status := bot.StatusText(r, now)
	if !strings.Contains(status, "opens 22:00 Europe/Berlin, in 2 h 10 min") || !strings.Contains(status, "Follow-up Actions — Not started") {
		t.Errorf("status does not say when the window opens or what has not started:\n%s", status)
	}
}

func TestStepsBelowARunningWatchHaveNoButtons(t *testing.T) {
	r := dayRun(t)
	r.Phases[1].WindowOpened = t0
	r.Phases[1].Steps[0].State = deploy.StepDone
	r.Phases[1].Steps[1] = deploy.StepRun{ID: "watch", State: deploy.StepRunning, Started: t0, Attempt: 1}
	c := bot.BuildCard(r, 1, t0.Add(time.Minute))
	if got := labels(c.Steps[2].Buttons); got != "" {
		t.Errorf("the step below the running watch has buttons %q", got)
	}
	if d := bot.StepDetail(c.Steps[2]); d != "waits for Watch canary" {
		t.Errorf("blocked step detail %q", d)
	}
	end := c.Steps[1].Buttons
	if len(end) != 1 || end[0].Action != deploy.ActEndWatch || !end[0].NeedsReason || !bot.NeedsReason(end[0].Action) {
		t.Fatalf("watch buttons %+v, want End watch asking a reason", end)
	}

	bob := deploy.Actor{ID: "U0BOB", Name: "bob", Platform: "slack"}
	r.Phases[1].Steps[1] = deploy.StepRun{ID: "watch", State: deploy.StepDone, EndedEarly: true, By: &bob, At: t0, Reason: "error budget fine", Result: "ended early after 70s by @bob: error budget fine"}
	c = bot.BuildCard(r, 1, t0.Add(time.Minute))
	if d := bot.StepDetail(c.Steps[1]); d != "ended early by @bob: error budget fine" {
		t.Errorf("ended watch detail %q", d)
	}
	if labels(c.Steps[2].Buttons) != "Done,Skip" {
		t.Errorf("the step below a settled watch has buttons %q", labels(c.Steps[2].Buttons))
	}
	r.Status, r.Ended = deploy.StatusCompleted, t0.Add(time.Hour)
	if text := bot.Completion(r).Text(); !strings.Contains(text, "Watch canary — ended early by @bob: error budget fine") {
		t.Errorf("completion notice does not list the watch ended early:\n%s", text)
	}
}

func TestAskMentionsTheApproversButNotTheStarter(t *testing.T) {
	r := dayRun(t)
	n := bot.AskApprovers(r, 1)
	want := []bot.Mention{{ID: "U0BOB"}, {Handle: "release"}, {ID: "55555", Role: true}}
	if len(n.Mentions) != len(want) {
		t.Fatalf("mentions %+v, want %+v", n.Mentions, want)
	}
	for i := range want {
		if n.Mentions[i] != want[i] {
			t.Errorf("mention %d = %+v, want %+v", i, n.Mentions[i], want[i])
		}
	}
	if !strings.Contains(n.Text(), "@ana started the run and may not approve it") {
		t.Errorf("ask does not say the starter may not approve:\n%s", n.Text())
	}
	r.Runbook.Approvers = nil
	n = bot.AskApprovers(r, 1)
	if len(n.Mentions) != 0 || !strings.Contains(n.Title, "ready for approval by anyone but @ana") {
		t.Errorf("with no approvers named: %+v", n)
	}
}

func TestDeployedRunAndEarlyAbortRead(t *testing.T) {
	r := dayRun(t)
	// Before production: Abort, no Rollback.
	r.Phase = 0
	r.Phases[1].Started = time.Time{}
	r.Phases[0].Approval = nil
	c := bot.BuildCard(r, 0, t0)
	if got := labels(c.Buttons); got != "Approve,Abort" {
		t.Errorf("pre-production phase buttons %q, want Approve and Abort, no Rollback", got)
	}
	if c := bot.BuildCard(r, 1, t0); c.State != bot.CardNotStarted || bot.GateText(c.Gate) != "Not started" {
		t.Errorf("a phase not reached reads %q", bot.GateText(c.Gate))
	}
	aborted := dayRun(t)
	aborted.Phase, aborted.Phases[1].Started = 0, time.Time{}
	aborted.Status, aborted.Ended, aborted.AbortReason, aborted.AbortedBy = deploy.StatusAborted, t0.Add(time.Hour), "wrong tag", &deploy.Actor{ID: "U0BOB", Name: "bob"}
	for _, l := range bot.EnvironmentLines([]*deploy.Run{aborted}, t0.Add(2*time.Hour)) {
		if strings.Contains(l, "degraded") {
			t.Errorf("an abort before production marks the environment degraded: %s", l)
		}
	}

	d := dayRun(t)
	d.Phase, d.Status, d.Ended = 2, deploy.StatusDeployed, t0.Add(time.Hour)
	d.Phases[1].Approval = &deploy.Approval{By: deploy.Actor{ID: "U0BOB", Name: "bob"}, At: t0.Add(time.Hour)}
	d.Phases[1].Ended = t0.Add(time.Hour)
	d.Phases[2].Started = t0.Add(time.Hour)
	d.Phases[2].Steps[0].State = deploy.StepDone
	c = bot.BuildCard(d, 2, t0.Add(61*time.Minute))
	if got := labels(c.Buttons); got != "Approve" {
		t.Errorf("follow-up phase buttons %q, want Approve only (nothing to roll back or abort)", got)
	}
	if s := bot.StatusText(d, t0.Add(61*time.Minute)); !strings.Contains(s, "deployed in 1h 00m; follow-ups open (Follow-up Actions)") {
		t.Errorf("status of a deployed run:\n%s", s)
	}
	lines := bot.EnvironmentLines([]*deploy.Run{d}, t0.Add(2*time.Hour))
	if len(lines) != 1 || !strings.Contains(lines[0], "v1.4 deployed") {
		t.Errorf("environment lines %q, want v1.4 deployed", lines)
	}
}
