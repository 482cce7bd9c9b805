package console

import (
	"slices"

	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/runbook"
)

// The console knows who is looking: a run's cards and list entry are
// rendered for the person's role on that run, so a button they cannot use
// is disabled with the reason on it, and a gate they may approve is marked.
//
// Rendering per person would cost a render per open page; a run's pages
// fall into a few roles instead (see role), so a change is rendered once per
// role and each stream picks its role's rendering.

// role is what a person may do on a run.
type role string

const (
	// roleNobody is no person (the read-only dashboard, or no name yet).
	roleNobody role = ""
	// roleGuest may not operate the run's runbook.
	roleGuest role = "guest"
	// roleOperator may operate but not approve.
	roleOperator role = "operator"
	// roleApprover may approve.
	roleApprover role = "approver"
	// roleStarter is an approver who started the run, and the runbook asks
	// for a distinct approver: everything but Approve.
	roleStarter role = "starter"
)

// roles are the roles a run is rendered for in console mode.
var roles = []role{roleGuest, roleOperator, roleApprover, roleStarter}

// policy is what decides a person's role on a run: its runbook's people and
// who started it.
type policy struct {
	rb      *runbook.Runbook
	started deploy.Actor
}

func policyOf(r *deploy.Run) *policy {
	// The rules of the run's environment (its approvers replace the
	// runbook's), as the engine judges them.
	return &policy{rb: r.Rules(), started: r.Started}
}

// roleOf is who's role on the run; named is false when nobody is known.
func (p *policy) roleOf(who deploy.Actor, named bool) role {
	switch {
	case p == nil || !named:
		return roleNobody
	case !deploy.IsOperator(p.rb, who):
		return roleGuest
	case !deploy.IsApprover(p.rb, who):
		return roleOperator
	case p.rb.DistinctApprover && who.ID == p.started.ID && who.Platform == p.started.Platform:
		return roleStarter
	}
	return roleApprover
}

// mayApprove reports whether the role may approve the run's gates.
func (r role) mayApprove() bool { return r == roleApprover }

// why says why a person of role ro cannot use button b (of a step line
// sl, or of the phase when sl is nil), or "" when they can.
func (p *policy) why(ro role, b bot.Button, sl *bot.StepLine) string {
	if p == nil || ro == roleNobody {
		return ""
	}
	if ro == roleGuest {
		return "only operators may act on this run (" + deploy.WhoOperates(p.rb) + ")"
	}
	approverOnly := false
	switch b.Action {
	case deploy.ActApprove:
		if ro == roleStarter {
			return "you started this run: someone else approves (two-person rule)"
		}
		approverOnly = true
	case deploy.ActAbort, deploy.ActOverrideWindow:
		approverOnly = true
	case deploy.ActSkip:
		approverOnly = sl != nil && sl.Automated
	case deploy.ActDone:
		approverOnly = sl != nil && sl.State == deploy.StepRunning // ending a watch early
	}
	if approverOnly && ro == roleOperator {
		return "only approvers may do this (" + deploy.WhoApproves(p.rb) + ")"
	}
	return ""
}

// waitingApproval reports whether the card waits for a person to approve it.
func waitingApproval(card *bot.PhaseCard) bool {
	return card.Gate.Kind == bot.GateApproval && slices.ContainsFunc(card.Buttons, func(b bot.Button) bool { return b.Action == deploy.ActApprove })
}
