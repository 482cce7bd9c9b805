package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/internal/testkit/browser"
)

// shiftClock makes the page's clock run d ahead of the real one, as if d
// had passed without a reload (the page's script counts from Date.now).
// A live update undoes it (it carries the server's time, which the page
// follows): call settle first, and publish nothing until the page is read.
func shiftClock(t *testing.T, p *browser.Page, d time.Duration) {
	t.Helper()
	browser.Eval[bool](t, p, fmt.Sprintf(`(function(){ const real = window.realNow || Date.now; window.realNow = real; Date.now = function(){ return real.call(Date) + %d; }; return true; })()`, d.Milliseconds()))
}

// shownRun waits until the page shows a run and returns its id.
func shownRun(t *testing.T, p *browser.Page) string {
	t.Helper()
	p.WaitFor(t, "a run is shown", `!!document.body.dataset.run && !!document.getElementById("summary-" + document.body.dataset.run)`, live)
	return browser.Eval[string](t, p, `document.body.dataset.run`)
}

// command types text into the command box and waits for its reply.
func command(t *testing.T, p *browser.Page, text string) {
	t.Helper()
	n := browser.Eval[int](t, p, `document.querySelectorAll("#replies .reply").length`)
	p.Do(t, "send "+text,
		chromedp.SetValue(css("#command-input"), text),
		chromedp.Click(css("#command-form button[type=submit]")),
	)
	p.WaitFor(t, "the reply to "+text, fmt.Sprintf(`(function(){ const r = document.querySelector("#replies .reply .reply-cmd"); return !!r && r.textContent === %s && document.querySelectorAll("#replies .reply").length >= Math.min(%d, 4); })()`, jsString(text), n+1), live)
}

// slow has a manual step and a shell step that runs for a while.
const slow = `
name: slow
distinct_approver: true
phases:
  - id: prep
    title: Prepare
    steps:
      - id: notes
        title: Release notes reviewed
      - id: soak
        title: Soak the build
        run: shell
        with:
          command: ["sh", "-c", "sleep 30"]
rollback:
  steps:
    - id: undo
      title: Undo
`

// TestTimesTick: relative times and a running step's elapsed time move on
// in the page without a reload.
func TestTimesTick(t *testing.T) {
	f := newFixture(t, options{runbook: slow})
	ctx := context.Background()
	ana := deploy.Actor{ID: "console:ana", Name: "ana", Platform: "console"}
	reply := f.Core.Bot.Command(ctx, bot.Request{Platform: "console", Channel: "console", Actor: ana, Text: "/deploy start v1.4"})
	if reply.RunID == "" {
		t.Fatalf("start: %s", reply.Text)
	}
	run := reply.RunID
	if r := f.Core.Bot.Click(ctx, bot.Click{Platform: "console", Channel: "console", Actor: ana, ButtonID: "done:" + run + ":prep:notes"}); r.Text != "" {
		t.Fatalf("done: %s", r.Text)
	}
	f.waitRun(t, run, "the soak runs", func(r *deploy.Run) bool { return r.Phases[0].Steps[1].State == deploy.StepRunning })

	p := browser.Start(t).NewPage(t)
	openAs(t, p, f.URL, "bob")
	who := `li.step[data-step="notes"] .who time`
	p.Do(t, "see the run", chromedp.WaitVisible(css(who)))
	browser.Eval[int](t, p, `window.noReload = 1`)
	if got := text(t, p, who); got != "just now" {
		t.Errorf("the ticked step says %q, want just now", got)
	}
	p.WaitFor(t, "the running step shows its elapsed time", `!!document.querySelector('li.step[data-step="soak"] time[data-elapsed]')`, live)

	settle(t, f, p)
	shiftClock(t, p, 3*time.Minute+5*time.Second)
	p.WaitFor(t, "the tick says 3 min ago", `document.querySelector(`+jsString(who)+`).textContent === "3 min ago"`, live)
	p.WaitFor(t, "the summary's start moves on too", `document.querySelector(".summary .meta time").textContent === "3 min ago"`, live)
	p.WaitFor(t, "the running step's elapsed time moves on", `/^3m$/.test(document.querySelector('li.step[data-step="soak"] time[data-elapsed]').textContent)`, live)
	p.WaitFor(t, "the run list's time moves on", `document.querySelector("#runitem-`+run+` time").textContent === "3 min ago"`, live)
	if browser.Eval[int](t, p, `window.noReload || 0`) != 1 {
		t.Error("the page was reloaded")
	}
}

