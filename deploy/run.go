package deploy

import (
	"time"

	"deploybot/runbook"
)

// Status is where a run stands as a whole.
type Status string

// The run statuses. Active and RollingBack runs hold their service's lock in their environment.
const (
	StatusActive      Status = "active"
	StatusRollingBack Status = "rolling_back"
	// StatusDeployed: every phase before the runbook's first follow-up
	// phase is approved. The release is out, the environment is free for
	// the next start, and the follow-up phases stay open until done.
	StatusDeployed   Status = "deployed"
	StatusCompleted  Status = "completed"
	StatusRolledBack Status = "rolled_back"
	StatusAborted    Status = "aborted"
)

// Live reports whether the run still holds its environment (active or rolling back).
func (s Status) Live() bool { return s == StatusActive || s == StatusRollingBack }

// Open reports whether people can still act on the run: a live run, or a
// deployed one whose follow-up phases are open (it holds nothing).
func (s Status) Open() bool { return s.Live() || s == StatusDeployed }

// StepState is the state of one step.
type StepState string

// The step states.
const (
	StepPending     StepState = "pending"
	StepRunning     StepState = "running"
	StepDone        StepState = "done"
	StepSkipped     StepState = "skipped"
	StepFailed      StepState = "failed"
	StepInterrupted StepState = "interrupted"
	// StepStopped: the step was running when a rollback or an abort
	// stopped it; it did not fail by itself.
	StepStopped StepState = "stopped"
)

// Settled reports whether the step no longer blocks the steps below it (done or skipped).
func (s StepState) Settled() bool { return s == StepDone || s == StepSkipped }

// Actor is a person (or the bot itself) acting on a run.
type Actor struct {
	// ID is the platform's user ID ("U012ABCDEF"), or "deploybot" for the bot.
	ID string `json:"id"`
	// Name is the display name used in messages ("ana").
	Name string `json:"name,omitempty"`
	// Platform is "slack", "discord", "console" or "system".
	Platform string `json:"platform"`
	// Workspace is the Slack team ID or Discord guild ID the person acted
	// from ("" on the console and for the bot itself).
	Workspace string `json:"workspace,omitempty"`
	// Groups are the user-group handles or role IDs the front resolved for the
	// person; the engine matches them against the runbook's approvers.
	Groups []string `json:"groups,omitempty"`
}

// System is the actor of transitions the bot makes itself.
var System = Actor{ID: "deploybot", Name: "deploybot", Platform: "system"}

// Mention returns how the actor is named in messages ("@ana").
func (a Actor) Mention() string {
	if a.Name != "" {
		return "@" + a.Name
	}
	return "@" + a.ID
}

