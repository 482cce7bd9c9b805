package bot_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"deploybot/bot"
	slackfront "deploybot/bot/slack"
	"deploybot/deploy"
	"deploybot/deploy/redisstore"
	"deploybot/deploy/schedule"
	appcore "deploybot/internal/app/core"
	"deploybot/internal/clock"
	"deploybot/internal/config"
	"deploybot/internal/testkit"
	"deploybot/internal/testkit/slackfake"
	"deploybot/runbook"
)

func TestMain(m *testing.M) { testkit.Main(m) }

const (
	runChannel    = "C0DEPLOY"
	noticeChannel = "C0NOTICE"
)

var (
	ana = deploy.Actor{ID: "U0ANA", Name: "ana", Platform: "slack"}
	bob = deploy.Actor{ID: "U0BOB", Name: "bob", Platform: "slack"}
)

// twoPhases: two manual steps, then one; no approvals, so ticking every
// step completes the run.
const twoPhases = `
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

func quiet() *slog.Logger {
	if os.Getenv("DEPLOYBOT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// world is one Redis prefix and one fake Slack that several bot processes share.
type world struct {
	t      *testing.T
	redis  *testkit.RedisServer
	prefix string
	fake   *slackfake.Server
	clk    *clock.Fake
	rb     *runbook.Runbook
	runCh  string // where runs are started
}

func newWorld(t *testing.T, yaml string) *world {
	t.Helper()
	rb, err := runbook.Parse("tiny.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, redis: testkit.Redis(t), fake: slackfake.New(t), rb: rb,
		clk: clock.NewFake(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)), runCh: runChannel}
	w.prefix = w.redis.Prefix(t)
	return w
}

// process is one bot process of the world.
type process struct {
	w     *world
	core  *appcore.Core
	count *counter
}

// counter counts Redis round trips.
type counter struct{ n atomic.Int64 }

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// start starts a bot process posting to the fake Slack. A process that
// does not deliver has its outbox closed: it applies transitions and
// records their effects, and dies before any reaches Slack.
func (w *world) start(deliver bool) *process {
	w.t.Helper()
	return w.startWith(deliver, bot.PublisherConfig{})
}

// startWith starts a bot process whose publisher is tuned by effects.
func (w *world) startWith(deliver bool, effects bot.PublisherConfig) *process {
	w.t.Helper()
	p := &process{w: w, count: &counter{}}
	rdb := redis.NewClient(&redis.Options{Addr: w.redis.Addr()})
	rdb.AddHook(p.count)
	w.t.Cleanup(func() { _ = rdb.Close() })
	store := redisstore.New(rdb, w.prefix)
	poster, err := slackfront.NewPoster(slackfront.Config{BotToken: config.Secret(slackfake.BotToken), SigningSecret: "s",
		APIURL: w.fake.APIURL(), Logger: quiet()})
	if err != nil {
		w.t.Fatal(err)
	}
	p.core, err = appcore.Build(appcore.Config{Store: store, Runbook: w.rb, Posters: []bot.Poster{poster}, Clock: w.clk, Logger: quiet(), NoticeChannel: noticeChannel,
		Effects: effects})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(p.core.Close)
	if !deliver {
		p.core.Outbox.Close()
	}
	return p
}

func (p *process) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := p.core.Outbox.Flush(ctx); err != nil {
		t.Fatalf("outbox did not drain: %v", err)
	}
}

// poll claims the effects that are due after the head start, as the
// publisher loop does every second, and delivers them.
func (p *process) poll(t *testing.T, w *world) int {
	t.Helper()
	w.clk.Advance(deploy.DefaultEffectHeadStart + time.Second)
	n, err := p.core.Bot.PollEffects(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p.flush(t)
	return n
}

func (p *process) start(t *testing.T) string {
	t.Helper()
	r := p.core.Bot.Command(t.Context(), bot.Request{Platform: "slack", Channel: p.w.runCh, Actor: ana, Text: "start v1.4", RequestID: "start-1"})
	if r.RunID == "" {
		t.Fatalf("start: %q", r.Text)
	}
	return r.RunID
}

func (p *process) done(t *testing.T, runID, phase, step string) {
	t.Helper()
	id := doneID(runID, phase, step)
	if r := p.core.Bot.Click(t.Context(), bot.Click{Platform: "slack", Channel: p.w.runCh, Actor: bob, ButtonID: id, RequestID: "done-" + step}); r.Text != "" {
		t.Fatalf("Done %s: %q", step, r.Text)
	}
}

// count returns how many messages in channel contain every part.
func (w *world) count(channel string, parts ...string) int {
	n := 0
	for _, m := range w.fake.Messages() {
		if m.Channel != channel {
			continue
		}
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

// owed returns the effects still queued in the store.
func (w *world) owed(t *testing.T) []deploy.DueItem {
	t.Helper()
	st, err := redisstore.Open(w.redis.URL(), w.prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	items, err := st.Pending(t.Context(), deploy.DueKindEffect)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// checkOnce checks that the run's announcement, summary, cards, completion
// notice and report were each posted exactly once, showing the final state.
func (w *world) checkOnce(t *testing.T, runID string) {
	t.Helper()
	checks := []struct {
		what    string
		channel string
		parts   []string
	}{
		{"announcement", noticeChannel, []string{"Deployment of v1.4 to production started"}},
		{"completion notice", noticeChannel, []string{"v1.4 is deployed to production"}},
		{"summary", w.runCh, []string{"Each phase has its own message in this thread"}},
		{"card of prepare", w.runCh, []string{"Review", "Release notes"}},
		{"card of rollout", w.runCh, []string{"Ship it"}},
		{"report", w.runCh, []string{"Deployment report: v1.4 to production — completed"}},
	}
	for _, c := range checks {
		if n := w.count(c.channel, c.parts...); n != 1 {
			t.Errorf("%s: %d messages in %s contain %q, want exactly 1\n%s", c.what, n, c.channel, c.parts, w.transcript())
		}
	}
	if n := len(w.fake.Messages()); n != 6 {
		t.Errorf("%d messages posted, want 6\n%s", n, w.transcript())
	}
	if items := w.owed(t); len(items) != 0 {
		t.Errorf("effects still owed: %+v", items)
	}
}

func (w *world) transcript() string {
	var sb strings.Builder
	for _, m := range w.fake.Messages() {
		fmt.Fprintf(&sb, "  [%s %s thread=%s edits=%d] %s\n", m.Channel, m.TS, m.ThreadTS, m.Edits, strings.ReplaceAll(m.Visible(), "\n", " | "))
	}
	return sb.String()
}

// A transition's effects are delivered at once by the process that applied
// it, each message once, and acknowledged: nothing is left owed for another
// process to deliver again.
func TestEffectsDeliveredOnceByTheWriter(t *testing.T) {
	w := newWorld(t, twoPhases)
	p := w.start(true)
	runID := p.start(t)
	p.flush(t)
	if n := w.count(noticeChannel, "Deployment of v1.4 to production started"); n != 1 {
		t.Fatalf("announcement posted %d times\n%s", n, w.transcript())
	}
	p.done(t, runID, "prepare", "review")
	p.done(t, runID, "prepare", "notes")
	p.done(t, runID, "rollout", "deploy")
	p.flush(t)
	w.checkOnce(t, runID)
	card, ok := w.fake.Find(runChannel, "Release notes")
	if !ok || card.Edits == 0 || !strings.Contains(card.Visible(), "bob") {
		t.Errorf("the prepare card does not show the clicks: %+v", card)
	}
	// The publisher finds nothing to deliver again later.
	if n := p.poll(t, w); n != 0 {
		t.Errorf("the publisher claimed %d effects already delivered", n)
	}
	w.checkOnce(t, runID)
}

// pacedRun starts a run on a process whose Slack edits are paced to one a
// second, and returns it with the run's prepare card as first posted.
func pacedRun(t *testing.T) (*world, *process, string, slackfake.Message) {
	t.Helper()
	w := newWorld(t, twoPhases)
	p := w.startWith(true, bot.PublisherConfig{EditEvery: map[string]time.Duration{"slack": time.Second}})
	runID := p.start(t)
	p.flush(t)
	card, ok := w.fake.Find(runChannel, "Release notes")
	if !ok {
		t.Fatalf("no prepare card\n%s", w.transcript())
	}
	return w, p, runID, card
}

// With edits paced on Slack, clicks that change a card within the interval
// are shown by one edit, of the latest state, when the interval has passed;
// a new phase's card is posted at once meanwhile.
func TestSlackEditsOfOneMessageArePaced(t *testing.T) {
	w, p, runID, card := pacedRun(t)
	edits := card.Edits
	p.done(t, runID, "prepare", "review")
	p.done(t, runID, "prepare", "notes")
	waitTimer(t, w.clk)
	waitFor(t, "the rollout card, posted while the prepare card's edit waits", func() bool {
		_, ok := w.fake.Find(runChannel, "Ship it")
		return ok
	})
	if c, _ := w.fake.Message(runChannel, card.TS); c.Edits != edits {
		t.Fatalf("the prepare card was edited %d times within the interval, want none yet", c.Edits-edits)
	}
	w.clk.Advance(time.Second)
	p.flush(t)
	c, _ := w.fake.Message(runChannel, card.TS)
	if c.Edits != edits+1 || strings.Count(c.Visible(), "bob") < 2 {
		t.Fatalf("the prepare card: %d edits after the interval, want 1 showing both clicks:\n%s", c.Edits-edits, c.Visible())
	}
}

// A process dies while a card's edit waits for its pace: the effect is
// still owed in the store, and another process delivers it.
func TestAnEditWaitingForItsPaceSurvivesACrash(t *testing.T) {
	w, p, runID, card := pacedRun(t)
	p.done(t, runID, "prepare", "review")
	waitTimer(t, w.clk)
	p.core.Outbox.Close() // the process dies with the edit waiting
	live := w.start(true)
	if n := live.poll(t, w); n == 0 {
		t.Fatal("nothing was owed after the crash")
	}
	c, _ := w.fake.Message(runChannel, card.TS)
	if c.Edits != card.Edits+1 || !strings.Contains(c.Visible(), "bob") {
		t.Fatalf("the prepare card after the crash (%d edits):\n%s", c.Edits-card.Edits, c.Visible())
	}
}

// A process that applied a run's transitions dies before any message
// reaches Slack; a second process delivers the announcement, the summary,
// the cards and the completion notice, each exactly once, showing the
// final state.
func TestEffectsSurviveACrash(t *testing.T) {
	w := newWorld(t, twoPhases)
	dead := w.start(false)
	runID := dead.start(t)
	dead.done(t, runID, "prepare", "review")
	dead.done(t, runID, "prepare", "notes")
	dead.done(t, runID, "rollout", "deploy")
	if n := len(w.fake.Messages()); n != 0 {
		t.Fatalf("the dead process posted %d messages", n)
	}
	if n := len(w.owed(t)); n != 6 {
		t.Fatalf("%d effects owed, want 6 (announcement, summary, two cards, completion, report)", n)
	}

	live := w.start(true)
	// Within the head start the effects are the writer's: nobody claims them.
	if n, err := live.core.Bot.PollEffects(t.Context()); err != nil || n != 0 {
		t.Fatalf("claimed %d effects inside the writer's head start (%v)", n, err)
	}
	if n := live.poll(t, w); n != 6 {
		t.Errorf("the live process claimed %d effects, want 6", n)
	}
	w.checkOnce(t, runID)
	deployCard, ok := w.fake.Find(runChannel, "Ship it")
	if !ok || deployCard.ThreadTS == "" {
		t.Errorf("the rollout card is not a reply under the summary: %+v", deployCard)
	}
	// A third life finds nothing owed.
	third := w.start(true)
	if n := third.poll(t, w); n != 0 {
		t.Errorf("a third process claimed %d effects", n)
	}
	w.checkOnce(t, runID)
}

// A process dies while its first post of the announcement is in flight
// (Slack holds it and drops it when the process hangs up); the effect stays
// held by the dead writer for the length of a first post, then another
// process posts the announcement once, and the messages queued behind it.
func TestEffectHeldByADeadWriterIsDeliveredOnce(t *testing.T) {
	w := newWorld(t, twoPhases)
	w.runCh = noticeChannel // one queue: the summary and card wait behind the announcement
	w.fake.Script("chat.postMessage", slackfake.Fault{Hold: true})
	dying := w.start(true)
	runID := dying.start(t)
	waitFor(t, "the announcement to be held", func() bool { return w.fake.Held() == 1 })
	dying.core.Outbox.Close() // the process dies: its post is cut off and dropped
	waitFor(t, "the held post to be dropped", func() bool { return w.fake.Held() == 0 })
	if n := len(w.fake.Messages()); n != 0 {
		t.Fatalf("%d messages posted by the dying process", n)
	}

	live := w.start(true)
	if n := live.poll(t, w); n != 2 {
		// the summary and the card; the announcement is still held by the dead writer
		t.Errorf("claimed %d effects after the head start, want 2", n)
	}
	if n := w.count(noticeChannel, "Deployment of v1.4 to production started"); n != 0 {
		t.Errorf("the announcement was posted while the dead writer held it")
	}
	w.clk.Advance(20 * time.Second) // the dead writer's hold on the announcement runs out
	if n := live.poll(t, w); n != 1 {
		t.Errorf("claimed %d effects after the hold, want 1", n)
	}
	live.done(t, runID, "prepare", "review")
	live.done(t, runID, "prepare", "notes")
	live.done(t, runID, "rollout", "deploy")
	live.flush(t)
	w.checkOnce(t, runID)
}

// 32 people tick 32 different steps of one phase at the same moment: every
// click is applied (the process applies them in turn), none is refused,
// and the card shows every one.
func TestConcurrentClicksOnOneRunAllSucceed(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("name: burst\nphases:\n  - id: check\n    title: Checks\n    approval: false\n    steps:\n")
	for i := range 32 {
		fmt.Fprintf(&sb, "      - id: s%02d\n        title: Step %02d\n", i, i)
	}
	sb.WriteString("  - id: after\n    title: After\n    steps:\n      - id: last\n        title: Last\n")
	w := newWorld(t, sb.String())
	p := w.start(true)
	runID := p.start(t)
	p.flush(t)

	before := p.count.n.Load()
	var wg sync.WaitGroup
	replies := make([]bot.Reply, 32)
	for i := range 32 {
		wg.Go(func() {
			id := doneID(runID, "check", fmt.Sprintf("s%02d", i))
			replies[i] = p.core.Bot.Click(context.Background(), bot.Click{Platform: "slack", Channel: runChannel,
				Actor: deploy.Actor{ID: fmt.Sprintf("U%02d", i), Name: fmt.Sprintf("p%02d", i), Platform: "slack"}, ButtonID: id, RequestID: fmt.Sprintf("c%d", i)})
		})
	}
	wg.Wait()
	for i, r := range replies {
		if r.Text != "" {
			t.Errorf("click %d refused: %q", i, r.Text)
		}
	}
	p.flush(t)
	t.Logf("%d Redis round trips for 32 clicks and their chat effects", p.count.n.Load()-before)
	run, err := p.core.Engine.Get(t.Context(), runID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Phase != 1 {
		t.Errorf("run is in phase %d, want 1 (every check done)", run.Phase)
	}
	card, ok := w.fake.Find(runChannel, "Step 00")
	if !ok {
		t.Fatal("no card of the checks")
	}
	for i := range 32 {
		if who := fmt.Sprintf("p%02d", i); !strings.Contains(card.Visible(), who) {
			t.Errorf("the card does not show %s's click:\n%s", who, card.Visible())
		}
	}
}

// The acknowledgement path of a click on a run the process knows is one
// Redis round trip: the compare-and-set carrying the transition and its effects.
func TestClickCostsOneRoundTrip(t *testing.T) {
	w := newWorld(t, twoPhases)
	p := w.start(true)
	runID := p.start(t)
	p.flush(t)
	p.core.Outbox.Close() // count the acknowledgement path only, not the delivery behind it
	before := p.count.n.Load()
	p.done(t, runID, "prepare", "review")
	if n := p.count.n.Load() - before; n > 1 {
		t.Errorf("a click on a known run made %d Redis round trips, want 1", n)
	}
	// A process that does not know the run reads it once.
	other := w.start(false)
	if _, err := other.core.Bot.PollEffects(t.Context()); err != nil { // warm the connection up
		t.Fatal(err)
	}
	before = other.count.n.Load()
	other.done(t, runID, "prepare", "notes")
	if n := other.count.n.Load() - before; n > 2 {
		t.Errorf("a click on an unknown run made %d Redis round trips, want 2", n)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// doneID is the action id of a step's Done button.
func doneID(runID, phase, step string) string {
	return strings.Join([]string{string(deploy.ActDone), runID, phase, step}, ":")
}

// Two processes apply transitions of one run at the same moment and their
// edits reach Slack out of order (the first process's edit is slow): the
// summary and the card still end showing the newer revision.
func TestEditsConvergeAcrossProcesses(t *testing.T) {
	w := newWorld(t, twoPhases)
	a, b := w.start(true), w.start(true)
	runID := a.start(t)
	a.flush(t)
	w.fake.Script("chat.update", slackfake.Fault{Delay: time.Second}) // a's summary edit is slow
	a.done(t, runID, "prepare", "review")
	time.Sleep(100 * time.Millisecond) // a's edit is in flight
	b.done(t, runID, "prepare", "notes")
	b.flush(t)
	a.flush(t)
	summary, _ := w.fake.Find(runChannel, "Each phase has its own message")
	if !strings.Contains(summary.Visible(), "2/3 steps") {
		t.Errorf("the summary shows an older revision:\n%s", summary.Visible())
	}
	card, _ := w.fake.Find(runChannel, "Release notes")
	if !strings.Contains(card.Visible(), "Passed") || strings.Count(card.Visible(), "done · ") != 2 {
		t.Errorf("the prepare card shows an older revision:\n%s", card.Visible())
	}
}

// A notify step's text and a window reminder are recorded in the store
// before the call returns: when the process dies before posting them,
// another one posts each once.
func TestNoticesSurviveACrash(t *testing.T) {
	w := newWorld(t, twoPhases)
	dead := w.start(false)
	ctx := t.Context()
	if err := dead.core.Bot.NotifyRun(ctx, "", runChannel, "Deploying v1.4 to production (run r1)"); err != nil {
		t.Fatal(err)
	}
	start := w.clk.Now().Add(time.Hour)
	reminder := schedule.Notice{Kind: schedule.KindReminder, Offset: time.Hour, Until: time.Hour, At: w.clk.Now(), Platform: "slack",
		Window: deploy.WindowView{ID: "w1", Release: "v1.4", Start: start, End: start.Add(time.Hour)}, Env: "production"}
	if err := dead.core.Bot.PostWindowNotice(ctx, reminder); err != nil {
		t.Fatal(err)
	}
	if err := dead.core.Bot.PostWindowNotice(ctx, reminder); err != nil { // recorded twice: still one notice
		t.Fatal(err)
	}
	live := w.start(true)
	if n := live.poll(t, w); n != 2 {
		t.Errorf("claimed %d notices, want 2", n)
	}
	if n := w.count(noticeChannel, "Deploying v1.4 to production (run r1)"); n != 1 {
		t.Errorf("the notify text was posted %d times\n%s", n, w.transcript())
	}
	if n := w.count(noticeChannel, "Maintenance window for v1.4 opens in"); n != 1 {
		t.Errorf("the reminder was posted %d times\n%s", n, w.transcript())
	}
	if n := live.poll(t, w); n != 0 {
		t.Errorf("claimed %d notices again", n)
	}
	if items := w.owed(t); len(items) != 0 {
		t.Errorf("still owed: %+v", items)
	}
}

// BenchmarkClick clicks Done on 100 runs of 20 steps from parallel clients,
// with the Slack poster (to the fake Slack) delivering every effect behind
// the answers. It reports Redis round trips per click, delivery included.
func BenchmarkClick(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("name: bench\nphases:\n  - id: p\n    title: Steps\n    approval: false\n    steps:\n")
	for i := range 20 {
		fmt.Fprintf(&sb, "      - id: s%02d\n        title: Step %02d\n", i, i)
	}
	rb, err := runbook.Parse("bench.yaml", []byte(sb.String()), nil)
	if err != nil {
		b.Fatal(err)
	}
	srv := testkit.Redis(b)
	fake := slackfake.New(b)
	cnt := &counter{}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 64})
	rdb.AddHook(cnt)
	defer rdb.Close()
	poster, err := slackfront.NewPoster(slackfront.Config{BotToken: config.Secret(slackfake.BotToken), SigningSecret: "s", APIURL: fake.APIURL(), Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	core, err := appcore.Build(appcore.Config{Store: redisstore.New(rdb, srv.Prefix(b)), Runbook: rb, Posters: []bot.Poster{poster}, Logger: quiet(), NoticeChannel: noticeChannel})
	if err != nil {
		b.Fatal(err)
	}
	defer core.Close()
	var runs []string
	for i := range 100 {
		r := core.Bot.Command(context.Background(), bot.Request{Platform: "slack", Channel: runChannel, Actor: ana, Text: fmt.Sprintf("start v1.%d to env%d", i, i)})
		if r.RunID == "" {
			b.Fatal(r.Text)
		}
		runs = append(runs, r.RunID)
	}
	flushCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = core.Outbox.Flush(flushCtx)
	var next atomic.Int64
	before := cnt.n.Load()
	b.ResetTimer()
	b.SetParallelism(32 / max(1, runtimeProcs()))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1)-1) % (100 * 20)
			id := doneID(runs[i%100], "p", fmt.Sprintf("s%02d", i/100))
			if r := core.Bot.Click(context.Background(), bot.Click{Platform: "slack", Channel: runChannel, Actor: bob, ButtonID: id}); r.Text != "" && !strings.Contains(r.Text, "already") {
				b.Error(r.Text)
			}
		}
	})
	b.StopTimer()
	_ = core.Outbox.Flush(flushCtx)
	b.ReportMetric(float64(cnt.n.Load()-before)/float64(b.N), "redis/click")
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// While one process posts a run's summary for the first time (Slack is
// slow), another applies a newer transition of the run: the newer version
// of the summary is not posted a second time, it edits the first.
func TestFirstPostIsNotRepeatedByANewerVersion(t *testing.T) {
	w := newWorld(t, twoPhases)
	w.runCh = noticeChannel // one queue: announcement, summary, card
	a, b := w.start(true), w.start(true)
	w.fake.Script("chat.postMessage", slackfake.Fault{}, slackfake.Fault{Delay: time.Second}) // the summary's post is slow
	runID := a.start(t)
	waitFor(t, "the announcement", func() bool { return len(w.fake.Messages()) == 1 })
	time.Sleep(100 * time.Millisecond) // a's summary post is in flight
	b.done(t, runID, "prepare", "notes")
	a.flush(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.flush(t)
	}()
	for {
		select {
		case <-done:
			w.clk.Advance(time.Minute)
			if n := w.count(noticeChannel, "Each phase has its own message"); n != 1 {
				t.Errorf("the summary was posted %d times\n%s", n, w.transcript())
			}
			if n := w.count(noticeChannel, "Release notes"); n != 1 {
				t.Errorf("the card was posted %d times\n%s", n, w.transcript())
			}
			summary, _ := w.fake.Find(noticeChannel, "Each phase has its own message")
			if !strings.Contains(summary.Visible(), "1/3 steps") {
				t.Errorf("the summary does not show the newer revision:\n%s", summary.Visible())
			}
			return
		case <-time.After(20 * time.Millisecond):
			w.clk.Advance(time.Second) // the outbox waits on the fake clock
		}
	}
}

// TestAPostTheDeadProcessMadeIsAdopted: Slack accepted the announcement and
// the summary from a process that died before it recorded either. The next
// life finds them by their metadata key and edits the summary instead of
// posting either again.
func TestAPostTheDeadProcessMadeIsAdopted(t *testing.T) {
	w := newWorld(t, twoPhases)
	dead := w.start(false)
	runID := dead.start(t)
	run, err := dead.core.Engine.Get(t.Context(), runID)
	if err != nil {
		t.Fatal(err)
	}
	// What Slack got from the dead process: the messages, with their keys.
	poster, err := slackfront.New(slackfront.Config{BotToken: config.Secret(slackfake.BotToken), SigningSecret: "s",
		APIURL: w.fake.APIURL(), Bot: dead.core.Bot, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	n := bot.Announcement(run)
	if _, err := poster.Post(t.Context(), noticeChannel, "", bot.Message{Notice: &n, Key: runID + ":slack:notice:announcement"}); err != nil {
		t.Fatal(err)
	}
	s := bot.BuildSummary(run, w.clk.Now())
	if _, err := poster.Post(t.Context(), runChannel, "", bot.Message{Summary: &s, Key: runID + ":slack:summary"}); err != nil {
		t.Fatal(err)
	}
	dead.done(t, runID, "prepare", "review")
	dead.done(t, runID, "prepare", "notes")
	dead.done(t, runID, "rollout", "deploy")

	live := w.start(true)
	live.poll(t, w)
	w.checkOnce(t, runID)
	summary, _ := w.fake.Find(runChannel, "Each phase has its own message in this thread")
	if summary.Edits == 0 || !strings.Contains(summary.Visible(), "completed") {
		t.Errorf("the adopted summary was not brought up to date (edits %d):\n%s", summary.Edits, summary.Visible())
	}
}

// A phase title that uses run variables is shown expanded, like a step's,
// on the phase's card and in the summary.
func TestAPhaseTitleShowsTheRunsVariables(t *testing.T) {
	w := newWorld(t, strings.Replace(twoPhases, "title: Prepare", `title: "Prepare {{ .Version }} for {{ .Env }}"`, 1))
	p := w.start(true)
	p.start(t)
	p.flush(t)
	card, ok := w.fake.Find(runChannel, "Release notes")
	if !ok {
		t.Fatalf("no prepare card\n%s", w.transcript())
	}
	if v := card.Visible(); !strings.Contains(v, "Prepare v1.4 for production") || strings.Contains(v, "{{") {
		t.Fatalf("the card shows its title unexpanded:\n%s", v)
	}
	for _, m := range w.fake.Messages() {
		if strings.Contains(m.Visible(), "{{") {
			t.Fatalf("a message shows a template:\n%s", m.Visible())
		}
	}
}
