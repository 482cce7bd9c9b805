package runbook

import (
	"fmt"
	"strings"
	"time"
)

// DefaultStepTimeout is the timeout of a step that does not set one.
const DefaultStepTimeout = 10 * time.Minute

// Runbook is a deployment procedure: phases of steps, the people who may approve
// them, the maintenance windows it deploys in, and the rollback procedure.
type Runbook struct {
	// Name identifies the runbook in messages ("orchestration-system").
	Name string `yaml:"name" json:"name"`
	// Title is the runbook's heading ("Orchestration System Deployment Checklist").
	Title string `yaml:"title,omitempty" json:"title,omitempty"`
	// Approvers lists who may approve gates: user IDs, Slack user-group handles
	// ("@release-managers") and Discord role IDs. Empty means anybody.
	Approvers []string `yaml:"approvers,omitempty" json:"approvers,omitempty"`
	// Operators lists who may start runs, tick manual steps, retry and roll
	// back (same entry kinds as Approvers). Empty means anybody in the run's
	// workspace or guild. Approvers are operators too.
	Operators []string `yaml:"operators,omitempty" json:"operators,omitempty"`
	// DistinctApprover forbids the person who started a run from approving its gates.
	DistinctApprover bool `yaml:"distinct_approver,omitempty" json:"distinct_approver,omitempty"`
	// Reminders are the offsets before each maintenance window at which the
	// channel is reminded. Nil means DefaultReminders.
	Reminders []Duration `yaml:"reminders,omitempty" json:"reminders,omitempty"`
	// Windows are the recurring maintenance windows.
	Windows []RecurringWindow `yaml:"windows,omitempty" json:"windows,omitempty"`
	// Phases are walked in order.
	Phases []Phase `yaml:"phases" json:"phases"`
	// Rollback is the procedure run when someone clicks Rollback.
	Rollback Rollback `yaml:"rollback" json:"rollback"`
	// Environments, when set, are the only environments the service deploys
	// to, each with its policy. Empty means any environment, with the
	// runbook's own policy.
	Environments map[string]Environment `yaml:"environments,omitempty" json:"environments,omitempty"`
	// File is the file the runbook was loaded from ("builtin.yaml" for the
	// built-in one); problems found by Validate name it. Empty for a runbook
	// built in memory.
	File string `yaml:"-" json:"-"`
	// NameLine is the line of name: in File (1 when the file has none; 0
	// for a runbook built in memory).
	NameLine int `yaml:"-" json:"-"`
}

// DefaultReminders are the reminder offsets of a runbook that sets none.
var DefaultReminders = []Duration{Duration(24 * time.Hour), Duration(time.Hour), Duration(15 * time.Minute)}

// ReminderOffsets returns the runbook's reminder offsets, or DefaultReminders.
func (rb *Runbook) ReminderOffsets() []Duration {
	if rb.Reminders == nil {
		return DefaultReminders
	}
	return rb.Reminders
}

// Phase is one gate of a runbook: a list of steps and, by default, an approval to leave it.
type Phase struct {
	ID    string `yaml:"id" json:"id"`
	Group string `yaml:"group,omitempty" json:"group,omitempty"`
	Title string `yaml:"title" json:"title"`
	// Approval, when nil or true, requires a person to Approve to leave the phase.
	Approval *bool `yaml:"approval,omitempty" json:"approval,omitempty"`
	// ApprovalTimeout, when set, makes a request for approval expire if
	// nobody approves within it: the gate then needs "Request approval"
	// (after a fresh look) before anyone can approve. It never approves.
	ApprovalTimeout Duration `yaml:"approval_timeout,omitempty" json:"approval_timeout,omitempty"`
	// Production marks phases that touch production: abort is refused once one
	// has started, and their Approve asks to confirm.
	Production bool `yaml:"production,omitempty" json:"production,omitempty"`
	// FollowUp marks a follow-up phase (retrospective, knowledge base):
	// once every phase before the first follow-up phase is approved the run
	// is deployed, its environment is free for the next start, and the
	// follow-up phases stay open on the run until they are done.
	FollowUp bool `yaml:"follow_up,omitempty" json:"follow_up,omitempty"`
	// Window is "required" when the phase's steps wait for an open maintenance window.
	Window string `yaml:"window,omitempty" json:"window,omitempty"`
	Steps  []Step `yaml:"steps" json:"steps"`
	// Line is the line of the phase in its file (0 for built-in values).
	Line int `yaml:"-" json:"line,omitempty"`
}