// TestEachRunHasItsAddress: selecting a run puts /runs/RUN in the address
// bar, a reload shows the same run, Back goes to the run shown before, and
// the server serves the address (on the dashboard too, behind its sign-in).
func TestEachRunHasItsAddress(t *testing.T) {
	f := newFixture(t, options{})
	p := browser.Start(t).NewPage(t)
	openAs(t, p, f.URL, "ana")
	command(t, p, "/deploy start v1.4")
	first := shownRun(t, p)
	p.WaitFor(t, "the address names the run", `location.pathname === "/runs/`+first+`"`, live)

	other, err := f.Core.Engine.Start(context.Background(), deploy.StartRequest{Release: "v9", Env: "staging", Channel: "console", Platform: "console", Actor: deploy.Actor{ID: "console:bob", Name: "bob", Platform: "console"}})
	if err != nil {
		t.Fatalf("start on staging: %v", err)
	}
	id2 := other.Run.ID
	p.Do(t, "select the staging run", chromedp.WaitVisible(css(`#runitem-`+id2+` a`)), chromedp.Click(css(`#runitem-`+id2+` a`)))
	p.WaitFor(t, "the address follows the selection", `location.pathname === "/runs/`+id2+`" && !!document.getElementById("summary-`+id2+`")`, live)

	p.Do(t, "reload", chromedp.Reload())
	waitAcrossReload(t, p, "the same run shows after the reload", `!!document.getElementById("summary-`+id2+`") && document.body.dataset.run === "`+id2+`"`)

	p.Do(t, "go back", chromedp.NavigateBack())
	waitAcrossReload(t, p, "Back shows the run before", `location.pathname === "/runs/`+first+`" && !!document.getElementById("summary-`+first+`")`)

	t.Run("the server serves the address", func(t *testing.T) {
		res, body := get(t, f.URL, "/runs/"+id2, named("ana"), nil)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="summary-`+id2+`"`) {
			t.Errorf("GET /runs/%s = %d, summary shown %v", id2, res.StatusCode, strings.Contains(body, `id="summary-`+id2+`"`))
		}
		res, _ = get(t, f.URL, "/runs/nope0", named("ana"), nil)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET /runs/nope0 = %d, want 404", res.StatusCode)
		}
	})
	t.Run("the dashboard serves it behind its sign-in", func(t *testing.T) {
		d := newFixture(t, options{readOnly: true, token: "tok-123"})
		run := d.start(t, "v7.0", "slack", "C0DEPLOY", slackUser)
		res, body := get(t, d.URL, "/runs/"+run.ID, nil, nil)
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `name="token"`) || strings.Contains(body, "v7.0") {
			t.Errorf("GET /runs/%s signed out = %d, want the sign-in form and nothing of the run", run.ID, res.StatusCode)
		}
		if !strings.Contains(body, `name="next" value="/runs/`+run.ID+`"`) {
			t.Error("the sign-in form does not lead back to the run")
		}
		res, _ = post(t, d.URL, "/console/login", url.Values{"token": {"tok-123"}, "next": {"/runs/" + run.ID}}, nil, nil)
		if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/runs/"+run.ID {
			t.Errorf("sign-in = %d to %q, want 303 to /runs/%s", res.StatusCode, loc, run.ID)
		}
		res, _ = post(t, d.URL, "/console/login", url.Values{"token": {"tok-123"}, "next": {"https://evil.example/"}}, nil, nil)
		if loc := res.Header.Get("Location"); loc != "/" {
			t.Errorf("sign-in with a foreign next leads to %q, want /", loc)
		}
		open := newFixture(t, options{readOnly: true})
		run = open.start(t, "v7.1", "slack", "C0DEPLOY", slackUser)
		res, body = get(t, open.URL, "/runs/"+run.ID, nil, nil)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="summary-`+run.ID+`"`) {
			t.Errorf("GET /runs/%s on the localhost dashboard = %d", run.ID, res.StatusCode)
		}
	})
}

