package deploy

import (
	"slices"
	"strings"

	"deploybot/runbook"
)

// Who may do what (PRODUCT.md section 4):
//
//   - Operators (the runbook's operators list; empty means anybody in the
//     run's workspace or guild) start runs, tick manual steps, retry failed
//     automated steps and roll back: rolling back is the safe direction.
//   - Approvers (the runbook's approvers list; empty means every operator)
//     also approve gates, skip automated steps, end a running watch early,
//     start a phase outside its window, book and cancel windows, freeze and
//     unfreeze, and abort.
//   - A run belongs to the workspace (Slack team, Discord guild) and channel
//     it was started in: people of another workspace can never act on it;
//     from another channel of the same workspace only approvers can.

// IsOperator reports whether a may operate runs of rb: it is on the
// operators list, or an approver, or the list is empty.
func IsOperator(rb *runbook.Runbook, a Actor) bool {
	if len(rb.Operators) == 0 || listed(rb.Operators, a) {
		return true
	}
	return len(rb.Approvers) > 0 && listed(rb.Approvers, a)
}

// IsApprover reports whether a may approve gates and take the other
// approver-only actions of rb. A runbook that names no approvers makes every
// operator an approver.
func IsApprover(rb *runbook.Runbook, a Actor) bool {
	if len(rb.Approvers) == 0 {
		return IsOperator(rb, a)
	}
	return listed(rb.Approvers, a)
}

// listed reports whether a matches an entry of list: a user ID, a console
// name (console:NAME), or a user-group handle or role the front resolved.
func listed(list []string, a Actor) bool {
	for _, ap := range list {
		if ap == a.ID || slices.Contains(a.Groups, ap) || slices.Contains(a.Groups, strings.TrimPrefix(ap, "@")) || slices.Contains(a.Groups, strings.TrimPrefix(ap, "&")) {
			return true
		}
	}
	return false
}

// WhoApproves names who may take approver-only actions, for refusals.
func WhoApproves(rb *runbook.Runbook) string {
	if len(rb.Approvers) == 0 {
		return WhoOperates(rb)
	}
	return "approvers: " + strings.Join(rb.Approvers, ", ")
}

// WhoOperates names who may operate runs, for refusals: the operators, then
// the approvers who are not operators too, each once.
func WhoOperates(rb *runbook.Runbook) string {
	if len(rb.Operators) == 0 {
		return "anyone in the workspace"
	}
	var names []string
	for _, n := range append(slices.Clone(rb.Operators), rb.Approvers...) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return "operators: " + strings.Join(names, ", ")
}

// needApprover refuses an approver-only action with who may take it.
func needApprover(rb *runbook.Runbook, a Actor, what string) error {
	if IsApprover(rb, a) {
		return nil
	}
	return userErr(ErrNotAllowed, "only approvers may %s (%s)", what, WhoApproves(rb))
}

// permit refuses an action on the run by someone of another workspace, by a
// non-approver from another channel, and by someone who is not an operator.
// Step- and state-specific rules (skipping an automated step, ending a watch
// early) are checked where the step is known.
func (t *txn) permit(a Action) error {
	r, who := t.run, a.Actor
	if r.Workspace != "" && who.Workspace != r.Workspace {
		return userErr(ErrNotAllowed, "run %s belongs to another workspace; nobody here can act on it", r.ID)
	}
	if r.Platform != "" && who.Platform != "" && who.Platform != r.Platform {
		return userErr(ErrNotAllowed, "run %s runs on %s; act on it there", r.ID, r.Platform)
	}
	rb := r.Rules()
	if !IsOperator(rb, who) {
		return userErr(ErrNotAllowed, "only this runbook's operators may act on its runs (%s)", WhoOperates(rb))
	}
	if a.Channel != "" && r.Channel != "" && a.Channel != r.Channel {
		if err := needApprover(rb, who, "act on run "+r.ID+" from outside the channel it runs in"); err != nil {
			return err
		}
	}
	if a.Kind == ActAbort {
		return needApprover(rb, who, "abort a run")
	}
	return nil
}
