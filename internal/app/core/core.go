// Package core builds the platform-independent part of deploybot in
// dependency order, once: the part of internal/app's composition root that
// the fronts' test harnesses share, so tests and the binary wire the same
// parts in the same order. Nothing is set after construction.
//
// The order (Build):
//
//	posters, live views (given: built by the caller, they need no bot)
//	→ outbox → run cache, executor wake signal
//	→ effect publisher (store, posters, run cache)
//	→ window calendar (store, runbook; no engine)
//	→ adapter registry (the calendar as the window adapter's source, the
//	  publisher as the notify adapter's notifier)
//	→ engine (calendar as gate, publisher as effect sink, the wake signal
//	  and the live views as sinks, the run cache)
//	→ executor (engine, registry, wake signal)
//	→ bot (engine, publisher, calendar, registry)
//	→ reminder loop (calendar, engine, publisher)
//
// The fronts' incoming handlers (which take the bot) and the HTTP server
// come after, in internal/app.
package core

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"deploybot/adapters/notify"
	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/deploy/schedule"
	"deploybot/internal/clock"
	"deploybot/runbook"
)

// Sources are what the adapter registry is built from: the parts of the
// core that automated steps talk to.
type Sources struct {
	// Windows is the window calendar (the window adapter's source).
	Windows *schedule.Calendar
	// Notifier records notify steps' texts as durable effects (the
	// publisher; it also implements notify.RunNotifier).
	Notifier notify.Notifier
}

// Config is what the core is built from. Store and Services (or Runbook) are required.
type Config struct {
	Store deploy.Store
	// Services are the runbooks of the services deployed.
	Services *runbook.Catalog
	// Runbook is the one service's runbook when Services is nil.
	Runbook *runbook.Runbook
	// Registry builds the adapter registry from the sources; nil uses Steps.
	Registry func(Sources) (deploy.StepParser, error)
	// Steps parses automated steps when Registry is nil (tests give a
	// registry that needs no sources).
	Steps deploy.StepParser
	// Posters are the chat platforms' outgoing sides, built before the core
	// (they need no bot). The first is the primary platform.
	Posters []bot.Poster
	// Views see every transition (the console's live page), in order, on a
	// goroutine of their own, never on the path that answers a click.
	Views         []deploy.Sink
	Clock         clock.Clock
	Logger        *slog.Logger
	NoticeChannel string
	// WindowNoticeChannel receives window notices; empty means the channel a
	// window was booked in.
	WindowNoticeChannel string
	Metrics             *deploy.Metrics
	// Registerer registers the reminder loop's counters; nil registers nothing.
	Registerer prometheus.Registerer
	// Executor settings; zero values take the executor's defaults.
	Lease, Poll time.Duration
	// Exclusive: this process is the store's only user (the embedded store).
	Exclusive bool
	// OutboxInterval paces calls per channel (zero: no pacing).
	OutboxInterval time.Duration
	// Workspaces is the allow-list of Slack teams and Discord guilds (empty: all).
	Workspaces []string
	// Effects tunes the effect publisher; zero values take the defaults.
	Effects bot.PublisherConfig
	// Calendar is the window calendar when it was built before the core
	// (the console's page renders windows and is built before the core);
	// nil builds one from Store and Services (or Runbook).
	Calendar *schedule.Calendar
}

// Core is the platform-independent part of deploybot, wired.
type Core struct {
	Outbox    *bot.Outbox
	Publisher *bot.Publisher
	Calendar  *schedule.Calendar
	Steps     deploy.StepParser
	Engine    *deploy.Engine
	Executor  *deploy.Executor
	Bot       *bot.Bot
	Scheduler *schedule.Scheduler
	// Epoch watches the store's epoch marker (nil when the store cannot
	// lose its data apart from the process: the embedded store).
	Epoch *deploy.Epoch

	feed *feed // the live views, fed behind the transitions
}