// TestCommandRepliesInAWidePanel: help shows in a wide panel above the run,
// its markdown rendered (lists, code); markup in a reply stays text; the
// panel can be dismissed.
func TestCommandRepliesInAWidePanel(t *testing.T) {
	f := newFixture(t, options{})
	p := browser.Start(t).NewPage(t)
	openAs(t, p, f.URL, "ana")
	command(t, p, "/deploy help")
	if !browser.Eval[bool](t, p, `!document.getElementById("reply-panel").hidden`) {
		t.Fatal("the replies panel is hidden after a reply")
	}
	if w := browser.Eval[float64](t, p, `document.getElementById("reply-panel").getBoundingClientRect().width`); w < 500 {
		t.Errorf("the replies panel is %.0f px wide, want the main column's width", w)
	}
	if n := browser.Eval[int](t, p, `document.querySelectorAll("#replies .reply-text ul li code").length`); n < 5 {
		t.Errorf("help shows %d commands as code in a list, want one per command", n)
	}
	if got := text(t, p, "#replies .reply-text"); strings.Contains(got, "`") || strings.Contains(got, "• ") {
		t.Errorf("help shows raw markdown: %q", got)
	}
	if h := browser.Eval[float64](t, p, `document.querySelector(".left").getBoundingClientRect().height`); h > 900 {
		t.Errorf("the left column is %.0f px tall; replies belong in the wide panel", h)
	}

	command(t, p, "/deploy help <script>window.pwned=1</script>")
	command(t, p, "/deploy help <svg/onload=window.pwned=2>")
	if got := text(t, p, "#replies .reply-text"); !strings.Contains(got, "<svg/onload=window.pwned=2>") {
		t.Errorf("the reply does not show the markup as text: %q", got)
	}
	if got := text(t, p, "#replies .reply:nth-child(2) .reply-text"); !strings.Contains(got, "<script>window.pwned=1</script>") {
		t.Errorf("the reply does not show the script tag as text: %q", got)
	}
	if n := browser.Eval[int](t, p, `document.querySelectorAll("#replies script, #replies svg, #replies img").length`); n != 0 {
		t.Errorf("the replies hold %d elements made from the reply's markup", n)
	}
	if got := browser.Eval[string](t, p, `String(window.pwned)`); got != "undefined" {
		t.Errorf("markup in a reply ran: window.pwned = %s", got)
	}

	p.Do(t, "dismiss the replies", chromedp.Click(css("#replies-close")))
	if !browser.Eval[bool](t, p, `document.getElementById("reply-panel").hidden && document.querySelectorAll("#replies .reply").length === 0`) {
		t.Error("the replies panel is still shown after Dismiss")
	}
}

// roles is a runbook naming its operators and approvers.
const roleBook = `
name: roles
operators: ["console:ana"]
approvers: ["console:carol"]
phases:
  - id: verify
    title: Verify the release
    steps:
      - id: notes
        title: Release notes reviewed
      - id: build
        title: Build the artifact
        run: shell
        with:
          command: ["sh", "-c", "echo built"]
rollback:
  steps:
    - id: undo
      title: Undo
`

