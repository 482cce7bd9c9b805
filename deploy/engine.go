package deploy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"deploybot/internal/clock"
	"deploybot/runbook"
)

// WindowGate tells the engine whether a maintenance window is open for a
// service in an environment; phases with `window: required` wait for one.
type WindowGate interface {
	// Window reports whether a window for service, env and release is open
	// at now and, when none is, when the next one opens (nil: none known),
	// so a waiting phase can say when, from one look at the windows.
	Window(ctx context.Context, service, env, release string, now time.Time) (open bool, next *WindowAt, err error)
}

// RunStore is what the engine needs of the store: runs, their audit logs,
// locks (the old environment-only ones), the versions completed and
// freezes. Every transition is one Apply; a freeze and its lifting are each
// one AppendOrg with their org audit entry.
type RunStore interface {
	Apply(ctx context.Context, c Change) error
	Run(ctx context.Context, id string) (*Run, error)
	Runs(ctx context.Context, f RunFilter) ([]*Run, error)
	Audit(ctx context.Context, runID string) ([]AuditEntry, error)
	EnvHolder(ctx context.Context, service, env string) (string, error)
	CurrentVersion(ctx context.Context, service, env string) (string, error)
	GetFreeze(ctx context.Context, env, service string) (*Freeze, error)
	OrgAppender
}

// Config holds what an Engine needs. Store and Services (or Runbook) are required.
type Config struct {
	Store RunStore
	// Services are the runbooks of the services the engine deploys.
	Services *runbook.Catalog
	// Runbook is the one service's runbook when Services is nil.
	Runbook *runbook.Runbook
	Clock   clock.Clock  // default clock.Real
	Logger  *slog.Logger // default slog.Default()
	Sink    Sink         // receives every transition's events; may be nil
	// Effects delivers the chat effects each transition owes, from the run
	// it produced; nil leaves them to whichever process polls the queue.
	Effects EffectSink
	// EffectHeadStart is how long the process that applied a transition has
	// to deliver its effects before any process may claim them (default
	// DefaultEffectHeadStart).
	EffectHeadStart time.Duration
	// CacheRuns bounds how many live runs the engine keeps at their latest
	// known rev, so a click on a known run costs one store round trip
	// (default 4096; finished runs are not kept).
	CacheRuns int
	Windows   WindowGate    // nil: windows are always open
	Metrics   *Metrics      // nil: no metrics
	NewID     func() string // run ids; default "r" + 5 random characters
	// StoreTimeout bounds each store call made for a person (default 1.5s),
	// so a stalled store gives a clear "try again" inside chat deadlines.
	StoreTimeout time.Duration
	// Runs is the run cache, made before the engine when the effect
	// publisher shares it; nil makes one of CacheRuns runs.
	Runs *RunCache
	// Epoch watches the store's epoch marker; after the store lost its
	// data, starts are refused until the process restarts. Nil: no check.
	Epoch *Epoch
}

// Engine applies transitions to runs. Every transition is one compare-and-set
// on the store together with its audit entries; a transition computed from a
// stale read is recomputed, so a double click is answered "already done by …".
type Engine struct {
	store        RunStore
	services     *runbook.Catalog
	clock        clock.Clock
	log          *slog.Logger
	sink         Sink
	effects      EffectSink
	headStart    time.Duration
	windows      WindowGate
	metrics      *Metrics
	newID        func() string
	storeTimeout time.Duration
	runs         *runCache
	epoch        *Epoch
}

