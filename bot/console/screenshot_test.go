package console_test

import (
	"context"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/internal/testkit/browser"
)

// screenshot, when set, is where TestScreenshotOfARunInProgress writes its
// picture (the README's): go test ./bot/console -run Screenshot -screenshot $PWD/docs/console.png
var screenshot = flag.String("screenshot", "", "write the screenshot of a run in progress to this PNG file")

// screenshotPhone, when set, is where TestPhoneLayout writes its picture:
// go test ./bot/console -run 'Screenshot|Phone' -screenshot $PWD/docs/console.png -screenshot-phone $PWD/docs/console-phone.png
var screenshotPhone = flag.String("screenshot-phone", "", "write the phone-width screenshot of a run in progress to this PNG file")

// showcase is the first phases of the built-in checklist, with a few of its
// checks automated by shell steps.
const showcase = `
name: orchestration-system
title: Orchestration System Deployment Checklist
distinct_approver: true
phases:
  - id: code
    group: Pre-Deployment
    title: Code & Repository
    steps:
      - id: branches-merged
        title: All feature branches merged to main
      - id: code-review
        title: Code review completed for all changes
      - id: tests
        title: All automated tests passing (unit, integration, e2e)
        run: shell
        with:
          command: ["sh", "-c", "echo 'unit: 1142 passed'; echo 'e2e: 46 passed'; echo 'ok  1,284 tests passed in 3m12s'"]
      - id: release-tag
        title: Release tag created in Git
  - id: environment
    group: Pre-Deployment
    title: Environment Preparation
    steps:
      - id: backup
        title: Production environment backup completed
        run: shell
        with:
          command: ["sh", "-c", "echo 'snapshot pg-prod-20300305 written (48.2 GiB)'"]
      - id: migration-staging-tested
        title: Database migration scripts tested in staging
      - id: config-verified
        title: Configuration values verified for production
      - id: ssl
        title: SSL certificates validated and updated if needed
        run: shell
        with:
          command: ["sh", "-c", "echo 'api.example.com: valid until 2030-11-02 (241 days)'"]
      - id: monitoring
        title: Monitoring and alerting configured
      - id: rollback-plan
        title: Rollback plan documented
  - id: production
    group: Deployment
    title: "Production Deployment"
    production: true
    steps:
      - id: canary
        title: Deploy orchestration system to canary environment
      - id: deploy-100
        title: Deploy to remaining production capacity
rollback:
  steps:
    - id: notify
      title: Immediately notify deployment team and stakeholders
`

// TestScreenshotOfARunInProgress builds a run two people are halfway
// through (a phase approved, manual steps ticked, a step skipped with a
// reason, automated steps finished) and checks the page shows it with the
// Approve button; with -screenshot it saves the README's picture of it.
func TestScreenshotOfARunInProgress(t *testing.T) {
	f, run := showcaseRun(t)
	p := browser.Start(t).NewPage(t)
	p.Do(t, "a desktop's screen", chromedp.EmulateViewport(1280, 900))
	openAs(t, p, f.URL, "bob")
	approve := `#card-` + run + `-environment .card-foot button[data-label="Approve"]`
	p.Do(t, "see the run", chromedp.WaitVisible(css(approve)))

	checks := []struct{ name, sel, want string }{
		{"the summary names the service and the release", ".summary h1", "orchestration-system v1.4 → production"},
		{"the approved phase says by whom", "#card-" + run + "-code .gate", "Approved by @bob 8 min ago"},
		{"the automated step finished", `#card-` + run + `-environment li[data-step="ssl"] .detail`, "exit 0"},
		{"its output's last line shows", `#card-` + run + `-environment li[data-step="ssl"] .lastline`, "api.example.com: valid until 2030-11-02 (241 days)"},
		{"the skipped step shows the reason", `#card-` + run + `-environment li[data-step="monitoring"] .detail`, "unchanged since v1.3; dashboards checked this morning"},
		{"the gate waits for another approver", "#card-" + run + "-environment .gate", "Waiting for approval by an approver other than @ana"},
		{"the gate is marked for bob", "#card-" + run + "-environment .badge-mine", "your approval"},
		{"the announcement is in the feed", "#feed .notice-announcement .notice-title", "orchestration-system: Deployment of v1.4 to production started"},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if got := text(t, p, c.sel); got != c.want {
				t.Errorf("%s shows %q, want %q", c.sel, got, c.want)
			}
		})
	}
	if *screenshot != "" {
		browser.Eval[bool](t, p, `document.getElementById("toast").hidden = true`)
		if err := os.WriteFile(*screenshot, p.Screenshot(t), 0o644); err != nil {
			t.Fatalf("write screenshot: %v", err)
		}
		t.Logf("wrote %s", *screenshot)
	}
}

// showcaseRun builds a run of the showcase runbook two people are halfway
// through, and returns the fixture and the run's id.
func showcaseRun(t *testing.T) (*fixture, string) {
	t.Helper()
	f := newFixture(t, options{runbook: showcase, windows: true})
	ctx := context.Background()
	ana := deploy.Actor{ID: "console:ana", Name: "ana", Platform: "console"}
	bob := deploy.Actor{ID: "console:bob", Name: "bob", Platform: "console"}

	reply := f.Core.Bot.Command(ctx, bot.Request{Platform: "console", Channel: "console", Actor: ana, Text: "/deploy start v1.4"})
	if reply.RunID == "" {
		t.Fatalf("start: %s", reply.Text)
	}
	run := reply.RunID
	click := func(who deploy.Actor, button, reason string) {
		t.Helper()
		f.Clock.Advance(90 * time.Second)
		if r := f.Core.Bot.Click(ctx, bot.Click{Platform: "console", Channel: "console", Actor: who, ButtonID: button, Reason: reason}); r.Text != "" {
			t.Fatalf("click %s as %s: %s", button, who.Name, r.Text)
		}
	}
	stepDone := func(phase, step string) {
		t.Helper()
		f.waitRun(t, run, step+" is done", func(r *deploy.Run) bool {
			i := r.FindPhase(phase)
			for _, s := range r.Phases[i].Steps {
				if s.ID == step {
					return s.State == deploy.StepDone
				}
			}
			return false
		})
	}
	click(ana, "done:"+run+":code:branches-merged", "")
	click(bob, "done:"+run+":code:code-review", "")
	stepDone("code", "tests")
	click(ana, "done:"+run+":code:release-tag", "")
	click(bob, "approve:"+run+":code:", "")
	stepDone("environment", "backup")
	click(ana, "done:"+run+":environment:migration-staging-tested", "")
	click(bob, "done:"+run+":environment:config-verified", "")
	stepDone("environment", "ssl")
	click(ana, "skip:"+run+":environment:monitoring", "unchanged since v1.3; dashboards checked this morning")
	click(ana, "done:"+run+":environment:rollback-plan", "")
	if r := f.Core.Bot.Command(ctx, bot.Request{Platform: "console", Channel: "console", Actor: bob, Text: "/deploy schedule v1.4 2030-03-06 22:00 Europe/Berlin for 2h"}); !strings.Contains(r.Text, "booked") {
		t.Fatalf("book a window: %s", r.Text)
	}
	f.Clock.Advance(2 * time.Minute)
	flush, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := f.Core.Outbox.Flush(flush); err != nil {
		t.Fatalf("flush the outbox: %v", err)
	}

	return f, run
}