// NeedsApproval reports whether a person must approve to leave the phase.
func (p *Phase) NeedsApproval() bool { return p.Approval == nil || *p.Approval }

// WindowRequired reports whether the phase waits for an open maintenance window.
func (p *Phase) WindowRequired() bool { return p.Window == WindowRequired }

// WindowRequired is the value of Phase.Window that gates a phase on a maintenance window.
const WindowRequired = "required"

// Step is one line of a checklist: manual when Run is empty, else run by the named adapter.
type Step struct {
	ID    string `yaml:"id" json:"id"`
	Title string `yaml:"title" json:"title"`
	// Run names the adapter; empty means a manual step.
	Run string `yaml:"run,omitempty" json:"run,omitempty"`
	// With holds the adapter's parameters, decoded and validated by the adapter.
	With map[string]any `yaml:"with,omitempty" json:"with,omitempty"`
	// Timeout bounds one attempt of an automated step (default DefaultStepTimeout).
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Notice names the automatic notice that is this step's output
	// ("announcement", "completion", "rollback"): the step is not a second
	// message; it passes by itself and says where the bot's notice is.
	Notice string `yaml:"notice,omitempty" json:"notice,omitempty"`
	// OnFailure is "rollback" when a failure starts the rollback procedure by itself.
	OnFailure string `yaml:"on_failure,omitempty" json:"on_failure,omitempty"`
	// Line is the line of the step in its file (0 for built-in values).
	Line int `yaml:"-" json:"line,omitempty"`
}

// OnFailureRollback is the value of Step.OnFailure that starts the rollback procedure.
const OnFailureRollback = "rollback"

// Automated reports whether an adapter runs the step.
func (s *Step) Automated() bool { return s.Run != "" }

// The values of Step.Notice.
const (
	NoticeAnnouncement = "announcement"
	NoticeCompletion   = "completion"
	NoticeRollback     = "rollback"
)

// StepTimeout returns the step's timeout or DefaultStepTimeout.
func (s *Step) StepTimeout() time.Duration {
	if s.Timeout <= 0 {
		return DefaultStepTimeout
	}
	return time.Duration(s.Timeout)
}

// Rollback is the rollback procedure: steps run once, in order, after Rollback is clicked.
type Rollback struct {
	// When says when to roll back ("If critical issues are discovered").
	When  string `yaml:"when,omitempty" json:"when,omitempty"`
	Steps []Step `yaml:"steps" json:"steps"`
}

// RecurringWindow is a maintenance window that recurs by a cron expression.
type RecurringWindow struct {
	// Cron is a standard five-field cron expression for the window's start.
	Cron     string   `yaml:"cron" json:"cron"`
	Duration Duration `yaml:"duration" json:"duration"`
	// Timezone is an IANA zone name; empty means UTC.
	Timezone string `yaml:"timezone,omitempty" json:"timezone,omitempty"`
	Line     int    `yaml:"-" json:"line,omitempty"`
}

// Location returns the window's time zone.
func (w *RecurringWindow) Location() (*time.Location, error) {
	if w.Timezone == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(w.Timezone)
}

// Phase returns the phase with the given id, or nil.
func (rb *Runbook) Phase(id string) *Phase {
	for i := range rb.Phases {
		if rb.Phases[i].ID == id {
			return &rb.Phases[i]
		}
	}
	return nil
}

// StepCount returns the number of steps in all phases, not counting rollback.
func (rb *Runbook) StepCount() int {
	n := 0
	for _, p := range rb.Phases {
		n += len(p.Steps)
	}
	return n
}

// Duration is a time.Duration written as "10m" or "2h30m" in YAML and JSON.
type Duration time.Duration

// String returns the duration in Go's notation, without zero units ("2h", "15m").
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. 90s, 15m, 2h)", b)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: negative", b)
	}
	*d = Duration(v)
	return nil
}
