// Package botcore wires the platform-independent core of deploybot: the
// engine, the executor, the bot and its outbox, with every transition
// published to the bot (messages), the executor (due steps) and any other
// subscriber (the console's live feed). internal/app builds it for main;
// the fronts' end-to-end tests build the same core with a test store, fake
// platforms and an injected clock.
package botcore

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/internal/clock"
	"deploybot/runbook"
)

// CoreConfig is what the platform-independent core needs.
type CoreConfig struct {
	Store   deploy.Store
	Runbook *runbook.Runbook
	// Steps parses automated steps (the adapter registry).
	Steps         deploy.StepParser
	Clock         clock.Clock
	Logger        *slog.Logger
	NoticeChannel string
	// Posters are the chat platforms' outgoing sides, built before the core.
	Posters []bot.Poster
	// Windows is the window calendar (schedule.Calendar): the engine's gate
	// and the bot's /deploy schedule, windows and unschedule. Nil: windows
	// are always open and the commands answer that windows are not available.
	Windows Windows
	Metrics *deploy.Metrics
	// Executor settings; zero values take the executor's defaults.
	Lease, Poll time.Duration
	// Exclusive: this process is the store's only user (the embedded store).
	Exclusive bool
	// OutboxInterval paces calls per channel (zero: no pacing).
	OutboxInterval time.Duration
	// Workspaces is the allow-list of Slack teams and Discord guilds (empty: all).
	Workspaces []string
}

// Windows is what the core needs of the window calendar.
type Windows interface {
	deploy.WindowGate
	bot.Windows
}

// Core is the engine, the executor and the bot, wired so that every
// transition's effects reach the bot (messages) and its events the executor
// (due steps) and the other subscribers.
type Core struct {
	Engine   *deploy.Engine
	Executor *deploy.Executor
	Bot      *bot.Bot
	Outbox   *bot.Outbox

	feed *feed // the subscribers (live views), fed behind the transitions
}

// NewCore builds the core in dependency order: engine, executor, outbox,
// bot. The bot is given the posters and the calendar here; the interactive
// console, whose page takes the bot, is the one poster still added later.
func NewCore(cfg CoreConfig) *Core {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Core{feed: newFeed(cfg.Logger)}
	var gate deploy.WindowGate
	var windows bot.Windows
	if cfg.Windows != nil {
		gate, windows = cfg.Windows, cfg.Windows
	}
	c.Engine = deploy.NewEngine(deploy.Config{
		Store: cfg.Store, Runbook: cfg.Runbook, Clock: cfg.Clock, Logger: cfg.Logger,
		Windows: gate, Metrics: cfg.Metrics, Sink: deploy.SinkFunc(c.publish),
		Effects: deploy.EffectSinkFunc(func(ctx context.Context, run *deploy.Run, owed []deploy.Owed) { c.Bot.Deliver(ctx, run, owed) }),
	})
	c.Executor = deploy.NewExecutor(deploy.ExecutorConfig{Engine: c.Engine, Steps: cfg.Steps, Lease: cfg.Lease, Poll: cfg.Poll,
		Exclusive: cfg.Exclusive, Logger: cfg.Logger})
	c.Outbox = bot.NewOutbox(bot.OutboxConfig{Clock: cfg.Clock, Logger: cfg.Logger, Interval: cfg.OutboxInterval})
	c.Bot = bot.New(bot.Config{Engine: c.Engine, Steps: cfg.Steps, Posters: cfg.Posters, Windows: windows, NoticeChannel: cfg.NoticeChannel, Workspaces: cfg.Workspaces, Outbox: c.Outbox, Clock: cfg.Clock, Logger: cfg.Logger})
	return c
}

// Subscribe adds a sink that sees every transition (the console's live
// feed). Subscribers are called in transition order on a goroutine of their
// own, never on the path that answers the person who clicked.
func (c *Core) Subscribe(s deploy.Sink) { c.feed.subscribe(s) }

// publish nudges the executor (a non-blocking signal) and hands the
// transition to the subscribers' feed.
func (c *Core) publish(ctx context.Context, run *deploy.Run, events []deploy.Event) {
	c.Executor.Publish(ctx, run, events)
	c.feed.push(ctx, run, events)
}

// Run runs the executor and the effect publisher (which delivers what
// transitions of dead or stalled processes owe) until ctx ends.
func (c *Core) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = c.Bot.RunEffects(ctx) // returns nil when ctx ends
	}()
	err := c.Executor.Run(ctx)
	wg.Wait()
	return err
}

// Close stops the outbox and the subscribers' feed.
func (c *Core) Close() {
	c.Outbox.Close()
	c.feed.close()
}

// maxFeed bounds the transitions waiting for slow subscribers; beyond it the
// oldest are dropped (a live view heals on its next update or a reload).
const maxFeed = 10000

type transition struct {
	ctx    context.Context
	run    *deploy.Run
	events []deploy.Event
}

// feed calls the subscribers with each transition, in order, on one goroutine.
type feed struct {
	log *slog.Logger

	mu      sync.Mutex // mu protects everything below
	wake    *sync.Cond
	sinks   []deploy.Sink
	q       []transition
	running bool
	closed  bool
	done    chan struct{}
}

func newFeed(log *slog.Logger) *feed {
	f := &feed{log: log, done: make(chan struct{})}
	f.wake = sync.NewCond(&f.mu)
	return f
}

func (f *feed) subscribe(s deploy.Sink) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sinks = append(f.sinks, s)
	if !f.running && !f.closed {
		f.running = true
		go f.loop()
	}
}

func (f *feed) push(ctx context.Context, run *deploy.Run, events []deploy.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sinks) == 0 || f.closed {
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
		sinks := append([]deploy.Sink(nil), f.sinks...)
		f.mu.Unlock()
		for _, s := range sinks {
			s.Publish(t.ctx, t.run, t.events)
		}
	}
}

func (f *feed) close() {
	f.mu.Lock()
	running := f.running && !f.closed
	f.closed = true
	f.wake.Broadcast()
	f.mu.Unlock()
	if running {
		<-f.done
	}
}