// NewEngine returns an engine for cfg.
func NewEngine(cfg Config) *Engine {
	e := &Engine{
		store: cfg.Store, clock: cfg.Clock, log: cfg.Logger, sink: cfg.Sink, effects: cfg.Effects,
		headStart: cfg.EffectHeadStart, windows: cfg.Windows, metrics: cfg.Metrics, newID: cfg.NewID, storeTimeout: cfg.StoreTimeout, epoch: cfg.Epoch,
	}
	e.services = cfg.Services
	if e.services == nil {
		e.services = runbook.Single(cfg.Runbook)
	}
	if cfg.Runs != nil {
		e.runs = cfg.Runs.c
	} else {
		e.runs = newRunCache(cfg.CacheRuns)
	}
	if e.headStart <= 0 {
		e.headStart = DefaultEffectHeadStart
	}
	if e.clock == nil {
		e.clock = clock.Real{}
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	e.log = e.log.With("component", "engine")
	if e.newID == nil {
		e.newID = func() string { return "r" + randomID(5) }
	}
	if e.storeTimeout <= 0 {
		e.storeTimeout = 1500 * time.Millisecond
	}
	return e
}

// Services returns the runbooks of the services the engine deploys.
func (e *Engine) Services() *runbook.Catalog { return e.services }

// Store returns the store the engine was built with (its other consumers
// declare the parts they use, bot.Store and StepQueue, and check for them).
func (e *Engine) Store() RunStore { return e.store }

// Clock returns the engine's clock.
func (e *Engine) Clock() clock.Clock { return e.clock }

// idAlphabet avoids characters that are easy to confuse (0/o, 1/l/i).
const idAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}

// validRelease is the allow-list for versions; commands checks it too, the
// engine re-checks because it is the last stop before adapters.
var validRelease = regexp.MustCompile(`^[A-Za-z0-9._+/-]{1,64}$`)
var validEnv = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// StartRequest asks for a new run.
type StartRequest struct {
	// Service names the runbook; empty means the only one.
	Service  string
	Release  string
	Env      string
	Channel  string
	Platform string
	Actor    Actor
	// RequestID identifies the request (platform request or interaction id); a
	// replay of the same id is recognised.
	RequestID string
}

// Outcome is what a transition produced: the run as stored, the events
// caused and the chat effects owed.
type Outcome struct {
	Run     *Run
	Events  []Event
	Effects []Owed
}

// Start creates a run of the service's runbook (the only one when the
// request names none) and takes the service's lock in the environment in
// the same atomic step. The run records the version last completed for the
// service there (Run.Previous).
func (e *Engine) Start(ctx context.Context, req StartRequest) (Outcome, error) {
	if !validRelease.MatchString(req.Release) || strings.HasPrefix(req.Release, "-") {
		return Outcome{}, userErr(ErrInvalid, "invalid version %q: use letters, digits and . - _ + / only (at most 64)", req.Release)
	}
	if req.Env == "" {
		req.Env = "production"
	}
	if !validEnv.MatchString(req.Env) {
		return Outcome{}, userErr(ErrInvalid, "invalid environment %q", req.Env)
	}
	rb, err := e.serviceFor(req.Service, req.Env)
	if err != nil {
		return Outcome{}, err
	}
	service := rb.Service()
	ctx, cancel := context.WithTimeout(ctx, e.storeTimeout)
	defer cancel()
	if !IsOperator(rb, req.Actor) {
		return Outcome{}, userErr(ErrNotAllowed, "only this runbook's operators may start a deployment (%s)", WhoOperates(rb))
	}
	// A start reads the marker afresh (one read; starts are rare): a store
	// that lost its data has lost the environment's lock with it.
	var lost *StoreLostError
	if err := e.epoch.Check(ctx); errors.As(err, &lost) {
		return Outcome{}, lost.Refusal()
	}
	if err := e.lockHolder(ctx, service, req.Env); err != nil {
		return Outcome{}, e.startRefusal(ctx, service, req.Env, err, false)
	}
	previous, err := e.store.CurrentVersion(ctx, service, req.Env)
	if err != nil {
		return Outcome{}, e.storeErr("start", err)
	}
	now := e.clock.Now().UTC()
	for range 5 {
		run := &Run{
			ID: e.newID(), Service: service, Release: req.Release, Previous: previous, Env: req.Env, Channel: req.Channel, Platform: req.Platform,
			Workspace: req.Actor.Workspace, Started: req.Actor, Status: StatusActive, Created: now, Updated: now, Runbook: *rb, Rev: 1,
		}
		for _, p := range rb.Phases {
			pr := PhaseRun{ID: p.ID}
			for _, s := range p.Steps {
				pr.Steps = append(pr.Steps, StepRun{ID: s.ID, State: StepPending})
			}
			run.Phases = append(run.Phases, pr)
		}
		t := &txn{e: e, run: run, now: now, actor: req.Actor}
		t.audit("start", "", "", "", "", fmt.Sprintf("%s %s to %s", service, req.Release, req.Env))
		t.emit(Event{Kind: EventRunStarted})
		if err := t.advance(ctx); err != nil {
			return Outcome{}, err
		}
		SealAudit(run, t.entries)
		owed := e.owe(run, t.events, now)
		c := Change{Run: run, WriteID: writeID(req.RequestID), Audit: t.entries, LockEnv: true, Schedule: withEffects(t.schedule, owed),
			SetCurrent: reachedRelease(StatusActive, run.Status)}
		c.Stats = statsOnEnd("", run) // the stats index entry, when the run ends at once
		err := e.apply(ctx, c)
		switch {
		case errors.Is(err, ErrConflict):
			continue // id collision: draw another
		case errors.Is(err, ErrAlreadyApplied):
			return Outcome{}, userErr(ErrAlreadyDone, "this start request was already handled")
		case err != nil:
			return Outcome{}, e.startRefusal(ctx, service, req.Env, err, true)
		}
		e.metrics.transition("start", "ok")
		e.log.Info("run started", "run_id", run.ID, "service", service, "release", run.Release, "previous", run.Previous, "env", run.Env, "user", req.Actor.ID, "platform", req.Actor.Platform)
		e.runs.put(run)
		e.publish(ctx, run, t.events, owed)
		return Outcome{Run: run, Events: t.events, Effects: owed}, nil
	}
	return Outcome{}, userErr(ErrBusy, "could not allocate a run id; try again")
}

