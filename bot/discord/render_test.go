package discord

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
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/internal/testkit/discordfake"
	"deploybot/runbook"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// t0 is when the sample runs start; now is when they are rendered.
var (
	t0  = time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC)
	now = t0.Add(12 * time.Minute)
)

var (
	ana = deploy.Actor{ID: "400000000000000001", Name: "ana", Platform: PlatformName}
	bob = deploy.Actor{ID: "400000000000000002", Name: "bob", Platform: PlatformName}
)

// sampleRun is an active run of a three-phase runbook, started by ana at t0,
// in its first phase with every step pending.
func sampleRun() *deploy.Run {
	no := false
	rb := runbook.Runbook{
		Name: "orchestration-system", DistinctApprover: true,
		Phases: []runbook.Phase{
			{ID: "code", Group: "Pre-Deployment", Title: "Code & Repository", Steps: []runbook.Step{
				{ID: "tests", Title: "All automated tests passing (unit, integration, e2e)", Run: "shell"},
				{ID: "review", Title: "Code review completed for all changes"},
				{ID: "changelog", Title: "Changelog updated"},
				{ID: "tag", Title: "Release tagged in git", Run: "github"},
				{ID: "notes", Title: "Release notes drafted"},
			}},
			{ID: "deploy", Group: "Deployment", Title: "Deploy to production", Production: true, Window: runbook.WindowRequired, Steps: []runbook.Step{
				{ID: "rollout", Title: "Roll out the new version", Run: "shell"},
				{ID: "watch", Title: "Watch error rates for 15 minutes", Run: "watch"},
			}},
			{ID: "verify", Group: "Post-Deployment", Title: "Verify", Approval: &no, Steps: []runbook.Step{
				{ID: "smoke", Title: "Smoke tests pass"},
			}},
		},
		Rollback: runbook.Rollback{Steps: []runbook.Step{
			{ID: "notify", Title: "Notify the deployment team", Run: "notify"},
			{ID: "revert", Title: "Revert to the previous version"},
		}},
	}
	r := &deploy.Run{ID: "r7k2qd", Release: "v1.4.2", Env: "production", Channel: "500000000000000001", Platform: PlatformName,
		Started: ana, Status: deploy.StatusActive, Created: t0, Updated: t0, Runbook: rb, Rev: 1}
	for _, p := range rb.Phases {
		pr := deploy.PhaseRun{ID: p.ID}
		for _, s := range p.Steps {
			pr.Steps = append(pr.Steps, deploy.StepRun{ID: s.ID, State: deploy.StepPending})
		}
		r.Phases = append(r.Phases, pr)
	}
	r.Phases[0].Started = t0
	return r
}

func set(s *deploy.StepRun, state deploy.StepState, by *deploy.Actor, at time.Time) {
	s.State, s.By, s.At = state, by, at
}

// finishCode settles every step of the first phase.
func finishCode(r *deploy.Run) {
	sys := deploy.System
	p := &r.Phases[0]
	set(&p.Steps[0], deploy.StepDone, &sys, t0.Add(time.Minute))
	p.Steps[0].Result = "exit 0"
	set(&p.Steps[1], deploy.StepDone, &ana, t0.Add(2*time.Minute))
	set(&p.Steps[2], deploy.StepSkipped, &bob, t0.Add(3*time.Minute))
	p.Steps[2].Reason = "no user-facing change"
	set(&p.Steps[3], deploy.StepDone, &sys, t0.Add(4*time.Minute))
	p.Steps[3].Result = "tag v1.4.2 exists"
	set(&p.Steps[4], deploy.StepDone, &ana, t0.Add(5*time.Minute))
}

