package deploy

import (
	"errors"
	"fmt"
	"time"
)

// Sentinels that callers branch on. Errors returned by the engine's
// transitions are *Error values wrapping one of these.
var (
	// ErrNotAllowed: the person may not do this (approver list, two-person rule).
	ErrNotAllowed = errors.New("not allowed")
	// ErrAlreadyDone: the action was already applied (a double click, a stale button).
	ErrAlreadyDone = errors.New("already done")
	// ErrInvalid: the action does not apply to the run as it stands.
	ErrInvalid = errors.New("invalid action")
	// ErrBusy: the store kept changing under the transition; the person may try again.
	ErrBusy = errors.New("busy")
)

// Error is an engine error whose message is safe and useful to show the
// person who acted ("already approved by @ana 2 min ago").
type Error struct {
	Kind error  // one of the sentinels above, or ErrNotFound, ErrEnvLocked, ErrFrozen
	Msg  string // shown to the person
}

// Error returns the message for the person.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Kind }

func userErr(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Ago renders how long before now t was, for messages ("just now", "2 min ago", "3 h ago").
func Ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 30*time.Second:
		return "just now"
	case d < 90*time.Second:
		return "1 min ago"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Round(time.Minute)/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Round(time.Hour)/time.Hour))
	default:
		return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
	}
}
