package discord_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"deploybot/bot"
	"deploybot/bot/discord"
	"deploybot/deploy"
	"deploybot/deploy/redisstore"
	appcore "deploybot/internal/app/core"
	"deploybot/internal/clock"
	"deploybot/internal/testkit"
	"deploybot/internal/testkit/discordfake"
	"deploybot/runbook"
)

// crashRunbook: two manual steps, then one; no approvals, so ticking every
// step completes the run.
const crashRunbook = `
name: tiny
phases:
  - id: prepare
    title: Prepare
    approval: false
    steps:
      - id: review
        title: Review
      - id: notes
        title: Release notes
  - id: rollout
    title: Roll out
    approval: false
    steps:
      - id: deploy
        title: Ship it
`

// crashWorld is one Redis prefix and one fake Discord that several bot
// processes share, on one fake clock.
type crashWorld struct {
	t      *testing.T
	fake   *discordfake.Server
	clk    *clock.Fake
	rb     *runbook.Runbook
	addr   string
	prefix string
}

func newCrashWorld(t *testing.T) *crashWorld {
	t.Helper()
	return newCrashWorldWith(t, crashRunbook)
}

// newCrashWorldWith is newCrashWorld with the runbook src.
func newCrashWorldWith(t *testing.T, src string) *crashWorld {
	t.Helper()
	rb, err := runbook.Parse("tiny.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := testkit.Redis(t)
	clk := clock.NewFake(time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC))
	return &crashWorld{t: t, fake: discordfake.New(t, discordfake.WithClock(clk.Now)), clk: clk, rb: rb, addr: srv.Addr(), prefix: srv.Prefix(t)}
}

// process starts a bot process posting to the fake Discord. One that does
// not deliver has its outbox closed: it applies transitions and records
// their effects, and dies before any reaches Discord.
func (w *crashWorld) process(deliver bool) *appcore.Core {
	w.t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: w.addr})
	w.t.Cleanup(func() { _ = rdb.Close() })
	core, err := appcore.Build(appcore.Config{Store: redisstore.New(rdb, w.prefix), Runbook: w.rb, Posters: []bot.Poster{posterOn(w.t, w.fake)},
		Clock: w.clk, Logger: testLogger(), NoticeChannel: noticeChannel})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(core.Close)
	if !deliver {
		core.Outbox.Close()
	}
	return core
}

var anaActor = deploy.Actor{ID: ana.ID, Name: "ana", Platform: discord.PlatformName, Workspace: discordfake.GuildID}

// start starts a run (the command's text, "start v1.4" when empty).
func (w *crashWorld) start(core *appcore.Core, text string) *deploy.Run {
	w.t.Helper()
	if text == "" {
		text = "start v1.4"
	}
	r := core.Bot.Command(w.t.Context(), bot.Request{Platform: discord.PlatformName, Channel: runChannel, Actor: anaActor, Text: text, RequestID: "start-" + text})
	if r.RunID == "" {
		w.t.Fatalf("start: %q", r.Text)
	}
	run, err := core.Engine.Get(w.t.Context(), r.RunID)
	if err != nil {
		w.t.Fatal(err)
	}
	return run
}

func (w *crashWorld) done(core *appcore.Core, runID, phase, step string) {
	w.t.Helper()
	id := strings.Join([]string{string(deploy.ActDone), runID, phase, step}, ":")
	if r := core.Bot.Click(w.t.Context(), bot.Click{Platform: discord.PlatformName, Channel: runChannel, Actor: anaActor, ButtonID: id, RequestID: "done-" + step}); r.Text != "" {
		w.t.Fatalf("Done %s: %q", step, r.Text)
	}
}

// poll claims the effects past their head start, as the publisher loop
// does every second, and delivers them.
func (w *crashWorld) poll(core *appcore.Core) {
	w.t.Helper()
	w.clk.Advance(deploy.DefaultEffectHeadStart + time.Second)
	if _, err := core.Bot.PollEffects(w.t.Context()); err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(w.t.Context(), 10*time.Second)
	defer cancel()
	if err := core.Outbox.Flush(ctx); err != nil {
		w.t.Fatalf("outbox did not drain: %v", err)
	}
}

