package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"deploybot/bot"
	"deploybot/bot/console"
	"deploybot/deploy"
	"deploybot/internal/testkit/browser"
)

// live is how long a page may take to show a change pushed by the server.
const live = 20 * time.Second

// css is shorthand for a CSS selector.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// openAs opens the console in page p and picks name.
func openAs(t *testing.T, p *browser.Page, url, name string) {
	t.Helper()
	p.Do(t, "open the console as "+name,
		chromedp.Navigate(url),
		chromedp.WaitVisible(css("#name-input")),
		chromedp.SetValue(css("#name-input"), name),
		chromedp.Click(css("#name-form button")),
	)
	// Picking a name reloads the page: what it offers depends on who looks.
	waitAcrossReload(t, p, "the page is "+name+"'s and live", `(function(){ const me = document.getElementById("me-name"); return !!me && me.textContent === "@`+name+`" && document.getElementById("conn").dataset.state === "live"; })()`)
}

// waitAcrossReload polls cond like Page.WaitFor, through a reload of the page.
func waitAcrossReload(t *testing.T, p *browser.Page, what, cond string) {
	t.Helper()
	p.WaitAcrossReload(t, what, cond, live)
}

// text returns the text of the first element matching sel, or "".
func text(t *testing.T, p *browser.Page, sel string) string {
	t.Helper()
	return browser.Eval[string](t, p, `(function(){ const e = document.querySelector(`+jsString(sel)+`); return e ? e.textContent.replace(/\s+/g, " ").trim() : ""; })()`)
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// TestRehearsalInTheBrowser walks a run as two people would: ana starts it
// from the command box, ticks the manual step, watches the shell step below
// it finish without a reload, is refused when she approves her own run, and
// bob approves it from a second browser under his name.
func TestRehearsalInTheBrowser(t *testing.T) {
	f := newFixture(t, options{})
	b := browser.Start(t)
	ana := b.NewPage(t)
	openAs(t, ana, f.URL, "ana")

	ana.Do(t, "start a run from the command box",
		chromedp.SetValue(css("#command-input"), "/deploy start v1.4"),
		chromedp.Click(css("#command-form button[type=submit]")),
		chromedp.WaitVisible(css(".summary h1")),
		chromedp.WaitVisible(css(`li.step[data-step="notes"] button[data-label="Done"]`)),
	)
	if got := text(t, ana, ".summary h1"); got != "rehearsal v1.4 → production" {
		t.Errorf("summary heading = %q, want %q", got, "rehearsal v1.4 → production")
	}
	if got := text(t, ana, "#replies .reply-text"); !strings.Contains(got, "Started run") {
		t.Errorf("reply to the command = %q, want it to say the run started", got)
	}
	runID := browser.Eval[string](t, ana, `document.body.dataset.run`)
	// A marker that a reload would wipe out.
	browser.Eval[int](t, ana, `window.noReload = 1`)

	t.Run("the automated step is pending until the manual step above it is done", func(t *testing.T) {
		if got := text(t, ana, `li.step[data-step="build"] .state-label`); got != "" && got != "pending" {
			t.Errorf("build step shows %q before notes is done", got)
		}
	})

	ana.Do(t, "tick the manual step", chromedp.Click(css(`li.step[data-step="notes"] button[data-label="Done"]`)))
	ana.WaitFor(t, "the manual step shows done", `!!document.querySelector('li.step[data-step="notes"].state-done')`, live)
	ana.WaitFor(t, "the shell step finishes", `!!document.querySelector('li.step[data-step="build"].state-done')`, live)
	if got := text(t, ana, `li.step[data-step="build"] .detail`); got != "exit 0" {
		t.Errorf("shell step detail = %q, want %q", got, "exit 0")
	}
	if got := text(t, ana, `li.step[data-step="build"] .lastline`); got != "smoke test passed" {
		t.Errorf("shell step output line = %q, want %q", got, "smoke test passed")
	}
	if got := text(t, ana, `li.step[data-step="notes"] .who`); !strings.HasPrefix(got, "@ana") {
		t.Errorf("notes step says it was ticked by %q, want @ana", got)
	}

	ana.Do(t, "tick the last step", chromedp.Click(css(`li.step[data-step="changelog"] button[data-label="Done"]`)))
	ana.Do(t, "wait for Approve", chromedp.WaitVisible(css(`#card-`+runID+`-verify .card-foot button[data-label="Approve"]`)))

	t.Run("the starter's Approve is disabled with the reason on it", func(t *testing.T) {
		sel := `#card-` + runID + `-verify .card-foot button[data-label="Approve"]`
		if !browser.Eval[bool](t, ana, `document.querySelector(`+jsString(sel)+`).disabled`) {
			t.Fatal("ana's Approve on her own run is enabled")
		}
		want := "you started this run: someone else approves (two-person rule)"
		if got := browser.Eval[string](t, ana, `document.querySelector(`+jsString(sel)+`).title`); got != want {
			t.Errorf("Approve's reason = %q, want %q", got, want)
		}
		if got := text(t, ana, "#card-"+runID+"-verify .why"); got != want {
			t.Errorf("the card says %q under the gate, want %q", got, want)
		}
		if got := browser.Eval[string](t, ana, `document.querySelector("#card-`+runID+`-verify").dataset.approval || ""`); got != "waiting" {
			t.Errorf("the card is marked %q for ana, want waiting (not hers to approve)", got)
		}
		if got := browser.Eval[string](t, ana, `document.title`); strings.Contains(got, "Approval waiting") {
			t.Errorf("ana's tab title = %q; her own run's gate is not hers to approve", got)
		}
	})

	bob := b.NewPage(t)
	openAs(t, bob, f.URL, "bob")
	t.Run("a second person sees the run without the first one's refusal", func(t *testing.T) {
		bob.Do(t, "see the run", chromedp.WaitVisible(css(`#card-`+runID+`-verify .card-foot button[data-label="Approve"]`)))
		if n := browser.Eval[int](t, bob, `document.querySelectorAll("#replies .reply").length`); n != 0 {
			t.Errorf("bob's page shows %d replies meant for ana", n)
		}
	})
	t.Run("the approver sees the gate marked for him and in the tab title", func(t *testing.T) {
		if got := browser.Eval[string](t, bob, `document.querySelector("#card-`+runID+`-verify").dataset.approval || ""`); got != "mine" {
			t.Errorf("the card is marked %q for bob, want mine", got)
		}
		if got := text(t, bob, "#card-"+runID+"-verify .badge-mine"); got != "your approval" {
			t.Errorf("bob's card badge = %q, want %q", got, "your approval")
		}
		if browser.Eval[bool](t, bob, `document.querySelector('#card-`+runID+`-verify .card-foot button[data-label="Approve"]').disabled`) {
			t.Error("bob's Approve is disabled")
		}
		bob.WaitFor(t, "the tab title counts the gate", `document.title === "(1) Approval waiting — deploybot"`, live)
	})
	bob.Do(t, "approve as bob", chromedp.Click(css(`#card-`+runID+`-verify .card-foot button[data-label="Approve"]`)))

	bob.WaitFor(t, "the tab title clears once approved", `document.title.indexOf("Approval waiting") < 0`, live)
	t.Run("the first person sees the approval and the next phase live", func(t *testing.T) {
		ana.WaitFor(t, "the next phase's card appears", `!!document.getElementById("card-`+runID+`-release")`, live)
		ana.WaitFor(t, "the gate says who approved", `document.querySelector("#card-`+runID+`-verify .gate").textContent.includes("Approved by @bob")`, live)
		if browser.Eval[int](t, ana, `window.noReload || 0`) != 1 {
			t.Error("the page was reloaded; updates should arrive live")
		}
		if n := browser.Eval[int](t, ana, `document.querySelectorAll("#card-`+runID+`-verify button").length`); n != 0 {
			t.Errorf("the approved phase still has %d buttons", n)
		}
	})

	r := f.waitRun(t, runID, "verify is approved", func(r *deploy.Run) bool { return r.Phases[0].Approval != nil })
	if got := r.Phases[0].Approval.By; got.ID != "console:bob" || got.Name != "bob" || got.Platform != "console" {
		t.Errorf("verify approved by %+v, want console:bob on the console", got)
	}
	if r.Started.ID != "console:ana" {
		t.Errorf("run started by %+v, want console:ana", r.Started)
	}
	for name, p := range map[string]*browser.Page{"ana": ana, "bob": bob} {
		for _, l := range p.Logs() {
			if strings.HasPrefix(l, "exception:") || strings.HasPrefix(l, "error:") {
				t.Errorf("%s's page logged %s", name, l)
			}
		}
	}
}

// hostile is a runbook whose first step prints a script tag, and whose
// titles and reasons may carry markup too.
const hostile = `
name: hostile
phases:
  - id: build
    title: "Build <i>quickly</i>"
    steps:
      - id: print
        title: Print something nasty
        run: shell
        with:
          command: ["sh", "-c", "echo '<img src=x onerror=window.pwned=2>'; echo '<script>window.pwned=1</script>'"]
      - id: manual
        title: Look at it
rollback:
  steps:
    - id: undo
      title: Undo
`

// TestStepOutputIsText: markup in step output, titles and reasons shows as
// text, on the first render and in live updates; none of it runs.
func TestStepOutputIsText(t *testing.T) {
	f := newFixture(t, options{runbook: hostile})
	p := browser.Start(t).NewPage(t)
	openAs(t, p, f.URL, "ana")
	p.Do(t, "start a run",
		chromedp.SetValue(css("#command-input"), "/deploy start v9"),
		chromedp.Click(css("#command-form button[type=submit]")),
	)
	p.WaitFor(t, "the step finished live", `!!document.querySelector('li.step[data-step="print"].state-done')`, live)
	checkText := func(t *testing.T, when string) {
		t.Helper()
		cases := []struct{ name, sel, want string }{
			{"the output's last line", `li.step[data-step="print"] .lastline`, "<script>window.pwned=1</script>"},
			{"the whole output", `li.step[data-step="print"] .output pre`, "<img src=x onerror=window.pwned=2> <script>window.pwned=1</script>"},
			{"the phase title", `.card h2`, "Build <i>quickly</i>"},
			{"the skip reason", `li.step[data-step="manual"] .detail`, `<b onclick="x()">because</b>`},
		}
		for _, c := range cases {
			if got := text(t, p, c.sel); got != c.want {
				t.Errorf("%s: %s shows %q, want the text %q", when, c.name, got, c.want)
			}
		}
		if n := browser.Eval[int](t, p, `document.querySelectorAll("main script, main img, main i, main b[onclick]").length`); n != 0 {
			t.Errorf("%s: %d elements were made from step output or titles", when, n)
		}
		if pwned := browser.Eval[string](t, p, `typeof window.pwned`); pwned != "undefined" {
			t.Errorf("%s: window.pwned is %s: the output ran", when, pwned)
		}
	}
	p.Do(t, "skip with a hostile reason", chromedp.Click(css(`li.step[data-step="manual"] button[data-label="Skip"]`)), chromedp.WaitVisible(css("#dialog-reason")))
	p.Do(t, "give the reason", chromedp.SetValue(css("#dialog-reason"), `<b onclick="x()">because</b>`), chromedp.Click(css("#dialog-ok")))
	p.WaitFor(t, "the skip shows live", `!!document.querySelector('li.step[data-step="manual"].state-skipped')`, live)
	checkText(t, "live update")
	p.Do(t, "reload", chromedp.Reload(), chromedp.WaitVisible(css(`li.step[data-step="print"]`)))
	checkText(t, "first render")
}

// TestButtonsAskFirst: Skip asks for a reason, Abort asks to confirm
// (with a reason), and cancelling changes nothing.
func TestButtonsAskFirst(t *testing.T) {
	f := newFixture(t, options{})
	p := browser.Start(t).NewPage(t)
	openAs(t, p, f.URL, "ana")
	p.Do(t, "start a run",
		chromedp.SetValue(css("#command-input"), "/deploy start v1.5"),
		chromedp.Click(css("#command-form button[type=submit]")),
		chromedp.WaitVisible(css(`li.step[data-step="notes"] button[data-label="Skip"]`)),
	)
	runID := browser.Eval[string](t, p, `document.body.dataset.run`)
	// The mouse clicks below land where the button was when they were
	// aimed: let the updates the start still owes the page (the summary
	// above the cards may grow) arrive first.
	settle(t, f, p)

	t.Run("cancelling a skip changes nothing", func(t *testing.T) {
		p.Do(t, "click Skip", chromedp.Click(css(`li.step[data-step="notes"] button[data-label="Skip"]`)), chromedp.WaitVisible(css("#dialog-reason")))
		if got := text(t, p, "#dialog-title"); got != "Skip “Release notes reviewed”?" {
			t.Errorf("dialog title %q", got)
		}
		p.Do(t, "cancel", chromedp.Click(css("#dialog-cancel")), chromedp.WaitNotVisible(css("#dialog")))
		r := f.waitRun(t, runID, "stored", func(*deploy.Run) bool { return true })
		if s := r.Phases[0].Steps[0].State; s != deploy.StepPending {
			t.Errorf("after cancel the step is %s", s)
		}
	})
	t.Run("a skip needs a reason", func(t *testing.T) {
		p.Do(t, "click Skip and OK without a reason", chromedp.Click(css(`li.step[data-step="notes"] button[data-label="Skip"]`)), chromedp.WaitVisible(css("#dialog-reason")), chromedp.Click(css("#dialog-ok")))
		if !browser.Eval[bool](t, p, `document.getElementById("dialog").open`) {
			t.Error("the dialog closed without a reason")
		}
		p.Do(t, "give a reason", chromedp.SetValue(css("#dialog-reason"), "notes are in the wiki"), chromedp.Click(css("#dialog-ok")))
		p.WaitFor(t, "the step shows skipped with the reason", `(document.querySelector('li.step[data-step="notes"].state-skipped .detail')||{}).textContent === "notes are in the wiki"`, live)
	})
	// Before the production phase there is nothing to roll back: the card
	// offers Abort, which asks to confirm with a reason.
	t.Run("abort asks to confirm", func(t *testing.T) {
		if browser.Eval[bool](t, p, `!!document.querySelector('#card-`+runID+`-verify .card-foot button[data-label="Rollback"]')`) {
			t.Error("Rollback is offered before the production phase")
		}
		// Clicked in the page: the card may be redrawn (a live update for
		// this viewer) between finding the button and clicking it.
		abort := `#card-` + runID + `-verify .card-foot button[data-label="Abort"]`
		p.WaitFor(t, "the Abort button", `!!document.querySelector(`+jsString(abort)+`)`, live)
		browser.Eval[bool](t, p, `(document.querySelector(`+jsString(abort)+`).click(), true)`)
		p.Do(t, "see the dialog", chromedp.WaitVisible(css("#dialog-reason")))
		if got := text(t, p, "#dialog-text"); got != "This ends the deployment of v1.5 to production; nothing was deployed yet." {
			t.Errorf("confirmation text %q", got)
		}
		if got := text(t, p, "#dialog-ok"); got != "Abort" {
			t.Errorf("confirm button %q, want %q", got, "Abort")
		}
		p.Do(t, "confirm with a reason", chromedp.SetValue(css("#dialog-reason"), "wrong version"), chromedp.Click(css("#dialog-ok")))
		f.waitRun(t, runID, "aborted", func(r *deploy.Run) bool { return r.Status == deploy.StatusAborted && r.AbortReason == "wrong version" })
		p.WaitFor(t, "the summary says aborted", `(document.querySelector(".summary .pill")||{textContent:""}).textContent.includes("aborted by @ana: wrong version")`, live)
	})
}

// failing has an automated step that fails.
const failing = `
name: failing
phases:
  - id: check
    title: Check
    steps:
      - id: probe
        title: Probe the service
        run: shell
        with:
          command: ["sh", "-c", "echo connection refused >&2; exit 3"]
rollback:
  steps:
    - id: undo
      title: Undo
`

// TestRetryRunsTheStepAgain: a failed step shows why, with Retry; Retry
// starts a second attempt.
func TestRetryRunsTheStepAgain(t *testing.T) {
	f := newFixture(t, options{runbook: failing})
	p := browser.Start(t).NewPage(t)
	openAs(t, p, f.URL, "ana")
	p.Do(t, "start a run",
		chromedp.SetValue(css("#command-input"), "/deploy start v2"),
		chromedp.Click(css("#command-form button[type=submit]")),
		chromedp.WaitVisible(css(`li.step[data-step="probe"].state-failed button[data-label="Retry"]`)),
	)
	if got := text(t, p, `li.step[data-step="probe"] .detail`); got != "exit 3: connection refused" {
		t.Errorf("failed step detail %q", got)
	}
	p.Do(t, "retry", chromedp.Click(css(`li.step[data-step="probe"] button[data-label="Retry"]`)))
	p.WaitFor(t, "the second attempt failed too", `(document.querySelector('li.step[data-step="probe"].state-failed .step-title')||{textContent:""}).textContent.includes("attempt 2")`, live)
}

// TestDashboardInTheBrowser: behind a token the browser gets the login form;
// signed in it sees a chat run live, with no buttons and no command box.
func TestDashboardInTheBrowser(t *testing.T) {
	f := newFixture(t, options{readOnly: true, token: "tok-123"})
	p := browser.Start(t).NewPage(t)
	p.Do(t, "open the dashboard", chromedp.Navigate(f.URL), chromedp.WaitVisible(css("#token")))
	p.Do(t, "sign in with a wrong token", chromedp.SetValue(css("#token"), "nope"), chromedp.Submit(css("form.login")), chromedp.WaitVisible(css("#login-problem")))
	p.Do(t, "sign in", chromedp.SetValue(css("#token"), "tok-123"), chromedp.Submit(css("form.login")), chromedp.WaitVisible(css("#live-runs")))
	p.WaitFor(t, "the live stream is connected", `document.getElementById("conn").dataset.state === "live"`, live)

	run := f.start(t, "v7.0", "slack", "C0DEPLOY", slackUser)
	p.WaitFor(t, "the chat run appears live and is shown", `!!document.getElementById("summary-`+run.ID+`")`, live)
	if _, err := f.Core.Engine.Do(context.Background(), deploy.Action{Kind: deploy.ActDone, RunID: run.ID, Phase: "verify", Step: "notes", Actor: slackUser}); err != nil {
		t.Fatal(err)
	}
	p.WaitFor(t, "the shell step's result arrives live", `!!document.querySelector('li.step[data-step="build"].state-done')`, live)
	cases := []struct{ name, sel string }{
		{"buttons", "button[data-button]"},
		{"the command box", "#command-input"},
		{"the name form", "#name-form"},
	}
	for _, c := range cases {
		if n := browser.Eval[int](t, p, `document.querySelectorAll(`+jsString(c.sel)+`).length`); n != 0 {
			t.Errorf("the dashboard shows %d of %s", n, c.name)
		}
	}
	p.WaitFor(t, "the timeline shows the tick", `document.getElementById("timeline-`+run.ID+`").textContent.includes("Release notes reviewed")`, live)
}

// TestNoticesArriveLive: with the page open, the announcement of a run
// started from the command box appears in Notices without a reload, on the
// page that started it and on another person's.
func TestNoticesArriveLive(t *testing.T) {
	f := newFixture(t, options{})
	b := browser.Start(t)
	p := b.NewPage(t)
	openAs(t, p, f.URL, "ana")
	browser.Eval[int](t, p, `window.noReload = 1`)
	// bob watches from a second browser: his page picks the new run up by itself.
	bob := b.NewPage(t)
	openAs(t, bob, f.URL, "bob")
	browser.Eval[int](t, bob, `window.noReload = 1`)
	p.Do(t, "start a run from the command box",
		chromedp.SetValue(css("#command-input"), "/deploy start v3.1"),
		chromedp.Click(css("#command-form button[type=submit]")),
		chromedp.WaitVisible(css(".summary h1")),
	)
	p.WaitFor(t, "the announcement is in Notices", `!!document.querySelector("#feed .notice-announcement")`, live)
	if got := text(t, p, "#feed .notice-announcement .notice-title"); !strings.Contains(got, "v3.1") {
		t.Errorf("announcement title = %q, want it to name v3.1", got)
	}
	bob.WaitFor(t, "bob sees the run", `!!document.querySelector(".summary h1")`, live)
	bob.WaitFor(t, "bob sees the announcement in Notices", `!!document.querySelector("#feed .notice-announcement")`, live)
	for name, pg := range map[string]*browser.Page{"ana": p, "bob": bob} {
		if browser.Eval[int](t, pg, `window.noReload || 0`) != 1 {
			t.Errorf("%s's page was reloaded; the notice should arrive live", name)
		}
	}
}

// TestNoticeWhileARunLoads: a notice that arrives while the page loads
// another run (after a click in the run list) still shows in Notices. The
// page's request for the run is held until the notice has been sent.
func TestNoticeWhileARunLoads(t *testing.T) {
	f := newFixture(t, options{})
	var ids []string
	for _, env := range []string{"staging", "production"} {
		out, err := f.Core.Engine.Start(context.Background(), deploy.StartRequest{Release: "v5", Env: env, Channel: "C0DEPLOY", Platform: "slack", Actor: slackUser})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, out.Run.ID)
	}
	p := browser.Start(t).NewPage(t)
	openAs(t, p, f.URL, "ana")
	other := ids[0]
	if browser.Eval[string](t, p, `document.body.dataset.run`) == other {
		other = ids[1]
	}
	browser.Eval[bool](t, p, `(function(){
		window.hold = new Promise(function (r) { window.release = r; });
		const orig = window.fetch;
		window.fetch = async function (u, o) {
			if (String(u).includes("part=main")) { window.held = true; await window.hold; }
			return orig(u, o);
		};
		return true;
	})()`)
	p.Do(t, "click the other run in the list", chromedp.Click(css(`a[data-run-link="`+other+`"]`)))
	p.WaitFor(t, "the run's request is held", `window.held === true`, live)
	n := bot.Notice{Kind: bot.NoticeText, Title: "sent while a run loads"}
	if _, err := f.Console.Post(context.Background(), console.Channel, "", bot.Message{Notice: &n}); err != nil {
		t.Fatal(err)
	}
	// The notice reaches the page over its stream meanwhile and is shown at
	// once: notices are outside the run being loaded.
	inFeed := `document.getElementById("feed").textContent.includes("sent while a run loads")`
	p.WaitFor(t, "the notice in Notices while the run loads", inFeed, live)
	browser.Eval[bool](t, p, `(window.release(), true)`)
	p.WaitFor(t, "the other run is shown", `document.body.dataset.run === "`+other+`"`, live)
	if !browser.Eval[bool](t, p, inFeed) {
		t.Fatal("the notice left Notices when the run came in")
	}
}

