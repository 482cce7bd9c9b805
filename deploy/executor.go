package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"deploybot/adapters"
	"deploybot/internal/clock"
	"deploybot/runbook"
)

// StepParser turns a runbook step's adapter name and parameters into a
// runnable step; *adapters.Registry implements it.
type StepParser interface {
	Parse(name string, with map[string]any) (adapters.Step, error)
}

// StepQueue is what the executor needs of the store: the due queue of step
// executions and approval expiries, and the runs they belong to.
type StepQueue interface {
	Run(ctx context.Context, id string) (*Run, error)
	Runs(ctx context.Context, f RunFilter) ([]*Run, error)
	Schedule(ctx context.Context, items ...DueItem) error
	Claim(ctx context.Context, kind string, now time.Time, lease time.Duration, max int) ([]DueItem, error)
	ExtendClaim(ctx context.Context, id string, claims int, until time.Time) error
	Ack(ctx context.Context, id string) error
	Pending(ctx context.Context, kind string) ([]DueItem, error)
}

// Reporter is where the executor reports step results and approval
// expiries; *Engine implements it.
type Reporter interface {
	Report(ctx context.Context, r StepReport) (Outcome, error)
	Expire(ctx context.Context, x ExpiryItem) (Outcome, error)
}

// ExecutorConfig configures an Executor. Steps is required, and either
// Engine or Queue and Reporter.
type ExecutorConfig struct {
	// Engine supplies the defaults of Queue (its store), Reporter, Clock and Metrics.
	Engine *Engine
	// Queue is the due queue and the runs (default Engine's store).
	Queue StepQueue
	// Reporter receives results (default Engine).
	Reporter Reporter
	Clock    clock.Clock // default Engine's clock, else clock.Real
	Metrics  *Metrics    // default Engine's metrics
	Steps    StepParser
	// Wake wakes the executor when a transition may have made a step due;
	// the engine publishes to it. Nil: only Publish and Nudge wake it.
	Wake *Wake
	// Workers bounds how many steps run at once in this process (default 8).
	Workers int
	// Lease is how long a claim lasts without renewal (default 30s); a step
	// whose worker stops renewing is shown as interrupted after it runs out.
	Lease time.Duration
	// Renew is how often a running step's lease is renewed and its run
	// checked for cancellation (default Lease/6).
	Renew time.Duration
	// Poll is how often the due queue is polled when nothing nudges (default 1s).
	Poll time.Duration
	// ReconcileEvery is how often running steps without a queue item are
	// looked for (default 30s).
	ReconcileEvery time.Duration
	// ProgressEvery bounds how often live progress reaches the run (default 3s).
	ProgressEvery time.Duration
	// Exclusive says this process is the store's only user (the embedded
	// store): a step leased when the executor starts was leased by an earlier
	// life of this process, so it is shown as interrupted at once instead of
	// after its lease runs out.
	Exclusive bool
	// RunLost is told when a running step's lease was lost and its run is
	// gone from the store (the store lost its data): the step was stopped,
	// and nobody else will say so. run is the run as read when the step
	// began. Nil: only logged.
	RunLost func(ctx context.Context, run *Run, phase, step string)
	Logger  *slog.Logger
}

// Executor runs automated steps: it claims due step executions from the
// store's queue with a lease, renews the lease while the adapter runs, and
// reports the result through the engine. A step whose previous claim expired
// (its process died) is reported interrupted, never re-run.
type Executor struct {
	cfg     ExecutorConfig
	q       StepQueue
	rep     Reporter
	clock   clock.Clock
	metrics *Metrics
	log     *slog.Logger
	nudge   chan struct{}
	slots   chan struct{}
	wg      sync.WaitGroup
}

