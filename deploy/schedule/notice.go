package schedule

import (
	"context"
	"time"

	"deploybot/deploy"
)

// NoticeKind names a window notice.
type NoticeKind string

// The window notice kinds.
const (
	// KindReminder: a window opens in Notice.Until (a reminder at Notice.Offset).
	KindReminder NoticeKind = "reminder"
	// KindOpen: a window is open now.
	KindOpen NoticeKind = "window_open"
	// KindClosing: a window closes in Notice.Until while runs are live in its environment.
	KindClosing NoticeKind = "window_closing"
	// KindEnded: a window ended while a production phase of Notice.Runs was still open.
	KindEnded NoticeKind = "window_ended"
)

// Notice is a window notice as data; the chat side renders it
// (bot.WindowNotice) and posts it to Platform and Channel.
type Notice struct {
	Kind NoticeKind
	// Window is the occurrence the notice is about. Recurring windows have
	// Recurring set, no ID and no Release.
	Window deploy.WindowView
	// Service is the service whose window it is ("" for a window booked
	// before services, with several: every service).
	Service string
	// Env is the environment the window applies to; "" for a recurring window,
	// which applies to every environment.
	Env string
	// Offset is the reminder offset that fired (KindReminder).
	Offset time.Duration
	// Until is how long from At until the window opens (KindReminder) or
	// closes (KindClosing); a late reminder has a smaller Until than Offset.
	Until time.Duration
	// At is when the notice was made.
	At time.Time
	// Runs are the live runs concerned (KindClosing, KindEnded).
	Runs []RunRef
	// Platform is the platform to post on ("" means the primary one).
	Platform string
	// Channel is the channel to post in ("" means the bot's notice channel).
	Channel string
}

// RunRef names a run in a notice.
type RunRef struct {
	ID, Service, Release, Env string
	// Phase is the title of the run's current phase.
	Phase string
	// Channel is the channel the run was started in.
	Channel string
}

// Notices posts window notices. *bot.Bot implements it (bot/window_notices.go).
// Implementations should queue and return quickly; a panic is recovered and
// counted, and the notice is not retried.
type Notices interface {
	PostWindowNotice(ctx context.Context, n Notice) error
}

// OnceNotices is Notices whose record of a notice is its own once-only
// claim: RecordWindowNotice records the notice durably under claim (kept
// for ttl) only if claim is not taken yet, in one atomic store write, and
// reports whether it did. The scheduler then takes no separate claim, so no
// crash can leave a notice claimed but never recorded. *bot.Publisher
// implements it.
type OnceNotices interface {
	Notices
	RecordWindowNotice(ctx context.Context, claim string, ttl time.Duration, n Notice) (bool, error)
}

// NoticesFunc adapts a function to Notices.
type NoticesFunc func(ctx context.Context, n Notice) error

// PostWindowNotice calls f.
func (f NoticesFunc) PostWindowNotice(ctx context.Context, n Notice) error { return f(ctx, n) }

// Engine is what the scheduler needs of the run engine: the live runs, and a
// way to re-evaluate a run whose phase waits for a window. *deploy.Engine
// implements it.
type Engine interface {
	Advance(ctx context.Context, runID string) (deploy.Outcome, error)
	Live(ctx context.Context) ([]*deploy.Run, error)
}