// TestClickSurvivesARedraw: a click whose press lands on a button before a
// live update redraws the button's card, and whose release lands after it,
// still clicks the button (a person's click takes that long too). The
// update here ticks another step of the same card.
func TestClickSurvivesARedraw(t *testing.T) {
	f := newFixture(t, options{})
	p := browser.Start(t).NewPage(t)
	openAs(t, p, f.URL, "ana")
	skip := `li.step[data-step="notes"] button[data-label="Skip"]`
	p.Do(t, "start a run",
		chromedp.SetValue(css("#command-input"), "/deploy start v1.6"),
		chromedp.Click(css("#command-form button[type=submit]")),
		chromedp.WaitVisible(css(skip)),
	)
	runID := browser.Eval[string](t, p, `document.body.dataset.run`)
	// Let the updates owed for the start arrive, so that the only redraw
	// between the press and the release is the one made below.
	settle(t, f, p)
	xy := browser.Eval[[]float64](t, p, `(function(){ const b = document.querySelector(`+jsString(skip)+`); b.scrollIntoView({block: "center"}); const r = b.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`)
	p.Do(t, "press on Skip", chromedp.MouseEvent(chromedp.MousePressed, xy[0], xy[1], chromedp.ButtonLeft, chromedp.ClickCount(1)))
	bob := deploy.Actor{ID: "console:bob", Name: "bob", Platform: "console"}
	if _, err := f.Core.Engine.Do(context.Background(), deploy.Action{Kind: deploy.ActDone, RunID: runID, Phase: "verify", Step: "changelog", Actor: bob}); err != nil {
		t.Fatal(err)
	}
	p.WaitFor(t, "the card is redrawn with the tick", `!!document.querySelector('li.step[data-step="changelog"].state-done')`, live)
	p.Do(t, "release on Skip", chromedp.MouseEvent(chromedp.MouseReleased, xy[0], xy[1], chromedp.ButtonLeft, chromedp.ClickCount(1)))
	p.WaitFor(t, "the click asks for the reason", `document.getElementById("dialog").open`, live)
	if got := text(t, p, "#dialog-title"); got != "Skip “Release notes reviewed”?" {
		t.Errorf("dialog title %q", got)
	}
}

// settle waits until the page has applied every update published so far:
// the chat messages the bot still owes the console are sent, then a marker
// notice is published and waited for (the stream keeps the order).
func settle(t *testing.T, f *fixture, p *browser.Page) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), live)
	defer cancel()
	if err := f.Core.Outbox.Flush(ctx); err != nil {
		t.Fatalf("the bot's chat messages were not all sent: %v", err)
	}
	marker := fmt.Sprintf("settled %d", time.Now().UnixNano())
	n := bot.Notice{Kind: bot.NoticeText, Title: marker}
	if _, err := f.Console.Post(ctx, console.Channel, "", bot.Message{Notice: &n}); err != nil {
		t.Fatal(err)
	}
	p.WaitFor(t, "the page has every update so far", `document.getElementById("feed").textContent.includes(`+jsString(marker)+`)`, live)
}
