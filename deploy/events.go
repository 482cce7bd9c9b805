package deploy

import "context"

// EventKind names what a transition caused, for the chat side to render.
type EventKind string

// The event kinds.
const (
	// EventRunStarted: a run was created. The announcement and run summary are posted.
	EventRunStarted EventKind = "run_started"
	// EventPhaseStarted: a phase became current. Its card is posted.
	EventPhaseStarted EventKind = "phase_started"
	// EventStepChanged: a step's state, result or progress changed. Its card is edited.
	EventStepChanged EventKind = "step_changed"
	// EventPhaseApproved: a phase was approved (or passed without approval).
	EventPhaseApproved EventKind = "phase_approved"
	// EventWindowOverridden: an approver let a window-gated phase run outside a window.
	EventWindowOverridden EventKind = "window_overridden"
	// EventApprovalExpired: nobody approved a phase within its approval_timeout.
	EventApprovalExpired EventKind = "approval_expired"
	// EventRollbackStarted: the rollback procedure started. The rollback notice is posted.
	EventRollbackStarted EventKind = "rollback_started"
	// EventApprovalRequested: every step of a phase is settled and it waits
	// for an approver (first time, or again after an expired request was
	// renewed). The phase's approvers are asked in the run's thread.
	EventApprovalRequested EventKind = "approval_requested"
	// EventRunDeployed: every phase before the first follow-up phase was
	// approved: the run is deployed, its environment free. The completion
	// notice is posted.
	EventRunDeployed EventKind = "run_deployed"
	// EventFollowUpsDone: the last follow-up phase of a deployed run was
	// approved; the run is completed (no second completion notice).
	EventFollowUpsDone EventKind = "follow_ups_done"
	// EventRunCompleted: the last phase was approved. The completion notice
	// is posted unless the run was deployed before (follow-up phases).
	EventRunCompleted EventKind = "run_completed"
	// EventRunRolledBack: the rollback procedure finished. The final rollback notice is posted.
	EventRunRolledBack EventKind = "run_rolled_back"
	// EventRunAborted: the run was aborted.
	EventRunAborted EventKind = "run_aborted"
)

// Event is one thing a transition caused.
type Event struct {
	Kind   EventKind `json:"kind"`
	RunID  string    `json:"run_id"`
	Phase  string    `json:"phase,omitempty"`
	Step   string    `json:"step,omitempty"`
	Actor  Actor     `json:"actor"`
	Reason string    `json:"reason,omitempty"`
}

// Sink receives every successful transition's run and events, in the process
// that applied it. The bot renders messages from them; it must not block.
type Sink interface {
	Publish(ctx context.Context, run *Run, events []Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, run *Run, events []Event)

// Publish calls f.
func (f SinkFunc) Publish(ctx context.Context, run *Run, events []Event) { f(ctx, run, events) }
