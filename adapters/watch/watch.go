package watch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"deploybot/adapters"
	"deploybot/internal/clock"
)

// Name is the value of `run:` that selects this adapter.
const Name = "watch"

// Defaults of the parameters.
const (
	DefaultEvery    = time.Minute
	DefaultFailures = 3
	// MinCheckTimeout is the least time one nested check gets, however short `every` is.
	MinCheckTimeout = 10 * time.Second
)

// checkAdapters are the adapters a watch may run as its check.
var checkAdapters = []string{"http", "prometheus", "shell"}

// Adapter is the `watch` adapter.
type Adapter struct {
	reg   *adapters.Registry
	clock clock.Clock
}

var (
	_ adapters.Adapter = (*Adapter)(nil)
	_ adapters.Step    = (*step)(nil)
)

// New returns the watch adapter; reg parses nested checks, clk paces them
// (nil means the wall clock). It has no side effects.
func New(reg *adapters.Registry, clk clock.Clock) *Adapter {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Adapter{reg: reg, clock: clk}
}

// Name returns "watch".
func (a *Adapter) Name() string { return Name }

// Params are the watch adapter's `with:` parameters.
type Params struct {
	// For is how long to watch (required).
	For adapters.Duration `json:"for"`
	// Every is the interval between checks; default 1m.
	Every *adapters.Duration `json:"every"`
	// Failures is how many consecutive failed checks fail the watch; default 3.
	Failures *int `json:"failures"`
	// Check is the nested check; without one the watch is a timed wait.
	Check *Check `json:"check"`
}

// Check is a nested step: `run` names the http, prometheus or shell adapter, `with` its parameters.
type Check struct {
	Run  string         `json:"run"`
	With map[string]any `json:"with"`
}

// Parse decodes and validates the step's parameters, including the nested check's.
func (a *Adapter) Parse(with map[string]any) (adapters.Step, error) {
	s, err := a.parse(with)
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	return s, nil
}

func (a *Adapter) parse(with map[string]any) (*step, error) {
	var p Params
	if err := adapters.Decode(with, &p); err != nil {
		return nil, err
	}
	s := &step{a: a, dur: time.Duration(p.For), every: DefaultEvery, failures: DefaultFailures}
	if s.dur <= 0 {
		return nil, errors.New(`parameter "for" is required (how long to watch, e.g. "30m")`)
	}
	if p.Every != nil {
		if s.every = time.Duration(*p.Every); s.every <= 0 {
			return nil, errors.New(`parameter "every" must be above 0`)
		}
	}
	if p.Failures != nil {
		if s.failures = *p.Failures; s.failures < 1 {
			return nil, errors.New(`parameter "failures" must be at least 1`)
		}
	}
	if p.Check != nil {
		if p.Check.Run == "" {
			return nil, fmt.Errorf(`parameter "check": "run" is required (one of %s)`, strings.Join(checkAdapters, ", "))
		}
		if !slices.Contains(checkAdapters, p.Check.Run) {
			return nil, fmt.Errorf(`parameter "check": run %q cannot be watched (use one of %s)`, p.Check.Run, strings.Join(checkAdapters, ", "))
		}
		if a.reg == nil {
			return nil, errors.New(`parameter "check": no adapters to run it with`)
		}
		c, err := a.reg.Parse(p.Check.Run, p.Check.With)
		if err != nil {
			return nil, fmt.Errorf("check: %w", err)
		}
		s.check, s.checkName = c, p.Check.Run
	}
	return s, nil
}

// MinTimeout is the least step timeout that lets the watch run its course:
// its duration plus one more check.
func (s *step) MinTimeout() time.Duration { return s.dur + max(s.every, MinCheckTimeout) }

type step struct {
	a         *Adapter
	dur       time.Duration
	every     time.Duration
	failures  int
	check     adapters.Step
	checkName string
}

// Plan says how long the watch lasts and what it checks.
func (s *step) Plan(v adapters.Vars) string {
	if s.check == nil {
		return "wait " + adapters.FormatDuration(s.dur) + " (no check)"
	}
	return fmt.Sprintf("for %s, every %s: %s; fail after %d consecutive failed checks",
		adapters.FormatDuration(s.dur), adapters.FormatDuration(s.every), s.check.Plan(v), s.failures)
}

// Run watches until the time is up, the check fails too often, or ctx ends.
func (s *step) Run(ctx context.Context, v adapters.Vars, progress adapters.Progress) adapters.Result {
	budget := adapters.Budget(ctx)
	clk := s.a.clock
	start := clk.Now()
	log := adapters.NewBuffer(0)
	checks, failed, consecutive := 0, 0, 0
	last := ""
	for {
		elapsed := clk.Now().Sub(start)
		if elapsed >= s.dur {
			if s.check == nil {
				return adapters.Result{OK: true, Summary: "waited " + adapters.FormatDuration(s.dur), Output: log.String()}
			}
			return adapters.Result{OK: true, Output: log.String(),
				Summary: fmt.Sprintf("watched for %s: %d %s, %d failed", adapters.FormatDuration(s.dur), checks, plural(checks, "check"), failed)}
		}
		if s.check != nil {
			cctx, cancel := context.WithTimeout(ctx, max(s.every, MinCheckTimeout))
			res := s.check.Run(cctx, v, nil)
			cancel()
			if ctx.Err() != nil {
				return adapters.Stopped(ctx, budget, log.String())
			}
			checks++
			at := adapters.FormatDuration(clk.Now().Sub(start))
			if res.OK {
				consecutive = 0
				last = "ok (" + res.Summary + ")"
			} else {
				failed++
				consecutive++
				last = "failed (" + res.Summary + ")"
			}
			fmt.Fprintf(log, "+%s %s\n", at, last)
			if consecutive >= s.failures {
				return adapters.Result{Output: log.String(),
					Summary: fmt.Sprintf("%d consecutive %s failed after %s: %s", consecutive, plural(consecutive, "check"), at, res.Summary)}
			}
		}
		elapsed = clk.Now().Sub(start)
		if progress != nil {
			line := adapters.FormatDuration(elapsed) + " of " + adapters.FormatDuration(s.dur) + " elapsed"
			if last != "" {
				line += ", last check " + last
			}
			progress(adapters.Truncate(line, 200))
		}
		select {
		case <-ctx.Done():
			return adapters.Stopped(ctx, budget, log.String())
		case <-clk.After(min(s.every, s.dur-elapsed)):
		}
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
