package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/bot/discord"
	"deploybot/commands"
	"deploybot/deploy"
	"deploybot/deploy/redisstore"
	appcore "deploybot/internal/app/core"
	"deploybot/internal/testkit/discordfake"
	"deploybot/internal/testkit/slackfake"
	"deploybot/runbook"
)

// withRollback: a manual step, then a production phase, and a rollback
// procedure of one manual step; no approvals.
const withRollback = `
name: tiny
phases:
  - id: prepare
    title: Prepare
    approval: false
    steps:
      - id: review
        title: Review
  - id: rollout
    title: Roll out
    production: true
    approval: false
    steps:
      - id: deploy
        title: Ship it
rollback:
  steps:
    - id: revert
      title: Revert the release
`

// reports returns the run's report messages in the Slack channel.
func (w *world) reports(channel string) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range w.fake.Messages() {
		if m.Channel == channel && strings.Contains(m.Visible(), "Deployment report: v1.4 to production") {
			out = append(out, m)
		}
	}
	return out
}

// checkReport checks that the run's report was posted exactly once, as a
// reply in the summary's thread, and says what the reader must read.
func (w *world) checkReport(t *testing.T, parts ...string) slackfake.Message {
	t.Helper()
	reps := w.reports(w.runCh)
	if len(reps) != 1 {
		t.Fatalf("%d reports posted in %s, want exactly 1\n%s", len(reps), w.runCh, w.transcript())
	}
	summary, ok := w.fake.Find(w.runCh, "Each phase has its own message in this thread")
	if !ok {
		t.Fatalf("no summary\n%s", w.transcript())
	}
	rep := reps[0]
	if rep.ThreadTS == "" || rep.ThreadTS != summary.TS {
		t.Errorf("the report is not a reply in the run's thread (thread %q, summary %q)", rep.ThreadTS, summary.TS)
	}
	for _, p := range parts {
		if !strings.Contains(rep.Visible(), p) {
			t.Errorf("the report does not say %q:\n%s", p, rep.Visible())
		}
	}
	if n := len(w.reports(noticeChannel)); n != 0 {
		t.Errorf("%d reports posted in the notice channel", n)
	}
	return rep
}

// When a run completes, its report is posted once, as a reply in the run's
// thread, and a later poll does not post it again.
func TestReportPostedOnceInTheThreadWhenARunCompletes(t *testing.T) {
	w := newWorld(t, twoPhases)
	p := w.start(true)
	runID := p.start(t)
	p.flush(t)
	w.clk.Advance(3 * time.Minute)
	p.done(t, runID, "prepare", "review")
	p.done(t, runID, "prepare", "notes")
	w.clk.Advance(2 * time.Minute)
	p.done(t, runID, "rollout", "deploy")
	p.flush(t)
	w.checkReport(t, "completed", "Run: "+runID, "Started by: @ana", "Total duration: 5m", "Prepare: 3m", "Roll out: 2m",
		"passed by itself", "Skipped steps", "none")
	if n := p.poll(t, w); n != 0 {
		t.Errorf("the publisher claimed %d effects after the report was delivered", n)
	}
	w.checkReport(t)
}

// When a run is rolled back, its report says who rolled it back and why,
// once, in the run's thread; people's text shows as typed (escaped).
func TestReportPostedOnceInTheThreadWhenARunIsRolledBack(t *testing.T) {
	w := newWorld(t, withRollback)
	p := w.start(true)
	runID := p.start(t)
	p.done(t, runID, "prepare", "review")
	w.clk.Advance(time.Minute)
	rb := bot.Button{Action: deploy.ActRollback, RunID: runID, Phase: "rollout"}
	if r := p.core.Bot.Click(t.Context(), bot.Click{Platform: "slack", Channel: runChannel, Actor: bob, ButtonID: rb.ID(),
		Reason: "5xx <!channel> spike", RequestID: "rb-1"}); r.Text != "" {
		t.Fatalf("rollback: %q", r.Text)
	}
	p.flush(t)
	if n := len(w.reports(runChannel)); n != 0 {
		t.Fatalf("a report was posted while the run is rolling back\n%s", w.transcript())
	}
	p.done(t, runID, deploy.RollbackPhaseID, "revert")
	p.flush(t)
	rep := w.checkReport(t, "rolled back", "Rollback", "Started by: @bob", "from “Roll out”", "Reason: 5xx <!channel> spike", "Rollback Procedure")
	if strings.Contains(string(rep.Blocks), "<!channel>") {
		t.Errorf("the reason reached Slack as markup: %s", rep.Blocks)
	}
	if n := p.poll(t, w); n != 0 {
		t.Errorf("the publisher claimed %d effects after the report was delivered", n)
	}
	w.checkReport(t)
}

