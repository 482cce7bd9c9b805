package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/internal/clock"
)

// PlatformName is the console's platform name (bot.Poster.Platform, deploy.Actor.Platform).
const PlatformName = "console"

// Channel is the one channel of the console: commands typed into the page
// run in it, and the bot posts its summaries, cards and notices to it.
const Channel = "console"

// Config configures a Console (New) or its Page (NewPage).
type Config struct {
	// Bot takes the commands and clicks; required by New unless ReadOnly.
	// NewPage does not use it.
	Bot *bot.Bot
	// Page is the outgoing side built beforehand with NewPage (given to the
	// bot as a poster and to the engine as a live view); nil makes New
	// build one from this Config.
	Page *Page
	// Store is where the page reads a card's step output; nil means Runs.
	Store RunReader
	// Runs reads runs and audit logs for the pages; nil means Bot.
	Runs Runs
	// ReadOnly makes the page a dashboard: no command box, no buttons, POSTs
	// refused with 403. Set it when a chat platform is configured.
	ReadOnly bool
	// Token, when set, is asked for on a login form before anything is shown
	// (DEPLOYBOT_DASHBOARD_TOKEN); without it the console answers only
	// requests from and addressed to localhost.
	Token string
	// Windows lists upcoming maintenance windows; may be nil.
	Windows bot.Windows
	// Clock tells the time; nil means the bot's clock, else clock.Real.
	Clock  clock.Clock
	Logger *slog.Logger
}

// Runs is what the console's handlers read: runs and their audit logs.
// *bot.Bot implements it.
type Runs interface {
	Get(ctx context.Context, id string) (*deploy.Run, error)
	Live(ctx context.Context) ([]*deploy.Run, error)
	Recent(ctx context.Context, n int) ([]*deploy.Run, error)
	Audit(ctx context.Context, id string) ([]deploy.AuditEntry, error)
}

// RunReader reads stored runs (deploy.Store implements it).
type RunReader interface {
	Run(ctx context.Context, id string) (*deploy.Run, error)
	// Runs lists live runs (the waiting cards redrawn when windows change).
	Runs(ctx context.Context, f deploy.RunFilter) ([]*deploy.Run, error)
}

// Page is the console's outgoing side: the bot.Poster the bot posts the
// console's messages to, and the deploy.Sink that keeps the open pages' run
// lists live. It needs no bot, so it is built before the bot and the
// engine. Its methods are safe for concurrent use.
type Page struct {
	readOnly bool
	clock    clock.Clock
	log      *slog.Logger
	tmpl     *template.Template
	get      func(ctx context.Context, id string) (*deploy.Run, error)
	live     func(ctx context.Context) ([]*deploy.Run, error)
	// windows lists the windows for the windows panel and the waiting
	// cards' opening times; nil when windows are not available.
	windows bot.Windows

	mem *memory
	hub *hub

	wmu         sync.Mutex // wmu protects lastWindows
	lastWindows string     // the windows panel last sent to the pages

	mu   sync.Mutex       // mu protects revs
	revs map[string]int64 // the latest Rev published per run, so a late Publish never undoes a newer one

	// Transitions wait in pending, newest per run, until a drain goroutine
	// renders them: Publish never renders on the caller's goroutine.
	pmu      sync.Mutex // pmu protects pending and draining
	pending  map[string]*pendingRun
	draining bool
}

// Console serves the web console and dashboard: the incoming side (the
// HTTP handlers, which take the bot) over its Page, which it embeds (so a
// Console is also a bot.Poster and a deploy.Sink). Its methods are safe for
// concurrent use.
//
// Wiring (see ExampleNew): build the Page with NewPage before the bot; in
// console mode give it to the bot as a poster; give it to the engine's live
// views in either mode; then build the Console with New. Register Close with
// the HTTP server's RegisterOnShutdown so Shutdown does not wait for the
// live streams.
type Console struct {
	*Page
	bot      *bot.Bot
	engine   Runs
	token    string
	session  []byte // session is the key session cookies are signed with
	throttle *signinThrottle
	cop      *http.CrossOriginProtection
}