// TestButtonsPeopleCannotUse: each person sees the buttons they cannot use
// disabled with the reason, on the first render and in live updates, and the
// gate is marked for the approver only.
func TestButtonsPeopleCannotUse(t *testing.T) {
	f := newFixture(t, options{runbook: roleBook})
	b := browser.Start(t)
	ana := b.NewPage(t)
	openAs(t, ana, f.URL, "ana")
	command(t, ana, "/deploy start v1.4")
	run := shownRun(t, ana)
	dave := b.NewPage(t)
	openAs(t, dave, f.URL, "dave")
	carol := b.NewPage(t)
	openAs(t, carol, f.URL, "carol")
	done := `li.step[data-step="notes"] button[data-label="Done"]`
	dave.Do(t, "see the run", chromedp.WaitVisible(css(done)))
	if got := browser.Eval[string](t, dave, `document.querySelector(`+jsString(done)+`).disabled ? document.querySelector(`+jsString(done)+`).title : "enabled"`); got != "only operators may act on this run (operators: console:ana, console:carol)" {
		t.Errorf("dave's Done: %q", got)
	}
	if browser.Eval[bool](t, ana, `document.querySelector(`+jsString(done)+`).disabled`) {
		t.Error("ana's Done is disabled")
	}

	ana.Do(t, "tick the step", chromedp.Click(css(done)))
	approve := `#card-` + run + `-verify .card-foot button[data-label="Approve"]`
	for name, p := range map[string]*browser.Page{"ana": ana, "dave": dave, "carol": carol} {
		if err := p.Try(live, chromedp.WaitVisible(css(approve))); err != nil {
			t.Fatalf("%s does not see Approve: %v; replies %q; main %q", name, err, text(t, p, "#replies"), text(t, p, "#main"))
		}
	}
	cases := []struct {
		name string
		p    *browser.Page
		why  string
		mark string
	}{
		{"an operator who is no approver", ana, "only approvers may do this (approvers: console:carol)", "waiting"},
		{"someone who is no operator", dave, "only operators may act on this run (operators: console:ana, console:carol)", "waiting"},
		{"the approver", carol, "", "mine"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := browser.Eval[string](t, c.p, `(function(){ const b = document.querySelector(`+jsString(approve)+`); return b.disabled ? b.title : ""; })()`)
			if got != c.why {
				t.Errorf("Approve's reason = %q, want %q", got, c.why)
			}
			if c.why != "" && !strings.Contains(text(t, c.p, "#card-"+run+"-verify .why"), c.why) {
				t.Errorf("the card does not say %q", c.why)
			}
			if got := browser.Eval[string](t, c.p, `document.querySelector("#card-`+run+`-verify").dataset.approval || ""`); got != c.mark {
				t.Errorf("the gate is marked %q, want %q", got, c.mark)
			}
			if got := browser.Eval[string](t, c.p, `document.querySelector("#runitem-`+run+`").dataset.approval || ""`); got != c.mark {
				t.Errorf("the run list marks the run %q, want %q", got, c.mark)
			}
		})
	}
	carol.WaitFor(t, "carol's tab title counts the gate", `document.title === "(1) Approval waiting — deploybot"`, live)
	ana.Do(t, "click the disabled Approve", chromedp.Click(css(approve)))
	time.Sleep(300 * time.Millisecond) // nothing may happen: give a click time to be sent
	if n := browser.Eval[int](t, ana, `document.querySelectorAll("#replies .reply.refused").length`); n != 0 {
		t.Errorf("a disabled button was sent: %d refusals", n)
	}
}

// gated is a runbook whose phase waits for a maintenance window.
const gated = `
name: gated
phases:
  - id: prod
    title: Production rollout
    production: true
    window: required
    steps:
      - id: migrate
        title: Execute the database migration
rollback:
  steps:
    - id: undo
      title: Undo
`