// NewExecutor returns an executor for cfg.
func NewExecutor(cfg ExecutorConfig) *Executor {
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Renew <= 0 {
		cfg.Renew = cfg.Lease / 6
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.ReconcileEvery <= 0 {
		cfg.ReconcileEvery = 30 * time.Second
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 3 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	x := &Executor{
		cfg: cfg, q: cfg.Queue, rep: cfg.Reporter, clock: cfg.Clock, metrics: cfg.Metrics, log: log.With("component", "executor"),
		nudge: make(chan struct{}, 1), slots: make(chan struct{}, cfg.Workers),
	}
	if cfg.Wake != nil {
		x.nudge = cfg.Wake.ch
	}
	if e := cfg.Engine; e != nil {
		if q, ok := e.store.(StepQueue); ok && x.q == nil {
			x.q = q
		}
		if x.rep == nil {
			x.rep = e
		}
		if x.clock == nil {
			x.clock = e.clock
		}
		if x.metrics == nil {
			x.metrics = e.metrics
		}
	}
	if x.clock == nil {
		x.clock = clock.Real{}
	}
	return x
}

// Run polls the queue until ctx ends, then reports the steps it was running
// as interrupted and waits for its workers.
func (x *Executor) Run(ctx context.Context) error {
	clk := x.clock
	if x.cfg.Exclusive {
		x.recoverLeases(ctx)
	}
	if err := x.Reconcile(ctx); err != nil {
		x.log.Warn("reconcile failed", "err", err)
	}
	nextReconcile := clk.Now().Add(x.cfg.ReconcileEvery)
	for {
		x.Poll(ctx)
		if !clk.Now().Before(nextReconcile) {
			if err := x.Reconcile(ctx); err != nil {
				x.log.Warn("reconcile failed", "err", err)
			}
			nextReconcile = clk.Now().Add(x.cfg.ReconcileEvery)
		}
		select {
		case <-ctx.Done():
			x.wg.Wait()
			return nil
		case <-x.nudge:
		case <-clk.After(x.cfg.Poll):
		}
	}
}

// recoverLeases claims every step item as if all leases had run out: the
// ones an earlier life of this process had claimed come back with Claims > 1
// and are marked interrupted; never-claimed ones run as usual.
func (x *Executor) recoverLeases(ctx context.Context) {
	later := x.clock.Now().Add(x.cfg.Lease + time.Second)
	items, err := x.q.Claim(ctx, DueKindStep, later, x.cfg.Lease, 1000)
	if err != nil {
		x.log.Warn("recovering leases failed", "err", err)
		return
	}
	for _, it := range items {
		if it.Claims > 1 {
			x.wg.Add(1)
			x.slots <- struct{}{}
			go func() {
				defer x.wg.Done()
				defer func() { <-x.slots }()
				x.work(ctx, it)
			}()
			continue
		}
		// Never claimed before: put it back as due now.
		it.Claims, it.LeaseUntil = 0, time.Time{}
		if err := x.q.Schedule(ctx, it); err != nil {
			x.log.Warn("requeueing a step failed", "id", it.ID, "err", err)
		}
	}
	x.wg.Wait()
}

// Wait waits for the steps started by Poll to finish.
func (x *Executor) Wait() { x.wg.Wait() }

// Poll claims the due step executions that fit in the free worker slots and
// starts them. It returns how many it claimed.
func (x *Executor) Poll(ctx context.Context) int {
	x.expire(ctx)
	free := cap(x.slots) - len(x.slots)
	if free == 0 || ctx.Err() != nil {
		return 0
	}
	now := x.clock.Now()
	items, err := x.q.Claim(ctx, DueKindStep, now, x.cfg.Lease, free)
	if err != nil {
		x.log.Warn("claim failed", "err", err)
		return 0
	}
	for _, it := range items {
		x.slots <- struct{}{}
		x.wg.Add(1)
		go func() {
			defer x.wg.Done()
			defer func() { <-x.slots }()
			x.work(ctx, it)
		}()
	}
	return len(items)
}

// expire lets approval requests whose time ran out expire. Expiring is
// idempotent, so an item claimed again after a crash is simply applied again.
func (x *Executor) expire(ctx context.Context) {
	items, err := x.q.Claim(ctx, DueKindExpiry, x.clock.Now(), x.cfg.Lease, 50)
	if err != nil {
		x.log.Warn("claim failed", "kind", DueKindExpiry, "err", err)
		return
	}
	for _, it := range items {
		var ex ExpiryItem
		if err := json.Unmarshal([]byte(it.Payload), &ex); err == nil {
			if _, err := x.rep.Expire(ctx, ex); err != nil {
				x.log.Warn("expiring an approval request failed", "run_id", ex.RunID, "phase", ex.Phase, "err", err)
				continue // the lease runs out and it is tried again
			}
		}
		_ = x.q.Ack(ctx, it.ID)
	}
}

func (x *Executor) work(ctx context.Context, it DueItem) {
	var si StepItem
	if err := json.Unmarshal([]byte(it.Payload), &si); err != nil {
		x.log.Error("bad step item", "id", it.ID, "err", err)
		_ = x.q.Ack(context.WithoutCancel(ctx), it.ID)
		return
	}
	log := x.log.With("run_id", si.RunID, "phase", si.Phase, "step", si.Step, "attempt", si.Attempt)
	bg := context.WithoutCancel(ctx)
	if it.Claims > 1 {
		// A previous claim ran out: its process died while the step ran. Never re-run it.
		log.Warn("step lease expired: marking interrupted")
		x.report(bg, log, StepReport{RunID: si.RunID, Phase: si.Phase, Step: si.Step, Attempt: si.Attempt, Interrupted: true})
		_ = x.q.Ack(bg, it.ID)
		return
	}
	run, err := x.q.Run(ctx, si.RunID)
	if err != nil {
		log.Warn("step run not readable", "err", err)
		return // the lease runs out; the next claim marks it interrupted
	}
	pi, sj := run.FindPhase(si.Phase), -1
	if pi >= 0 {
		for j, s := range run.Phases[pi].Steps {
			if s.ID == si.Step {
				sj = j
			}
		}
	}
	if sj < 0 || run.Phases[pi].Steps[sj].State != StepRunning || run.Phases[pi].Steps[sj].Attempt != si.Attempt {
		_ = x.q.Ack(bg, it.ID) // cancelled or already settled
		return
	}
	def := run.StepDef(pi, sj)
	step, err := x.cfg.Steps.Parse(def.Run, def.With)
	if err != nil {
		x.report(bg, log, StepReport{RunID: si.RunID, Phase: si.Phase, Step: si.Step, Attempt: si.Attempt, Summary: "invalid parameters: " + err.Error()})
		_ = x.q.Ack(bg, it.ID)
		return
	}
	NormalizeService(nil, run) // a step starts in a transition, which names the service; this only guards
	vars := adapters.Vars{Service: run.Service, Version: run.Release, Previous: run.Previous, Env: run.Env, RunID: run.ID,
		Phase: si.Phase, Step: si.Step, Channel: run.Channel, Started: run.Created}
	if run.Rollback != nil {
		vars.Reason = run.Rollback.Reason
	}
	if o := run.Phases[pi].WindowOverride; o != nil {
		vars.WindowOverride = fmt.Sprintf("by %s: %s", o.By.Mention(), o.Reason)
	}

	timeout := def.StepTimeout()
	if m, ok := step.(adapters.MinTimeouter); ok {
		timeout = max(timeout, m.MinTimeout()) // a 30-minute watch runs its course, whatever the timeout says
	}
	stepCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var gone sync.Once
	stopped := make(chan struct{}) // closed when the step was cancelled from outside
	var keepItem atomic.Bool       // the lease was lost: the item is no longer ours to acknowledge
	stop := func(lost bool) {
		gone.Do(func() { keepItem.Store(lost); close(stopped); cancel() })
	}
	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		x.renew(stepCtx, it, si, run, stop)
	}()

	live := &liveLine{}
	beatDone := make(chan struct{})
	go func() {
		defer close(beatDone)
		x.heartbeat(stepCtx, bg, si, live)
	}()
	log.Info("step started", "adapter", def.Run)
	start := time.Now()
	res := step.Run(stepCtx, vars, live.set)
	elapsed := time.Since(start)
	cancel()
	<-renewDone
	<-beatDone
	select {
	case <-stopped:
		log.Info("step stopped")
		if !keepItem.Load() {
			_ = x.q.Ack(bg, it.ID)
		}
		return
	default:
	}
	if ctx.Err() != nil {
		// Shutting down: say so honestly instead of guessing a result.
		x.report(bg, log, StepReport{RunID: si.RunID, Phase: si.Phase, Step: si.Step, Attempt: si.Attempt, Interrupted: true})
		_ = x.q.Ack(bg, it.ID)
		return
	}
	if errors.Is(stepCtx.Err(), context.DeadlineExceeded) && !res.OK && elapsed >= timeout-time.Second {
		res.Summary = fmt.Sprintf("timed out after %s", runbook.Duration(timeout))
	}
	x.metrics.StepFinished(def.Run, res.OK, elapsed)
	log.Info("step finished", "ok", res.OK, "summary", res.Summary)
	x.report(bg, log, StepReport{RunID: si.RunID, Phase: si.Phase, Step: si.Step, Attempt: si.Attempt, OK: res.OK, Summary: res.Summary, Output: res.Output})
	_ = x.q.Ack(bg, it.ID)
}

// renew extends the lease until ctx ends, and calls stop when this worker no
// longer holds the step: its queue item was re-claimed or removed, the run no
// longer has this attempt running (rollback, abort, a person ended a watch),
// or renewals kept failing until the lease was about to run out (the store
// is unreachable, so another process may soon take the item over and show
// the step as interrupted; the step must not run on unseen).
//
// When the lease is lost and the run is gone from the store too (the store
// lost its data), RunLost is told, with run as read when the step began.
func (x *Executor) renew(ctx context.Context, it DueItem, si StepItem, began *Run, stop func(lost bool)) {
	clk := x.clock
	lastOK := clk.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-clk.After(x.cfg.Renew):
		}
		now := clk.Now()
		err := x.q.ExtendClaim(ctx, it.ID, it.Claims, now.Add(x.cfg.Lease))
		switch {
		case errors.Is(err, ErrNotFound):
			x.log.Warn("step lease lost; stopping it", "run_id", si.RunID, "step", si.Step)
			stop(true)
			x.runGone(context.WithoutCancel(ctx), began, si)
			return
		case err != nil:
			if now.Sub(lastOK) >= x.cfg.Lease-x.cfg.Renew {
				x.log.Error("cannot renew the step's lease; stopping it before another process takes it over", "run_id", si.RunID, "step", si.Step, "err", err)
				stop(true)
				return
			}
			continue
		}
		lastOK = now
		run, err := x.q.Run(ctx, si.RunID)
		if err != nil {
			continue
		}
		if pi := run.FindPhase(si.Phase); pi >= 0 {
			for _, s := range run.Phases[pi].Steps {
				if s.ID == si.Step && (s.State != StepRunning || s.Attempt != si.Attempt) {
					stop(false)
					return
				}
			}
		}
	}
}