// pendingRun is a run's newest transition not yet rendered, with the phases
// changed by it and by the older ones it replaced.
type pendingRun struct {
	run    *deploy.Run
	phases map[string]bool
	// ended is set when the run's status changed (a rollback started, or the
	// run ended): every card that says "Stopped: run …" is rendered again.
	ended bool
}

// statusChange reports whether an event changes the run's status.
func statusChange(k deploy.EventKind) bool {
	switch k {
	case deploy.EventRollbackStarted, deploy.EventRunCompleted, deploy.EventRunRolledBack, deploy.EventRunAborted:
		return true
	}
	return false
}

var (
	_ bot.Poster  = (*Page)(nil)
	_ deploy.Sink = (*Page)(nil)
)

// maxRevs bounds the per-run revision memory; past it the memory is cleared.
const maxRevs = 4096

// NewPage returns the console's outgoing side for cfg (Bot, Token and
// Windows are not used). It starts nothing.
func NewPage(cfg Config) (*Page, error) {
	get := func(context.Context, string) (*deploy.Run, error) { return nil, errors.New("no run reader") }
	live := func(context.Context) ([]*deploy.Run, error) { return nil, errors.New("no run reader") }
	switch {
	case cfg.Store != nil:
		get = cfg.Store.Run
		live = func(ctx context.Context) ([]*deploy.Run, error) {
			return cfg.Store.Runs(ctx, deploy.RunFilter{Live: true})
		}
	case cfg.Runs != nil:
		get, live = cfg.Runs.Get, cfg.Runs.Live
	case cfg.Bot != nil:
		get, live = cfg.Bot.Get, cfg.Bot.Live
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
		if cfg.Bot != nil {
			cfg.Clock = cfg.Bot.Clock()
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	epoch := make([]byte, 4)
	_, _ = rand.Read(epoch)
	p := &Page{
		readOnly: cfg.ReadOnly, clock: cfg.Clock, log: cfg.Logger.With("component", "console"), tmpl: tmpl, get: get, live: live, windows: cfg.Windows,
		mem: newMemory(maxMessagesPerChannel), hub: newHub(hex.EncodeToString(epoch), hubSize), revs: map[string]int64{},
		pending: map[string]*pendingRun{},
	}
	p.hub.now = cfg.Clock.Now
	return p, nil
}

// New returns a console for cfg, over cfg.Page (or a new one). It starts
// nothing: serve it with Routes.
func New(cfg Config) (*Console, error) {
	if cfg.Runs == nil && cfg.Bot != nil {
		cfg.Runs = cfg.Bot
	}
	if cfg.Runs == nil {
		return nil, errors.New("console: a bot (or Runs) is required")
	}
	if cfg.Bot == nil && !cfg.ReadOnly {
		return nil, errors.New("console: a bot is required unless the console is read-only")
	}
	p := cfg.Page
	if p == nil {
		var err error
		if p, err = NewPage(cfg); err != nil {
			return nil, err
		}
	} else if p.readOnly != cfg.ReadOnly {
		return nil, errors.New("console: the page and the console disagree on ReadOnly")
	}
	if cfg.Windows != nil && p.windows == nil {
		return nil, errors.New("console: give the windows to the page (NewPage), which renders them")
	}
	c := &Console{
		Page: p, bot: cfg.Bot, engine: cfg.Runs, token: cfg.Token,
		cop: http.NewCrossOriginProtection(), throttle: newSigninThrottle(),
	}
	if c.token != "" {
		c.session = sessionValue(c.token)
	}
	return c, nil
}

// Routes registers the console's handlers on mux: GET /, GET /runs/{id} (a
// run's own address), its report (/runs/{id}/report.md and /runs/{id}/report),
// GET /insights (insights.go) and the paths under /console/.
func (c *Console) Routes(mux *http.ServeMux) {
	mux.Handle("GET /{$}", c.guard(http.HandlerFunc(c.handleIndex)))
	mux.Handle("GET /runs/{id}", c.guard(http.HandlerFunc(c.handleRun)))
	mux.Handle("GET /runs/{id}/report.md", c.guard(http.HandlerFunc(c.handleReportMarkdown)))
	mux.Handle("GET /runs/{id}/report", c.guard(http.HandlerFunc(c.handleReportPage)))
	mux.Handle("GET /console/runs/{id}", c.guard(http.HandlerFunc(c.handleRun)))
	mux.Handle("GET /console/windows", c.guard(http.HandlerFunc(c.handleWindows)))
	mux.Handle("GET /insights", c.guard(http.HandlerFunc(c.handleInsights)))
	mux.Handle("GET /console/environments", c.guard(http.HandlerFunc(c.handleEnvironments)))
	mux.Handle("GET /console/events", c.guard(http.HandlerFunc(c.handleEvents)))
	mux.Handle("POST /console/command", c.guard(c.writable(http.HandlerFunc(c.handleCommand))))
	mux.Handle("POST /console/click", c.guard(c.writable(http.HandlerFunc(c.handleClick))))
	mux.Handle("POST /console/name", c.guard(c.writable(http.HandlerFunc(c.handleName))))
	mux.Handle("GET /console/login", c.local(http.HandlerFunc(c.handleLoginForm)))
	mux.Handle("POST /console/login", c.local(c.sameOrigin(http.HandlerFunc(c.handleLogin))))
	mux.Handle("GET /console/static/{file}", http.HandlerFunc(c.handleStatic))
}

// Close ends the live streams (call it before the HTTP server's Shutdown,
// which waits for them otherwise).
func (c *Page) Close() { c.hub.close() }

// Platform returns "console".
func (c *Page) Platform() string { return PlatformName }

// Post keeps m in memory under a new reference and sends it to the open pages.
// The reference names the channel, so it stays usable after a restart.
func (c *Page) Post(ctx context.Context, channel, replyTo string, m bot.Message) (string, error) {
	if channel == "" {
		channel = Channel
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	ref := channel + "/" + hex.EncodeToString(id)
	msg := c.mem.put(ref, channel, replyTo, m, c.clock.Now())
	c.broadcast(ctx, msg)
	return ref, nil
}

// Update replaces the message ref with m. A reference this process never
// posted (it was posted before a restart) is kept as a new message.
func (c *Page) Update(ctx context.Context, ref string, m bot.Message) error {
	channel := Channel
	if i := strings.LastIndexByte(ref, '/'); i > 0 {
		channel = ref[:i]
	}
	msg := c.mem.put(ref, channel, "", m, c.clock.Now())
	c.broadcast(ctx, msg)
	return nil
}

// Publish implements deploy.Sink: it sends the run's entry in the run list to
// the open pages, and, for runs the bot does not post to the console (those
// of a chat platform), the run's summary and changed phase cards too. It
// does not block and renders nothing itself: with no page open it only
// notes the change (a page opened later renders from the store), else it
// queues the run for a goroutine that renders the newest revision of each
// queued run.
func (c *Page) Publish(_ context.Context, run *deploy.Run, events []deploy.Event) {
	if !c.newer(run.ID, run.Rev) {
		return
	}
	if !c.hub.interested() {
		c.hub.skip()
		return
	}
	run = run.Clone() // rendered later, on another goroutine
	phases := map[string]bool{}
	ended := false
	for _, ev := range events {
		if ev.Phase != "" {
			phases[ev.Phase] = true
		}
		ended = ended || statusChange(ev.Kind)
	}
	if cur := run.Current(); cur != nil {
		phases[cur.ID] = true
	}
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if p, ok := c.pending[run.ID]; ok {
		if run.Rev > p.run.Rev {
			p.run = run
		}
		for ph := range phases {
			p.phases[ph] = true
		}
		p.ended = p.ended || ended
	} else {
		c.pending[run.ID] = &pendingRun{run: run, phases: phases, ended: ended}
	}
	if !c.draining {
		c.draining = true
		go c.drain()
	}
}

// drain renders the pending runs until none is left.
func (c *Page) drain() {
	for {
		c.pmu.Lock()
		if len(c.pending) == 0 {
			c.draining = false
			c.pmu.Unlock()
			return
		}
		batch := make([]*pendingRun, 0, len(c.pending))
		for id, p := range c.pending {
			batch = append(batch, p)
			delete(c.pending, id)
		}
		c.pmu.Unlock()
		for _, p := range batch {
			c.render1(p.run, p.phases, p.ended)
		}
	}
}

// render1 renders a run's list entry and, for a chat run, its summary and
// the cards of phases, and sends them to the open pages. When the run's
// status changed (ended), the cards that say how the run stopped are
// rendered again, for every run: the bot updates only the phases an event
// names, and a card must not keep "Stopped: run rolling back" after the
// rollback finished.
func (c *Page) render1(run *deploy.Run, phases map[string]bool, ended bool) {
	ctx, cancel := context.WithTimeout(context.Background(), readBudget)
	defer cancel()
	now := c.clock.Now()
	pol := policyOf(run)
	item := newRunItem(run, now, roleNobody)
	list := "recent-runs"
	if item.Live {
		list = "live-runs"
	}
	c.sendAs(update{Op: "upsert", ID: "runitem-" + run.ID, Parent: groupID(list, item.Service), Group: list, Service: item.Service, Prepend: true,
		Run: run.ID, Kind: "run", Live: item.Live}, "runitem", pol,
		func(ro role) any { return newRunItem(run, now, ro) })
	mine := run.Platform == PlatformName // the bot posts this run's messages to the console itself
	if !mine {
		s := c.summaryView(bot.BuildSummary(run, now))
		c.send(update{Op: "upsert", ID: "summary-" + run.ID, Parent: "summary-slot-" + run.ID, Run: run.ID, Kind: "summary"}, "summary", s)
	}
	for i := range run.Phases {
		if !shown(run, i) {
			continue
		}
		card := bot.BuildCard(run, i, now)
		if (!mine && phases[run.Phases[i].ID]) || (ended && card.Gate.Kind == bot.GateStopped) {
			c.sendAs(update{Op: "upsert", ID: "card-" + run.ID + "-" + card.PhaseID, Parent: "cards-" + run.ID, Run: run.ID, Kind: "card"}, "card", pol,
				func(ro role) any { return c.cardView(ctx, card, run, pol, ro) })
		}
	}
}

// newer records rev as the latest of run and reports whether it is newer
// than any seen before.
func (c *Page) newer(run string, rev int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev <= c.revs[run] {
		return false
	}
	if len(c.revs) >= maxRevs {
		clear(c.revs)
	}
	c.revs[run] = rev
	return true
}

// broadcast renders a stored message and sends it to the open pages; with
// no page open it renders nothing (a page opened later shows the stored copy).
func (c *Page) broadcast(ctx context.Context, msg message) {
	if !c.hub.interested() {
		c.hub.skip()
		return
	}
	m := msg.Msg
	switch {
	case m.Summary != nil:
		s := c.summaryView(*m.Summary)
		c.send(update{Op: "upsert", ID: "summary-" + s.RunID, Parent: "summary-slot-" + s.RunID, Run: s.RunID, Kind: "summary"}, "summary", s)
	case m.Card != nil:
		// The card model carries no step output; the stored run has it.
		var run *deploy.Run
		if r, err := c.get(ctx, m.Card.RunID); err == nil {
			run = r
		} else {
			c.log.Debug("no step output for card", "run_id", m.Card.RunID, "err", err)
		}
		var pol *policy
		card := *m.Card
		if run != nil {
			pol = policyOf(run)
			// Effects may be delivered late, after a newer transition: the
			// card is built from the stored run, so a late one never shows
			// an older state over a newer one.
			if i := run.FindPhase(card.PhaseID); i >= 0 && run.Rev > 0 {
				card = bot.BuildCard(run, i, c.clock.Now())
			}
		}
		c.sendAs(update{Op: "upsert", ID: "card-" + card.RunID + "-" + card.PhaseID, Parent: "cards-" + card.RunID, Run: card.RunID, Kind: "card"}, "card", pol,
			func(ro role) any { return c.cardView(ctx, card, run, pol, ro) })
	case m.Report != nil:
		c.broadcastReport(m.Report)
	case m.Notice != nil:
		n := c.noticeView(msg)
		c.send(update{Op: "upsert", ID: n.DOMID, Parent: "feed", Prepend: true, Run: n.RunID, Kind: "notice"}, "notice", n)
		switch m.Notice.Kind {
		case bot.NoticeWindowOpen, bot.NoticeWindowClose, bot.NoticeReminder:
			c.publishWindows(ctx)
		}
	}
}

// sendAs renders the template block name for each role a person may have on
// the run (pol decides whose role it is) and queues u for every open page,
// each stream with its person's rendering. Without a policy, or on the
// read-only dashboard (no buttons), it renders once.
func (c *Page) sendAs(u update, name string, pol *policy, data func(role) any) {
	if pol == nil || c.readOnly {
		c.send(u, name, data(roleNobody))
		return
	}
	var sb strings.Builder
	if err := c.tmpl.ExecuteTemplate(&sb, name, data(roleNobody)); err != nil {
		c.log.Error("render failed", "template", name, "err", err)
		return
	}
	u.HTML = sb.String()
	views := make(map[role]update, len(roles))
	for _, ro := range roles {
		sb.Reset()
		if err := c.tmpl.ExecuteTemplate(&sb, name, data(ro)); err != nil {
			c.log.Error("render failed", "template", name, "err", err)
			return
		}
		v := u
		v.HTML = sb.String()
		views[ro] = v
	}
	c.hub.publishViews(u, views, pol.roleOf)
}

// publishWindows sends the windows panel to the open pages when it changed.
func (c *Page) publishWindows(ctx context.Context) {
	if c.windows == nil || !c.hub.interested() {
		return
	}
	ws, werr := c.windowViews(ctx)
	var sb strings.Builder
	if err := c.tmpl.ExecuteTemplate(&sb, "windows", pageData{Windows: ws, WindowsErr: werr, HasWindows: true}); err != nil {
		c.log.Error("render failed", "template", "windows", "err", err)
		return
	}
	html := sb.String()
	c.wmu.Lock()
	same := html == c.lastWindows
	c.lastWindows = html
	c.wmu.Unlock()
	if same {
		return
	}
	c.hub.publish(update{Op: "upsert", ID: "windows-panel", Kind: "windows", HTML: html})
	// A phase waiting for a window says when it opens: tell the waiting cards.
	live, err := c.live(ctx)
	if err != nil {
		c.log.Debug("waiting cards not refreshed", "err", err)
		return
	}
	now := c.clock.Now()
	for _, run := range live {
		if !run.Status.Live() || run.Phase < 0 || run.Phase >= len(run.Phases) {
			continue
		}
		card := bot.BuildCard(run, run.Phase, now)
		if card.State != bot.CardWaiting {
			continue
		}
		pol := policyOf(run)
		c.sendAs(update{Op: "upsert", ID: "card-" + run.ID + "-" + card.PhaseID, Parent: "cards-" + run.ID, Run: run.ID, Kind: "card"}, "card", pol,
			func(ro role) any { return c.cardView(ctx, card, run, pol, ro) })
	}
}

// send renders the template block name with data into u.HTML and queues u
// for every open page.
func (c *Page) send(u update, name string, data any) {
	var sb strings.Builder
	if err := c.tmpl.ExecuteTemplate(&sb, name, data); err != nil {
		c.log.Error("render failed", "template", name, "err", err)
		return
	}
	u.HTML = sb.String()
	c.hub.publish(u)
}
