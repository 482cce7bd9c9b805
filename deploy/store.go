package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Store errors that callers branch on.
var (
	// ErrNotFound: no such run, window, freeze or queue item.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the run changed since it was read (its Rev moved on).
	ErrConflict = errors.New("conflict: the run changed meanwhile")
	// ErrEnvLocked: another live run holds the environment. Returned wrapped in *LockedError.
	ErrEnvLocked = errors.New("environment is locked by another run")
	// ErrFrozen: the environment is frozen. Returned wrapped in *FrozenError.
	ErrFrozen = errors.New("environment is frozen")
	// ErrAlreadyApplied: a change with the same WriteID was applied before
	// (a client-side retry of a command that did reach the store).
	ErrAlreadyApplied = errors.New("change already applied")
	// ErrUnavailable: the store cannot be reached.
	ErrUnavailable = errors.New("store unavailable")
	// ErrOutcomeUnknown: a write that failed after its request may have left
	// for the store (a timeout or a lost connection while waiting, or a retry
	// of it that failed): the store may have applied it all the same. A
	// store returns it only then; a write refused (a conflict, a lock), or
	// one that certainly never left, changed nothing.
	ErrOutcomeUnknown = errors.New("outcome unknown")
)

// LockedError is returned by Apply when Change.LockEnv is set and another
// live run holds the service's lock in the environment.
type LockedError struct {
	Env string
	// Service is the service whose lock is held ("" when unknown).
	Service string
	RunID   string // the run holding the lock
}

func (e *LockedError) Error() string {
	if e.Service != "" {
		return e.Service + " in environment " + e.Env + " is locked by run " + e.RunID
	}
	return "environment " + e.Env + " is locked by run " + e.RunID
}

// Unwrap returns ErrEnvLocked.
func (e *LockedError) Unwrap() error { return ErrEnvLocked }

// FrozenError is returned by Apply when Change.LockEnv is set and the environment is frozen.
type FrozenError struct{ Freeze Freeze }

func (e *FrozenError) Error() string {
	return "environment " + e.Freeze.Env + " is frozen: " + e.Freeze.Reason
}

// Unwrap returns ErrFrozen.
func (e *FrozenError) Unwrap() error { return ErrFrozen }

// Change is one atomic transition of a run: the new document, its audit
// entries, and the lock and queue operations that go with it. A store applies
// all of it or nothing.
type Change struct {
	// Run is the new document. Its Rev must be PrevRev+1.
	Run *Run
	// PrevRev is the Rev the change was computed from; 0 creates the run (and
	// fails with ErrConflict if the id exists).
	PrevRev int64
	// WriteID identifies this change; replaying the same WriteID returns
	// ErrAlreadyApplied instead of applying twice. Remembered for a day.
	WriteID string
	// Audit entries are appended to the run's audit log.
	Audit []AuditEntry
	// LockEnv takes the lock of Run.Service in Run.Env for Run.ID (one
	// deployment at a time per service and environment). It fails with
	// *LockedError when another live run holds it and with *FrozenError
	// when Run.Env is frozen for every service or for Run.Service.
	LockEnv bool
	// UnlockEnv releases the lock of Run.Service in Run.Env if Run.ID holds
	// it, and the environment-only lock of a run stored before services if
	// Run.ID holds that.
	UnlockEnv bool
	// SetCurrent records Run.Release as the version last completed for
	// Run.Service in Run.Env (CurrentVersion), in the same atomic step as
	// the change that makes the run deployed or completed.
	SetCurrent bool
	// Schedule adds (or replaces, by ID) items in the due queue.
	Schedule []DueItem
	// Cancel removes items from the due queue by ID (missing ones are ignored).
	Cancel []string
	// Stats, when set, is the run's entry in the stats index (the
	// transition ends the run or makes it deployed). The index keeps one
	// entry per run id: writing it again replaces it.
	Stats *StatsEntry
}

