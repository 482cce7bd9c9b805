package deploy

import (
	"context"
	"errors"
	"fmt"

	"deploybot/runbook"
)

// NormalizeService gives a run stored before services existed (Service "")
// its service: the only one of c, else the one whose runbook has the name
// of the run's runbook snapshot, else the snapshot's own name. Runs that
// name their service are left as they are.
func NormalizeService(c *runbook.Catalog, r *Run) {
	if r == nil || r.Service != "" {
		return
	}
	if c != nil {
		if rb, ok := c.Only(); ok {
			r.Service = rb.Service()
			return
		}
		if name := r.Runbook.Service(); c.Get(name) != nil {
			r.Service = name
			return
		}
	}
	r.Service = r.Runbook.Service()
}

// normalize is NormalizeService with the engine's services, for each run.
func (e *Engine) normalize(rs ...*Run) {
	for _, r := range rs {
		NormalizeService(e.services, r)
	}
}

// Policy returns the policy of the run's environment in its runbook snapshot.
func (r *Run) Policy() runbook.Environment { return r.Runbook.Policy(r.Env) }

// Approvers returns who approves the run's gates: its environment's
// approvers when the runbook sets them there, else the runbook's.
func (r *Run) Approvers() []string {
	if a := r.Policy().Approvers; len(a) > 0 {
		return a
	}
	return r.Runbook.Approvers
}

// Rules returns the runbook whose operators and approvers govern the run:
// its snapshot, with its environment's approvers when it sets them.
func (r *Run) Rules() *runbook.Runbook { return r.Runbook.RulesFor(r.Env) }

// GatesPassByThemselves reports whether the run's environment sets
// `approval: false`: every gate passes without a person.
func (r *Run) GatesPassByThemselves() bool {
	a := r.Policy().Approval
	return a != nil && !*a
}

// NeedsApproval reports whether a person must approve phase i of the run
// (the phase asks for it and the environment does not lift it).
func (r *Run) NeedsApproval(i int) bool {
	return r.PhaseDef(i).NeedsApproval() && !r.GatesPassByThemselves()
}

// WindowRequired reports whether phase i of the run waits for a
// maintenance window (the phase asks for one and the environment does not
// set `window: none`).
func (r *Run) WindowRequired(i int) bool {
	return r.PhaseDef(i).WindowRequired() && r.Policy().Window != runbook.WindowNone
}

// TitleVars returns the run variables step titles may use.
func (r *Run) TitleVars() runbook.TitleVars {
	return runbook.TitleVars{Service: r.Service, Version: r.Release, Previous: r.Previous, Env: r.Env, RunID: r.ID}
}

// lockHolder refuses a start of service in env while a run stored before
// services holds env's old environment-only lock and is of that service:
// such a lock is never taken any more, only released, so checking it
// before the atomic Apply (which checks the service's own lock) is enough.
func (e *Engine) lockHolder(ctx context.Context, service, env string) error {
	id, err := e.store.EnvHolder(ctx, service, env)
	if err != nil || id == "" {
		return err
	}
	holder, err := e.store.Run(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	e.normalize(holder)
	if holder.Service != service || !holder.Status.Live() {
		return nil
	}
	return &LockedError{Env: env, Service: service, RunID: id}
}

// Previous returns the version last completed for service in env, or "".
func (e *Engine) Previous(ctx context.Context, service, env string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, e.storeTimeout)
	defer cancel()
	v, err := e.store.CurrentVersion(ctx, service, env)
	if err != nil {
		return "", e.storeErr("previous", err)
	}
	return v, nil
}

// serviceFor resolves the service of a request (empty: the only one) and
// checks that its runbook deploys to env.
func (e *Engine) serviceFor(service, env string) (*runbook.Runbook, error) {
	rb, err := e.services.Lookup(service)
	if err != nil {
		return nil, userErr(ErrInvalid, "%s", serviceRefusal(e.services, err))
	}
	if err := rb.CheckEnv(env); err != nil {
		return nil, userErr(ErrInvalid, "%v", err)
	}
	return rb, nil
}

// serviceRefusal words a failed lookup, with an example when the person
// left the service out.
func serviceRefusal(c *runbook.Catalog, err error) string {
	if names := c.Names(); len(names) > 1 {
		if _, lookupErr := c.Lookup(""); lookupErr != nil && err.Error() == lookupErr.Error() {
			return fmt.Sprintf("%v (e.g. /deploy start %s VERSION)", err, names[0])
		}
	}
	return err.Error()
}