// A process ends a run and dies before any message reaches Slack; another
// process posts the report once, in the thread; a third finds nothing owed.
func TestReportSurvivesACrash(t *testing.T) {
	w := newWorld(t, withRollback)
	dead := w.start(false)
	runID := dead.start(t)
	dead.done(t, runID, "prepare", "review")
	dead.done(t, runID, "rollout", "deploy")
	live := w.start(true)
	live.poll(t, w)
	w.checkReport(t, "completed", "Run: "+runID)
	third := w.start(true)
	if n := third.poll(t, w); n != 0 {
		t.Errorf("a third process claimed %d effects", n)
	}
	w.checkReport(t)
}

// /deploy report shows an ended run's report again, and a live run's report
// so far, marked as in progress; a run of another workspace is not found.
func TestReportCommand(t *testing.T) {
	w := newWorld(t, twoPhases)
	p := w.start(true)
	runID := p.start(t)
	p.done(t, runID, "prepare", "review")
	ask := func(run string) bot.Reply {
		return p.core.Bot.Execute(t.Context(), bot.Request{Platform: "slack", Channel: runChannel, Actor: ana, RequestID: "rep-" + run},
			commands.Command{Kind: commands.KindReport, Run: run})
	}
	r := ask("")
	for _, want := range []string{"Deployment report: v1.4 to production — in progress", "In progress: this is the report so far", "*Outcome*: in progress"} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("report of the live run does not say %q:\n%s", want, r.Text)
		}
	}
	if r.Public || r.RunID != runID {
		t.Errorf("reply public=%v run=%q, want ephemeral for run %s", r.Public, r.RunID, runID)
	}
	p.done(t, runID, "prepare", "notes")
	p.done(t, runID, "rollout", "deploy")
	for _, run := range []string{runID, ""} { // by id, and the channel's last run
		r = ask(run)
		if !strings.Contains(r.Text, "*Outcome*: completed") || strings.Contains(r.Text, "In progress") {
			t.Errorf("report of the completed run (asked as %q):\n%s", run, r.Text)
		}
	}
	// Each front gets its own markup: Markdown on Discord, the console's marks.
	for platform, want := range map[string]string{"discord": "- **Outcome**: completed", "console": "- **Outcome**: completed", "slack": "• *Outcome*: completed"} {
		r = p.core.Bot.Execute(t.Context(), bot.Request{Platform: platform, Channel: runChannel, Actor: deploy.Actor{ID: "x", Name: "x", Platform: platform}},
			commands.Command{Kind: commands.KindReport, Run: runID})
		if !strings.Contains(r.Text, want) {
			t.Errorf("report on %s does not say %q:\n%s", platform, want, r.Text)
		}
	}
	// A run of workspace T0A is not shown to a person of workspace T0B.
	inA, inB := ana, ana
	inA.Workspace, inB.Workspace = "T0A", "T0B"
	second := p.core.Bot.Command(t.Context(), bot.Request{Platform: "slack", Channel: runChannel, Actor: inA, Text: "start v1.5", RequestID: "start-2"})
	if second.RunID == "" {
		t.Fatalf("start: %q", second.Text)
	}
	r = p.core.Bot.Execute(t.Context(), bot.Request{Platform: "slack", Channel: runChannel, Actor: inB}, commands.Command{Kind: commands.KindReport, Run: second.RunID})
	if strings.Contains(r.Text, "Deployment report") {
		t.Errorf("a person of another workspace got the report:\n%s", r.Text)
	}
	r = p.core.Bot.Execute(t.Context(), bot.Request{Platform: "slack", Channel: "C0ELSEWHERE", Actor: ana}, commands.Command{Kind: commands.KindReport})
	if !strings.Contains(r.Text, "no run was started in this channel yet") {
		t.Errorf("report in a channel without runs: %q", r.Text)
	}
	r = ask("rzzzzz")
	if !strings.Contains(r.Text, `no run "rzzzzz"`) {
		t.Errorf("report of an unknown run: %q", r.Text)
	}
}

