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

// Plan rehearses a run of rb for release and env: for each automated step
// what it would do, with nothing executed and no lock taken.
func Plan(rb *runbook.Runbook, steps StepParser, v adapters.Vars) ([]PlannedPhase, error) {
	if !validRelease.MatchString(v.Version) || len(v.Version) > 0 && v.Version[0] == '-' {
		return nil, userErr(ErrInvalid, "invalid version %q", v.Version)
	}
	vars := v
	vars.RunID, vars.Reason = "(new run)", "(the rollback reason)"
	plan := func(ph runbook.Phase, approval bool) PlannedPhase {
		pp := PlannedPhase{ID: ph.ID, Group: ph.Group, Title: ph.Title, Approval: approval, Window: ph.WindowRequired()}
		for _, s := range ph.Steps {
			ps := PlannedStep{Title: s.Title, Adapter: s.Run}
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
