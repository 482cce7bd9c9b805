package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

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
}

// Bot connects the engine and the chat platforms: it turns commands and
// clicks into engine calls, and engine events into messages, always rendered
// from the stored run so a lost or late call heals on the next render.
type Bot struct {
	e       *deploy.Engine
	store   deploy.Store
	steps   deploy.StepParser
	posters map[string]Poster
	primary string
	notice  string
	windows Windows
	allowed []string
	out     *Outbox
	clock   clock.Clock
	log     *slog.Logger

	mu     sync.Mutex      // mu protects claims
	claims map[string]bool // message slots this process claimed to post
}

// New returns a Bot for cfg.
func New(cfg Config) *Bot {
	b := &Bot{
		e: cfg.Engine, store: cfg.Engine.Store(), steps: cfg.Steps, posters: map[string]Poster{}, notice: cfg.NoticeChannel,
		windows: cfg.Windows, allowed: cfg.Workspaces, out: cfg.Outbox, clock: cfg.Clock, log: cfg.Logger, claims: map[string]bool{},
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

// Publish implements deploy.Sink: it queues the messages the events call for.
// It does not block on chat calls.
func (b *Bot) Publish(_ context.Context, run *deploy.Run, events []deploy.Event) {
	p, ok := b.posters[run.Platform]
	if !ok {
		return
	}
	summary, cards := false, map[string]bool{}
	for _, ev := range events {
		switch ev.Kind {
		case deploy.EventRunStarted:
			b.notify(p, run.Channel, Announcement(run))
			summary = true
		case deploy.EventRollbackStarted:
			b.notify(p, run.Channel, RollbackNotice(run))
			summary = true
			cards[ev.Phase] = true
		case deploy.EventRunCompleted:
			b.notify(p, run.Channel, Completion(run))
			summary = true
		case deploy.EventRunRolledBack:
			b.notify(p, run.Channel, RolledBackNotice(run))
			summary = true
		case deploy.EventRunAborted:
			b.notify(p, run.Channel, AbortNotice(run))
			summary = true
			// The event names no phase, but the current card must lose its buttons.
			if c := run.Current(); c != nil {
				cards[c.ID] = true
			}
		case deploy.EventPhaseApproved:
			summary = true
		}
		if ev.Phase != "" {
			cards[ev.Phase] = true
		}
	}
	if summary || len(cards) > 0 {
		b.sync(p, run, "summary")
	}
	// Cards in phase order, so a new phase's card follows the previous one.
	for i := range run.Phases {
		if cards[run.Phases[i].ID] {
			b.sync(p, run, "phase:"+run.Phases[i].ID)
		}
	}
}

func (b *Bot) notify(p Poster, runChannel string, n Notice) {
	ch := b.NoticeChannel(runChannel)
	b.out.Enqueue(p.Platform()+":"+ch, "", func(ctx context.Context) error {
		_, err := p.Post(ctx, ch, "", Message{Notice: &n})
		return err
	})
}

// Notify posts a text notice to channel (the notice channel when empty) on
// the primary platform; it implements the notify adapter's Notifier. The call
// is queued, so rate limits delay it rather than fail it.
func (b *Bot) Notify(ctx context.Context, channel, text string) error {
	return b.NotifyRun(ctx, channel, "", text)
}

// NotifyRun is Notify for a step of a run: with no notice channel
// configured, an empty channel means the run's own channel.
func (b *Bot) NotifyRun(_ context.Context, channel, runChannel, text string) error {
	p, ok := b.posters[b.primary]
	if !ok {
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
	n := Notice{Kind: NoticeText, Title: text}
	b.out.Enqueue(p.Platform()+":"+channel, "", func(ctx context.Context) error {
		_, err := p.Post(ctx, channel, "", Message{Notice: &n})
		return err
	})
	return nil
}

// PostNotice queues a notice to a channel of a platform (reminders, window notices).
func (b *Bot) PostNotice(platform, channel string, n Notice) {
	p, ok := b.posters[platform]
	if !ok {
		p, ok = b.posters[b.primary]
	}
	if !ok {
		return
	}
	if channel == "" {
		channel = b.notice
	}
	b.notify(p, channel, n)
}

// sync queues a render of one of a run's messages: the summary or a phase
// card. It posts the message the first time and edits it in place after.
func (b *Bot) sync(p Poster, run *deploy.Run, slot string) {
	q := p.Platform() + ":" + run.Channel
	b.out.Enqueue(q, run.ID+":"+slot, func(ctx context.Context) error {
		return b.syncNow(ctx, p, run.ID, slot)
	})
}

// syncNow renders the slot from the stored run and posts or edits it.
func (b *Bot) syncNow(ctx context.Context, p Poster, runID, slot string) error {
	run, err := b.store.Run(ctx, runID)
	if err != nil {
		return fmt.Errorf("sync %s: %w", slot, err)
	}
	now := b.clock.Now()
	var m Message
	if slot == "summary" {
		s := BuildSummary(run, now)
		m.Summary = &s
	} else {
		i := run.FindPhase(strings.TrimPrefix(slot, "phase:"))
		if i < 0 {
			return &PermanentError{Err: fmt.Errorf("sync %s: no such phase", slot)}
		}
		c := BuildCard(run, i, now)
		m.Card = &c
	}
	refs, err := b.store.Messages(ctx, runID)
	if err != nil {
		return fmt.Errorf("sync %s: %w", slot, err)
	}
	key := p.Platform() + ":" + slot
	if ref := refs[key]; ref != "" {
		return p.Update(ctx, ref, m)
	}
	// First render: exactly one process posts it, whichever claims the slot.
	// The claim lapses after a while, so a process that died before posting
	// does not keep the message from ever being posted.
	if !b.holds(runID + ":" + key) {
		first, err := b.store.ClaimOnce(ctx, "post:"+runID+":"+key, postClaimTTL)
		if err != nil {
			return fmt.Errorf("sync %s: %w", slot, err)
		}
		if first {
			b.hold(runID + ":" + key)
		}
	}
	if !b.holds(runID + ":" + key) {
		// Another process is posting it; try again shortly and edit then.
		return &RateLimitError{After: 2 * time.Second, Err: errors.New("message being posted by another process")}
	}
	replyTo := ""
	if slot != "summary" {
		replyTo = refs[p.Platform()+":summary"]
	}
	ref, err := p.Post(ctx, run.Channel, replyTo, m)
	if err != nil {
		return err // retried by the outbox under the claim this process holds
	}
	if err := b.store.SetMessage(ctx, runID, key, ref); err != nil {
		return &PermanentError{Err: fmt.Errorf("sync %s: posted but not recorded: %w", slot, err)}
	}
	b.release(runID + ":" + key)
	return nil
}

// postClaimTTL is how long a process's claim to post a message lasts.
const postClaimTTL = 2 * time.Minute

func (b *Bot) holds(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.claims[key]
}

func (b *Bot) hold(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.claims[key] = true
}

func (b *Bot) release(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.claims, key)
}