// Build builds the core in dependency order. It makes no store calls and
// starts nothing but the live views' feed goroutine; Run runs the loops.
func Build(cfg Config) (*Core, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Core{feed: newFeed(cfg.Logger, cfg.Views)}
	c.Outbox = bot.NewOutbox(bot.OutboxConfig{Clock: cfg.Clock, Logger: cfg.Logger, Interval: cfg.OutboxInterval})
	if es, ok := cfg.Store.(deploy.EpochStore); ok {
		c.Epoch = deploy.NewEpoch(deploy.EpochConfig{Store: es, Clock: cfg.Clock, Logger: cfg.Logger})
	}
	runs := deploy.NewRunCache(0)
	wake := deploy.NewWake()
	c.Publisher = bot.NewPublisher(bot.PublisherParts{Store: cfg.Store, Runs: runs, Posters: cfg.Posters, NoticeChannel: cfg.NoticeChannel,
		Outbox: c.Outbox, Clock: cfg.Clock, Logger: cfg.Logger, Effects: cfg.Effects})
	c.Calendar = cfg.Calendar
	if c.Calendar == nil {
		c.Calendar = schedule.NewCalendar(schedule.CalendarConfig{Store: cfg.Store, Services: cfg.Services, Runbook: cfg.Runbook, Clock: cfg.Clock, Logger: cfg.Logger})
	}
	c.Steps = cfg.Steps
	if cfg.Registry != nil {
		steps, err := cfg.Registry(Sources{Windows: c.Calendar, Notifier: c.Publisher})
		if err != nil {
			c.Close()
			return nil, err
		}
		c.Steps = steps
	}
	c.Engine = deploy.NewEngine(deploy.Config{
		Store: cfg.Store, Services: cfg.Services, Runbook: cfg.Runbook, Clock: cfg.Clock, Logger: cfg.Logger, Runs: runs,
		Windows: c.Calendar, Metrics: cfg.Metrics, Effects: c.Publisher, Sink: deploy.Sinks{wake, c.feed}, Epoch: c.Epoch,
	})
	c.Executor = deploy.NewExecutor(deploy.ExecutorConfig{Queue: cfg.Store, Reporter: c.Engine, Clock: cfg.Clock, Metrics: cfg.Metrics,
		Steps: c.Steps, Wake: wake, Lease: cfg.Lease, Poll: cfg.Poll, Exclusive: cfg.Exclusive, Logger: cfg.Logger,
		RunLost: func(ctx context.Context, run *deploy.Run, phase, step string) {
			_ = c.Epoch.Check(ctx) // the store most likely lost its data: find out now
			c.Publisher.PostRunLost(run, phase, step)
		}})
	c.Bot = bot.New(bot.Config{Engine: c.Engine, Publisher: c.Publisher, Steps: c.Steps, Windows: c.Calendar, Workspaces: cfg.Workspaces})
	c.Scheduler = schedule.New(schedule.Config{Calendar: c.Calendar, Store: cfg.Store, Engine: c.Engine, Notices: c.Publisher,
		Clock: cfg.Clock, Logger: cfg.Logger, Metrics: cfg.Registerer, NoticeChannel: cfg.WindowNoticeChannel})
	return c, nil
}

// Run runs the executor, the effect poller (which delivers what transitions
// of dead or stalled processes owe), the reminder loop and the epoch check
// until ctx ends.
func (c *Core) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.Publisher.RunEffects(ctx) }) // returns nil when ctx ends
	wg.Go(func() { _ = c.Scheduler.Run(ctx) })        // returns nil when ctx ends
	wg.Go(func() { _ = c.Epoch.Run(ctx) })            // returns nil
	err := c.Executor.Run(ctx)
	wg.Wait()
	return err
}

// Close stops the outbox and the live views' feed.
func (c *Core) Close() {
	c.Outbox.Close()
	c.feed.close()
}

// maxFeed bounds the transitions waiting for slow views; beyond it the
// oldest are dropped (a live view heals on its next update or a reload).
const maxFeed = 10000

type transition struct {
	ctx    context.Context
	run    *deploy.Run
	events []deploy.Event
}

// feed calls the views with each transition, in order, on one goroutine.
type feed struct {
	log   *slog.Logger
	sinks []deploy.Sink // fixed at construction

	mu     sync.Mutex // mu protects everything below
	wake   *sync.Cond
	q      []transition
	closed bool
	done   chan struct{}
}

func newFeed(log *slog.Logger, sinks []deploy.Sink) *feed {
	f := &feed{log: log, sinks: sinks, done: make(chan struct{})}
	f.wake = sync.NewCond(&f.mu)
	if len(sinks) > 0 {
		go f.loop()
	} else {
		close(f.done)
	}
	return f
}

// Publish implements deploy.Sink: it queues the transition for the views.
func (f *feed) Publish(ctx context.Context, run *deploy.Run, events []deploy.Event) {
	if len(f.sinks) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	if len(f.q) >= maxFeed {
		f.q = f.q[1:]
		f.log.Warn("live views fall behind; dropping the oldest update")
	}
	f.q = append(f.q, transition{ctx: ctx, run: run, events: events})
	f.wake.Signal()
}

func (f *feed) loop() {
	defer close(f.done)
	for {
		f.mu.Lock()
		for len(f.q) == 0 && !f.closed {
			f.wake.Wait()
		}
		if f.closed {
			f.mu.Unlock()
			return
		}
		t := f.q[0]
		f.q = f.q[1:]
		f.mu.Unlock()
		for _, s := range f.sinks {
			s.Publish(t.ctx, t.run, t.events)
		}
	}
}

func (f *feed) close() {
	f.mu.Lock()
	f.closed = true
	f.wake.Broadcast()
	f.mu.Unlock()
	<-f.done
}
