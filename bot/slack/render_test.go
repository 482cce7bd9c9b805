package slackfront

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/internal/testkit/slackfake"
	"deploybot/runbook"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// t0 is the fixed "now" of the rendering fixtures.
var t0 = time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC)

var (
	ana = deploy.Actor{ID: "U0ANA", Name: "ana", Platform: "slack"}
	bob = deploy.Actor{ID: "U0BOB", Name: "bob", Platform: "slack"}
)

const fixtureYAML = `
name: payments-api
distinct_approver: true
phases:
  - id: prepare
    group: Pre-Deployment
    title: Prepare the release
    steps:
      - id: review
        title: Code review completed for all changes
      - id: tests
        title: All automated tests passing (unit, integration, e2e)
        run: shell
        with:
          command: ["./scripts/check-ci.sh", "{{ .Version }}"]
  - id: rollout
    group: Deployment
    title: Roll out to production
    production: true
    steps:
      - id: deploy
        title: Deploy the new version
      - id: soak
        title: Watch error rates for 30 minutes
        run: watch
        with:
          for: 30m
rollback:
  steps:
    - id: revert
      title: Revert to the previous version
    - id: notify
      title: Tell the stakeholders
`

func fixtureRunbook(t testing.TB, yaml string) *runbook.Runbook {
	t.Helper()
	rb, err := runbook.Parse("fixture.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatalf("fixture runbook: %v", err)
	}
	return rb
}

// fixtureRun returns an active run of rb in its first phase, every step pending.
func fixtureRun(rb *runbook.Runbook) *deploy.Run {
	r := &deploy.Run{
		ID: "r7k2q", Release: "v1.4", Env: "production", Channel: "C0DEPLOY", Platform: "slack", Started: ana,
		Status: deploy.StatusActive, Created: t0.Add(-20 * time.Minute), Updated: t0, Runbook: *rb, Rev: 3,
	}
	for _, p := range rb.Phases {
		pr := deploy.PhaseRun{ID: p.ID}
		for _, s := range p.Steps {
			pr.Steps = append(pr.Steps, deploy.StepRun{ID: s.ID, State: deploy.StepPending})
		}
		r.Phases = append(r.Phases, pr)
	}
	r.Phases[0].Started = t0.Add(-20 * time.Minute)
	return r
}

func set(s *deploy.StepRun, state deploy.StepState, by deploy.Actor, ago time.Duration, result string) {
	s.State, s.By, s.At, s.Result = state, &by, t0.Add(-ago), result
}

// golden compares got with testdata/<test name>.golden.json (rewritten with -update).
func golden(t *testing.T, got []byte) {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no golden file (run go test -update): %v", err)
	}
	if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(got)) {
		t.Errorf("rendering differs from %s (run go test -update if the change is intended)\ngot:\n%s", path, got)
	}
}