// TestWindowsSayWhen: a phase waiting for a window counts down to its
// opening; the windows panel lists a booked window live, says when it is
// open, and drops it live when it is cancelled.
func TestWindowsSayWhen(t *testing.T) {
	f := newFixture(t, options{runbook: gated, windows: true})
	p := browser.Start(t).NewPage(t)
	openAs(t, p, f.URL, "ana")
	if got := text(t, p, "#windows-panel .windowlist"); got != "No maintenance windows booked or open." {
		t.Errorf("the windows panel says %q with none booked", got)
	}
	command(t, p, "/deploy start v1.4")
	run := shownRun(t, p)
	card := "#card-" + run + "-prod"
	if err := p.Try(live, chromedp.WaitVisible(css(card+".card-waiting"))); err != nil {
		t.Fatalf("no waiting phase: %v; replies %q; main %q", err, text(t, p, "#replies"), text(t, p, "#main"))
	}
	browser.Eval[int](t, p, `window.noReload = 1`)

	// t0 is 21:58 UTC: the window opens at 01:08 Berlin (00:08 UTC), in 2 h 10 min.
	command(t, p, "/deploy schedule v1.4 2030-03-06 01:08 Europe/Berlin for 1h")
	p.WaitFor(t, "the booked window shows live", `!!document.querySelector("#windows-panel li[data-window]")`, live)
	if got := text(t, p, "#windows-panel li[data-window] .w-state"); got != "opens in 2 h 10 min" {
		t.Errorf("the panel says %q, want opens in 2 h 10 min", got)
	}
	p.WaitFor(t, "the waiting card counts down", `!!document.querySelector(`+jsString(card+" .countdown")+`)`, live)
	if got := text(t, p, card+" .gate"); got != "Waiting for a maintenance window: opens Wed Mar 6 01:08 Europe/Berlin, in 2 h 10 min" {
		t.Errorf("the waiting card says %q", got)
	}

	// The page's clock is moved on below, and an update from the server
	// (it carries the server's time, which the page follows) would move it
	// back: let every update owed so far arrive first. Nothing is published
	// after that until the next command.
	settle(t, f, p)
	shiftClock(t, p, 2*time.Hour)
	// The page's own ticks (once a second) show the new time.
	p.WaitFor(t, "the countdown moves on", `document.querySelector(`+jsString(card+" .countdown")+`).textContent === "in 10 min"`, live)
	p.WaitFor(t, "the panel's too", `document.querySelector("#windows-panel li[data-window] .w-state").textContent === "opens in 10 min"`, live)
	shiftClock(t, p, 2*time.Hour+11*time.Minute)
	p.WaitFor(t, "the panel says the window is open", `document.querySelector("#windows-panel li[data-window] .w-state").textContent.startsWith("open now · closes in 59 min")`, live)
	shiftClock(t, p, 0)

	id := browser.Eval[string](t, p, `document.querySelector("#windows-panel li[data-window]").dataset.window`)
	command(t, p, "/deploy unschedule "+id)
	p.WaitFor(t, "the cancelled window goes live", `!document.querySelector("#windows-panel li[data-window]")`, live)
	if browser.Eval[int](t, p, `window.noReload || 0`) != 1 {
		t.Error("the page was reloaded; the windows should update live")
	}
}