// runGone tells RunLost when the run of a step whose lease was lost is gone
// from the store.
func (x *Executor) runGone(ctx context.Context, began *Run, si StepItem) {
	if x.cfg.RunLost == nil || began == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := x.q.Run(ctx, si.RunID); !errors.Is(err, ErrNotFound) {
		return
	}
	x.log.Error("a running step's run is gone from the store; the step was stopped", "run_id", si.RunID, "phase", si.Phase, "step", si.Step)
	x.cfg.RunLost(ctx, began, si.Phase, si.Step)
}

// liveLine holds the latest progress line an adapter reported.
type liveLine struct {
	mu   sync.Mutex // mu protects line
	line string
}

func (l *liveLine) set(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.line = line
}

func (l *liveLine) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.line
}

// heartbeat brings a running step's live state to the run every
// ProgressEvery at most: the adapter's latest line when it changed, and
// otherwise a beat when the elapsed time moved on enough to show (every 15 s
// in the first two minutes, then every minute, then every five), so a silent
// command's card still says how long it has been running.
func (x *Executor) heartbeat(stepCtx, ctx context.Context, si StepItem, live *liveLine) {
	clk := x.clock
	start := clk.Now()
	lastLine, lastBucket := "", int64(0)
	for {
		select {
		case <-stepCtx.Done():
			return
		case <-clk.After(x.cfg.ProgressEvery):
		}
		line, bucket := live.get(), elapsedBucket(clk.Now().Sub(start))
		if line == lastLine && bucket == lastBucket {
			continue
		}
		lastLine, lastBucket = line, bucket
		_, _ = x.rep.Report(ctx, StepReport{RunID: si.RunID, Phase: si.Phase, Step: si.Step, Attempt: si.Attempt, Progress: line, Beat: true})
	}
}