// startRefusal words why a start failed: the lock or freeze it met, else
// the store's failure (of the write itself when wrote).
func (e *Engine) startRefusal(ctx context.Context, service, env string, err error, wrote bool) error {
	var le *LockedError
	if errors.As(err, &le) {
		// With one service the environment says it all; with several the
		// service is named too.
		what := env + " already has a deployment in progress"
		if e.services.Len() > 1 {
			what = fmt.Sprintf("%s already has a deployment in progress in %s", service, env)
		}
		msg := fmt.Sprintf("%s: run %s", what, le.RunID)
		if holder, gerr := e.store.Run(ctx, le.RunID); gerr == nil {
			msg = fmt.Sprintf("%s: run %s (%s by %s, started %s). See /deploy status %s",
				what, holder.ID, holder.Release, holder.Started.Mention(), Ago(e.clock.Now(), holder.Created), holder.ID)
		}
		e.metrics.transition("start", "locked")
		return &Error{Kind: ErrEnvLocked, Msg: msg}
	}
	var fe *FrozenError
	if errors.As(err, &fe) {
		e.metrics.transition("start", "frozen")
		f := fe.Freeze
		what, unlock := env+" is frozen", env
		if f.Service != "" {
			what, unlock = fmt.Sprintf("%s is frozen in %s", f.Service, env), env+" "+f.Service
		}
		return &Error{Kind: ErrFrozen, Msg: fmt.Sprintf("%s by %s %s: %s. An approver can lift it with /deploy unlock %s",
			what, f.By.Mention(), Ago(e.clock.Now(), f.At), f.Reason, unlock)}
	}
	if wrote {
		return e.writeErr("start", err)
	}
	return e.storeErr("start", err)
}

// reachedRelease reports whether a transition from status before to after
// is the one that puts the release out (deployed, or completed without
// follow-ups): it records the service's version in the environment.
func reachedRelease(before, after Status) bool {
	return before.Live() && (after == StatusDeployed || after == StatusCompleted)
}

func writeID(requestID string) string {
	if requestID != "" {
		return "req:" + requestID
	}
	return "w:" + randomID(16)
}

func (e *Engine) apply(ctx context.Context, c Change) error {
	start := time.Now()
	err := e.store.Apply(ctx, c)
	e.metrics.storeLatency("apply", time.Since(start))
	return err
}

