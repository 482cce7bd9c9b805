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
	Windows       deploy.WindowGate
	Metrics       *deploy.Metrics
	// Executor settings; zero values take the executor's defaults.
	Lease, Poll time.Duration
	// Exclusive: this process is the store's only user (the embedded store).
	Exclusive bool
	// OutboxInterval paces calls per channel (zero: no pacing).
	OutboxInterval time.Duration
}

// Core is the engine, the executor and the bot, wired so that every
// transition's effects reach the bot (messages) and its events the executor
// (due steps) and the other subscribers.
type Core struct {
	Engine   *deploy.Engine
	Executor *deploy.Executor
	Bot      *bot.Bot
	Outbox   *bot.Outbox

	mu    sync.Mutex // mu protects sinks
	sinks []deploy.Sink
}

// NewCore builds the core. Platforms are added with Core.Bot.AddPoster.
func NewCore(cfg CoreConfig) *Core {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Core{}
	c.Engine = deploy.NewEngine(deploy.Config{
		Store: cfg.Store, Runbook: cfg.Runbook, Clock: cfg.Clock, Logger: cfg.Logger,
		Windows: cfg.Windows, Metrics: cfg.Metrics, Sink: deploy.SinkFunc(c.publish),
		Effects: deploy.EffectSinkFunc(func(ctx context.Context, run *deploy.Run, owed []deploy.Owed) { c.Bot.Deliver(ctx, run, owed) }),
	})
	c.Executor = deploy.NewExecutor(deploy.ExecutorConfig{Engine: c.Engine, Steps: cfg.Steps, Lease: cfg.Lease, Poll: cfg.Poll,
		Exclusive: cfg.Exclusive, Logger: cfg.Logger})
	c.Outbox = bot.NewOutbox(bot.OutboxConfig{Clock: cfg.Clock, Logger: cfg.Logger, Interval: cfg.OutboxInterval})
	c.Bot = bot.New(bot.Config{Engine: c.Engine, Steps: cfg.Steps, NoticeChannel: cfg.NoticeChannel, Outbox: c.Outbox, Clock: cfg.Clock, Logger: cfg.Logger})
	c.sinks = []deploy.Sink{c.Executor}
	return c
}

// Subscribe adds a sink that sees every transition (the console's live feed).
func (c *Core) Subscribe(s deploy.Sink) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sinks = append(c.sinks, s)
}

func (c *Core) publish(ctx context.Context, run *deploy.Run, events []deploy.Event) {
	c.mu.Lock()
	sinks := append([]deploy.Sink(nil), c.sinks...)
	c.mu.Unlock()
	for _, s := range sinks {
		s.Publish(ctx, run, events)
	}
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

// Close stops the outbox.
func (c *Core) Close() { c.Outbox.Close() }
