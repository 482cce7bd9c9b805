package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"deploybot/commands"
	"deploybot/deploy"
	"deploybot/internal/clock"
	"deploybot/runbook"
)

// Message is one rendering target: exactly one of Summary, Card, Notice
// and Report is set.
type Message struct {
	Summary *Summary
	Card    *PhaseCard
	Notice  *Notice
	// Report is a run's report (deploy.EffectReport), posted once in the
	// run's thread when it ends.
	Report *deploy.RunReport
	// Key identifies the message among all the bot posts ("RUN:slack:summary"),
	// so a platform that can keep it with the message (Slack's metadata)
	// lets Finder find it again; empty for messages no one looks for.
	Key string
}

// Finder is a Poster that can find a message it posted with a Message.Key.
// The publisher asks before a first post that follows a crash (an effect
// claimed from a process that died) or a failed post whose outcome is
// unknown (a timeout, a lost answer): a post the platform accepted but the
// bot never recorded is then edited instead of posted again.
type Finder interface {
	// Find returns the reference of the message posted with key in channel
	// (among the replies to replyTo when it is set), or "" when there is none.
	Find(ctx context.Context, channel, replyTo, key string) (ref string, err error)
}

// PostBound is a Poster whose Post bounds itself: it gives up after
// PostTimeout at most (its HTTP call's own timeout and what comes before
// it). The publisher gives a first post at least that long
// (PublisherConfig.FirstPost), so a slow post the platform completes is
// recorded rather than cut short, its outcome unknown, and looked for again.
type PostBound interface {
	PostTimeout() time.Duration
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

// Runs is where the publisher finds the newest revision of a run this
// process knows: the run cache the engine keeps (deploy.RunCache; *deploy.Engine
// also implements it).
type Runs interface {
	Latest(id string) *deploy.Run
}

// PublisherParts are what a Publisher is built from. Store is required.
type PublisherParts struct {
	// Store keeps the effects, message references and first-post claims.
	Store Store
	// Runs gives the newest known revision of a run; nil: none (every
	// render is from the run in hand or one store read).
	Runs Runs
	// Posters are the configured platforms' outgoing sides; the first is the
	// primary one (notify steps and window notices without a platform).
	Posters []Poster
	// NoticeChannel receives announcements, completion, rollback and reminder
	// notices; empty means the run's own channel.
	NoticeChannel string
	// Outbox sends the chat calls; nil makes one.
	Outbox *Outbox
	Clock  clock.Clock  // default clock.Real
	Logger *slog.Logger // default slog.Default()
	// Effects tunes the publisher; zero values take the defaults.
	Effects PublisherConfig
}

// Publisher delivers the chat effects transitions owe (deploy.Effect,
// recorded in the store with the transition) as messages, rendered from the
// newest run it knows, so a lost or late call heals on the next render. It
// is the engine's effect sink (Deliver), the notify adapter's Notifier and
// the reminder loop's window notices; it needs no engine, so it is built
// before the engine.
type Publisher struct {
	store   Store
	runs    Runs
	posters map[string]Poster
	primary string
	notice  string
	out     *Outbox
	clock   clock.Clock
	log     *slog.Logger
	pub     PublisherConfig
	refs    *refCache
	posting claims // first posts this process claimed
	unsure  claims // first posts whose outcome is unknown: looked for before posting again
	acks    acks   // acknowledgements of delivered effects, batched
}

// noRuns knows no run.
type noRuns struct{}

func (noRuns) Latest(string) *deploy.Run { return nil }

// NewPublisher returns a publisher for p.
func NewPublisher(p PublisherParts) *Publisher {
	b := &Publisher{
		store: p.Store, runs: p.Runs, posters: map[string]Poster{}, notice: p.NoticeChannel,
		out: p.Outbox, clock: p.Clock, log: p.Logger, pub: p.Effects.withDefaults(), refs: newRefCache(),
	}
	if b.runs == nil {
		b.runs = noRuns{}
	}
	if b.clock == nil {
		b.clock = clock.Real{}
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.log = b.log.With("component", "bot")
	if b.out == nil {
		b.out = NewOutbox(OutboxConfig{Clock: b.clock, Logger: b.log})
	}
	for _, x := range p.Posters {
		b.posters[x.Platform()] = x
		if b.primary == "" {
			b.primary = x.Platform()
		}
	}
	return b
}

// Outbox returns the publisher's outbox (tests flush it).
func (b *Publisher) Outbox() *Outbox { return b.out }

// Config configures a Bot.
type Config struct {
	Engine *deploy.Engine
	// Publisher delivers the effects; nil builds one from Store, Posters,
	// NoticeChannel, Outbox, Clock, Logger and Effects (with the engine's
	// run cache).
	Publisher *Publisher
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
// clicks into engine calls, and, through its Publisher, delivers the effects
// transitions owe.
type Bot struct {
	*Publisher
	e       *deploy.Engine
	steps   deploy.StepParser
	windows Windows
	allowed []string
	grammar commands.Grammar
}

// New returns a Bot for cfg.
func New(cfg Config) *Bot {
	p := cfg.Publisher
	if p == nil {
		st := cfg.Store
		if st == nil {
			st, _ = cfg.Engine.Store().(Store)
		}
		ck := cfg.Clock
		if ck == nil {
			ck = cfg.Engine.Clock()
		}
		p = NewPublisher(PublisherParts{Store: st, Runs: cfg.Engine, Posters: cfg.Posters, NoticeChannel: cfg.NoticeChannel,
			Outbox: cfg.Outbox, Clock: ck, Logger: cfg.Logger, Effects: cfg.Effects})
	}
	return &Bot{Publisher: p, e: cfg.Engine, steps: cfg.Steps, windows: cfg.Windows, allowed: cfg.Workspaces,
		grammar: commands.NewGrammar(cfg.Engine.Services().Names())}
}

// Grammar returns the /deploy grammar of the services the bot deploys: the
// fronts build the Discord command, the console its command box and help
// from it.
func (b *Bot) Grammar() commands.Grammar { return b.grammar }

// Services returns the runbooks of the services the bot deploys.
func (b *Bot) Services() *runbook.Catalog { return b.e.Services() }

// Get returns the run id at its latest known revision.
func (b *Bot) Get(ctx context.Context, id string) (*deploy.Run, error) { return b.e.Get(ctx, id) }

// Live returns the runs that have not finished.
func (b *Bot) Live(ctx context.Context) ([]*deploy.Run, error) { return b.e.Live(ctx) }

// Recent returns the n most recently finished runs.
func (b *Bot) Recent(ctx context.Context, n int) ([]*deploy.Run, error) { return b.e.Recent(ctx, n) }

// Audit returns the audit log of run id.
func (b *Bot) Audit(ctx context.Context, id string) ([]deploy.AuditEntry, error) {
	return b.e.Audit(ctx, id)
}

// Known returns the newest revision of run id this process knows, or nil.
// It makes no store call: a front may use it before its acknowledgement.
func (b *Bot) Known(id string) *deploy.Run { return b.known(id) }

// Clock returns the bot's clock.
func (b *Bot) Clock() clock.Clock { return b.clock }

// NoticeChannel returns where notices for a run started in channel go.
func (b *Publisher) NoticeChannel(channel string) string {
	if b.notice != "" {
		return b.notice
	}
	return channel
}

// Notify posts a text notice to channel (the notice channel when empty) on
// the primary platform; it implements the notify adapter's Notifier.
func (b *Publisher) Notify(ctx context.Context, channel, text string) error {
	return b.NotifyRun(ctx, channel, "", text)
}

// NotifyRun is Notify for a step of a run: with no notice channel
// configured, an empty channel means the run's own channel. The notice is
// recorded in the store as an effect before it returns, so the step is done
// only once the notice is owed durably; it is then posted through the
// outbox (rate limits delay it rather than fail it) by this process, or by
// another one if this one dies first.
func (b *Publisher) NotifyRun(ctx context.Context, channel, runChannel, text string) error {
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

// RunLostNotice is the warning posted when a running step's run vanished
// from the store (the store lost its data): run is the run as the step
// found it when it began.
func RunLostNotice(run *deploy.Run, phase, step string) Notice {
	stepTitle, phaseTitle := step, phase
	if i := run.FindPhase(phase); i >= 0 {
		phaseTitle = run.PhaseTitle(i)
		for j, s := range run.Phases[i].Steps {
			if s.ID == step {
				stepTitle = run.StepTitle(i, j)
			}
		}
	}
	return Notice{Kind: NoticeText, Icon: IconWarning, RunID: run.ID, Service: run.Service,
		Title: fmt.Sprintf("Run %s's state was lost from the store while step “%s” (%s) was running; the step was stopped. "+
			"Check %s before deploying again.", run.ID, stepTitle, phaseTitle, run.Env),
		Fields: []Field{{Label: "Version", Value: run.Release}, {Label: "Environment", Value: run.Env}}}
}

// PostRunLost queues RunLostNotice to the run's own channel on its
// platform, in memory: the store that lost the run is not trusted with it.
func (b *Publisher) PostRunLost(run *deploy.Run, phase, step string) {
	platform := run.Platform
	if platform == "" {
		platform = b.primary // a run stored before runs had a platform
	}
	p, ok := b.posters[platform]
	if !ok || run.Channel == "" {
		b.log.Warn("cannot post that a run's state was lost: its platform is not configured here", "run_id", run.ID, "platform", run.Platform)
		return
	}
	n := RunLostNotice(run, phase, step)
	b.out.Enqueue(p.Platform()+":"+run.Channel, "", func(ctx context.Context) error {
		_, err := p.Post(ctx, run.Channel, "", Message{Notice: &n})
		return err
	})
}

// PostNotice queues a notice to a channel of a platform (in memory: it is
// lost if the process dies before posting it).
func (b *Publisher) PostNotice(platform, channel string, n Notice) {
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