// owe returns the effects the events call for, with their queue items
// claimable by any process after the head start.
func (e *Engine) owe(run *Run, events []Event, now time.Time) []Owed {
	fx := EffectsOf(run, events)
	if len(fx) == 0 {
		return nil
	}
	out := make([]Owed, len(fx))
	for i, f := range fx {
		out[i] = Owe(f, now.Add(e.headStart))
	}
	return out
}

func withEffects(items []DueItem, owed []Owed) []DueItem {
	if len(owed) == 0 {
		return items
	}
	out := make([]DueItem, 0, len(items)+len(owed))
	out = append(out, items...)
	for _, o := range owed {
		out = append(out, o.Item)
	}
	return out
}

// publish hands a stored transition to the effect sink (chat) and the sink
// (executor, live feeds); neither blocks.
func (e *Engine) publish(ctx context.Context, run *Run, events []Event, owed []Owed) {
	ctx = context.WithoutCancel(ctx)
	if e.effects != nil && len(owed) > 0 {
		e.effects.Deliver(ctx, run, owed)
	}
	if e.sink != nil && len(events) > 0 {
		e.sink.Publish(ctx, run, events)
	}
}

// Latest returns the newest revision of a run this process knows (from its
// own transitions and reads), or nil. It may be behind the store.
func (e *Engine) Latest(id string) *Run { return e.runs.get(id) }

// storeErr turns a failed store read into a person-facing error, logging
// the detail with a reference.
func (e *Engine) storeErr(op string, err error) error {
	if !isPersonError(err) {
		e.metrics.transition(op, "error")
	}
	return StoreFailure(e.log, op, err, false)
}

// writeErr is storeErr for a failed write (StoreFailure's wrote).
func (e *Engine) writeErr(op string, err error) error {
	if !isPersonError(err) {
		e.metrics.transition(op, "error")
	}
	return StoreFailure(e.log, op, err, true)
}

// isPersonError reports whether err already is what a person reads (an
// *Error or not found), not a failure of the store.
func isPersonError(err error) bool {
	var ue *Error
	return errors.As(err, &ue) || errors.Is(err, ErrNotFound)
}

// StoreFailure turns a failed store call into the error a person reads,
// logging the detail under a reference; an *Error passes through, and not
// found reads "no such run". A failed call changed nothing — unless it was
// a write (wrote) whose outcome the store could not know (ErrOutcomeUnknown:
// its request left, its answer never came; a stalled Redis runs a script it
// received after its client stopped waiting). Then the person is told the
// outcome is not known yet, never that nothing changed; doing it again is
// safe, as a repeated action is refused as already done.
func StoreFailure(log *slog.Logger, op string, err error, wrote bool) error {
	var ue *Error
	if errors.As(err, &ue) {
		return err
	}
	if errors.Is(err, ErrNotFound) {
		return &Error{Kind: ErrNotFound, Msg: "no such run"}
	}
	ref := randomID(6)
	kind := err
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) {
		kind = ErrUnavailable
	}
	if wrote && errors.Is(err, ErrOutcomeUnknown) {
		log.Error("store write failed; it may still be applied", "op", op, "ref", ref, "err", err)
		what := "the state store call failed"
		if kind == ErrUnavailable {
			what = "the state store did not answer"
		}
		return &Error{Kind: kind, Msg: fmt.Sprintf("%s, so I cannot tell yet whether this was applied: it shows once "+
			"the store answers (/deploy status, /deploy windows), and doing it again is safe, as it is applied once (ref %s)", what, ref)}
	}
	log.Error("store call failed", "op", op, "ref", ref, "err", err)
	if kind == ErrUnavailable {
		return &Error{Kind: kind, Msg: fmt.Sprintf("the state store is not answering right now; nothing was changed. Try again in a moment (ref %s)", ref)}
	}
	return &Error{Kind: kind, Msg: fmt.Sprintf("internal error; nothing was changed (ref %s)", ref)}
}

// ActionKind names a person's action on a run.
type ActionKind string