// checkRendered asserts what Slack would: valid blocks and a fallback text.
func checkRendered(t *testing.T, r Rendered) []byte {
	t.Helper()
	raw, err := json.Marshal(r.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	if err := slackfake.CheckBlocks(raw); err != nil {
		t.Errorf("blocks break Block Kit's limits: %v", err)
	}
	if strings.TrimSpace(r.Text) == "" {
		t.Error("no fallback text")
	}
	return raw
}

func TestRenderCard(t *testing.T) {
	rb := fixtureRunbook(t, fixtureYAML)
	windowRB := fixtureRunbook(t, strings.Replace(fixtureYAML, "    production: true\n", "    production: true\n    window: required\n", 1))
	cases := []struct {
		name string
		rb   *runbook.Runbook
		// edit puts the run in the state to render; it returns the phase index.
		edit func(r *deploy.Run) int
		// visible and labels are what a person must see on the card.
		visible []string
		labels  []string
	}{
		{"pending", rb, func(r *deploy.Run) int { return 0 },
			[]string{"Phase 1/2 · Prepare the release", "⬜ Code review completed for all changes", "pending", "2 of 2 steps open"},
			[]string{"Done", "Skip", "Abort"}},
		{"running", rb, func(r *deploy.Run) int {
			set(&r.Phases[0].Steps[0], deploy.StepDone, ana, 2*time.Minute, "")
			s := &r.Phases[0].Steps[1]
			s.State, s.Attempt, s.Started = deploy.StepRunning, 1, t0.Add(-40*time.Second)
			return 0
		}, []string{"✅ Code review completed for all changes", "done · @ana · 2 min ago", "⏳ All automated tests passing", "running · 40s"},
			[]string{"Abort"}},
		{"failed with retry", rb, func(r *deploy.Run) int {
			set(&r.Phases[0].Steps[0], deploy.StepDone, ana, 2*time.Minute, "")
			set(&r.Phases[0].Steps[1], deploy.StepFailed, deploy.System, time.Minute, "exit 1: 3 tests failed")
			r.Phases[0].Steps[1].Attempt = 2
			return 0
		}, []string{"❌ All automated tests passing", "failed · @deploybot · 1 min ago · exit 1: 3 tests failed · attempt 2"},
			[]string{"Retry", "Skip", "Abort"}},
		{"interrupted", rb, func(r *deploy.Run) int {
			set(&r.Phases[0].Steps[0], deploy.StepDone, ana, 2*time.Minute, "")
			set(&r.Phases[0].Steps[1], deploy.StepInterrupted, deploy.System, time.Minute, "interrupted: the bot stopped while this step ran; it will not re-run unless someone clicks Retry")
			return 0
		}, []string{"⚠️ All automated tests passing", "interrupted"},
			[]string{"Retry", "Skip", "Abort"}},
		{"all settled with approve", rb, func(r *deploy.Run) int {
			set(&r.Phases[0].Steps[0], deploy.StepSkipped, ana, 3*time.Minute, "")
			r.Phases[0].Steps[0].Reason = "reviewed in <#C1|pairing> & merged"
			set(&r.Phases[0].Steps[1], deploy.StepDone, deploy.System, time.Minute, "exit 0")
			return 0
		}, []string{"skipped · @ana · 3 min ago · reason: reviewed in <#C1|pairing> & merged", "exit 0", "Waiting for approval by an approver other than @ana"},
			[]string{"Approve", "Abort"}},
		{"approved", rb, func(r *deploy.Run) int {
			set(&r.Phases[0].Steps[0], deploy.StepDone, ana, 9*time.Minute, "")
			set(&r.Phases[0].Steps[1], deploy.StepDone, deploy.System, 8*time.Minute, "exit 0")
			r.Phases[0].Approval = &deploy.Approval{By: bob, At: t0.Add(-2 * time.Minute)}
			r.Phases[0].Ended = t0.Add(-2 * time.Minute)
			r.Phase = 1
			r.Phases[1].Started = t0.Add(-2 * time.Minute)
			return 0
		}, []string{"Approved by @bob 2 min ago"}, nil},
		{"production approve with confirm", rb, func(r *deploy.Run) int {
			r.Phases[0].Approval = &deploy.Approval{By: bob, At: t0.Add(-10 * time.Minute)}
			r.Phase = 1
			r.Phases[1].Started = t0.Add(-10 * time.Minute)
			set(&r.Phases[1].Steps[0], deploy.StepDone, ana, 5*time.Minute, "")
			set(&r.Phases[1].Steps[1], deploy.StepDone, ana, time.Minute, "ended early by @ana")
			return 1
		}, []string{"Phase 2/2 · Roll out to production", "🔴 production phase"},
			[]string{"Approve", "Rollback"}},
		{"watch running", rb, func(r *deploy.Run) int {
			r.Phases[0].Approval = &deploy.Approval{By: bob, At: t0.Add(-10 * time.Minute)}
			r.Phase = 1
			r.Phases[1].Started = t0.Add(-10 * time.Minute)
			set(&r.Phases[1].Steps[0], deploy.StepDone, ana, 5*time.Minute, "")
			s := &r.Phases[1].Steps[1]
			s.State, s.Attempt, s.Started, s.Progress = deploy.StepRunning, 1, t0.Add(-4*time.Minute), "4m of 30m, error rate 0.1%"
			return 1
		}, []string{"running · 4m · 4m of 30m, error rate 0.1%"},
			[]string{"End watch", "Rollback"}},
		{"waiting for a window", windowRB, func(r *deploy.Run) int {
			r.Phases[0].Approval = &deploy.Approval{By: bob, At: t0.Add(-10 * time.Minute)}
			r.Phase = 1
			r.Phases[1].Started = t0.Add(-time.Minute)
			return 1
		}, []string{"Waiting for a maintenance window to open"},
			[]string{"Start outside window", "Rollback"}},
		{"waiting for a window that is booked", windowRB, func(r *deploy.Run) int {
			r.Phases[0].Approval = &deploy.Approval{By: bob, At: t0.Add(-10 * time.Minute)}
			r.Phase = 1
			r.Phases[1].Started = t0.Add(-time.Minute)
			r.Phases[1].NextWindow = &deploy.WindowAt{Start: t0.Add(2*time.Hour + 10*time.Minute), Zone: "Europe/Berlin"}
			return 1
		}, []string{"Waiting for a maintenance window: opens 13:10 Europe/Berlin, in 2 h 10 min"},
			[]string{"Start outside window", "Rollback"}},
		{"watch ended early", rb, func(r *deploy.Run) int {
			r.Phases[0].Approval = &deploy.Approval{By: bob, At: t0.Add(-10 * time.Minute)}
			r.Phase = 1
			r.Phases[1].Started = t0.Add(-10 * time.Minute)
			set(&r.Phases[1].Steps[0], deploy.StepDone, ana, 5*time.Minute, "")
			set(&r.Phases[1].Steps[1], deploy.StepDone, bob, time.Minute, "ended early after 1m10s by @bob: error budget fine")
			r.Phases[1].Steps[1].EndedEarly, r.Phases[1].Steps[1].Reason = true, "error budget fine"
			return 1
		}, []string{"ended early · @bob · 1 min ago · reason: error budget fine"},
			[]string{"Approve", "Rollback"}},
		{"rollback phase", rb, func(r *deploy.Run) int {
			r.Status = deploy.StatusRollingBack
			r.Previous = "v1.3.9"
			r.Rollback = &deploy.RollbackInfo{By: bob, Reason: "error rate doubled", FromPhase: "prepare", At: t0.Add(-time.Minute)}
			r.Phases[0].Ended = t0.Add(-time.Minute)
			r.Phases = append(r.Phases, deploy.PhaseRun{ID: deploy.RollbackPhaseID, Started: t0.Add(-time.Minute), Steps: []deploy.StepRun{
				{ID: "revert", State: deploy.StepPending}, {ID: "notify", State: deploy.StepPending},
			}})
			r.Phase = 2
			return 2
		}, []string{"↩️ Rollback Procedure", "Revert to the previous version", "Rollback · payments-api v1.4 → production", "↩️ returns to v1.3.9"},
			[]string{"Done", "Skip", "Done", "Skip"}},
		{"stopped by rollback", rb, func(r *deploy.Run) int {
			r.Status = deploy.StatusRolledBack
			r.Rollback = &deploy.RollbackInfo{By: bob, Reason: "error rate doubled", FromPhase: "prepare", At: t0.Add(-time.Minute)}
			r.Phases[0].Ended = t0.Add(-time.Minute)
			set(&r.Phases[0].Steps[1], deploy.StepStopped, deploy.System, time.Minute, "stopped by the rollback")
			return 0
		}, []string{"Stopped: run rolled back (by @bob: error rate doubled)", "⏹️ All automated tests passing", "stopped · @deploybot · 1 min ago · stopped by the rollback"}, nil},
		{"not started", rb, func(r *deploy.Run) int { return 1 }, []string{"Not started"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := fixtureRun(tc.rb)
			i := tc.edit(r)
			out := RenderCard(bot.BuildCard(r, i, t0))
			raw := checkRendered(t, out)
			vis := slackfake.Visible(raw)
			for _, want := range tc.visible {
				if !strings.Contains(vis, want) {
					t.Errorf("card does not show %q:\n%s", want, vis)
				}
			}
			if got := labels(raw); strings.Join(got, ",") != strings.Join(tc.labels, ",") {
				t.Errorf("buttons = %v, want %v", got, tc.labels)
			}
			js, _ := out.JSON()
			golden(t, js)
		})
	}
}

func labels(raw []byte) []string {
	var out []string
	for _, a := range slackfake.Actions(raw) {
		out = append(out, a.Label)
	}
	return out
}

func bigRunbook(t testing.TB, steps int, title string) *runbook.Runbook {
	var b strings.Builder
	b.WriteString("name: big\nphases:\n  - id: checklist\n    title: The long checklist\n    steps:\n")
	for i := range steps {
		fmt.Fprintf(&b, "      - id: s%02d\n        title: %q\n", i, fmt.Sprintf(title, i))
	}
	b.WriteString("rollback:\n  steps:\n    - id: revert\n      title: Revert\n")
	return fixtureRunbook(t, b.String())
}

// TestRenderCard60Steps: a phase with 60 steps still renders within Block
// Kit's limits, every step is listed, and every open step can be acted on.
func TestRenderCard60Steps(t *testing.T) {
	rb := bigRunbook(t, 60, "Checklist item number %d of the long pre-deployment checklist")
	cases := []struct {
		name string
		done int // how many steps (from the top) are done
		// menus: the step buttons become menus (too many open steps for buttons).
		menus bool
	}{
		{"fresh", 0, true},
		{"three open", 57, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := fixtureRun(rb)
			for j := range tc.done {
				set(&r.Phases[0].Steps[j], deploy.StepDone, ana, time.Minute, "")
			}
			out := RenderCard(bot.BuildCard(r, 0, t0))
			raw := checkRendered(t, out)
			if len(out.Blocks) > maxBlocks {
				t.Fatalf("%d blocks", len(out.Blocks))
			}
			vis := slackfake.Visible(raw)
			for j := range 60 {
				if !strings.Contains(vis, fmt.Sprintf("Checklist item number %d of", j)) {
					t.Errorf("step %d is not listed", j)
				}
			}
			// Every open step has Done and Skip, as a button or a menu option.
			offered := map[string]bool{}
			for _, a := range slackfake.Actions(raw) {
				if a.Type == "button" {
					offered[a.ActionID] = true
				}
				for _, o := range a.Options {
					offered[o.Value] = true
				}
				if tc.menus && a.Type == "button" && a.Label != "Rollback" && a.Label != "Abort" {
					t.Errorf("unexpected step button %q with menus", a.Label)
				}
			}
			for j := tc.done; j < 60; j++ {
				for _, act := range []deploy.ActionKind{deploy.ActDone, deploy.ActSkip} {
					id := bot.Button{Action: act, RunID: r.ID, Phase: "checklist", Step: fmt.Sprintf("s%02d", j)}.ID()
					if !offered[id] {
						t.Errorf("open step s%02d cannot be %s", j, act)
					}
				}
			}
			js, _ := out.JSON()
			golden(t, js)
		})
	}
}

