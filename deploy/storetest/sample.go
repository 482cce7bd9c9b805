package storetest

import (
	"fmt"
	"time"

	"deploybot/deploy"
	"deploybot/runbook"
)

// t0 is the base time of the suite's samples: whole milliseconds, UTC, so
// every store keeps it exactly. It is never modified.
var t0 = time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC)

// alice is the actor of the sample runs and audit entries.
func alice() deploy.Actor {
	return deploy.Actor{ID: "U0ALICE", Name: "alice", Platform: "slack", Groups: []string{"release-managers"}}
}

// SampleRun returns a new active run (Rev 1) of a two-phase runbook snapshot
// in env, created at at: the document a Change with PrevRev 0 creates.
func SampleRun(id, env string, at time.Time) *deploy.Run {
	no := false
	rb := runbook.Runbook{
		Name:      "orchestration-system",
		Title:     "Orchestration System Deployment Checklist",
		Approvers: []string{"@release-managers"},
		Phases: []runbook.Phase{
			{ID: "prepare", Title: "Prepare", Approval: &no, Steps: []runbook.Step{
				{ID: "announce", Title: "Announce the deployment"},
				{ID: "backup", Title: "Back up the database", Run: "shell", Timeout: runbook.Duration(5 * time.Minute)},
			}},
			{ID: "deploy", Title: "Deploy", Production: true, Window: runbook.WindowRequired, Steps: []runbook.Step{
				{ID: "rollout", Title: "Roll out", Run: "http", OnFailure: runbook.OnFailureRollback},
			}},
		},
		Rollback: runbook.Rollback{When: "If critical issues are discovered", Steps: []runbook.Step{
			{ID: "revert", Title: "Revert the release"},
		}},
	}
	return &deploy.Run{
		ID:       id,
		Release:  "v1.4.0",
		Env:      env,
		Channel:  "C0DEPLOY",
		Platform: "slack",
		Started:  alice(),
		Status:   deploy.StatusActive,
		Created:  at,
		Updated:  at,
		Runbook:  rb,
		Phases: []deploy.PhaseRun{
			{ID: "prepare", Started: at, Steps: []deploy.StepRun{{ID: "announce", State: deploy.StepPending}, {ID: "backup", State: deploy.StepPending}}},
			{ID: "deploy", Steps: []deploy.StepRun{{ID: "rollout", State: deploy.StepPending}}},
		},
		Rev: 1,
	}
}

// Next returns the next revision of r: a deep copy with Rev incremented,
// Updated one second later, and edit applied.
func Next(r *deploy.Run, edit func(*deploy.Run)) *deploy.Run {
	n := r.Clone()
	n.Rev++
	n.Updated = r.Updated.Add(time.Second)
	if edit != nil {
		edit(n)
	}
	return n
}

// Finish returns the next revision of r with status st (a finished status), ended one second later.
func Finish(r *deploy.Run, st deploy.Status) *deploy.Run {
	return Next(r, func(n *deploy.Run) {
		n.Status = st
		n.Ended = n.Updated
	})
}

// Entry returns an audit entry by alice for revision r.Rev of r.
func Entry(r *deploy.Run, action string) deploy.AuditEntry {
	return deploy.AuditEntry{RunID: r.ID, At: r.Updated, Actor: alice(), Action: action, Before: "x", After: "y", Rev: r.Rev}
}

// Create returns the Change that creates r (PrevRev 0) with one "start" audit entry.
func Create(r *deploy.Run, lockEnv bool) deploy.Change {
	return deploy.Change{Run: r, PrevRev: 0, WriteID: fmt.Sprintf("%s@%d", r.ID, r.Rev), Audit: []deploy.AuditEntry{Entry(r, "start")}, LockEnv: lockEnv}
}

// Update returns the Change from prev to next with one audit entry.
func Update(prev, next *deploy.Run, action string) deploy.Change {
	return deploy.Change{Run: next, PrevRev: prev.Rev, WriteID: fmt.Sprintf("%s@%d:%s", next.ID, next.Rev, action), Audit: []deploy.AuditEntry{Entry(next, action)}}
}