// The actions.
const (
	ActDone     ActionKind = "done"
	ActSkip     ActionKind = "skip"
	ActRetry    ActionKind = "retry"
	ActApprove  ActionKind = "approve"
	ActRollback ActionKind = "rollback"
	ActAbort    ActionKind = "abort"
	// ActOverrideWindow lets a window-gated phase run outside a window (approvers, with a reason).
	ActOverrideWindow ActionKind = "override_window"
	// ActRequestApproval asks again for an approval whose request expired.
	ActRequestApproval ActionKind = "request_approval"
	// ActEndWatch ends a running watch early (approvers, with a reason): the
	// step is done but shows it was ended early, by whom and why.
	ActEndWatch ActionKind = "end_watch"
)

// Action is a person's action on a run, decoded by a front from a click or command.
type Action struct {
	Kind  ActionKind
	RunID string
	// Phase is the phase the button belonged to; empty means the current phase.
	// A button from a phase that is no longer current is stale.
	Phase string
	Step  string
	// Channel is where the person acted; empty when unknown (a command
	// that names no channel). Acting from outside the run's channel needs an approver.
	Channel string
	// Attempt, on Retry, is the attempt the person saw fail; 0 means any.
	Attempt int
	Actor   Actor
	Reason  string
	// RequestID identifies the request for replay detection (optional).
	RequestID string
	// Choice, on Approve, is how the person chose the phase: its own
	// button (the zero value), a command that named it, or a command that
	// named none (see PhaseChoice).
	Choice PhaseChoice
}

// PhaseChoice is how a person chose the phase an approval is for.
type PhaseChoice int

// The phase choices.
const (
	// ChoiceButton: the phase's own Approve button (a production phase's
	// button asked for confirmation first).
	ChoiceButton PhaseChoice = iota
	// ChoiceNamed: a command that named the phase (/deploy approve RUN
	// PHASE). Only that phase is approved, and only while it is current.
	ChoiceNamed
	// ChoiceCurrent: a command that named no phase; Phase is the current
	// phase as the bot saw it. It is approved only when that is safe: not
	// a production phase (the button asks to confirm those), and not
	// within DoubleSubmitWindow of the same person approving another phase
	// of the run (a command sent twice must not pass the next gate).
	ChoiceCurrent
)

// DoubleSubmitWindow is how long after a person approved a phase of a run
// an approve that names no phase is refused for them on that run.
const DoubleSubmitWindow = 30 * time.Second

// Do applies a person's action.
func (e *Engine) Do(ctx context.Context, a Action) (Outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, e.storeTimeout)
	defer cancel()
	out, err := e.mutate(ctx, a.RunID, writeID(a.RequestID), a.Actor, func(t *txn) error { return t.act(ctx, a) })
	e.metrics.transition(string(a.Kind), outcomeLabel(err))
	if err == nil {
		e.log.Info("action applied", "run_id", a.RunID, "action", a.Kind, "phase", a.Phase, "step", a.Step, "user", a.Actor.ID, "platform", a.Actor.Platform)
	}
	return out, err
}

// Check returns the refusal a would get, without writing anything: the
// transition is tried on a copy of the run as this process knows it (one
// read when it knows none, and again when the known one refuses, as the
// store may be ahead). An action that needs a reason is tried with a
// placeholder when a has none: the fronts check before they ask a person
// for one, so nobody writes a reason for a click that is refused anyway.
// The action itself is checked again when it comes (Do).
func (e *Engine) Check(ctx context.Context, a Action) error {
	ctx, cancel := context.WithTimeout(ctx, e.storeTimeout)
	defer cancel()
	if strings.TrimSpace(a.Reason) == "" {
		a.Reason = "(the reason is asked next)"
	}
	cur := e.runs.get(a.RunID)
	for {
		fresh := cur == nil
		if fresh {
			var err error
			if cur, err = e.Get(ctx, a.RunID); err != nil {
				return err
			}
		}
		t := &txn{e: e, run: cur.Clone(), now: e.clock.Now().UTC(), actor: a.Actor}
		err := t.act(ctx, a)
		switch {
		case err == nil || errors.Is(err, errNoChange):
			return nil
		case fresh:
			return err
		}
		cur = nil // check the refusal on the stored run
	}
}

func outcomeLabel(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrAlreadyDone):
		return "already_done"
	case errors.Is(err, ErrNotAllowed):
		return "not_allowed"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	default:
		return "error"
	}
}