// count returns how many public messages in channel show every part.
func (w *crashWorld) count(channel string, parts ...string) int {
	n := 0
	for _, m := range w.fake.Channel(channel, "") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(m.Visible(), p)
		}
		if all {
			n++
		}
	}
	return n
}

func (w *crashWorld) transcript() string {
	return "run channel:\n" + w.fake.Transcript(runChannel, "") + "notice channel:\n" + w.fake.Transcript(noticeChannel, "")
}

// deadPosts posts, as the dead process did before it died, the
// announcement, the summary and the first phase's card of run with their
// keys: Discord accepted them, their references were never recorded.
func (w *crashWorld) deadPosts(run *deploy.Run) {
	w.t.Helper()
	p := posterOn(w.t, w.fake)
	ctx := w.t.Context()
	n := bot.Announcement(run)
	if _, err := p.Post(ctx, noticeChannel, "", bot.Message{Notice: &n, Key: run.ID + ":discord:notice:announcement"}); err != nil {
		w.t.Fatal(err)
	}
	s := bot.BuildSummary(run, w.clk.Now())
	summary, err := p.Post(ctx, runChannel, "", bot.Message{Summary: &s, Key: run.ID + ":discord:summary"})
	if err != nil {
		w.t.Fatal(err)
	}
	c := bot.BuildCard(run, 0, w.clk.Now())
	if _, err := p.Post(ctx, runChannel, summary, bot.Message{Card: &c, Key: run.ID + ":discord:phase:prepare"}); err != nil {
		w.t.Fatal(err)
	}
}

// checkOnce checks that every message of the completed run shows exactly
// once, up to date, and nothing is owed any more.
func (w *crashWorld) checkOnce(runID string) {
	w.t.Helper()
	checks := []struct {
		what    string
		channel string
		parts   []string
	}{
		{"announcement", noticeChannel, []string{"v1.4", "started"}},
		{"summary", runChannel, []string{"run " + runID, "Progress"}},
		{"card of prepare", runChannel, []string{"run " + runID + " · phase prepare"}},
		{"card of rollout", runChannel, []string{"run " + runID + " · phase rollout"}},
	}
	for _, c := range checks {
		if n := w.count(c.channel, c.parts...); n != 1 {
			w.t.Errorf("%s: %d messages in %s show %q, want exactly 1\n%s", c.what, n, c.channel, c.parts, w.transcript())
		}
	}
	if s, ok := w.fake.Find(runChannel, "run "+runID, "Progress"); !ok || s.Edits == 0 || !strings.Contains(s.Visible(), "3/3 steps") {
		w.t.Errorf("the summary the dead process posted was not brought up to date (edits %d):\n%s", s.Edits, s.Visible())
	}
	if c, ok := w.fake.Find(runChannel, "phase prepare"); !ok || c.Edits == 0 {
		w.t.Errorf("the card the dead process posted was not edited (edits %d):\n%s", c.Edits, c.Visible())
	}
}

// TestAPostTheDeadProcessMadeIsNotRepeated: Discord accepted the
// announcement, the summary and a card from a process that died before it
// recorded any of them. The next process, within Discord's nonce window,
// delivers the run's effects: each message shows once, the summary and the
// card edited, not posted again.
func TestAPostTheDeadProcessMadeIsNotRepeated(t *testing.T) {
	w := newCrashWorld(t)
	dead := w.process(false)
	run := w.start(dead, "")
	w.deadPosts(run)
	w.done(dead, run.ID, "prepare", "review")
	w.done(dead, run.ID, "prepare", "notes")
	w.done(dead, run.ID, "rollout", "deploy")

	live := w.process(true)
	w.poll(live)
	w.checkOnce(run.ID)
}