func TestRenderCard(t *testing.T) {
	cases := []struct {
		name  string
		phase int
		make  func() *deploy.Run
	}{
		{"pending manual steps and a running check", 0, func() *deploy.Run {
			r := sampleRun()
			r.Phases[0].Steps[0].State = deploy.StepRunning
			r.Phases[0].Steps[0].Started = t0.Add(10 * time.Minute)
			r.Phases[0].Steps[0].Attempt = 1
			return r
		}},
		{"ticked and skipped steps", 0, func() *deploy.Run {
			r := sampleRun()
			sys := deploy.System
			set(&r.Phases[0].Steps[0], deploy.StepDone, &sys, t0.Add(time.Minute))
			r.Phases[0].Steps[0].Result = "exit 0"
			set(&r.Phases[0].Steps[1], deploy.StepDone, &ana, t0.Add(2*time.Minute))
			set(&r.Phases[0].Steps[2], deploy.StepSkipped, &bob, t0.Add(3*time.Minute))
			r.Phases[0].Steps[2].Reason = "no user-facing change"
			return r
		}},
		{"failed and interrupted steps", 0, func() *deploy.Run {
			r := sampleRun()
			sys := deploy.System
			set(&r.Phases[0].Steps[0], deploy.StepFailed, &sys, t0.Add(time.Minute))
			r.Phases[0].Steps[0].Result = "exit 1: 3 tests failed"
			set(&r.Phases[0].Steps[3], deploy.StepInterrupted, &sys, t0.Add(time.Minute))
			r.Phases[0].Steps[3].Result = "interrupted: the bot restarted while it ran"
			return r
		}},
		{"waiting for approval", 0, func() *deploy.Run {
			r := sampleRun()
			finishCode(r)
			return r
		}},
		{"approved", 0, func() *deploy.Run {
			r := sampleRun()
			finishCode(r)
			r.Phases[0].Approval = &deploy.Approval{By: bob, At: t0.Add(6 * time.Minute)}
			r.Phases[0].Ended = t0.Add(6 * time.Minute)
			r.Phase = 1
			r.Phases[1].Started = t0.Add(6 * time.Minute)
			return r
		}},
		{"waiting for a maintenance window", 1, func() *deploy.Run {
			r := sampleRun()
			finishCode(r)
			r.Phases[0].Approval = &deploy.Approval{By: bob, At: t0.Add(6 * time.Minute)}
			r.Phase = 1
			r.Phases[1].Started = t0.Add(6 * time.Minute)
			return r
		}},
		{"production phase waiting for approval after a watch", 1, func() *deploy.Run {
			r := sampleRun()
			finishCode(r)
			r.Phases[0].Approval = &deploy.Approval{By: bob, At: t0.Add(6 * time.Minute)}
			r.Phase = 1
			r.Phases[1].Started = t0.Add(6 * time.Minute)
			sys := deploy.System
			set(&r.Phases[1].Steps[0], deploy.StepDone, &sys, t0.Add(8*time.Minute))
			r.Phases[1].Steps[0].Result = "exit 0"
			set(&r.Phases[1].Steps[1], deploy.StepDone, &sys, t0.Add(11*time.Minute))
			r.Phases[1].Steps[1].Result = "15m passed: error rate 0.2% (max 1%)"
			return r
		}},
		{"running watch with End watch", 1, func() *deploy.Run {
			r := sampleRun()
			finishCode(r)
			r.Phases[0].Approval = &deploy.Approval{By: bob, At: t0.Add(6 * time.Minute)}
			r.Phase = 1
			r.Phases[1].Started = t0.Add(6 * time.Minute)
			r.Phases[1].WindowOverride = &deploy.Approval{By: bob, At: t0.Add(6 * time.Minute), Reason: "hotfix"}
			sys := deploy.System
			set(&r.Phases[1].Steps[0], deploy.StepDone, &sys, t0.Add(8*time.Minute))
			r.Phases[1].Steps[0].Result = "exit 0"
			r.Phases[1].Steps[1].State = deploy.StepRunning
			r.Phases[1].Steps[1].Started = t0.Add(8 * time.Minute)
			r.Phases[1].Steps[1].Progress = "4m of 15m: error rate 0.2%"
			return r
		}},
		{"stopped by an abort", 0, func() *deploy.Run {
			r := sampleRun()
			r.Status = deploy.StatusAborted
			r.AbortedBy = &bob
			r.AbortReason = "wrong version"
			r.Ended = t0.Add(5 * time.Minute)
			return r
		}},
		{"rollback procedure", 3, func() *deploy.Run {
			r := sampleRun()
			r.Status = deploy.StatusRollingBack
			r.Previous = "v1.4.1"
			r.Rollback = &deploy.RollbackInfo{By: bob, Reason: "error rate up", FromPhase: "code", At: t0.Add(7 * time.Minute)}
			sys := deploy.System
			rb := deploy.PhaseRun{ID: deploy.RollbackPhaseID, Started: t0.Add(7 * time.Minute), Steps: []deploy.StepRun{
				{ID: "notify", State: deploy.StepDone, By: &sys, At: t0.Add(7 * time.Minute), Result: "notice sent"},
				{ID: "revert", State: deploy.StepPending},
			}}
			r.Phases = append(r.Phases, rb)
			r.Phase = 3
			return r
		}},
		{"thirty open steps", 0, func() *deploy.Run {
			r := sampleRun()
			var steps []runbook.Step
			var runs []deploy.StepRun
			for i := 1; i <= 30; i++ {
				id := fmt.Sprintf("check-%02d", i)
				steps = append(steps, runbook.Step{ID: id, Title: fmt.Sprintf("Check number %d of the pre-flight list, with a long title to fill the line", i)})
				runs = append(runs, deploy.StepRun{ID: id, State: deploy.StepPending})
			}
			r.Runbook.Phases[0].Steps = steps
			r.Phases[0].Steps = runs
			return r
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.make()
			c := bot.BuildCard(r, tc.phase, now)
			golden(t, render(bot.Message{Card: &c}))
		})
	}
}