// errNoChange tells mutate that the transition had nothing to write.
var errNoChange = errors.New("no change")

// mutate applies fn to a copy of the run and stores it with a
// compare-and-set. Transitions of one run in this process are applied in
// turn (a per-run lock, no global one), starting from the latest rev the
// process knows, so a click on a known run is one store round trip. On a
// conflict (another process moved the run on) it reads the run and applies
// fn again; a refusal computed from the known rev is checked against a
// fresh read, since the store may be ahead.
func (e *Engine) mutate(ctx context.Context, runID, wid string, actor Actor, fn func(t *txn) error) (Outcome, error) {
	if wid == "" {
		wid = writeID("")
	}
	unlock, err := e.runs.lock(ctx, runID)
	if err != nil {
		return Outcome{}, e.storeErr("lock", err)
	}
	defer unlock()
	cur := e.runs.get(runID)
	for attempt := 0; attempt < 8; attempt++ {
		fresh := cur == nil
		if fresh {
			start := time.Now()
			cur, err = e.store.Run(ctx, runID)
			e.metrics.storeLatency("get", time.Since(start))
			if err != nil {
				return Outcome{}, e.storeErr("get", err)
			}
			e.normalize(cur)
			e.runs.put(cur)
		}
		next := cur.Clone()
		now := e.clock.Now().UTC()
		t := &txn{e: e, run: next, now: now, actor: actor}
		if err := fn(t); err != nil {
			if !fresh {
				cur = nil // verify the refusal on the stored run
				continue
			}
			if errors.Is(err, errNoChange) {
				return Outcome{Run: cur}, nil
			}
			return Outcome{}, err
		}
		if len(t.entries) == 0 && len(t.events) == 0 && !t.dirty {
			if !fresh {
				cur = nil
				continue
			}
			return Outcome{Run: cur}, nil
		}
		next.Rev = cur.Rev + 1
		next.Updated = now
		SealAudit(next, t.entries) // Rev and At are final: chain onto the head read
		owed := e.owe(next, t.events, now)
		c := Change{Run: next, PrevRev: cur.Rev, WriteID: wid, Audit: t.entries, Schedule: withEffects(t.schedule, owed), Cancel: t.cancel,
			UnlockEnv: !next.Status.Live(), SetCurrent: reachedRelease(cur.Status, next.Status)}
		c.Stats = statsOnEnd(cur.Status, next) // the stats index entry, when this transition ends the run
		err = e.apply(ctx, c)
		switch {
		case errors.Is(err, ErrConflict):
			cur = nil
			continue
		case errors.Is(err, ErrAlreadyApplied):
			// A replay of a change that reached the store: it is applied; its
			// events were published and its effects stored by the first attempt.
			e.runs.drop(runID)
			return Outcome{Run: next}, nil
		case err != nil:
			e.runs.drop(runID)
			return Outcome{}, e.writeErr("apply", err)
		}
		e.runs.put(next)
		if !next.Status.Live() && cur.Status.Live() {
			e.metrics.runEnded(next.Status)
		}
		e.publish(ctx, next, t.events, owed)
		return Outcome{Run: next, Events: t.events, Effects: owed}, nil
	}
	return Outcome{}, userErr(ErrBusy, "the run is changing quickly right now; try again")
}

// StepReport is an executor's report about one attempt of an automated step.
type StepReport struct {
	RunID   string
	Phase   string
	Step    string
	Attempt int
	// Interrupted: the process running the step died; the step waits for a person.
	Interrupted bool
	// Beat: a live update, not a result: Progress is the adapter's latest
	// line (may be empty) and the step's Beat time moves on.
	Beat     bool
	Progress string
	OK       bool
	Summary  string
	Output   string
}

// Report records an automated step's result, progress or interruption. A
// report for an attempt that is no longer running is ignored (ErrAlreadyDone).
func (e *Engine) Report(ctx context.Context, r StepReport) (Outcome, error) {
	return e.mutate(ctx, r.RunID, "", System, func(t *txn) error { return t.report(ctx, r) })
}