// elapsedBucket coarsens a running time to what a card shows.
func elapsedBucket(d time.Duration) int64 {
	switch {
	case d < 2*time.Minute:
		return int64(d / (15 * time.Second))
	case d < time.Hour:
		return 1000 + int64(d/time.Minute)
	default:
		return 2000 + int64(d/(5*time.Minute))
	}
}

func (x *Executor) report(ctx context.Context, log *slog.Logger, r StepReport) {
	if _, err := x.rep.Report(ctx, r); err != nil && !errors.Is(err, ErrAlreadyDone) {
		log.Error("recording step result failed", "err", err)
	}
}

// Reconcile finds steps shown as running whose queue item is gone (a lost
// lease entry) and marks them interrupted, so nothing stays stuck.
func (x *Executor) Reconcile(ctx context.Context) error {
	live, err := x.q.Runs(ctx, RunFilter{Live: true})
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	pending, err := x.q.Pending(ctx, DueKindStep)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	have := make(map[string]bool, len(pending))
	for _, it := range pending {
		have[it.ID] = true
	}
	for _, r := range live {
		for _, p := range r.Phases {
			for _, s := range p.Steps {
				if s.State != StepRunning {
					continue
				}
				si := StepItem{RunID: r.ID, Phase: p.ID, Step: s.ID, Attempt: s.Attempt}
				if have[si.ItemID()] {
					continue
				}
				x.log.Warn("running step has no queue item: marking interrupted", "run_id", r.ID, "phase", p.ID, "step", s.ID)
				x.report(ctx, x.log, StepReport{RunID: r.ID, Phase: p.ID, Step: s.ID, Attempt: s.Attempt, Interrupted: true})
			}
		}
	}
	return nil
}