// Freeze is an operator's freeze of an environment: no run starts there until it is lifted.
type Freeze struct {
	Env string `json:"env"`
	// Service, when set, freezes only that service in Env; empty freezes
	// every service there (a change freeze is organisation-wide).
	Service string    `json:"service,omitempty"`
	By      Actor     `json:"by"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// Window is a scheduled maintenance window.
type Window struct {
	ID string `json:"id"`
	// Service is the service the window was booked for ("" on windows
	// booked before services existed: the only service).
	Service string        `json:"service,omitempty"`
	Release string        `json:"release"`
	Env     string        `json:"env,omitempty"`
	Start   time.Time     `json:"start"`
	Length  time.Duration `json:"length"`
	// Zone is the IANA zone the window was given in (for reminders).
	Zone     string    `json:"zone,omitempty"`
	Channel  string    `json:"channel,omitempty"`
	Platform string    `json:"platform,omitempty"`
	By       Actor     `json:"by"`
	Created  time.Time `json:"created"`
}

// End returns when the window closes.
func (w *Window) End() time.Time { return w.Start.Add(w.Length) }

// ScheduleRequest asks for a maintenance window.
type ScheduleRequest struct {
	// Service names the runbook; empty means the only one.
	Service  string
	Release  string
	Start    time.Time
	Zone     string
	Length   time.Duration
	Channel  string
	Platform string
	Actor    Actor
	// RequestID identifies the chat request; a replay of the same request
	// books nothing.
	RequestID string
}

// WindowView is one window as /deploy windows lists it.
type WindowView struct {
	ID        string
	Service   string
	Release   string
	Start     time.Time
	End       time.Time
	Zone      string
	Recurring bool
	By        string
}

// RunFilter selects runs for Runs.
type RunFilter struct {
	// Live selects only active and rolling-back runs; otherwise finished runs
	// are returned, newest first, at most Limit of them.
	Live  bool
	Limit int
}

// Store keeps runs, their audit logs, environment locks and freezes, windows,
// message references, and the due queue. Every method is safe for concurrent
// use by several processes sharing the store (Redis) or by one process (bbolt).
type Store interface {
	// Apply applies a Change atomically: it fails with ErrConflict when the
	// stored Rev is not PrevRev, and otherwise writes everything in the change.
	Apply(ctx context.Context, c Change) error
	// Run returns a run by id, or ErrNotFound.
	Run(ctx context.Context, id string) (*Run, error)
	// Runs returns live runs, or the most recent finished ones.
	Runs(ctx context.Context, f RunFilter) ([]*Run, error)
	// Audit returns a run's audit log, oldest first.
	Audit(ctx context.Context, runID string) ([]AuditEntry, error)
	// RunIDs returns the id of every stored run, live and finished, sorted
	// and without duplicates (what `deploybot audit verify` walks).
	RunIDs(ctx context.Context) ([]string, error)
	// EnvHolder returns the id of the live run holding service's lock in
	// env, or "" when free. When no run holds it, a live run stored before
	// services that still holds env's old environment-only lock is
	// returned: it may belong to service (the caller judges, see
	// NormalizeService); it never blocks Apply by itself.
	EnvHolder(ctx context.Context, service, env string) (string, error)
	// CurrentVersion returns the version last completed for service in env
	// (recorded by Change.SetCurrent), or "" when there is none.
	CurrentVersion(ctx context.Context, service, env string) (string, error)
	// StatsIndex reads the entries Change.Stats wrote.
	StatsIndex
	// StatsWriter writes entries outside a run change (a rebuild).
	StatsWriter
	// OrgAuditStore keeps the org audit chain (freezes, windows) and
	// writes a freeze or window change atomically with its entry.
	OrgAuditStore

	// SetFreeze freezes an environment for every service (f.Service "") or
	// for one service, replacing an existing freeze of the same scope.
	SetFreeze(ctx context.Context, f Freeze) error
	// GetFreeze returns the freeze of env for service ("" = the freeze of
	// every service), or ErrNotFound. A freeze of every service is not
	// returned for a service: Apply checks both.
	GetFreeze(ctx context.Context, env, service string) (*Freeze, error)
	// DeleteFreeze lifts the freeze of env for service ("" = every
	// service); ErrNotFound when there was none.
	DeleteFreeze(ctx context.Context, env, service string) error

	// PutWindow stores a window (replacing one with the same ID).
	PutWindow(ctx context.Context, w Window) error
	// Windows returns the windows that end after t, by start time.
	Windows(ctx context.Context, after time.Time) ([]Window, error)
	// DeleteWindow removes a window; ErrNotFound when there was none.
	DeleteWindow(ctx context.Context, id string) error

	// SetMessage stores a reference to a chat message of a run (slot names
	// such as "slack:summary" or "slack:phase:code"; ref is platform-specific).
	SetMessage(ctx context.Context, runID, slot, ref string) error
	// Messages returns all message references of a run by slot.
	Messages(ctx context.Context, runID string) (map[string]string, error)

	// Schedule adds or replaces items in the due queue outside a run change.
	Schedule(ctx context.Context, items ...DueItem) error
	// Claim leases up to max items of the given kind whose Due is at or before
	// now and that are unleased or whose lease expired before now; it sets
	// their LeaseUntil to now+lease and increments Claims.
	Claim(ctx context.Context, kind string, now time.Time, lease time.Duration, max int) ([]DueItem, error)
	// Extend renews the lease of a claimed item; ErrNotFound when it is gone.
	Extend(ctx context.Context, id string, until time.Time) error
	// ExtendClaim renews the lease only while the caller still holds it: the
	// item is leased and its Claims is still claims. ErrNotFound otherwise,
	// so a worker whose lease ran out and was re-claimed learns it lost the item.
	ExtendClaim(ctx context.Context, id string, claims int, until time.Time) error
	// Ack removes an item from the due queue.
	Ack(ctx context.Context, id string) error
	// Pending returns all queued items of a kind, claimed or not.
	Pending(ctx context.Context, kind string) ([]DueItem, error)
	// Hold leases an item to the caller while it is still the version the
	// caller has: its Payload is payload and its Claims is claims (0 for the
	// writer of an item nobody claimed since). It sets LeaseUntil to until, so
	// Claim skips the item until then. ErrNotFound when the item is gone,
	// was replaced (another payload) or was claimed by someone else.
	Hold(ctx context.Context, id string, claims int, payload string, until time.Time) error
	// AckIf removes each of items (by ID) whose stored Payload is still the
	// given item's Payload, in one atomic step: an item replaced meanwhile
	// by a newer one (another payload) stays queued. It returns how many it removed.
	AckIf(ctx context.Context, items ...DueItem) (int, error)

	// ClaimOnce records key for ttl and reports whether this call was the first
	// to do so: the once-only claim for reminders, idempotency keys and posts.
	ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// ScheduleOnce is ClaimOnce and Schedule in one atomic step: when key
	// is not recorded it records key for ttl, schedules items and reports
	// true; otherwise it changes nothing and reports false. A record that
	// owes something (a window notice) is then its own once-only claim: no
	// crash can leave the claim taken and the record missing.
	ScheduleOnce(ctx context.Context, key string, ttl time.Duration, items ...DueItem) (bool, error)

	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// CheckChange rejects changes no store could apply (a store calls it first in Apply).
func CheckChange(c Change) error {
	if c.Run == nil {
		return errors.New("change without a run")
	}
	if c.Run.ID == "" {
		return errors.New("run without an id")
	}
	if c.PrevRev < 0 || c.Run.Rev != c.PrevRev+1 {
		return fmt.Errorf("run %s: rev %d does not follow prev rev %d", c.Run.ID, c.Run.Rev, c.PrevRev)
	}
	if c.Stats != nil && c.Stats.RunID != c.Run.ID {
		return fmt.Errorf("run %s: stats entry of run %q", c.Run.ID, c.Stats.RunID)
	}
	return CheckItems(c.Schedule)
}