// Advance re-evaluates a run: starts automated steps that became due (for
// example because a maintenance window opened) and passes phases that need no
// approval. It writes nothing when nothing changed.
func (e *Engine) Advance(ctx context.Context, runID string) (Outcome, error) {
	return e.mutate(ctx, runID, "", System, func(t *txn) error {
		if !t.run.Status.Open() {
			return errNoChange
		}
		return t.advance(ctx)
	})
}

// Get returns a run by id.
func (e *Engine) Get(ctx context.Context, id string) (*Run, error) {
	ctx, cancel := context.WithTimeout(ctx, e.storeTimeout)
	defer cancel()
	r, err := e.store.Run(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, userErr(ErrNotFound, "no run %q. /deploy list shows the runs", id)
	}
	if err != nil {
		return nil, e.storeErr("get", err)
	}
	e.normalize(r)
	e.runs.put(r)
	return r, nil
}

// Resolve finds the run a command means: the given id, or the only live run
// in the channel when id is empty.
func (e *Engine) Resolve(ctx context.Context, id, channel string) (*Run, error) {
	if id != "" {
		return e.Get(ctx, id)
	}
	live, err := e.Live(ctx)
	if err != nil {
		return nil, err
	}
	here := inChannel(live, channel)
	if len(here) == 0 {
		// No live run here: a deployed run whose follow-ups are open is
		// still the channel's run (its retrospective is approved from here).
		recent, err := e.Recent(ctx, resolveRecent)
		if err != nil {
			return nil, err
		}
		for _, r := range inChannel(recent, channel) {
			if r.Status.Open() {
				here = append(here, r)
			}
		}
	}
	switch len(here) {
	case 1:
		return here[0], nil
	case 0:
		return nil, userErr(ErrNotFound, "no deployment is running in this channel. /deploy list shows the runs")
	default:
		ids := make([]string, len(here))
		for i, r := range here {
			ids[i] = r.ID
		}
		return nil, userErr(ErrInvalid, "several runs are active here (%s): name one, e.g. /deploy status %s", strings.Join(ids, ", "), ids[0])
	}
}

// resolveRecent is how many finished runs Resolve looks through for a
// deployed run with open follow-ups.
const resolveRecent = 100

// inChannel returns the runs of rs started in channel.
func inChannel(rs []*Run, channel string) []*Run {
	var here []*Run
	for _, r := range rs {
		if r.Channel == channel {
			here = append(here, r)
		}
	}
	return here
}

// Live returns the live runs.
func (e *Engine) Live(ctx context.Context) ([]*Run, error) {
	ctx, cancel := context.WithTimeout(ctx, e.storeTimeout)
	defer cancel()
	rs, err := e.store.Runs(ctx, RunFilter{Live: true})
	if err != nil {
		return nil, e.storeErr("list", err)
	}
	e.normalize(rs...)
	return rs, nil
}

// Recent returns up to n finished runs, newest first.
func (e *Engine) Recent(ctx context.Context, n int) ([]*Run, error) {
	ctx, cancel := context.WithTimeout(ctx, e.storeTimeout)
	defer cancel()
	rs, err := e.store.Runs(ctx, RunFilter{Limit: n})
	if err != nil {
		return nil, e.storeErr("list", err)
	}
	e.normalize(rs...)
	return rs, nil
}

// Audit returns a run's audit log.
func (e *Engine) Audit(ctx context.Context, id string) ([]AuditEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, e.storeTimeout)
	defer cancel()
	a, err := e.store.Audit(ctx, id)
	if err != nil {
		return nil, e.storeErr("audit", err)
	}
	return a, nil
}

