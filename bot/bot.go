package bot

import (
	"context"
	"errors"
	"log/slog"

	"deploybot/deploy"
	"deploybot/internal/clock"
)

// Message is one rendering target: exactly one field is set.
type Message struct {
	Summary *Summary
	Card    *PhaseCard
	Notice  *Notice
}

// Poster is a chat platform's outgoing side as the Bot needs it. Each front
// (bot/slack, bot/discord, bot/console) implements it with its own renderer.
type Poster interface {
	// Platform names the platform ("slack", "discord", "console").
	Platform() string
	// Post posts m in channel, as a reply under the message replyTo when it is
	// not empty, and returns a reference to the new message.
	Post(ctx context.Context, channel, replyTo string, m Message) (ref string, err error)
	// Update replaces the message ref with m.
	Update(ctx context.Context, ref string, m Message) error
}

// Config configures a Bot.
type Config struct {
	Engine *deploy.Engine
	// Store is where effects, message references and windows are kept; nil
	// means the engine's store.
	Store Store
	// Steps parses adapter steps for /deploy plan.
	Steps deploy.StepParser
	// Posters are the configured platforms.
	Posters []Poster
	// NoticeChannel receives announcements, completion, rollback and reminder
	// notices; empty means the run's own channel.
	NoticeChannel string
	// Windows handles /deploy schedule, windows and unschedule; nil answers
	// that windows are not available.
	Windows Windows
	Outbox  *Outbox
	// Workspaces, when not empty, is the allow-list of Slack team IDs and
	// Discord guild IDs served; commands and clicks from others are refused.
	Workspaces []string
	Clock      clock.Clock
	Logger     *slog.Logger
	// Effects tunes the effect publisher; zero values take the defaults.
	Effects PublisherConfig
}

// Bot connects the engine and the chat platforms: it turns commands and
// clicks into engine calls, and delivers the effects transitions owe
// (deploy.Effect, recorded in the store with the transition) as messages,
// rendered from the newest run it knows, so a lost or late call heals on
// the next render.
type Bot struct {
	e       *deploy.Engine
	store   Store
	steps   deploy.StepParser
	posters map[string]Poster
	primary string
	notice  string
	windows Windows
	allowed []string
	out     *Outbox
	clock   clock.Clock
	log     *slog.Logger
	pub     PublisherConfig
	refs    *refCache
	posting claims // first posts this process claimed
	acks    acks   // acknowledgements of delivered effects, batched
}

// New returns a Bot for cfg.
func New(cfg Config) *Bot {
	b := &Bot{
		e: cfg.Engine, store: cfg.Engine.Store(), steps: cfg.Steps, posters: map[string]Poster{}, notice: cfg.NoticeChannel,
		windows: cfg.Windows, allowed: cfg.Workspaces, out: cfg.Outbox, clock: cfg.Clock, log: cfg.Logger, pub: cfg.Effects.withDefaults(), refs: newRefCache(),
	}
	if cfg.Store != nil {
		b.store = cfg.Store
	}
	if b.clock == nil {
		b.clock = cfg.Engine.Clock()
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.log = b.log.With("component", "bot")
	if b.out == nil {
		b.out = NewOutbox(OutboxConfig{Clock: b.clock, Logger: b.log})
	}
	for _, p := range cfg.Posters {
		b.posters[p.Platform()] = p
		if b.primary == "" {
			b.primary = p.Platform()
		}
	}
	return b
}

// Engine returns the bot's engine.
func (b *Bot) Engine() *deploy.Engine { return b.e }

// Outbox returns the bot's outbox (tests flush it).
func (b *Bot) Outbox() *Outbox { return b.out }

// SetWindows sets the maintenance-window handler (wiring happens after construction).
func (b *Bot) SetWindows(w Windows) { b.windows = w }

// AddPoster adds a platform after construction.
func (b *Bot) AddPoster(p Poster) {
	b.posters[p.Platform()] = p
	if b.primary == "" {
		b.primary = p.Platform()
	}
}

// NoticeChannel returns where notices for a run started in channel go.
func (b *Bot) NoticeChannel(channel string) string {
	if b.notice != "" {
		return b.notice
	}
	return channel
}

// Notify posts a text notice to channel (the notice channel when empty) on
// the primary platform; it implements the notify adapter's Notifier.
func (b *Bot) Notify(ctx context.Context, channel, text string) error {
	return b.NotifyRun(ctx, channel, "", text)
}

// NotifyRun is Notify for a step of a run: with no notice channel
// configured, an empty channel means the run's own channel. The notice is
// recorded in the store as an effect before it returns, so the step is done
// only once the notice is owed durably; it is then posted through the
// outbox (rate limits delay it rather than fail it) by this process, or by
// another one if this one dies first.
func (b *Bot) NotifyRun(ctx context.Context, channel, runChannel, text string) error {
	if _, ok := b.posters[b.primary]; !ok {
		return errors.New("no chat platform configured")
	}
	if channel == "" {
		channel = b.notice
	}
	if channel == "" {
		channel = runChannel
	}
	if channel == "" {
		return errors.New("no notice channel: set DEPLOYBOT_NOTICE_CHANNEL or give the step a channel")
	}
	f := deploy.Effect{Kind: deploy.EffectText, Key: newKey(), Platform: b.primary, Channel: channel, Text: text}
	return b.owe(ctx, f)
}

// PostNotice queues a notice to a channel of a platform (in memory: it is
// lost if the process dies before posting it).
func (b *Bot) PostNotice(platform, channel string, n Notice) {
	p, ok := b.posters[platform]
	if !ok {
		p, ok = b.posters[b.primary]
	}
	if !ok {
		return
	}
	channel = b.NoticeChannel(channel)
	b.out.Enqueue(p.Platform()+":"+channel, "", func(ctx context.Context) error {
		_, err := p.Post(ctx, channel, "", Message{Notice: &n})
		return err
	})
}