// TestAPostTheDeadProcessMadeIsAdoptedPastTheNonceWindow: the same crash,
// but the next process comes back after Discord stopped remembering the
// nonces. The summary and the card are found by what they show and
// edited, the announcement found and left as it is; nothing shows twice.
func TestAPostTheDeadProcessMadeIsAdoptedPastTheNonceWindow(t *testing.T) {
	w := newCrashWorld(t)
	dead := w.process(false)
	run := w.start(dead, "")
	w.deadPosts(run)
	w.done(dead, run.ID, "prepare", "review")
	w.done(dead, run.ID, "prepare", "notes")
	w.done(dead, run.ID, "rollout", "deploy")
	w.clk.Advance(discordfake.NonceWindow + time.Minute)

	lists := w.fake.CallCount(discordfake.RouteListMessages)
	live := w.process(true)
	w.poll(live)
	if w.fake.CallCount(discordfake.RouteListMessages) == lists {
		t.Error("the next process never looked for the messages the dead one posted")
	}
	for _, c := range []struct{ what, channel, part string }{
		{"announcement", noticeChannel, "started"},
		{"summary", runChannel, "Progress"},
		{"card of prepare", runChannel, "phase prepare"},
		{"card of rollout", runChannel, "phase rollout"},
	} {
		if n := w.count(c.channel, "run "+run.ID, c.part); n != 1 {
			t.Errorf("%s: %d messages, want exactly 1\n%s", c.what, n, w.transcript())
		}
	}
	if s, _ := w.fake.Find(runChannel, "run "+run.ID, "Progress"); s.Edits == 0 || !strings.Contains(s.Visible(), "3/3 steps") {
		t.Errorf("the adopted summary was not brought up to date (edits %d):\n%s", s.Edits, s.Visible())
	}
}

// TestATextNoticeTheDeadProcessPostedIsNotRepeated: a notify step's text,
// which belongs to no run, reached Discord from a process that died before
// it acknowledged the effect. The process that claims it next posts it with
// the same nonce: Discord answers the message already there, one shows.
func TestATextNoticeTheDeadProcessPostedIsNotRepeated(t *testing.T) {
	w := newCrashWorld(t)
	dead := w.process(false)
	ctx := t.Context()
	if err := dead.Publisher.Notify(ctx, noticeChannel, "Database migrated"); err != nil {
		t.Fatal(err)
	}
	// What the dead process did before it died: it claimed its notice and
	// Discord accepted the post.
	rdb := redis.NewClient(&redis.Options{Addr: w.addr})
	t.Cleanup(func() { _ = rdb.Close() })
	items, err := redisstore.New(rdb, w.prefix).Claim(ctx, deploy.DueKindEffect, w.clk.Now().Add(deploy.DefaultEffectHeadStart+time.Second), 20*time.Second, 10)
	if err != nil || len(items) != 1 {
		t.Fatalf("claim the notice: %v, %d items", err, len(items))
	}
	f, err := deploy.ParseEffect(items[0])
	if err != nil {
		t.Fatal(err)
	}
	n := bot.Notice{Kind: bot.NoticeText, Title: "Database migrated"}
	if _, err := posterOn(t, w.fake).Post(ctx, noticeChannel, "", bot.Message{Notice: &n, Key: ":discord:" + f.Slot()}); err != nil {
		t.Fatal(err)
	}
	w.clk.Advance(30 * time.Second) // its lease runs out

	live := w.process(true)
	w.poll(live)
	if got := w.count(noticeChannel, "Database migrated"); got != 1 {
		t.Errorf("%d messages show the notice, want 1\n%s", got, w.transcript())
	}
	if posts := w.fake.CallCount(discordfake.RouteCreateMessage); posts != 2 {
		t.Errorf("%d posts, want 2 (the dead process's and the repeat)", posts)
	}
}