// Freeze freezes an environment: no run starts there until Unfreeze. With
// a service, only that service is frozen in env; without, every service
// is (a change freeze is organisation-wide). Approvers only: of the
// service, or, for every service, of any service.
func (e *Engine) Freeze(ctx context.Context, env, service string, actor Actor, reason string) error {
	if !validEnv.MatchString(env) {
		return userErr(ErrInvalid, "invalid environment %q", env)
	}
	what := env
	if service != "" {
		rb, err := e.serviceFor(service, env)
		if err != nil {
			return err
		}
		if rb = rb.RulesFor(env); !IsApprover(rb, actor) {
			return userErr(ErrNotAllowed, "only approvers of %s can freeze it (%s)", service, WhoApproves(rb))
		}
		what = env + " " + service
	} else if !e.approvesAny(actor, env) {
		return userErr(ErrNotAllowed, "only approvers can freeze an environment")
	}
	if strings.TrimSpace(reason) == "" {
		return userErr(ErrInvalid, "say why: /deploy lock %s REASON", what)
	}
	ctx, cancel := context.WithTimeout(ctx, e.storeTimeout)
	defer cancel()
	_, err := AppendOrgAudit(ctx, e.store, func(context.Context) (OrgChange, error) {
		f := Freeze{Env: env, Service: service, By: actor, Reason: reason, At: e.clock.Now().UTC()}
		return OrgChange{
			Entry:     AuditEntry{At: f.At, Actor: actor, Action: OrgFreeze, Reason: reason, After: orgJSON(FreezeScope{Env: env, Service: service})},
			SetFreeze: &f,
		}, nil
	})
	if err != nil {
		return e.writeErr("freeze", err)
	}
	e.log.Info("environment frozen", "env", env, "service", service, "user", actor.ID, "platform", actor.Platform)
	return nil
}

// Unfreeze lifts a freeze: of one service in env, or (service "") the
// freeze of every service there. Approvers only: of the service, or, for
// every service, of every service.
func (e *Engine) Unfreeze(ctx context.Context, env, service string, actor Actor) error {
	what := env
	if service != "" {
		rb, err := e.services.Lookup(service)
		if err != nil {
			return userErr(ErrInvalid, "%v", err)
		}
		if rb = rb.RulesFor(env); !IsApprover(rb, actor) {
			return userErr(ErrNotAllowed, "only approvers of %s can lift its freeze (%s)", service, WhoApproves(rb))
		}
		what = service + " in " + env
	} else {
		for _, rb := range e.services.All() {
			if rb = rb.RulesFor(env); !IsApprover(rb, actor) {
				return userErr(ErrNotAllowed, "only approvers can lift a freeze of every service (%s: %s)", rb.Service(), WhoApproves(rb))
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, e.storeTimeout)
	defer cancel()
	_, err := AppendOrgAudit(ctx, e.store, func(context.Context) (OrgChange, error) {
		scope := FreezeScope{Env: env, Service: service}
		return OrgChange{
			Entry:        AuditEntry{At: e.clock.Now().UTC(), Actor: actor, Action: OrgUnfreeze, After: orgJSON(scope)},
			DeleteFreeze: &scope,
		}, nil
	})
	if errors.Is(err, ErrNotFound) {
		return userErr(ErrInvalid, "%s is not frozen", what)
	}
	if err != nil {
		return e.writeErr("unfreeze", err)
	}
	e.log.Info("environment unfrozen", "env", env, "service", service, "user", actor.ID, "platform", actor.Platform)
	return nil
}

// Freezes returns the freezes in place in envs: of every service there,
// then of each service. One read per environment and scope.
func (e *Engine) Freezes(ctx context.Context, envs []string) ([]Freeze, error) {
	ctx, cancel := context.WithTimeout(ctx, e.storeTimeout)
	defer cancel()
	var out []Freeze
	for _, env := range envs {
		for _, service := range append([]string{""}, e.services.Names()...) {
			f, err := e.store.GetFreeze(ctx, env, service)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return out, e.storeErr("freezes", err)
			}
			out = append(out, *f)
		}
	}
	return out, nil
}

// approvesAny reports whether a is an approver of any service in env.
func (e *Engine) approvesAny(a Actor, env string) bool {
	for _, rb := range e.services.All() {
		if IsApprover(rb.RulesFor(env), a) {
			return true
		}
	}
	return false
}

// Expire lets the approval request of a phase expire, when it is still the
// same request (Since) and still unanswered. It never approves anything.
func (e *Engine) Expire(ctx context.Context, x ExpiryItem) (Outcome, error) {
	return e.mutate(ctx, x.RunID, "", System, func(t *txn) error { return t.expire(x) })
}