// Run is one deployment of a version to an environment: the stored document
// that is the single source of truth for its messages.
type Run struct {
	// ID is short and human-friendly ("r7k2qd").
	ID string `json:"id"`
	// Service is the service deployed (its runbook's name). Empty on runs
	// stored before services existed: they belong to the only service.
	Service string `json:"service,omitempty"`
	// Release is the version being deployed (a tag or commit).
	Release string `json:"release"`
	// Previous is the version last completed for Service in Env when the run
	// started ("" when there was none): what a rollback returns to.
	Previous string `json:"previous,omitempty"`
	// Env is the target environment ("production").
	Env string `json:"env"`
	// Channel is the chat channel the run was started in.
	Channel  string `json:"channel"`
	Platform string `json:"platform"`
	// Workspace is the Slack team or Discord guild the run was started in;
	// people of another workspace cannot act on it. Empty on the console
	// and on runs stored before workspaces were recorded.
	Workspace string    `json:"workspace,omitempty"`
	Started   Actor     `json:"started_by"`
	Status    Status    `json:"status"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
	Ended     time.Time `json:"ended,omitzero"`
	// Runbook is a snapshot of the runbook as it was at start, so editing the
	// file never changes a running run.
	Runbook runbook.Runbook `json:"runbook"`
	// Phase is the index of the current phase in Phases.
	Phase int `json:"phase"`
	// Phases holds one entry per runbook phase, then the rollback phase once
	// a rollback started.
	Phases []PhaseRun `json:"phases"`
	// Rollback is set once a rollback started.
	Rollback *RollbackInfo `json:"rollback,omitempty"`
	// AbortReason and AbortedBy are set when the run was aborted.
	AbortReason string `json:"abort_reason,omitempty"`
	AbortedBy   *Actor `json:"aborted_by,omitempty"`
	// AuditHead is the Hash of the run's last audit entry, written in the
	// same compare-and-set as the entries: entries removed from the end of
	// the log no longer lead to it.
	AuditHead string `json:"audit_head,omitempty"`
	// Rev is the compare-and-set version: every stored change increments it.
	Rev int64 `json:"rev"`
}

// RollbackPhaseID is the id of the phase appended to a run when it rolls back.
const RollbackPhaseID = "rollback"

// RollbackInfo says who started the rollback, why and from which phase.
type RollbackInfo struct {
	By        Actor     `json:"by"`
	Reason    string    `json:"reason"`
	FromPhase string    `json:"from_phase"`
	At        time.Time `json:"at"`
}

// PhaseRun is the state of one phase of a run.
type PhaseRun struct {
	ID      string    `json:"id"`
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	// Approval is set once the phase was approved (or passed without approval).
	Approval *Approval `json:"approval,omitempty"`
	// WindowOverride is set when an approver let the phase run outside a window.
	WindowOverride *Approval `json:"window_override,omitempty"`
	// WindowOpened is when a window-gated phase first found its window
	// open; before that (and without an override) nothing in it can be ticked.
	WindowOpened time.Time `json:"window_opened,omitzero"`
	// NextWindow is when the next maintenance window for the run opens, as
	// last seen while the phase waited for one (nil when none is known).
	NextWindow *WindowAt `json:"next_window,omitempty"`
	// AwaitingSince is when the phase started waiting for approval (every
	// step settled); a request again restarts it.
	AwaitingSince time.Time `json:"awaiting_since,omitzero"`
	// ApprovalExpired is set when nobody approved within the phase's
	// approval_timeout: Approve is refused until someone requests approval again.
	ApprovalExpired time.Time `json:"approval_expired,omitzero"`
	Steps           []StepRun `json:"steps"`
}

// WindowAt is when a maintenance window opens and the zone it was booked
// in ("" for UTC).
type WindowAt struct {
	Start time.Time `json:"start"`
	Zone  string    `json:"zone,omitempty"`
}

// Approval records who judged a gate, when, and with what note.
type Approval struct {
	By     Actor     `json:"by"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// StepRun is the state of one step of a run.
type StepRun struct {
	ID    string    `json:"id"`
	State StepState `json:"state"`
	// Attempt counts the automated executions started; a result for another attempt is stale.
	Attempt int `json:"attempt,omitempty"`
	// By and At say who last changed the step and when.
	By *Actor    `json:"by,omitempty"`
	At time.Time `json:"at,omitzero"`
	// Reason is the reason given for a skip or for ending a watch early.
	Reason string `json:"reason,omitempty"`
	// EndedEarly is set when an approver ended a running watch before its
	// time (By, At, Reason say who, when and why): done, but not a pass.
	EndedEarly bool `json:"ended_early,omitempty"`
	// Result is a one-line result of an automated step ("exit 0", "HTTP 200").
	Result string `json:"result,omitempty"`
	// Output is the bounded tail of an automated step's output.
	Output string `json:"output,omitempty"`
	// Started is when the current attempt started.
	Started time.Time `json:"started,omitzero"`
	// Progress is the latest live progress line of a running step.
	Progress string `json:"progress,omitempty"`
	// Beat is when the running step last reported it is alive.
	Beat time.Time `json:"beat,omitzero"`
}

// Current returns the current phase's state, or nil when the run has none.
func (r *Run) Current() *PhaseRun {
	if r.Phase < 0 || r.Phase >= len(r.Phases) {
		return nil
	}
	return &r.Phases[r.Phase]
}

// PhaseDef returns the runbook definition of the phase at index i; for the
// rollback phase it returns a phase built from the rollback procedure.
func (r *Run) PhaseDef(i int) *runbook.Phase {
	if i < len(r.Runbook.Phases) {
		return &r.Runbook.Phases[i]
	}
	no := false
	return &runbook.Phase{ID: RollbackPhaseID, Title: "Rollback Procedure", Group: "Rollback", Approval: &no, Steps: r.Runbook.Rollback.Steps}
}

// PhaseLabel names phase i for people: its id, and its title when that
// differs ("C (Production rollout)").
func (r *Run) PhaseLabel(i int) string {
	id, title := r.Phases[i].ID, r.PhaseTitle(i)
	if title == "" || title == id {
		return id
	}
	return id + " (" + title + ")"
}

// FindPhase returns the index of the phase with the given id, or -1.
func (r *Run) FindPhase(id string) int {
	for i := range r.Phases {
		if r.Phases[i].ID == id {
			return i
		}
	}
	return -1
}

// StepTitle returns the title of step j of phase i as people see it: the
// run variables it uses ({{ .Previous }}, {{ .Service }}, …) expanded.
// Titles without any are returned as written.
func (r *Run) StepTitle(i, j int) string {
	return runbook.RenderTitle(r.StepDef(i, j).Title, r.TitleVars())
}

// PhaseTitle returns the title of phase i as people see it, its run
// variables expanded like a step's (StepTitle).
func (r *Run) PhaseTitle(i int) string {
	return runbook.RenderTitle(r.PhaseDef(i).Title, r.TitleVars())
}

// StepDef returns the runbook definition of step j of phase i.
func (r *Run) StepDef(i, j int) *runbook.Step { return &r.PhaseDef(i).Steps[j] }

// ProductionStarted reports whether a production phase has started, after which
// the run may no longer be aborted (only rolled back).
func (r *Run) ProductionStarted() bool {
	for i := range r.Phases {
		if i < len(r.Runbook.Phases) && r.Runbook.Phases[i].Production && !r.Phases[i].Started.IsZero() {
			return true
		}
	}
	return false
}

// FirstProduction returns the index of the runbook's first production
// phase, or -1 when it marks none.
func (r *Run) FirstProduction() int {
	for i := range r.Runbook.Phases {
		if r.Runbook.Phases[i].Production {
			return i
		}
	}
	return -1
}

// CanRollBack reports whether a person may start the rollback now: the run
// is active and there is something to roll back (a production phase was
// reached, or the runbook marks no phase production).
func (r *Run) CanRollBack() bool {
	if r.Status != StatusActive {
		return false
	}
	first := r.FirstProduction()
	return first < 0 || r.Phase >= first || r.ProductionStarted()
}

// CanAbort reports whether the run may still be aborted (active, no
// production phase started).
func (r *Run) CanAbort() bool { return r.Status == StatusActive && !r.ProductionStarted() }

// FirstFollowUp returns the index of the runbook's first follow-up phase,
// or -1 when it has none.
func (r *Run) FirstFollowUp() int {
	for i := range r.Runbook.Phases {
		if r.Runbook.Phases[i].FollowUp {
			return i
		}
	}
	return -1
}

// WaitsForWindow reports whether phase i is the current phase and waits for
// its maintenance window: nothing in it may be ticked yet.
func (r *Run) WaitsForWindow(i int) bool {
	if i != r.Phase || r.Status != StatusActive || i >= len(r.Runbook.Phases) {
		return false
	}
	p := &r.Phases[i]
	if !r.WindowRequired(i) || p.WindowOverride != nil || !p.WindowOpened.IsZero() {
		return false
	}
	// Runs stored before WindowOpened was recorded: an automated step that
	// started means the window opened.
	for j, s := range p.Steps {
		if r.Runbook.Phases[i].Steps[j].Automated() && s.State != StepPending {
			return false
		}
	}
	return true
}

// BlockedBy returns the index of the automated step above step j of phase i
// that is running or failed (not settled), or -1: a step below one of
// those cannot be ticked until it settles.
func (r *Run) BlockedBy(i, j int) int {
	def := r.PhaseDef(i)
	p := &r.Phases[i]
	for k := 0; k < j && k < len(p.Steps); k++ {
		if !def.Steps[k].Automated() {
			continue
		}
		switch p.Steps[k].State {
		case StepRunning, StepFailed, StepInterrupted:
			return k
		}
	}
	return -1
}

// Progress returns the settled and total step counts of the runbook's phases.
func (r *Run) Progress() (settled, total int) {
	for i := range r.Phases {
		if r.Phases[i].ID == RollbackPhaseID {
			continue
		}
		for _, s := range r.Phases[i].Steps {
			total++
			if s.State.Settled() {
				settled++
			}
		}
	}
	return settled, total
}

// Clone returns a deep copy of the run's mutable state (the runbook snapshot is shared).
func (r *Run) Clone() *Run {
	c := *r
	c.Phases = make([]PhaseRun, len(r.Phases))
	for i, p := range r.Phases {
		p.Steps = append([]StepRun(nil), p.Steps...)
		c.Phases[i] = p
	}
	if r.Rollback != nil {
		rb := *r.Rollback
		c.Rollback = &rb
	}
	return &c
}

// AuditEntry is one line of a run's audit log: who did what, when, from which
// platform, and the state before and after.
type AuditEntry struct {
	RunID  string    `json:"run_id"`
	At     time.Time `json:"at"`
	Actor  Actor     `json:"actor"`
	Action string    `json:"action"`
	Phase  string    `json:"phase,omitempty"`
	Step   string    `json:"step,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Before string    `json:"before,omitempty"`
	After  string    `json:"after,omitempty"`
	Rev    int64     `json:"rev"`
	// Prev is the Hash of the entry before this one in the run's chain ("" for the first).
	Prev string `json:"prev,omitempty"`
	// Hash is the SHA-256 (hex) of Prev and the entry's canonical content;
	// empty on entries written before the chain existed ("unchained").
	Hash string `json:"hash,omitempty"`
}