func TestRenderSummary(t *testing.T) {
	cases := []struct {
		name string
		make func() *deploy.Run
	}{
		{"active", sampleRun},
		{"completed", func() *deploy.Run {
			r := sampleRun()
			finishCode(r)
			for i := range r.Phases {
				r.Phases[i].Approval = &deploy.Approval{By: bob, At: t0.Add(10 * time.Minute)}
				for j := range r.Phases[i].Steps {
					r.Phases[i].Steps[j].State = deploy.StepDone
				}
			}
			r.Phases[2].Approval = &deploy.Approval{By: deploy.System, At: t0.Add(11 * time.Minute)}
			r.Status, r.Ended, r.Phase = deploy.StatusCompleted, t0.Add(11*time.Minute), 2
			return r
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := bot.BuildSummary(tc.make(), now)
			golden(t, render(bot.Message{Summary: &s}))
		})
	}
}

// askNotice asks a run's approvers: a user, a role, a Slack group (left out
// on Discord) and the starter (not asked: two-person rule).
func askNotice() bot.Notice {
	r := sampleRun()
	r.Runbook.DistinctApprover = true
	r.Runbook.Approvers = []string{r.Started.ID, "600000000000000001", "&700000000000000002", "@release"}
	return bot.AskApprovers(r, 0)
}

// TestAskMentionsNotifyOnlyTheApprovers: the request for approval mentions
// the approver and the role, and allows exactly those mentions to notify.
func TestAskMentionsNotifyOnlyTheApprovers(t *testing.T) {
	r := render(bot.Message{Notice: ptrNotice(askNotice())})
	if !strings.HasPrefix(r.Content, "<@600000000000000001> <@&700000000000000002>\n🙋 ") {
		t.Errorf("content %q: want the approver and the role mentioned first", r.Content)
	}
	a := r.Allowed
	if a == nil || len(a.Parse) != 0 || strings.Join(a.Users, ",") != "600000000000000001" || strings.Join(a.Roles, ",") != "700000000000000002" {
		t.Errorf("allowed mentions %+v: want exactly the approver and the role", a)
	}
	if plain := render(bot.Message{Notice: &bot.Notice{Kind: bot.NoticeText, Title: "<@600000000000000001>"}}); plain.Allowed != nil {
		t.Error("a notice that asks nobody allows mentions")
	}
}

func ptrNotice(n bot.Notice) *bot.Notice { return &n }

func TestRenderNotice(t *testing.T) {
	rolledBack := func() *deploy.Run {
		r := sampleRun()
		r.Status = deploy.StatusRolledBack
		r.Previous = "v1.4.1"
		r.Rollback = &deploy.RollbackInfo{By: bob, Reason: "error rate up", FromPhase: "code", At: t0.Add(7 * time.Minute)}
		r.Ended = t0.Add(11 * time.Minute)
		return r
	}
	completed := func() *deploy.Run {
		r := sampleRun()
		finishCode(r)
		r.Phases[0].Approval = &deploy.Approval{By: bob, At: t0.Add(6 * time.Minute)}
		r.Phases[0].Ended = t0.Add(6 * time.Minute)
		r.Status, r.Ended = deploy.StatusCompleted, t0.Add(11*time.Minute)
		return r
	}
	aborted := func() *deploy.Run {
		r := sampleRun()
		r.Status, r.AbortedBy, r.AbortReason = deploy.StatusAborted, &bob, "wrong version"
		return r
	}
	cases := []struct {
		name   string
		notice bot.Notice
	}{
		{"announcement", bot.Announcement(sampleRun())},
		{"completion", bot.Completion(completed())},
		{"rollback", bot.RollbackNotice(rolledBack())},
		{"rolled back", bot.RolledBackNotice(rolledBack())},
		{"aborted", bot.AbortNotice(aborted())},
		{"ask the approvers", askNotice()},
		{"text", bot.Notice{Kind: bot.NoticeText, Title: "Deploying v1.4.2: database migration started"}},
		{"reminder with a button", bot.Notice{Kind: bot.NoticeReminder, Icon: bot.IconClock, Title: "Maintenance window for v1.4.2 opens in 1h",
			Fields:  []bot.Field{{Label: "Version", Value: "v1.4.2"}, {Label: "Starts", Value: "Tue 2030-03-05 21:00 UTC"}},
			Buttons: []bot.Button{{Label: "Start", Action: deploy.ActionKind("start_window"), RunID: "w4k9zt", Phase: "v1.4.2", Style: bot.StylePrimary}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := bot.Message{Notice: &tc.notice}
			if tc.notice.Kind == bot.NoticeAsk { // the footer tells which request it is
				m.Key = fmt.Sprintf("%s:%s:ask:code:%d", tc.notice.RunID, PlatformName, t0.Add(6*time.Minute+123*time.Millisecond).UnixMilli())
			}
			golden(t, render(m))
		})
	}
}

func TestRenderInteractionAnswers(t *testing.T) {
	r := sampleRun()
	finishCode(r)
	r.Phases[0].Approval = &deploy.Approval{By: bob, At: t0.Add(6 * time.Minute)}
	r.Phase = 1
	r.Phases[1].Started = t0.Add(6 * time.Minute)
	card := bot.BuildCard(r, 1, now)
	var override, rollback bot.Button
	for _, b := range card.Buttons {
		switch b.Action {
		case deploy.ActOverrideWindow:
			override = b
		case deploy.ActRollback:
			rollback = b
		}
	}
	pending := bot.BuildCard(sampleRun(), 0, now)
	cases := []struct {
		name  string
		data  *discordgo.InteractionResponseData
		modal bool
	}{
		{"rollback confirmation", confirmPrompt(rollback, rollback.Confirm), false},
		{"start outside window confirmation", confirmPrompt(override, override.Confirm), false},
		{"confirmation of a notice button", confirmPrompt(bot.Button{Action: "start_window", RunID: "w4k9zt"},
			genericConfirm("start_window", "Start", "⏰ Maintenance window for v1.4.2 opens in 1h")), false},
		{"step picker", stepPicker(2, pending.Steps[1]), false},
		{"skip reason modal", reasonModal(deploy.ActSkip, pending.Steps[1].Buttons[1].ID()), true},
		{"rollback reason modal", reasonModal(deploy.ActRollback, rollback.ID()), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			goldenJSON(t, tc.data, tc.modal)
		})
	}
}

