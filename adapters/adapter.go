package adapters

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Vars are a run's variables, seen by templates as {{ .Service }},
// {{ .Version }}, {{ .Previous }}, {{ .Env }}, {{ .RunID }}, {{ .Phase }},
// {{ .Step }} (and {{ .Reason }} during a rollback), and by shell steps as
// DEPLOY_SERVICE, DEPLOY_VERSION, DEPLOY_PREVIOUS, DEPLOY_ENV, DEPLOY_RUN_ID,
// DEPLOY_PHASE, DEPLOY_STEP. Chat-supplied values reach adapters only through Vars, never
// spliced into a shell string.
type Vars struct {
	// Service is the service deployed (its runbook's name).
	Service string
	Version string
	// Previous is the version last completed for the service in Env when
	// the run started; empty when there was none.
	Previous string
	Env      string
	RunID    string
	Phase    string
	Step     string
	Reason   string
	// Channel is the channel the run was started in.
	Channel string
	// Started is when the run started; zero when unknown. The prometheus
	// adapter measures its baseline at this instant.
	Started time.Time
	// WindowOverride, when set, says an approver started the step's phase
	// outside a maintenance window ("by @bob: hotfix for INC-7"); a window
	// step waiting for an open window then passes.
	WindowOverride string
}

// Result is the outcome of one execution of an automated step.
type Result struct {
	// OK is true when the step passed.
	OK bool
	// Summary is one line for the phase card ("exit 0", "HTTP 200 from /healthz").
	Summary string
	// Output is the bounded tail of the step's output, secrets redacted.
	Output string
}

// Progress receives live progress lines from a running step ("12m of 30m, last check ok").
type Progress func(line string)

// Step is an automated step whose parameters were decoded and validated.
type Step interface {
	// Plan describes what the step would do for v (the exact command line, URL
	// or query) without doing anything.
	Plan(v Vars) string
	// Run executes the step. It must return when ctx is done.
	Run(ctx context.Context, v Vars, progress Progress) Result
}

// Adapter turns a runbook step's `with:` parameters into a Step.
type Adapter interface {
	// Name is the value of `run:` that selects the adapter ("shell").
	Name() string
	// Parse decodes with strictly (an unknown field is an error) and
	// validates it, including that its templates parse.
	Parse(with map[string]any) (Step, error)
}

// Registry holds adapters by name. It is built in main; the zero value is empty and usable.
type Registry struct {
	byName map[string]Adapter
}

// NewRegistry returns a registry holding the given adapters, or an error on a duplicate name.
func NewRegistry(as ...Adapter) (*Registry, error) {
	r := &Registry{}
	for _, a := range as {
		if err := r.Register(a); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Register adds an adapter; it is an error to register a name twice.
func (r *Registry) Register(a Adapter) error {
	if r.byName == nil {
		r.byName = map[string]Adapter{}
	}
	if _, dup := r.byName[a.Name()]; dup {
		return fmt.Errorf("adapters: %q registered twice", a.Name())
	}
	r.byName[a.Name()] = a
	return nil
}

// Parse decodes a step's parameters with the named adapter.
func (r *Registry) Parse(name string, with map[string]any) (Step, error) {
	a, ok := r.byName[name]
	if !ok {
		return nil, fmt.Errorf("unknown adapter %q (known: %v)", name, r.Names())
	}
	return a.Parse(with)
}

// Validate reports whether with is valid for the named adapter; it
// satisfies the runbook package's validator.
func (r *Registry) Validate(name string, with map[string]any) error {
	_, err := r.Parse(name, with)
	return err
}

// Names returns the registered adapter names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// MinTimeouter is a Step that needs at least a given step timeout to run its
// course (a watch of 30 minutes cannot finish under the default 10).
type MinTimeouter interface {
	MinTimeout() time.Duration
}
