package deploy

import "context"

// RunCache is the latest known revision of recently used live runs. It is
// made before the engine and the effect publisher: the engine keeps it up
// to date (and serialises each run's transitions with its per-run lock),
// the publisher renders from it. Its methods are safe for concurrent use.
type RunCache struct{ c *runCache }

// NewRunCache returns a cache of at most max live runs (default 4096).
func NewRunCache(max int) *RunCache { return &RunCache{c: newRunCache(max)} }

// Latest returns the newest revision of run id this process knows, or nil.
// The run is shared: callers must not modify it.
func (r *RunCache) Latest(id string) *Run { return r.c.get(id) }

// Wake is the executor's wake-up signal. It is made before the engine and
// the executor, so neither needs the other to exist: the engine publishes
// every transition to it (it is a Sink), and the executor polls its queue
// at once when a transition started a phase or changed a step.
type Wake struct{ ch chan struct{} }

// NewWake returns a wake-up signal.
func NewWake() *Wake { return &Wake{ch: make(chan struct{}, 1)} }

// Publish implements Sink: it nudges when the transition started an
// automated step (whose item is due at once). A person ticking a manual
// step makes nothing due, and under a burst of clicks a nudge per click
// would keep the executor claiming from an empty queue.
func (w *Wake) Publish(_ context.Context, run *Run, events []Event) {
	for _, ev := range events {
		if ev.Kind == EventStepChanged && ev.Step != "" && ev.Actor.ID == System.ID && startedBy(run, ev.Phase, ev.Step) {
			w.Nudge()
			return
		}
	}
}

// startedBy reports whether the step of phase started running in the
// transition that made run (it started at the run's Updated).
func startedBy(run *Run, phase, step string) bool {
	i := run.FindPhase(phase)
	if i < 0 {
		return false
	}
	for _, s := range run.Phases[i].Steps {
		if s.ID == step {
			return s.State == StepRunning && s.Started.Equal(run.Updated)
		}
	}
	return false
}

// Nudge signals without blocking (a pending signal is enough).
func (w *Wake) Nudge() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// Sinks is a Sink that calls each of its sinks in order.
type Sinks []Sink

// Publish calls every sink.
func (s Sinks) Publish(ctx context.Context, run *Run, events []Event) {
	for _, x := range s {
		x.Publish(ctx, run, events)
	}
}