// askRunbook: one manual step, then the approval of a named approver,
// whose request expires after ten minutes.
const askRunbook = `
name: gated
approvers: ["600000000000000001"]
phases:
  - id: prepare
    title: Prepare
    approval_timeout: 10m
    steps:
      - id: review
        title: Review
  - id: rollout
    title: Roll out
    approval: false
    steps:
      - id: deploy
        title: Ship it
`

// askKey is the key of the request for approval of run's phase that is
// open now: one per request, by when it started.
func askKey(t *testing.T, run *deploy.Run, phase string) string {
	t.Helper()
	i := run.FindPhase(phase)
	if i < 0 || run.Phases[i].AwaitingSince.IsZero() {
		t.Fatalf("run %s: phase %q awaits no approval", run.ID, phase)
	}
	f := deploy.Effect{Kind: deploy.EffectAsk, RunID: run.ID, Phase: phase, Key: fmt.Sprintf("%s:%d", phase, run.Phases[i].AwaitingSince.UnixMilli())}
	return run.ID + ":" + discord.PlatformName + ":" + f.Slot()
}

// TestAnAskTheDeadProcessPostedIsAdoptedPastTheNonceWindow: a process
// records the request for approval of a phase, Discord accepts its post,
// and the process dies before it records the reference. The next process
// comes back after Discord stopped remembering the nonce: it finds the
// request by what it shows and adopts it, so the approver is asked once.
// The request then expires and is made again by a process that dies before
// it posts: the renewed request is another message, posted, not taken for
// the first.
func TestAnAskTheDeadProcessPostedIsAdoptedPastTheNonceWindow(t *testing.T) {
	w := newCrashWorldWith(t, askRunbook)
	ctx := t.Context()
	dead := w.process(false)
	run := w.start(dead, "")
	w.done(dead, run.ID, "prepare", "review")
	run, err := dead.Engine.Get(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	first := run.Phases[0].AwaitingSince
	ask := bot.AskApprovers(run, 0)
	if _, err := posterOn(t, w.fake).Post(ctx, runChannel, "", bot.Message{Notice: &ask, Key: askKey(t, run, "prepare")}); err != nil {
		t.Fatal(err)
	}
	w.clk.Advance(discordfake.NonceWindow + time.Minute) // Discord no longer knows the nonce

	asks := func() int { return w.count(runChannel, "<@600000000000000001>", "ready for your approval") }
	live := w.process(true)
	lists := w.fake.CallCount(discordfake.RouteListMessages)
	w.poll(live)
	if n := asks(); n != 1 {
		t.Fatalf("%d requests for approval in the channel, want 1 (the dead process's, adopted)\n%s", n, w.transcript())
	}
	if w.fake.CallCount(discordfake.RouteListMessages) == lists {
		t.Error("the next process never looked for the request the dead process posted")
	}

	// The request expires; a process asks again and dies before it posts.
	w.clk.Advance(10 * time.Minute)
	if _, err := live.Engine.Expire(ctx, deploy.ExpiryItem{RunID: run.ID, Phase: "prepare", Since: first}); err != nil {
		t.Fatal(err)
	}
	w.poll(live)
	again := w.process(false)
	id := strings.Join([]string{string(deploy.ActRequestApproval), run.ID, "prepare", ""}, ":")
	if r := again.Bot.Click(ctx, bot.Click{Platform: discord.PlatformName, Channel: runChannel, Actor: anaActor, ButtonID: id, RequestID: "request-again"}); r.Text != "" {
		t.Fatalf("Request approval: %q", r.Text)
	}
	if run, err = again.Engine.Get(ctx, run.ID); err != nil || run.Phases[0].AwaitingSince.Equal(first) {
		t.Fatalf("the request was not made again: %v", err)
	}
	lists = w.fake.CallCount(discordfake.RouteListMessages)
	w.poll(live)
	if w.fake.CallCount(discordfake.RouteListMessages) == lists {
		t.Error("the renewed request was never looked for")
	}
	if n := asks(); n != 2 {
		t.Fatalf("%d requests for approval in the channel, want 2 (the first and the renewed one)\n%s", n, w.transcript())
	}
}