// TestPhoneLayout: at 390 × 844 the page does not scroll sideways (even with
// a long label) and the current phase starts on the first screen.
func TestPhoneLayout(t *testing.T) {
	f, run := showcaseRun(t)
	p := browser.Start(t).NewPage(t)
	p.Do(t, "a phone's screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	openAs(t, p, f.URL, "bob")
	approve := `#card-` + run + `-environment .card-foot button[data-label="Approve"]`
	p.Do(t, "see the run", chromedp.WaitVisible(css(approve)))
	if sw, vw := browser.Eval[int](t, p, `document.documentElement.scrollWidth`), browser.Eval[int](t, p, `window.innerWidth`); sw > vw {
		t.Errorf("the page is %d px wide on a %d px screen: it scrolls sideways; widest: %s", sw, vw,
			browser.Eval[string](t, p, `Array.from(document.querySelectorAll("body *")).filter(e => e.getBoundingClientRect().right > window.innerWidth).slice(0, 8).map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right)).join(", ")`))
	}
	browser.Eval[bool](t, p, `(window.scrollTo(0, 0), true)`) // waiting for the button scrolled to it
	if top := browser.Eval[float64](t, p, `document.querySelector("#card-`+run+`-environment").getBoundingClientRect().top + window.scrollY`); top > 844-120 {
		t.Errorf("the current phase starts %.0f px down, want it on the first screen", top)
	}
	if *screenshotPhone != "" {
		browser.Eval[bool](t, p, `document.getElementById("toast").hidden = true`)
		// The first screen, as a phone shows it.
		png, err := chromedp.Run(p.Context(), chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(*screenshotPhone, png, 0o644); err != nil {
			t.Fatalf("write screenshot: %v", err)
		}
		t.Logf("wrote %s", *screenshotPhone)
	}

	// A long status label wraps instead of widening the page.
	why := "the staging canary's error rate doubled after the cache warm-up; stopping v1.4 until the connection-pool fix ships (INC-20300305-orchestration-prod-eu-west-1)"
	bob := deploy.Actor{ID: "console:bob", Name: "bob", Platform: "console"}
	if r := f.Core.Bot.Click(context.Background(), bot.Click{Platform: "console", Channel: "console", Actor: bob, ButtonID: "abort:" + run + ":environment:", Reason: why}); r.Text != "" {
		t.Fatalf("abort: %s", r.Text)
	}
	p.WaitFor(t, "the long status shows", `document.querySelector(".summary .pill").textContent.includes("INC-20300305")`, live)
	if sw, vw := browser.Eval[int](t, p, `document.documentElement.scrollWidth`), browser.Eval[int](t, p, `window.innerWidth`); sw > vw {
		t.Errorf("with a long status the page is %d px wide on a %d px screen", sw, vw)
	}
}

// TestStoppedCardsFollowTheRun: the card of the phase a rollback stopped
// says how the run stopped, live, through to the end of the rollback.
func TestStoppedCardsFollowTheRun(t *testing.T) {
	// A runbook that marks no phase production may roll back from any phase.
	f := newFixture(t, options{runbook: strings.Replace(rehearsal, "    production: true\n", "", 1)})
	ctx := context.Background()
	ana := deploy.Actor{ID: "console:ana", Name: "ana", Platform: "console"}
	reply := f.Core.Bot.Command(ctx, bot.Request{Platform: "console", Channel: "console", Actor: ana, Text: "/deploy start v1.4"})
	if reply.RunID == "" {
		t.Fatalf("start: %s", reply.Text)
	}
	run := reply.RunID
	p := browser.Start(t).NewPage(t)
	openAs(t, p, f.URL, "bob")
	gate := "#card-" + run + "-verify .gate"
	p.Do(t, "see the run", chromedp.WaitVisible(css(gate)))
	browser.Eval[int](t, p, `window.noReload = 1`)

	if r := f.Core.Bot.Click(ctx, bot.Click{Platform: "console", Channel: "console", Actor: ana, ButtonID: "rollback:" + run + ":verify:", Reason: "smoke test failed"}); r.Text != "" {
		t.Fatalf("rollback: %s", r.Text)
	}
	p.WaitFor(t, "the card says the run is rolling back", `document.querySelector(`+jsString(gate)+`).textContent.includes("rolling back")`, live)
	if r := f.Core.Bot.Click(ctx, bot.Click{Platform: "console", Channel: "console", Actor: ana, ButtonID: "done:" + run + ":" + deploy.RollbackPhaseID + ":revert"}); r.Text != "" {
		t.Fatalf("revert: %s", r.Text)
	}
	p.WaitFor(t, "the card says the run was rolled back", `document.querySelector(`+jsString(gate)+`).textContent.includes("Stopped: run rolled back")`, live)
	if browser.Eval[int](t, p, `window.noReload || 0`) != 1 {
		t.Error("the page was reloaded")
	}
}
