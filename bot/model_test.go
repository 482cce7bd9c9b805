package bot_test

import (
	"strings"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/runbook"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func sampleRun(t *testing.T) *deploy.Run {
	t.Helper()
	rb, err := runbook.Parse("t.yaml", []byte(`
name: t
distinct_approver: true
phases:
  - id: prep
    title: Preparation
    steps:
      - {id: notes, title: Release notes}
      - {id: build, title: Build, run: shell, with: {command: ["true"]}}
      - {id: watch, title: Watch canary, run: watch, with: {for: 30m}}
  - id: prod
    title: Production
    production: true
    steps:
      - {id: go, title: Deploy}
rollback:
  steps:
    - {id: revert, title: Revert}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	ana := deploy.Actor{ID: "U1", Name: "ana", Platform: "slack"}
	return &deploy.Run{ID: "rabcde", Release: "v1.4", Env: "production", Started: ana, Status: deploy.StatusActive, Created: t0, Runbook: *rb,
		Phases: []deploy.PhaseRun{
			{ID: "prep", Started: t0, Steps: []deploy.StepRun{{ID: "notes", State: deploy.StepPending}, {ID: "build", State: deploy.StepPending}, {ID: "watch", State: deploy.StepPending}}},
			{ID: "prod", Steps: []deploy.StepRun{{ID: "go", State: deploy.StepPending}}},
		}}
}

func labels(bs []bot.Button) string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Label)
	}
	return strings.Join(out, ",")
}

func TestCardButtonsFollowTheStepStates(t *testing.T) {
	bob := deploy.Actor{ID: "U2", Name: "bob", Platform: "slack"}
	cases := []struct {
		name              string
		edit              func(r *deploy.Run)
		notes, build, w   string
		phase             string
		gateContains      string
		approveHasConfirm bool
	}{
		{name: "fresh", edit: func(*deploy.Run) {}, notes: "Done,Skip", phase: "Abort", gateContains: "3 of 3 steps open"},
		{name: "build failed", edit: func(r *deploy.Run) {
			r.Phases[0].Steps[0] = deploy.StepRun{ID: "notes", State: deploy.StepDone, By: &bob, At: t0}
			r.Phases[0].Steps[1] = deploy.StepRun{ID: "build", State: deploy.StepFailed, Result: "exit 3: boom", Attempt: 1}
		}, build: "Retry,Skip", phase: "Abort"},
		{name: "watch running", edit: func(r *deploy.Run) {
			r.Phases[0].Steps[0].State, r.Phases[0].Steps[1].State = deploy.StepDone, deploy.StepDone
			r.Phases[0].Steps[2] = deploy.StepRun{ID: "watch", State: deploy.StepRunning, Started: t0, Attempt: 1}
		}, w: "End watch", phase: "Abort"},
		{name: "all settled", edit: func(r *deploy.Run) {
			for i := range r.Phases[0].Steps {
				r.Phases[0].Steps[i].State = deploy.StepDone
			}
		}, phase: "Approve,Abort", gateContains: "other than @ana"},
		{name: "approval request expired", edit: func(r *deploy.Run) {
			for i := range r.Phases[0].Steps {
				r.Phases[0].Steps[i].State = deploy.StepDone
			}
			r.Phases[0].ApprovalExpired = t0
		}, phase: "Request approval,Abort", gateContains: "expired"},
		{name: "production phase", edit: func(r *deploy.Run) {
			for i := range r.Phases[0].Steps {
				r.Phases[0].Steps[i].State = deploy.StepDone
			}
			r.Phases[0].Approval = &deploy.Approval{By: bob, At: t0}
			r.Phase = 1
			r.Phases[1].Started = t0
			r.Phases[1].Steps[0].State = deploy.StepDone
		}, phase: "Approve,Rollback", approveHasConfirm: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := sampleRun(t)
			tc.edit(r)
			c := bot.BuildCard(r, r.Phase, t0.Add(time.Minute))
			if r.Phase == 0 {
				if got := labels(c.Steps[0].Buttons); got != tc.notes {
					t.Errorf("notes buttons %q, want %q", got, tc.notes)
				}
				if got := labels(c.Steps[1].Buttons); got != tc.build {
					t.Errorf("build buttons %q, want %q", got, tc.build)
				}
				if got := labels(c.Steps[2].Buttons); got != tc.w {
					t.Errorf("watch buttons %q, want %q", got, tc.w)
				}
			}
			for _, sl := range c.Steps {
				for _, b := range sl.Buttons {
					a, err := bot.ParseButtonID(b.ID())
					if err != nil || a.Step != b.Step || a.Attempt != b.Attempt || len(b.ID()) > 100 {
						t.Errorf("step button %q does not round-trip: %+v %v", b.ID(), a, err)
					}
				}
			}
			if got := labels(c.Buttons); got != tc.phase {
				t.Errorf("phase buttons %q, want %q", got, tc.phase)
			}
			if g := bot.GateText(c.Gate); !strings.Contains(g, tc.gateContains) {
				t.Errorf("gate %q lacks %q", g, tc.gateContains)
			}
			for _, b := range c.Buttons {
				if b.Label == "Approve" && (b.Confirm != nil) != tc.approveHasConfirm {
					t.Errorf("approve confirm = %v", b.Confirm)
				}
				if b.Label == "Rollback" && (b.Confirm == nil || !b.NeedsReason) {
					t.Errorf("rollback must confirm and ask a reason: %+v", b)
				}
				if len(b.ID()) > 100 {
					t.Errorf("button id %q longer than Discord's 100", b.ID())
				}
				a, err := bot.ParseButtonID(b.ID())
				if err != nil || a.Kind != b.Action || a.RunID != r.ID || a.Step != b.Step || a.Attempt != b.Attempt {
					t.Errorf("button id %q does not round-trip: %+v %v", b.ID(), a, err)
				}
			}
		})
	}
}

func TestStoppedRunsShowNoButtons(t *testing.T) {
	r := sampleRun(t)
	r.Status, r.AbortReason, r.AbortedBy = deploy.StatusAborted, "wrong tag", &deploy.Actor{ID: "U2", Name: "bob"}
	c := bot.BuildCard(r, 0, t0)
	if len(c.Buttons) != 0 || len(c.Steps[0].Buttons) != 0 {
		t.Fatalf("an aborted run's card has buttons: %+v", c)
	}
	if c.State != bot.CardStopped || c.Gate.Kind != bot.GateStopped || c.Gate.Run.By != "@bob" || c.Gate.Run.Reason != "wrong tag" {
		t.Fatalf("state %q, gate %+v", c.State, c.Gate)
	}
	if g := bot.GateText(c.Gate); !strings.Contains(g, "aborted by @bob: wrong tag") {
		t.Fatalf("gate = %q", g)
	}
}

func TestCompletionNoticeSaysWhatHappened(t *testing.T) {
	r := sampleRun(t)
	bob := deploy.Actor{ID: "U2", Name: "bob", Platform: "slack"}
	cat := deploy.Actor{ID: "U3", Name: "cat", Platform: "slack"}
	r.Phases[0].Steps[0] = deploy.StepRun{ID: "notes", State: deploy.StepSkipped, By: &bob, Reason: "in the PR description"}
	r.Phases[0].Ended = t0.Add(20 * time.Minute)
	r.Phases[0].Approval = &deploy.Approval{By: bob, At: t0.Add(20 * time.Minute)}
	r.Phases[1].Started, r.Phases[1].Ended = t0.Add(20*time.Minute), t0.Add(65*time.Minute)
	r.Phases[1].Approval = &deploy.Approval{By: cat, At: t0.Add(65 * time.Minute)}
	r.Status, r.Ended = deploy.StatusCompleted, t0.Add(65*time.Minute)
	text := bot.Completion(r).Text()
	for _, want := range []string{"v1.4 is deployed to production", "Total duration: 1h 05m", "Preparation: 20m", "Production: 45m",
		"Approvers: @bob, @cat", "Release notes — skipped by @bob: in the PR description"} {
		if !strings.Contains(text, want) {
			t.Errorf("completion notice lacks %q:\n%s", want, text)
		}
	}
}

func TestParseButtonIDRefusesStrangers(t *testing.T) {
	for _, id := range []string{"", "done", "delete:r1:a:b", "done::a:b", "done:r1:a:b:c", "retry:r1:a:b#x", "retry:r1:a:b#0"} {
		if _, err := bot.ParseButtonID(id); err == nil {
			t.Errorf("%q accepted", id)
		}
	}
}

func TestEnvironmentLinesMarkADegradedEnvironment(t *testing.T) {
	run := func(id, rel, env string, st deploy.Status, ended time.Duration) *deploy.Run {
		return &deploy.Run{ID: id, Release: rel, Env: env, Status: st, Ended: t0.Add(ended)}
	}
	recent := []*deploy.Run{ // newest first
		run("r5", "v1.5", "production", deploy.StatusRolledBack, 50*time.Minute),
		run("r4", "v1.4", "staging", deploy.StatusCompleted, 40*time.Minute),
		run("r3", "v1.4", "production", deploy.StatusCompleted, 30*time.Minute),
		run("r2", "v1.3", "staging", deploy.StatusAborted, 20*time.Minute),
	}
	got := strings.Join(bot.EnvironmentLines(recent, t0.Add(time.Hour)), "\n")
	want := "• production: v1.4 deployed 30 min ago (run r3) — ⚠️ degraded: v1.5 was rolled back 10 min ago (run r5); a completed run clears this\n" +
		"• staging: v1.4 deployed 20 min ago (run r4)"
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestCardCarriesTypedParts: a card says each part of a step's line as a
// typed field, never as prose a renderer would have to parse back.
func TestCardCarriesTypedParts(t *testing.T) {
	r := sampleRun(t)
	bob := deploy.Actor{ID: "U2", Name: "bob", Platform: "slack"}
	r.Phases[0].Steps[0] = deploy.StepRun{ID: "notes", State: deploy.StepSkipped, By: &bob, At: t0, Reason: "in the PR description"}
	r.Phases[0].Steps[1] = deploy.StepRun{ID: "build", State: deploy.StepFailed, By: &deploy.System, At: t0, Result: "exit 3: boom", Output: "compiling\nlinker error\n", Attempt: 2}
	r.Phases[0].Steps[2] = deploy.StepRun{ID: "watch", State: deploy.StepRunning, Started: t0, Progress: "4m of 30m", Attempt: 1}
	now := t0.Add(4 * time.Minute)
	c := bot.BuildCard(r, 0, now)

	skip, build, watch := c.Steps[0], c.Steps[1], c.Steps[2]
	if skip.Reason != "in the PR description" || skip.By == nil || skip.By.Who != "@bob" || skip.By.Ago != "4 min ago" || !skip.By.At.Equal(t0) {
		t.Errorf("skipped step: %+v (by %+v)", skip, skip.By)
	}
	if build.Result != "exit 3: boom" || build.LastLine != "linker error" || build.Attempt != 2 || build.By == nil || build.By.Who != "@deploybot" {
		t.Errorf("failed step: %+v", build)
	}
	if watch.Elapsed != 4*time.Minute || watch.Progress != "4m of 30m" || watch.By != nil || watch.Result != "" {
		t.Errorf("running step: %+v", watch)
	}
	if c.State != bot.CardCurrent || c.Gate.Kind != bot.GateStepsOpen || c.Gate.Open != 2 || c.Gate.Steps != 3 {
		t.Errorf("card state %q, gate %+v", c.State, c.Gate)
	}
	// The plain-text wording of /deploy status, from the typed parts.
	for l, want := range map[*bot.StepLine]string{&skip: "skipped: in the PR description", &build: "exit 3: boom", &watch: "running for 4m · 4m of 30m"} {
		if got := bot.StepDetail(*l); got != want {
			t.Errorf("StepDetail(%s) = %q, want %q", l.ID, got, want)
		}
	}

	r.Phases[0].Approval = &deploy.Approval{By: bob, At: t0}
	r.Phase = 1
	s := bot.BuildSummary(r, now)
	if s.Run.Status != deploy.StatusActive || len(s.Phases) != 2 ||
		s.Phases[0] != (bot.PhaseLine{Title: "Preparation", State: bot.PhaseApproved, ApprovedBy: "@bob"}) ||
		s.Phases[1] != (bot.PhaseLine{Title: "Production", State: bot.PhaseInProgress}) {
		t.Errorf("summary %+v", s)
	}
	if c := bot.BuildCard(r, 0, now); c.State != bot.CardApproved || c.Gate.Kind != bot.GateApproved || c.Gate.By.Who != "@bob" {
		t.Errorf("approved card: state %q, gate %+v", c.State, c.Gate)
	}
}

// TestNoticesCarryTheirIcon: a notice's icon is a typed field; its title has none.
func TestNoticesCarryTheirIcon(t *testing.T) {
	r := sampleRun(t)
	n := bot.Announcement(r)
	if n.Icon != bot.IconStart || n.Title != "t: Deployment of v1.4 to production started" || n.Headline() != "🚀 t: Deployment of v1.4 to production started" {
		t.Errorf("announcement: icon %q, title %q", n.Icon, n.Title)
	}
	r.Status, r.AbortedBy, r.AbortReason, r.Ended = deploy.StatusAborted, &deploy.Actor{ID: "U2", Name: "bob"}, "wrong tag", t0.Add(time.Hour)
	if n := bot.AbortNotice(r); n.Icon != bot.IconStopped || n.Title != "t: Deployment of v1.4 to production aborted" {
		t.Errorf("abort notice: icon %q, title %q", n.Icon, n.Title)
	}
	if s := bot.BuildSummary(r, t0); s.Run != (bot.RunState{Status: deploy.StatusAborted, By: "@bob", Reason: "wrong tag", Took: time.Hour}) ||
		bot.RunStatusText(s.Run) != "aborted by @bob: wrong tag" {
		t.Errorf("aborted run state %+v", s.Run)
	}
}