// golden checks r against Discord's limits (with the fake's own checker)
// and compares its JSON with testdata/<TestName>.golden.json.
func golden(t *testing.T, r rendered) {
	t.Helper()
	goldenJSON(t, r, false)
}

// goldenJSON is golden for any message or modal body.
func goldenJSON(t *testing.T, r any, modal bool) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	check := func(b []byte) error { return discordfake.CheckMessage(b, true) }
	if modal {
		check = discordfake.CheckModal
	}
	if err := check(got); err != nil {
		t.Errorf("the render breaks Discord's limits:\n%v", err)
	}
	name := strings.NewReplacer("/", "__", " ", "_").Replace(t.Name())
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("render differs from %s (run go test -update after checking):\n%s", path, got)
	}
}

func TestRenderEmptyRollbackCard(t *testing.T) {
	c := bot.PhaseCard{RunID: "r7k2qd", PhaseID: "rollback", Title: "Rollback Procedure", Rollback: true, State: bot.CardPassed, Gate: bot.Gate{Kind: bot.GatePassed}}
	r := render(bot.Message{Card: &c})
	raw, err := json.Marshal(map[string]any{"content": r.Content, "embeds": r.Embeds, "components": r.Components})
	if err != nil {
		t.Fatal(err)
	}
	if err := discordfake.CheckMessage(raw, true); err != nil {
		t.Fatalf("a rollback procedure without steps breaks Discord's limits: %v", err)
	}
}

// A request for approval whose phase id fills the footer: the audit head is
// cut short (or left out), the footer stays within Discord's limit, and the
// part Find matches on stays whole.
func TestAnAskFooterStaysWithinTheLimitWithItsAuditHead(t *testing.T) {
	for _, phaseLen := range append([]int{10}, seq(1950, 1990)...) {
		phase := strings.Repeat("p", phaseLen)
		key := "r1:" + PlatformName + ":ask:" + phase + ":1764400000000"
		_, want, ok := askFooter(key)
		if !ok {
			continue // too long to name at all: the footer is the run's alone
		}
		n := bot.Notice{Kind: bot.NoticeAsk, RunID: "r1", Title: "approve", Lines: []string{"please"}, AuditHead: strings.Repeat("ab", 32)}
		got := renderNotice(n, key).Embeds[0].Footer.Text
		if utf8.RuneCountInString(got) > maxFooter {
			t.Errorf("phase of %d: footer of %d characters, over %d", phaseLen, utf8.RuneCountInString(got), maxFooter)
		}
		if got != want && !strings.HasPrefix(got, want+" · ") {
			t.Errorf("phase of %d: footer %q… does not start with the request's own footer", phaseLen, got[:40])
		}
		if phaseLen == 10 && !strings.HasSuffix(got, n.AuditLine()) {
			t.Errorf("footer %q does not end with the audit head %q", got, n.AuditLine())
		}
	}
}

// seq returns the integers from a to b.
func seq(a, b int) []int {
	var out []int
	for i := a; i <= b; i++ {
		out = append(out, i)
	}
	return out
}