// TestRenderExtremes: hostile and huge inputs still give valid messages.
func TestRenderExtremes(t *testing.T) {
	long := strings.Repeat("<!channel> & 🚀 deploy ", 400)
	rb := bigRunbook(t, 300, "%d "+strings.Repeat("ü<&>", 120))
	r := fixtureRun(rb)
	for j := 0; j < 300; j += 3 {
		set(&r.Phases[0].Steps[j], deploy.StepFailed, deploy.System, time.Minute, long)
	}
	r.Release = strings.Repeat("v", 64)
	cases := []struct {
		name string
		m    bot.Message
	}{
		{"300 steps with long results", bot.Message{Card: ptr(bot.BuildCard(r, 0, t0))}},
		{"summary of a long run", bot.Message{Summary: ptr(bot.BuildSummary(r, t0))}},
		{"notice with everything", bot.Message{Notice: &bot.Notice{Kind: bot.NoticeCompletion, Title: long,
			Fields: repeatFields(60, long), Lines: repeatLines(200, long), Buttons: repeatButtons(40)}}},
		{"text notice", bot.Message{Notice: &bot.Notice{Kind: bot.NoticeText, Title: long + long}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := Render(tc.m)
			raw := checkRendered(t, out)
			if strings.Contains(string(raw), "<!channel>") || strings.Contains(out.Text, "<!channel>") {
				t.Error("people's text reaches Slack unescaped: <!channel> would ping the channel")
			}
			if n := blockText(out.Blocks); n > maxBlockText {
				t.Errorf("block text %d characters, over the %d budget", n, maxBlockText)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func repeatFields(n int, v string) []bot.Field {
	out := make([]bot.Field, n)
	for i := range out {
		out[i] = bot.Field{Label: fmt.Sprintf("Field %d %s", i, v[:100]), Value: v}
	}
	return out
}

func repeatLines(n int, v string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%d %s", i, v)
	}
	return out
}

func repeatButtons(n int) []bot.Button {
	out := make([]bot.Button, n)
	for i := range out {
		out[i] = bot.Button{Label: strings.Repeat("Label ", 20), Action: deploy.ActDone, RunID: "r7k2q", Phase: "p", Step: fmt.Sprintf("s%d", i),
			Confirm: &bot.Confirm{Title: strings.Repeat("T", 200), Text: strings.Repeat("x", 500), OK: strings.Repeat("o", 50), Cancel: strings.Repeat("c", 50)}}
	}
	return out
}

func TestRenderSummary(t *testing.T) {
	rb := fixtureRunbook(t, fixtureYAML)
	cases := []struct {
		name    string
		edit    func(r *deploy.Run)
		visible []string
	}{
		{"in progress", func(r *deploy.Run) {
			set(&r.Phases[0].Steps[0], deploy.StepDone, ana, time.Minute, "")
		}, []string{"🚀 payments-api v1.4 → production", "in progress", "started by @ana", "Current phase: Prepare the release", "1/4 steps", "▶️ Prepare the release — in progress"}},
		{"completed", func(r *deploy.Run) {
			for i := range r.Phases {
				for j := range r.Phases[i].Steps {
					set(&r.Phases[i].Steps[j], deploy.StepDone, ana, time.Minute, "")
				}
				r.Phases[i].Approval = &deploy.Approval{By: bob, At: t0}
			}
			r.Status, r.Ended = deploy.StatusCompleted, t0
		}, []string{"completed in 20m", "4/4 steps", "✅ Prepare the release — approved by @bob"}},
		{"rolling back", func(r *deploy.Run) {
			r.Status = deploy.StatusRollingBack
			r.Rollback = &deploy.RollbackInfo{By: bob, Reason: "error rate doubled", FromPhase: "prepare", At: t0}
		}, []string{"rolling back (by @bob: error rate doubled)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := fixtureRun(rb)
			tc.edit(r)
			out := RenderSummary(bot.BuildSummary(r, t0))
			raw := checkRendered(t, out)
			vis := slackfake.Visible(raw)
			for _, want := range tc.visible {
				if !strings.Contains(vis, want) {
					t.Errorf("summary does not show %q:\n%s", want, vis)
				}
			}
			js, _ := out.JSON()
			golden(t, js)
		})
	}
}

// askNotice asks the approvers of the production phase: a user, a group
// whose ID the front resolved, a group it did not, and a Discord role (left
// out on Slack); the starter is on the list but not asked.
func askNotice(t testing.TB) bot.Notice {
	rb := fixtureRunbook(t, fixtureYAML)
	rb.Approvers = []string{"U0ANA", "U0BOB", "@release", "@oncall", "&55555"}
	r := fixtureRun(rb)
	r.Phase = 1
	n := bot.AskApprovers(r, 1)
	for i := range n.Mentions {
		if n.Mentions[i].Handle == "release" {
			n.Mentions[i].ID = "S0REL"
		}
	}
	return n
}

// TestAskMentionsNotify: the request for approval mentions the approvers in
// the notification text too, so Slack notifies them.
func TestAskMentionsNotify(t *testing.T) {
	out := RenderNotice(askNotice(t))
	if !strings.HasPrefix(out.Text, "<@U0BOB> <!subteam^S0REL> @oncall ") || strings.Contains(out.Text, "U0ANA") || strings.Contains(out.Text, "55555") {
		t.Errorf("notification text %q: want the approvers mentioned first, not the starter or a Discord role", out.Text)
	}
}

func TestRenderNotice(t *testing.T) {
	rb := fixtureRunbook(t, fixtureYAML)
	done := func() *deploy.Run {
		r := fixtureRun(rb)
		for i := range r.Phases {
			r.Phases[i].Started = t0.Add(-20 * time.Minute)
			r.Phases[i].Ended = t0.Add(-time.Duration(10-5*i) * time.Minute)
			for j := range r.Phases[i].Steps {
				set(&r.Phases[i].Steps[j], deploy.StepDone, ana, time.Minute, "")
			}
			r.Phases[i].Approval = &deploy.Approval{By: bob, At: t0}
		}
		set(&r.Phases[0].Steps[0], deploy.StepSkipped, ana, time.Minute, "")
		r.Phases[0].Steps[0].Reason = "reviewed upstream"
		r.Status, r.Ended = deploy.StatusCompleted, t0
		return r
	}
	rolling := func() *deploy.Run {
		r := fixtureRun(rb)
		r.Status = deploy.StatusRollingBack
		r.Previous = "v1.3.9"
		r.Rollback = &deploy.RollbackInfo{By: bob, Reason: "error rate doubled", FromPhase: "prepare", At: t0}
		return r
	}
	rolledBack := func() *deploy.Run {
		r := rolling()
		r.Status, r.Ended = deploy.StatusRolledBack, t0
		return r
	}
	aborted := func() *deploy.Run {
		r := fixtureRun(rb)
		r.Status, r.Ended, r.AbortedBy, r.AbortReason = deploy.StatusAborted, t0, &bob, "wrong version"
		return r
	}
	cases := []struct {
		name    string
		n       bot.Notice
		visible []string
	}{
		{"announcement", bot.Announcement(fixtureRun(rb)), []string{"🚀 payments-api: Deployment of v1.4 to production started", "Service payments-api", "Started by @ana", "payments-api (2 phases, 4 steps)"}},
		{"completion", bot.Completion(done()), []string{"✅ payments-api: v1.4 is deployed to production", "Total duration 20m", "Approvers @bob", "Skipped or ended early:", "reviewed upstream"}},
		{"rollback", bot.RollbackNotice(rolling()), []string{"🚨 payments-api: Rolling back v1.4 on production", "Service payments-api", "Returns to v1.3.9", "Reason error rate doubled", "From phase Prepare the release"}},
		{"rolled back", bot.RolledBackNotice(rolledBack()), []string{"↩️ payments-api: v1.4 on production is rolled back", "Returned to v1.3.9"}},
		{"aborted", bot.AbortNotice(aborted()), []string{"aborted", "wrong version"}},
		{"ask the approvers", askNotice(t), []string{"<@U0BOB> <!subteam^S0REL> @oncall", "🙋 payments-api: “Roll out to production” of v1.4 to production is ready for your approval", "@ana started the run and may not approve it"}},
		{"text", bot.Notice{Kind: bot.NoticeText, Title: "Deploying v1.4 <now> & then"}, []string{"Deploying v1.4 <now> & then"}},
		{"with a button", bot.Notice{Kind: bot.NoticeReminder, Icon: bot.IconClock, Title: "Maintenance window in 1 h", Fields: []bot.Field{{Label: "Version", Value: "v1.4"}},
			Buttons: []bot.Button{{Label: "Start", Action: bot.ActStartWindow, RunID: "w3x9z", Style: bot.StylePrimary}}}, []string{"[Start]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := RenderNotice(tc.n)
			raw := checkRendered(t, out)
			vis := slackfake.Visible(raw)
			for _, want := range tc.visible {
				if !strings.Contains(vis, want) {
					t.Errorf("notice does not show %q:\n%s", want, vis)
				}
			}
			js, _ := out.JSON()
			golden(t, js)
		})
	}
}

func TestClipAndEscape(t *testing.T) {
	cases := []struct {
		name, in string
		max      int
		want     string
	}{
		{"short", "a<b", 10, "a&lt;b"},
		{"cut before an entity", "abc<def", 5, "abc…"},
		{"emoji counts two", "🚀🚀🚀", 5, "🚀🚀…"},
		{"exact", "abcde", 5, "abcde"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := esc(tc.in, tc.max); got != tc.want {
				t.Errorf("esc(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
			if length(esc(tc.in, tc.max)) > tc.max {
				t.Errorf("longer than %d", tc.max)
			}
		})
	}
}

func TestRenderEmptyRollbackCard(t *testing.T) {
	c := bot.PhaseCard{RunID: "r7k2qd", PhaseID: "rollback", Title: "Rollback Procedure", Rollback: true, State: bot.CardPassed, Gate: bot.Gate{Kind: bot.GatePassed}}
	r := RenderCard(c)
	raw, err := json.Marshal(r.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	if err := slackfake.CheckBlocks(raw); err != nil {
		t.Fatalf("a rollback procedure without steps renders invalid blocks: %v", err)
	}
	if r.Text == "" {
		t.Fatal("no fallback text")
	}
}

// longTitle is a step title as long as real checklists write them.
const longTitle = "Step %d: confirm that the payments reconciliation job for every region finished, that the ledger totals match the bank statement export, and that the on-call engineer has signed off in the release channel"

// midRun returns a run of a phase of n long-titled steps, the first done
// of them settled (done by different people, every seventh skipped with a
// reason), the rest open.
func midRun(t testing.TB, n, done int, title string) *deploy.Run {
	rb := bigRunbook(t, n, title)
	r := fixtureRun(rb)
	people := []deploy.Actor{ana, bob, {ID: "U0CAT", Name: "catherine.longname", Platform: "slack"}}
	for j := range done {
		s := &r.Phases[0].Steps[j]
		set(s, deploy.StepDone, people[j%len(people)], time.Duration(done-j)*time.Minute, "")
		if j%7 == 3 {
			s.State, s.Reason = deploy.StepSkipped, "checked by hand on the finance dashboard together with the treasury team, nothing to reconcile this week"
		}
	}
	return r
}

// offeredSteps returns, for a rendered card, the step ids each action can
// be applied to (as a button or a menu option).
func offeredSteps(raw []byte) map[string]bool {
	offered := map[string]bool{}
	for _, a := range slackfake.Actions(raw) {
		if a.Type == "button" {
			offered[a.ActionID] = true
		}
		for _, o := range a.Options {
			offered[o.Value] = true
		}
	}
	return offered
}

// TestRenderLongPhase: a long phase mid-run, with long titles, stays under
// the block text budget and usable: the open steps are shown in full with
// their buttons (or, past what buttons fit, in menus), the settled ones
// folded; every button is there.
func TestRenderLongPhase(t *testing.T) {
	cases := []struct {
		name        string
		steps, done int
		buttons     bool // the open steps keep their own buttons (no menus)
	}{
		{"30 steps mid-run", 30, 18, true},
		{"60 steps mid-run", 60, 36, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := midRun(t, tc.steps, tc.done, longTitle)
			card := bot.BuildCard(r, 0, t0)
			out := RenderCard(card)
			raw := checkRendered(t, out)
			if n := blockText(out.Blocks); n > maxBlockText {
				t.Errorf("block text %d characters, over the %d budget", n, maxBlockText)
			}
			vis := slackfake.Visible(raw)
			offered := offeredSteps(raw)
			for j, l := range card.Steps {
				if j < tc.done {
					continue
				}
				if tc.buttons && !strings.Contains(vis, l.Title) {
					t.Errorf("open step %d is not shown in full", j+1)
				}
				for _, b := range l.Buttons {
					if !offered[b.ID()] {
						t.Errorf("open step %d cannot be %s", j+1, b.Action)
					}
				}
			}
			for _, b := range card.Buttons {
				if !offered[b.ID()] {
					t.Errorf("the phase's %s button is missing", b.Label)
				}
			}
			if menus := strings.Contains(string(raw), "static_select"); menus == tc.buttons {
				t.Errorf("menus %v, want %v", menus, !tc.buttons)
			}
			t.Logf("%d blocks, %d characters of block text", len(out.Blocks), blockText(out.Blocks))
			js, _ := out.JSON()
			golden(t, js)
		})
	}
}

// TestBlockTextBudget: whatever the phase's size, its progress and its
// titles, a card stays under the block text budget and Block Kit's limits,
// and every open step (up to the 100 a menu lists) can be acted on.
func TestBlockTextBudget(t *testing.T) {
	titles := map[string]string{
		"short": "Check %d",
		"long":  longTitle,
		"max":   "%d " + strings.Repeat("Very long step title with <markup> & entities ", 7),
	}
	for _, n := range []int{1, 5, 10, 20, 25, 30, 40, 50, 60, 80, 100, 150, 300} {
		for tname, title := range titles {
			for _, frac := range []int{0, 25, 50, 75, 90, 100} {
				done := n * frac / 100
				r := midRun(t, n, done, title)
				if done < n {
					// An open automated-looking step with a long result.
					s := &r.Phases[0].Steps[done]
					s.State, s.Result, s.Attempt = deploy.StepFailed, strings.Repeat("exit 1: reconciliation mismatch <in> ledger & bank ", 10), 2
					s.By, s.At = &deploy.System, t0
				}
				card := bot.BuildCard(r, 0, t0)
				out := RenderCard(card)
				raw, _ := json.Marshal(out.Blocks)
				if err := slackfake.CheckBlocks(raw); err != nil {
					t.Errorf("%d %s steps, %d%% settled: %v", n, tname, frac, err)
				}
				if got := blockText(out.Blocks); got > maxBlockText {
					t.Errorf("%d %s steps, %d%% settled: block text %d > %d", n, tname, frac, got, maxBlockText)
				}
				if n-done > maxSelectOptions {
					continue
				}
				offered := offeredSteps(raw)
				for j, l := range card.Steps {
					for _, b := range l.Buttons {
						if !offered[b.ID()] {
							t.Errorf("%d %s steps, %d%% settled: step %d cannot be %s", n, tname, frac, j+1, b.Action)
						}
					}
				}
			}
		}
	}
}
