package console_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"deploybot/deploy"
	"deploybot/internal/testkit/browser"
)

// storeWebRun stores an active run of the web service in staging, as
// another process would have started it (no live update reaches the page).
func storeWebRun(t *testing.T, f *fixture) *deploy.Run {
	t.Helper()
	web := f.Core.Engine.Services().Get("web")
	if web == nil {
		t.Fatal("the fixture has no web service")
	}
	r := &deploy.Run{ID: "rweb01", Service: "web", Release: "w2.0", Env: "staging", Channel: "console", Platform: "console",
		Started: deploy.Actor{ID: "console:cat", Name: "cat", Platform: "console"}, Status: deploy.StatusActive,
		Created: f.Clock.Now(), Runbook: *web, Rev: 1,
		Phases: []deploy.PhaseRun{{ID: "ship", Started: f.Clock.Now(), Steps: []deploy.StepRun{{ID: "go", State: deploy.StepPending}}}}}
	if err := f.Store.Apply(context.Background(), deploy.Change{Run: r, WriteID: "store-web-run"}); err != nil {
		t.Fatalf("store the web run: %v", err)
	}
	return r
}

// TestRunListsAreGroupedByService opens the console of a bot with two
// services: the run lists and the environments are grouped by service, a
// start without a service is answered with the services, and a run started
// from the command box appears live in a group of its own, in name order.
func TestRunListsAreGroupedByService(t *testing.T) {
	f := newFixture(t, options{web: true})
	webRun := storeWebRun(t, f)
	b := browser.Start(t)
	ana := b.NewPage(t)
	openAs(t, ana, f.URL, "ana")

	if got := text(t, ana, `#live-runs .service-group[data-service="web"] h4`); got != "web" {
		t.Errorf("the web group's heading is %q, want web", got)
	}
	if got := text(t, ana, `#live-runs .service-group[data-service="web"] #runitem-`+webRun.ID+` .ri-release`); got != "w2.0" {
		t.Errorf("web's run in its group shows %q, want w2.0", got)
	}
	envs := `Array.from(document.querySelectorAll("#environments .service-group")).map(g => g.dataset.service + ": " + g.querySelector("ul").textContent).join(" | ")`
	if got := browser.Eval[string](t, ana, envs); got != "web: staging: held by run "+webRun.ID+" (w2.0, in progress)" {
		t.Errorf("environments panel = %q, want web's staging held by its run", got)
	}
	if got := text(t, ana, `#command-form .examples code`); got != "/deploy start api v1.4" {
		t.Errorf("the command box suggests %q, want /deploy start api v1.4", got)
	}

	ana.Do(t, "start without a service",
		chromedp.SetValue(css("#command-input"), "/deploy start v1.4"),
		chromedp.Click(css("#command-form button[type=submit]")),
	)
	ana.WaitFor(t, "the bot asks which service", `(function(){ const r = document.querySelector("#replies .reply-text"); return !!r && r.textContent.includes("Which service? api, web"); })()`, live)
	if n := browser.Eval[int](t, ana, `document.querySelectorAll("#live-runs .runitem").length`); n != 1 {
		t.Errorf("%d runs listed after a start without a service, want 1 (nothing ran)", n)
	}

	ana.Do(t, "start api",
		chromedp.SetValue(css("#command-input"), "/deploy start api v1.4"),
		chromedp.Click(css("#command-form button[type=submit]")),
	)
	ana.WaitFor(t, "api's run is listed in a group of its own", `!!document.querySelector('#live-runs .service-group[data-service="api"] .runitem')`, live)
	order := browser.Eval[string](t, ana, `Array.from(document.querySelectorAll("#live-runs > .service-group")).map(g => g.dataset.service).join(",")`)
	if order != "api,web" {
		t.Errorf("groups in the live list: %q, want api,web", order)
	}
	if got := text(t, ana, `#live-runs .service-group[data-service="api"] .ri-release`); got != "v1.4" {
		t.Errorf("api's group lists %q, want v1.4", got)
	}
	ana.WaitFor(t, "the started run's summary, naming the service", `(function(){ const h = document.querySelector(".summary h1"); return !!h && h.textContent.replace(/\s+/g, " ").trim() === "api v1.4 → production"; })()`, live)

	// The environments panel follows without a reload: api's run now holds production.
	ana.WaitFor(t, "api's environment in the panel", envs+`.includes("api: production: held by run")`, live)
	if got := browser.Eval[string](t, ana, envs); !strings.HasPrefix(got, "api: production: held by run") || !strings.Contains(got, "web: staging: held by run "+webRun.ID) {
		t.Errorf("environments = %q, want each service's held environment in its group, api first", got)
	}
}