// On Discord the report is a reply (message_reference) to the run's
// summary, posted once when the run completes and when it is rolled back.
func TestReportOnDiscordRepliesToTheSummaryOnce(t *testing.T) {
	for _, rollback := range []bool{false, true} {
		name := "completed"
		if rollback {
			name = "rolled back"
		}
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, withRollback)
			fake := discordfake.New(t, discordfake.WithClock(w.clk.Now))
			poster, err := discord.NewPoster(discord.Config{Token: discordfake.BotToken, AppID: discordfake.AppID, APIURL: fake.URL(), Clock: w.clk, Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			st, err := redisstore.Open(w.redis.URL(), w.prefix)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			rb, err := runbook.Parse("tiny.yaml", []byte(withRollback), nil)
			if err != nil {
				t.Fatal(err)
			}
			core, err := appcore.Build(appcore.Config{Store: st, Runbook: rb, Posters: []bot.Poster{poster}, Clock: w.clk, Logger: quiet(), NoticeChannel: "700000000000000002"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(core.Close)
			const ch = "700000000000000001"
			who := deploy.Actor{ID: "400000000000000001", Name: "ana", Platform: "discord"}
			start := core.Bot.Command(t.Context(), bot.Request{Platform: "discord", Channel: ch, Actor: who, Text: "start v1.4", RequestID: "s"})
			if start.RunID == "" {
				t.Fatalf("start: %q", start.Text)
			}
			click := func(b bot.Button, reason string) {
				t.Helper()
				if r := core.Bot.Click(t.Context(), bot.Click{Platform: "discord", Channel: ch, Actor: who, ButtonID: b.ID(), Reason: reason, RequestID: b.ID()}); r.Text != "" {
					t.Fatalf("%s: %q", b.ID(), r.Text)
				}
			}
			click(bot.Button{Action: deploy.ActDone, RunID: start.RunID, Phase: "prepare", Step: "review"}, "")
			if rollback {
				click(bot.Button{Action: deploy.ActRollback, RunID: start.RunID, Phase: "rollout"}, "checkout broken")
				click(bot.Button{Action: deploy.ActDone, RunID: start.RunID, Phase: deploy.RollbackPhaseID, Step: "revert"}, "")
			} else {
				click(bot.Button{Action: deploy.ActDone, RunID: start.RunID, Phase: "rollout", Step: "deploy"}, "")
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := core.Outbox.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			w.clk.Advance(deploy.DefaultEffectHeadStart + time.Second)
			if n, err := core.Bot.PollEffects(t.Context()); err != nil || n != 0 {
				t.Errorf("claimed %d effects after delivery (%v)", n, err)
			}
			var reps []discordfake.Message
			for _, m := range fake.Messages() {
				if m.ChannelID == ch && strings.Contains(m.Visible(), "Deployment report: v1.4 to production") {
					reps = append(reps, m)
				}
			}
			if len(reps) != 1 {
				t.Fatalf("%d reports posted, want 1\n%s", len(reps), fake.Transcript(ch, ""))
			}
			summary, ok := fake.Find(ch, "Deployment of tiny v1.4 to production", "Progress:")
			if !ok || reps[0].ReplyTo != summary.ID {
				t.Errorf("the report replies to %q, want the summary %q\n%s", reps[0].ReplyTo, summary.ID, fake.Transcript(ch, ""))
			}
			want := []string{"Outcome**: completed"}
			if rollback {
				want = []string{"Outcome**: rolled back", "Reason**: checkout broken"}
			}
			for _, s := range want {
				if !strings.Contains(reps[0].Visible(), s) {
					t.Errorf("the report does not say %q:\n%s", s, reps[0].Visible())
				}
			}
		})
	}
}
