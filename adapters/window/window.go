package window

import (
	"context"
	"errors"
	"fmt"
	"time"

	"deploybot/adapters"
	"deploybot/internal/clock"
)

// Name is the value of `run:` that selects this adapter.
const Name = "window"

// Modes of the window adapter.
const (
	ModeScheduled = "scheduled"
	ModeOpen      = "open"
)

// DefaultEvery is how often mode open asks whether a window has opened.
const DefaultEvery = 30 * time.Second

// Windows answers questions about maintenance windows of a service (the
// run's, {{ .Service }}) in an environment. The string describes the window
// found ("w3k9x 2026-12-01 22:00–00:00 UTC"); when Open reports false it
// may describe the next window, or be empty.
type Windows interface {
	// Scheduled reports whether a window for service in env is open at now or starts after it.
	Scheduled(ctx context.Context, service, env, release string, now time.Time) (string, bool, error)
	// Open reports whether a window for service in env is open at now.
	Open(ctx context.Context, service, env, release string, now time.Time) (string, bool, error)
}

// Adapter is the `window` adapter.
type Adapter struct {
	w     Windows
	clock clock.Clock
}

var (
	_ adapters.Adapter = (*Adapter)(nil)
	_ adapters.Step    = (*step)(nil)
)

// New returns the window adapter asking w, with time from clk (nil: the wall
// clock). With a nil w steps still parse, and fail when run. It has no side effects.
func New(w Windows, clk clock.Clock) *Adapter {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Adapter{w: w, clock: clk}
}

// Name returns "window".
func (a *Adapter) Name() string { return Name }

// Params are the window adapter's `with:` parameters.
type Params struct {
	// Mode is "scheduled" (a window is booked) or "open" (wait until one is open).
	Mode string `json:"mode"`
	// Every is how often mode open asks again; default 30s.
	Every *adapters.Duration `json:"every"`
}

// Parse decodes and validates the step's parameters.
func (a *Adapter) Parse(with map[string]any) (adapters.Step, error) {
	var p Params
	if err := adapters.Decode(with, &p); err != nil {
		return nil, fmt.Errorf("window: %w", err)
	}
	s := &step{a: a, mode: p.Mode, every: DefaultEvery}
	switch p.Mode {
	case ModeScheduled, ModeOpen:
	case "":
		return nil, errors.New(`window: parameter "mode" is required: "scheduled" or "open"`)
	default:
		return nil, fmt.Errorf(`window: parameter "mode": %q is not "scheduled" or "open"`, p.Mode)
	}
	if p.Every != nil {
		if p.Mode != ModeOpen {
			return nil, errors.New(`window: parameter "every" is only used by mode open`)
		}
		if s.every = time.Duration(*p.Every); s.every <= 0 {
			return nil, errors.New(`window: parameter "every" must be above 0`)
		}
	}
	return s, nil
}

type step struct {
	a     *Adapter
	mode  string
	every time.Duration
}

// Plan says what the step would wait for.
func (s *step) Plan(v adapters.Vars) string {
	if s.mode == ModeScheduled {
		return "pass when a maintenance window for " + v.Env + " is scheduled or open"
	}
	return "wait until a maintenance window for " + v.Env + " is open (asking every " + adapters.FormatDuration(s.every) + ")"
}

// Run checks once (scheduled) or waits for an open window (open).
func (s *step) Run(ctx context.Context, v adapters.Vars, progress adapters.Progress) adapters.Result {
	budget := adapters.Budget(ctx)
	if s.a.w == nil {
		return adapters.Result{Summary: "maintenance windows are not configured"}
	}
	if s.mode == ModeScheduled {
		desc, ok, err := s.a.w.Scheduled(ctx, v.Service, v.Env, v.Version, s.a.clock.Now())
		switch {
		case ctx.Err() != nil:
			return adapters.Stopped(ctx, budget, "")
		case err != nil:
			return adapters.Result{Summary: "cannot read maintenance windows: " + err.Error()}
		case !ok:
			version := v.Version
			if version == "" {
				version = "VERSION"
			}
			return adapters.Result{Summary: "no maintenance window scheduled: use /deploy schedule " + version + " START"}
		}
		return adapters.Result{OK: true, Summary: "window scheduled: " + desc}
	}
	if v.WindowOverride != "" {
		return adapters.Result{OK: true, Summary: "started outside a maintenance window " + v.WindowOverride}
	}
	last := ""
	for {
		desc, ok, err := s.a.w.Open(ctx, v.Service, v.Env, v.Version, s.a.clock.Now())
		if ctx.Err() != nil {
			return adapters.Stopped(ctx, budget, "")
		}
		if err == nil && ok {
			return adapters.Result{OK: true, Summary: "window open: " + desc}
		}
		line := "waiting for a maintenance window to open"
		switch {
		case err != nil:
			line = "cannot read maintenance windows (" + err.Error() + "); asking again in " + adapters.FormatDuration(s.every)
		case desc != "":
			line = "waiting for the window " + desc
		}
		if progress != nil && line != last {
			progress(line)
		}
		last = line
		select {
		case <-ctx.Done():
			return adapters.Stopped(ctx, budget, "")
		case <-s.a.clock.After(s.every):
		}
	}
}
