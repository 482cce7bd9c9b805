package deploy

import (
	"deploybot/adapters"
	"deploybot/runbook"
)

// PlannedStep is one step of a rehearsal.
type PlannedStep struct {
	Title   string
	Adapter string // "" for a manual step
	Plan    string // what the adapter would do
}

// PlannedPhase is one phase of a rehearsal.
type PlannedPhase struct {
	ID, Group, Title string
	Approval         bool
	Window           bool
	Steps            []PlannedStep
}

// Plan rehearses a run of rb with the run's variables v (its Version, Env
// and Previous, the version a rollback returns to): for each automated step
// what it would do, with nothing executed and no lock taken. An environment
// the runbook does not list is refused with the list; the environment's
// policy (approval: false, window: none) shows in the phases.
func Plan(rb *runbook.Runbook, steps StepParser, v adapters.Vars) ([]PlannedPhase, error) {
	if !validRelease.MatchString(v.Version) || len(v.Version) > 0 && v.Version[0] == '-' {
		return nil, userErr(ErrInvalid, "invalid version %q", v.Version)
	}
	if v.Env == "" {
		v.Env = "production"
	}
	if !validEnv.MatchString(v.Env) {
		return nil, userErr(ErrInvalid, "invalid environment %q", v.Env)
	}
	if err := rb.CheckEnv(v.Env); err != nil {
		return nil, userErr(ErrInvalid, "%v", err)
	}
	if v.Service == "" {
		v.Service = rb.Service()
	}
	vars := v
	vars.RunID, vars.Reason = "(new run)", "(the rollback reason)"
	policy := rb.Policy(v.Env)
	gatesPass := policy.Approval != nil && !*policy.Approval
	titles := runbook.TitleVars{Service: vars.Service, Version: vars.Version, Previous: vars.Previous, Env: vars.Env, RunID: vars.RunID}
	plan := func(ph runbook.Phase, approval bool) PlannedPhase {
		pp := PlannedPhase{ID: ph.ID, Group: ph.Group, Title: runbook.RenderTitle(ph.Title, titles), Approval: approval && !gatesPass,
			Window: ph.WindowRequired() && policy.Window != runbook.WindowNone}
		for _, s := range ph.Steps {
			ps := PlannedStep{Title: runbook.RenderTitle(s.Title, titles), Adapter: s.Run}
			if s.Automated() {
				v := vars
				v.Phase, v.Step = ph.ID, s.ID
				st, err := steps.Parse(s.Run, s.With)
				if err != nil {
					ps.Plan = "invalid parameters: " + err.Error()
				} else {
					ps.Plan = st.Plan(v)
				}
			}
			pp.Steps = append(pp.Steps, ps)
		}
		return pp
	}
	var out []PlannedPhase
	for _, ph := range rb.Phases {
		out = append(out, plan(ph, ph.NeedsApproval()))
	}
	out = append(out, plan(runbook.Phase{ID: RollbackPhaseID, Group: "Rollback", Title: "Rollback Procedure (if needed)", Steps: rb.Rollback.Steps}, false))
	return out, nil
}
