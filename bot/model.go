package bot

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"deploybot/adapters"
	"deploybot/deploy"
	"deploybot/runbook"
)

// Style is a button's emphasis.
type Style string

// The button styles.
const (
	StyleDefault Style = ""
	StylePrimary Style = "primary"
	StyleDanger  Style = "danger"
)

// Confirm is a confirmation a platform shows before a button takes effect.
type Confirm struct {
	Title, Text, OK, Cancel string
}

// Button is an action a person can take on a message.
type Button struct {
	Label string
	// Action is the engine action the button performs.
	Action deploy.ActionKind
	RunID  string
	Phase  string
	Step   string
	// Attempt, on Retry, is the step's attempt the button was drawn for, so a
	// second click after the step failed again is not taken as a new retry.
	Attempt int
	Style   Style
	// Confirm, when set, is asked before the action is sent.
	Confirm *Confirm
	// NeedsReason: the platform asks for a reason (a modal) before sending the action.
	NeedsReason bool
}

// ID encodes the button as "action:run:phase:step" (or "…:step#attempt" on
// Retry), at most 98 characters with the runbook's id limits: the action_id /
// custom_id the fronts send back.
func (b Button) ID() string {
	step := b.Step
	if b.Attempt > 0 {
		step += "#" + strconv.Itoa(b.Attempt)
	}
	return strings.Join([]string{string(b.Action), b.RunID, b.Phase, step}, ":")
}

// ParseButtonID decodes a Button.ID into an engine action (without actor and reason).
func ParseButtonID(id string) (deploy.Action, error) {
	parts := strings.Split(id, ":")
	if len(parts) != 4 || parts[0] == "" || parts[1] == "" {
		return deploy.Action{}, fmt.Errorf("bot: malformed button id %q", id)
	}
	kind := deploy.ActionKind(parts[0])
	switch kind {
	case deploy.ActDone, deploy.ActSkip, deploy.ActRetry, deploy.ActApprove, deploy.ActRollback, deploy.ActAbort, deploy.ActOverrideWindow,
		deploy.ActRequestApproval, deploy.ActEndWatch:
	case ActStartWindow: // RunID holds the window id (window_notices.go)
	default:
		return deploy.Action{}, fmt.Errorf("bot: unknown button action %q", parts[0])
	}
	a := deploy.Action{Kind: kind, RunID: parts[1], Phase: parts[2], Step: parts[3]}
	if step, attempt, ok := strings.Cut(a.Step, "#"); ok {
		n, err := strconv.Atoi(attempt)
		if err != nil || n <= 0 {
			return deploy.Action{}, fmt.Errorf("bot: malformed button id %q", id)
		}
		a.Step, a.Attempt = step, n
	}
	return a, nil
}

// The message model: what a person sees about a run, as typed parts. The
// builders below (BuildSummary, BuildCard, the notices) fill it from a run;
// each renderer (bot/slack, bot/discord, bot/console, and the plain text of
// /deploy status in text.go) owns the wording, the icons and the layout. No
// renderer parses prose back out of the model.

// Stamp says who did something and when.
type Stamp struct {
	// Who mentions the person ("@ana"); empty when nobody in particular did it.
	Who string
	// At is when it happened.
	At time.Time
	// Ago is At relative to when the message was built ("2 min ago"), as
	// deploy.Ago words it: renderers have no clock of their own.
	Ago string
}

// StepLine is one step on a phase card.
type StepLine struct {
	ID        string
	Title     string
	State     deploy.StepState
	Automated bool
	Adapter   string
	// By says who last changed the step and when; nil while the step is
	// pending or nobody has changed it.
	By *Stamp
	// Reason is why a skipped step was skipped, or why a watch was ended early.
	Reason string
	// EndedEarly marks a watch an approver ended before its time (By says
	// who, Reason why): done, but not a pass.
	EndedEarly bool
	// Blocked names the automated step above that is running or failed:
	// this step cannot be ticked until it settles (it has no buttons).
	Blocked string
	// Elapsed is how long a running step has been running.
	Elapsed time.Duration
	// Progress is a running step's latest progress report ("12m of 30m").
	Progress string
	// Result is a finished step's one-line result ("exit 3: boom").
	Result string
	// LastLine is the last line of an automated step's output when Result
	// does not already say it ("smoke test passed").
	LastLine string
	// AwaitsWindow marks a pending step of a phase that waits for a
	// maintenance window.
	AwaitsWindow bool
	// Attempt is the automated step's attempt (1 on the first run).
	Attempt int
	Buttons []Button
}

// CardState is where a phase stands, as its card shows it.
type CardState string

// The card states.
const (
	// CardCurrent is the phase in progress.
	CardCurrent CardState = "current"
	// CardWaiting is the current phase waiting for a maintenance window.
	CardWaiting CardState = "waiting"
	// CardApproved is a phase someone approved.
	CardApproved CardState = "approved"
	// CardPassed is a phase that passed without needing approval.
	CardPassed CardState = "passed"
	// CardStopped is a phase the run left without approval (aborted, rolled back).
	CardStopped CardState = "stopped"
	// CardNotStarted is a phase the run has not reached.
	CardNotStarted CardState = "not_started"
)

// Settled reports whether the phase is behind the run (approved or passed).
func (s CardState) Settled() bool { return s == CardApproved || s == CardPassed }

// GateKind says what a phase waits for, or why it ended.
type GateKind string

// The gate kinds.
const (
	// GatePassed: the phase passed with no approval needed.
	GatePassed GateKind = "passed"
	// GateApproved: Gate.By approved the phase.
	GateApproved GateKind = "approved"
	// GateStopped: the run ended or left the phase; Gate.Run says how.
	GateStopped GateKind = "stopped"
	// GateWindow: the phase waits for a maintenance window to open.
	GateWindow GateKind = "window"
	// GateStepsOpen: Gate.Open of Gate.Steps steps are not settled yet.
	GateStepsOpen GateKind = "steps_open"
	// GateApprovalExpired: the request for approval expired (Gate.By.At,
	// after Gate.Timeout); someone re-checks and requests approval again.
	GateApprovalExpired GateKind = "approval_expired"
	// GateApproval: every step is settled and the phase waits for an
	// approver (other than Gate.NotBy when that is set).
	GateApproval GateKind = "approval"
	// GateFinishing: every step is settled and nothing is needed; the
	// engine is moving on.
	GateFinishing GateKind = "finishing"
	// GateNotStarted: the run has not reached the phase (or ended before it).
	GateNotStarted GateKind = "not_started"
)

// Gate is what a phase waits for, or how it ended.
type Gate struct {
	Kind GateKind
	// By is who approved and when (GateApproved), or when the request
	// expired (GateApprovalExpired, with no Who).
	By *Stamp
	// Open and Steps count the open steps and all steps (GateStepsOpen).
	Open, Steps int
	// Timeout is the phase's approval timeout (GateApprovalExpired).
	Timeout time.Duration
	// NotBy is the person who may not approve (GateApproval, when the
	// runbook asks for a distinct approver).
	NotBy string
	// Run is the run's state (GateStopped).
	Run RunState
	// Opens is when the next maintenance window for the run opens
	// (GateWindow), when it is known: its time in the zone it was booked in.
	Opens *WindowTime
}

// WindowTime is when a maintenance window opens, as people read it.
type WindowTime struct {
	// At is the opening time; Zone the IANA zone it was booked in ("" for UTC).
	At   time.Time
	Zone string
	// In is how long until it opens ("2 h 10 min"), as of the message.
	In string
}

// PhaseCard is one phase's interactive message.
type PhaseCard struct {
	RunID   string
	PhaseID string
	Group   string
	Title   string
	// Index and Total number the phase among the runbook's phases (1-based);
	// Index is 0 on the rollback phase.
	Index, Total int
	// Service is the service deployed (its runbook's name).
	Service string
	Release string
	Env     string
	// Previous is the version a rollback returns to ("" when none
	// completed before); the rollback card says it.
	Previous   string
	Production bool
	Rollback   bool
	State      CardState
	Gate       Gate
	Steps      []StepLine
	Buttons    []Button
}

// RunState is where a run stands: its status and, once it rolled back or
// was aborted, who did it and why; once it ended, how long it took.
type RunState struct {
	Status deploy.Status
	// By and Reason are who rolled the run back or aborted it, and why.
	By, Reason string
	// Took is the run's total duration once it ended (was deployed).
	Took time.Duration
	// FollowUps is the open follow-up phase of a deployed run.
	FollowUps string
}

// PhaseState is a phase's line on the summary.
type PhaseState string

// The phase states of the summary.
const (
	PhasePending    PhaseState = "pending"
	PhaseInProgress PhaseState = "in_progress"
	PhaseApproved   PhaseState = "approved"
	PhasePassed     PhaseState = "passed"
	PhaseStopped    PhaseState = "stopped"
)

// PhaseLine is one phase on the summary.
type PhaseLine struct {
	Title string
	State PhaseState
	// ApprovedBy mentions the approver (PhaseApproved).
	ApprovedBy string
}

// Summary is a run's summary message, kept up to date.
type Summary struct {
	RunID, Release, Env string
	// Service is the service deployed (its runbook's name).
	Service string
	// Previous is the version a rollback returns to ("" when none
	// completed before).
	Previous  string
	StartedBy string
	Run       RunState
	// PhaseTitle is the current phase's title while the run is live.
	PhaseTitle     string
	Settled, Total int
	Started        time.Time
	Phases         []PhaseLine
}

// NoticeKind names a notice.
type NoticeKind string

// The notice kinds.
const (
	NoticeAnnouncement NoticeKind = "announcement"
	NoticeCompletion   NoticeKind = "completion"
	NoticeRollback     NoticeKind = "rollback"
	NoticeRolledBack   NoticeKind = "rolled_back"
	NoticeAborted      NoticeKind = "aborted"
	NoticeReminder     NoticeKind = "reminder"
	NoticeWindowOpen   NoticeKind = "window_open"
	NoticeWindowClose  NoticeKind = "window_closing"
	NoticeText         NoticeKind = "text"
	// NoticeAsk asks a phase's approvers, by mention, to approve it.
	NoticeAsk NoticeKind = "ask"
)

// Icon is the symbol a notice leads with; each renderer draws it its own
// way (an emoji in chat, a drawn icon in the console).
type Icon string

// The notice icons.
const (
	IconNone       Icon = ""
	IconStart      Icon = "start"
	IconDone       Icon = "done"
	IconAlert      Icon = "alert"
	IconRolledBack Icon = "rolledback"
	IconStopped    Icon = "stopped"
	IconClock      Icon = "clock"
	IconOpen       Icon = "open"
	IconClosing    Icon = "closing"
	IconWarning    Icon = "warning"
	IconApproval   Icon = "approval"
)

// Notice is a message posted without being asked: announcement, completion,
// rollback, reminders.
type Notice struct {
	Kind NoticeKind
	// Icon leads the title; IconNone for plain text notices.
	Icon  Icon
	RunID string
	// Service is the service of the run the notice is about ("" for
	// notices about no run).
	Service string
	// Title is the notice's headline, without an icon.
	Title string
	// Fields are label/value pairs ("Version", "v1.4").
	Fields []Field
	// Lines are further lines of text.
	Lines   []string
	Buttons []Button
	// Mentions are the people and groups the notice asks (NoticeAsk); each
	// chat renderer writes them as mentions that notify.
	Mentions []Mention
	// AuditHead is the head of the run's audit chain (Run.AuditHead) on the
	// completion, rollback, rolled-back and abort notices: every renderer
	// ends the notice with AuditLine, so a copy of the head lives in chat.
	AuditHead string
}

// AuditLine is the notice's last line, "audit " and the first 12
// characters of the audit chain's head; "" when the notice has none.
func (n Notice) AuditLine() string {
	if n.AuditHead == "" {
		return ""
	}
	return "audit " + deploy.ShortHash(n.AuditHead)
}

// Mention is one runbook approver entry to notify.
type Mention struct {
	// ID is the user ID (Slack "U…", Discord snowflake), the Discord role
	// ID (Role), or the Slack user-group ID when the front resolved it.
	ID string
	// Handle is the Slack user-group handle ("release-managers") of a
	// group entry ("@release-managers").
	Handle string
	// Role marks a Discord role entry ("&123…" in the runbook).
	Role bool
}

// Field is a label and a value.
type Field struct{ Label, Value string }

// BuildSummary builds a run's summary.
func BuildSummary(r *deploy.Run, now time.Time) Summary {
	settled, total := r.Progress()
	s := Summary{
		RunID: r.ID, Service: ServiceOf(r), Release: r.Release, Env: r.Env, Previous: r.Previous, StartedBy: r.Started.Mention(), Run: runState(r),
		Settled: settled, Total: total, Started: r.Created,
	}
	if r.Status.Open() {
		s.PhaseTitle = r.PhaseTitle(r.Phase)
	}
	for i := range r.Phases {
		p := &r.Phases[i]
		l := PhaseLine{Title: r.PhaseTitle(i), State: PhasePending}
		switch {
		case p.Approval != nil && p.Approval.By.ID == deploy.System.ID:
			l.State = PhasePassed
		case p.Approval != nil:
			l.State, l.ApprovedBy = PhaseApproved, p.Approval.By.Mention()
		case i == r.Phase && r.Status.Open():
			l.State = PhaseInProgress
		case !p.Ended.IsZero() || (!p.Started.IsZero() && !r.Status.Live()):
			l.State = PhaseStopped
		}
		s.Phases = append(s.Phases, l)
	}
	return s
}

// runState is where run r stands.
func runState(r *deploy.Run) RunState {
	st := RunState{Status: r.Status}
	switch r.Status {
	case deploy.StatusRollingBack, deploy.StatusRolledBack:
		if r.Rollback != nil {
			st.By, st.Reason = r.Rollback.By.Mention(), r.Rollback.Reason
		}
	case deploy.StatusAborted:
		if r.AbortedBy != nil {
			st.By = r.AbortedBy.Mention()
		}
		st.Reason = r.AbortReason
	case deploy.StatusDeployed:
		st.FollowUps = r.PhaseTitle(r.Phase)
	}
	if !r.Status.Live() && !r.Ended.IsZero() {
		st.Took = r.Ended.Sub(r.Created)
	}
	return st
}

// statusText words where run r stands (/deploy list and status).
func statusText(r *deploy.Run, _ time.Time) string { return RunStatusText(runState(r)) }

// Human renders a duration for people ("1h 05m", "12m", "40s").
func Human(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	default:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
}

// BuildCard builds phase i of a run as a card, with the buttons that apply now.
func BuildCard(r *deploy.Run, i int, now time.Time) PhaseCard {
	p := &r.Phases[i]
	def := r.PhaseDef(i)
	c := PhaseCard{
		RunID: r.ID, PhaseID: p.ID, Group: def.Group, Title: r.PhaseTitle(i), Total: len(r.Runbook.Phases),
		Service: ServiceOf(r), Release: r.Release, Env: r.Env, Previous: r.Previous, Production: def.Production, Rollback: p.ID == deploy.RollbackPhaseID,
	}
	if !c.Rollback {
		c.Index = i + 1
	}
	current := i == r.Phase && r.Status.Open()
	waiting := r.WaitsForWindow(i)
	for j := range p.Steps {
		s := &p.Steps[j]
		sd := &def.Steps[j]
		line := StepLine{ID: s.ID, Title: r.StepTitle(i, j), State: s.State, Automated: sd.Automated(), Adapter: sd.Run, Attempt: s.Attempt}
		if s.By != nil && (s.State != deploy.StepPending) {
			line.By = &Stamp{Who: s.By.Mention(), At: s.At, Ago: deploy.Ago(now, s.At)}
		}
		said := ""
		switch {
		case s.State == deploy.StepSkipped:
			line.Reason, said = s.Reason, s.Reason
		case s.EndedEarly:
			line.EndedEarly, line.Reason, said = true, s.Reason, s.Result
		case s.State == deploy.StepRunning:
			line.Elapsed, line.Progress = now.Sub(s.Started), s.Progress
		case s.Result != "":
			line.Result, said = s.Result, s.Result
		case waiting && s.State == deploy.StepPending:
			line.AwaitsWindow = true
		}
		if last := LastLine(s.Output); last != "" && !strings.Contains(said, last) && s.State != deploy.StepRunning {
			line.LastLine = last
		}
		if k := r.BlockedBy(i, j); k >= 0 && !s.State.Settled() && s.State != deploy.StepRunning {
			line.Blocked = r.StepTitle(i, k)
		}
		if current && !waiting && line.Blocked == "" {
			line.Buttons = stepButtons(r, p, s, sd)
		}
		c.Steps = append(c.Steps, line)
	}
	c.State, c.Gate = gate(r, i, now, waiting)
	if current {
		c.Buttons = phaseButtons(r, i, def, waiting)
	}
	return c
}

func stepButtons(r *deploy.Run, p *deploy.PhaseRun, s *deploy.StepRun, sd *runbook.Step) []Button {
	b := func(label string, act deploy.ActionKind, style Style) Button {
		return Button{Label: label, Action: act, RunID: r.ID, Phase: p.ID, Step: s.ID, Style: style}
	}
	skip := b("Skip", deploy.ActSkip, StyleDefault)
	skip.NeedsReason = true
	switch {
	case s.State == deploy.StepPending && !sd.Automated():
		return []Button{b("Done", deploy.ActDone, StylePrimary), skip}
	case s.State == deploy.StepRunning && sd.Run == "watch":
		end := b("End watch", deploy.ActEndWatch, StyleDefault)
		end.NeedsReason = true // the reason dialog is the confirmation
		return []Button{end}
	case s.State == deploy.StepFailed || s.State == deploy.StepInterrupted:
		retry := b("Retry", deploy.ActRetry, StylePrimary)
		retry.Attempt = s.Attempt
		return []Button{retry, skip}
	}
	return nil
}

func phaseButtons(r *deploy.Run, i int, def *runbook.Phase, waiting bool) []Button {
	p := &r.Phases[i]
	var out []Button
	if r.Status != deploy.StatusActive && r.Status != deploy.StatusDeployed {
		return nil
	}
	if waiting {
		out = append(out, Button{Label: "Start outside window", Action: deploy.ActOverrideWindow, RunID: r.ID, Phase: p.ID, NeedsReason: true,
			Confirm: &Confirm{Title: "Start outside a window?", Text: "The phase will start now, outside any maintenance window. Your reason goes in the audit log.", OK: "Start now", Cancel: "Wait"}})
	}
	allSettled := true
	for _, s := range p.Steps {
		if !s.State.Settled() {
			allSettled = false
		}
	}
	if allSettled && def.NeedsApproval() && p.Approval == nil && !p.ApprovalExpired.IsZero() {
		out = append(out, Button{Label: "Request approval", Action: deploy.ActRequestApproval, RunID: r.ID, Phase: p.ID, Style: StylePrimary})
	} else if allSettled && def.NeedsApproval() && p.Approval == nil {
		ap := Button{Label: "Approve", Action: deploy.ActApprove, RunID: r.ID, Phase: p.ID, Style: StylePrimary}
		if def.Production {
			ap.Confirm = &Confirm{Title: "Approve production phase?", Text: fmt.Sprintf("Approve %q of %s on %s?", r.PhaseTitle(i), r.Release, r.Env), OK: "Approve", Cancel: "Cancel"}
		}
		out = append(out, ap)
	}
	if r.CanRollBack() {
		out = append(out, Button{Label: "Rollback", Action: deploy.ActRollback, RunID: r.ID, Phase: p.ID, Style: StyleDanger, NeedsReason: true,
			Confirm: &Confirm{Title: "Roll back?", Text: fmt.Sprintf("This starts the rollback procedure for %s on %s.", r.Release, r.Env), OK: "Roll back", Cancel: "Cancel"}})
	}
	if r.CanAbort() {
		// Before a production phase a run is aborted, not rolled back.
		out = append(out, Button{Label: "Abort", Action: deploy.ActAbort, RunID: r.ID, Phase: p.ID, Style: StyleDanger, NeedsReason: true,
			Confirm: &Confirm{Title: "Abort the run?", Text: fmt.Sprintf("This ends the deployment of %s to %s; nothing was deployed yet.", r.Release, r.Env), OK: "Abort", Cancel: "Cancel"}})
	}
	return out
}

func gate(r *deploy.Run, i int, now time.Time, waiting bool) (CardState, Gate) {
	p := &r.Phases[i]
	def := r.PhaseDef(i)
	switch {
	case p.Approval != nil && p.Approval.By.ID == deploy.System.ID:
		return CardPassed, Gate{Kind: GatePassed}
	case p.Approval != nil:
		return CardApproved, Gate{Kind: GateApproved, By: &Stamp{Who: p.Approval.By.Mention(), At: p.Approval.At, Ago: deploy.Ago(now, p.Approval.At)}}
	case p.Started.IsZero() && (i != r.Phase || !r.Status.Open()):
		return CardNotStarted, Gate{Kind: GateNotStarted}
	case i != r.Phase || !r.Status.Open():
		return CardStopped, Gate{Kind: GateStopped, Run: runState(r)}
	case waiting:
		g := Gate{Kind: GateWindow}
		if w := p.NextWindow; w != nil {
			g.Opens = &WindowTime{At: w.Start, Zone: w.Zone, In: Until(now, w.Start)}
		}
		return CardWaiting, g
	}
	open := 0
	for _, s := range p.Steps {
		if !s.State.Settled() {
			open++
		}
	}
	switch {
	case open > 0:
		return CardCurrent, Gate{Kind: GateStepsOpen, Open: open, Steps: len(p.Steps)}
	case def.NeedsApproval() && !p.ApprovalExpired.IsZero():
		return CardCurrent, Gate{Kind: GateApprovalExpired, By: &Stamp{At: p.ApprovalExpired, Ago: deploy.Ago(now, p.ApprovalExpired)},
			Timeout: time.Duration(def.ApprovalTimeout)}
	case def.NeedsApproval():
		g := Gate{Kind: GateApproval}
		if r.Runbook.DistinctApprover {
			g.NotBy = r.Started.Mention()
		}
		return CardCurrent, g
	}
	return CardCurrent, Gate{Kind: GateFinishing}
}

// plural is n and the noun, with an s unless n is 1 ("1 phase", "3 steps").
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Announcement is the notice posted when a run starts.
func Announcement(r *deploy.Run) Notice {
	return Notice{Kind: NoticeAnnouncement, Icon: IconStart, RunID: r.ID, Service: ServiceOf(r),
		Title: servicePrefix(r) + fmt.Sprintf("Deployment of %s to %s started", r.Release, r.Env),
		Fields: []Field{{"Service", ServiceOf(r)}, {"Version", r.Release}, {"Environment", r.Env}, {"Started by", r.Started.Mention()}, {"Run", r.ID},
			{"Runbook", fmt.Sprintf("%s (%s, %s)", r.Runbook.Name, plural(len(r.Runbook.Phases), "phase"), plural(r.Runbook.StepCount(), "step"))}}}
}

// Completion is the notice posted when the last phase is approved.
func Completion(r *deploy.Run) Notice {
	n := Notice{Kind: NoticeCompletion, Icon: IconDone, RunID: r.ID, Service: ServiceOf(r), AuditHead: r.AuditHead,
		Title:  servicePrefix(r) + fmt.Sprintf("%s is deployed to %s", r.Release, r.Env),
		Fields: []Field{{"Service", ServiceOf(r)}, {"Version", r.Release}, {"Environment", r.Env}, {"Run", r.ID}, {"Total duration", Human(r.Ended.Sub(r.Created))}}}
	var approvers []string
	seen := map[string]bool{}
	for i := range r.Phases {
		p := &r.Phases[i]
		def := r.PhaseDef(i)
		d := "—"
		if !p.Started.IsZero() && !p.Ended.IsZero() {
			d = Human(p.Ended.Sub(p.Started))
		}
		if def.FollowUp {
			if p.Ended.IsZero() {
				d = "open (follow-up)"
			}
		}
		n.Lines = append(n.Lines, fmt.Sprintf("%s: %s", r.PhaseTitle(i), d))
		if p.Approval != nil && p.Approval.By.ID != deploy.System.ID && !seen[p.Approval.By.ID] {
			seen[p.Approval.By.ID] = true
			approvers = append(approvers, p.Approval.By.Mention())
		}
	}
	if len(approvers) > 0 {
		n.Fields = append(n.Fields, Field{"Approvers", strings.Join(approvers, ", ")})
	}
	skipped := SkippedSteps(r)
	if len(skipped) == 0 {
		n.Lines = append(n.Lines, "Skipped or ended early: none")
	} else {
		n.Lines = append(n.Lines, "Skipped or ended early:")
		n.Lines = append(n.Lines, skipped...)
	}
	if r.Status == deploy.StatusDeployed {
		n.Lines = append(n.Lines, fmt.Sprintf("Follow-ups stay open on run %s (%s); %s is free for the next deployment.", r.ID, r.PhaseTitle(r.Phase), r.Env))
	}
	return n
}

// SkippedSteps lists the run's skipped steps and the watches ended early,
// with who did it and why.
func SkippedSteps(r *deploy.Run) []string {
	var out []string
	for i := range r.Phases {
		for j, s := range r.Phases[i].Steps {
			if s.State != deploy.StepSkipped && !s.EndedEarly {
				continue
			}
			who := ""
			if s.By != nil {
				who = " by " + s.By.Mention()
			}
			what := "skipped"
			if s.EndedEarly {
				what = "ended early"
			}
			out = append(out, fmt.Sprintf("• %s — %s%s: %s", r.StepTitle(i, j), what, who, s.Reason))
		}
	}
	return out
}

// AskApprovers is the message that asks phase i's approvers, by mention,
// to approve it: one new message in the run's thread per request. The
// starter is not asked when the two-person rule excludes them; a runbook
// that names no approvers asks nobody in particular.
func AskApprovers(r *deploy.Run, i int) Notice {
	n := Notice{Kind: NoticeAsk, Icon: IconApproval, RunID: r.ID, Service: ServiceOf(r)}
	for _, a := range r.Approvers() {
		if r.Runbook.DistinctApprover && a == r.Started.ID {
			continue
		}
		switch {
		case strings.HasPrefix(a, "@"):
			n.Mentions = append(n.Mentions, Mention{Handle: strings.TrimPrefix(a, "@")})
		case strings.HasPrefix(a, "&"):
			n.Mentions = append(n.Mentions, Mention{ID: strings.TrimPrefix(a, "&"), Role: true})
		case strings.HasPrefix(a, "console:"):
			// console sign-ins are not mentioned in chat
		default:
			n.Mentions = append(n.Mentions, Mention{ID: a})
		}
	}
	anyone := "anyone"
	if r.Runbook.DistinctApprover {
		anyone = "anyone but " + r.Started.Mention() + " (who started the run)"
	}
	if len(n.Mentions) == 0 {
		n.Title = servicePrefix(r) + fmt.Sprintf("“%s” of %s to %s is ready for approval by %s", r.PhaseTitle(i), r.Release, r.Env, anyone)
	} else {
		n.Title = servicePrefix(r) + fmt.Sprintf("“%s” of %s to %s is ready for your approval", r.PhaseTitle(i), r.Release, r.Env)
		if r.Runbook.DistinctApprover {
			n.Lines = append(n.Lines, r.Started.Mention()+" started the run and may not approve it (two-person rule).")
		}
	}
	n.Lines = append(n.Lines, "Approve on the phase's card in this thread, or with /deploy approve "+r.ID+".")
	return n
}

// RollbackNotice is the notice posted when a rollback starts.
func RollbackNotice(r *deploy.Run) Notice {
	rb := r.Rollback
	from := rb.FromPhase
	if i := r.FindPhase(rb.FromPhase); i >= 0 {
		from = r.PhaseTitle(i)
	}
	return Notice{Kind: NoticeRollback, Icon: IconAlert, RunID: r.ID, Service: ServiceOf(r), AuditHead: r.AuditHead,
		Title: servicePrefix(r) + fmt.Sprintf("Rolling back %s on %s", r.Release, r.Env),
		Fields: []Field{{"Service", ServiceOf(r)}, {"Version", r.Release}, {"Environment", r.Env}, {"Returns to", ReturnsTo(r.Previous)},
			{"Run", r.ID}, {"By", rb.By.Mention()}, {"Reason", rb.Reason}, {"From phase", from}},
		Lines: []string{fmt.Sprintf("The rollback procedure (%d steps) is posted in the run's thread.", len(r.Runbook.Rollback.Steps))}}
}

// RolledBackNotice is the final notice of a rollback.
func RolledBackNotice(r *deploy.Run) Notice {
	n := Notice{Kind: NoticeRolledBack, Icon: IconRolledBack, RunID: r.ID, Service: ServiceOf(r), AuditHead: r.AuditHead,
		Title:  servicePrefix(r) + fmt.Sprintf("%s on %s is rolled back", r.Release, r.Env),
		Fields: []Field{{"Service", ServiceOf(r)}, {"Version", r.Release}, {"Environment", r.Env}, {"Returned to", ReturnsTo(r.Previous)}, {"Run", r.ID}, {"Reason", r.Rollback.Reason}, {"Total duration", Human(r.Ended.Sub(r.Created))}}}
	if sk := SkippedSteps(r); len(sk) > 0 {
		n.Lines = append([]string{"Skipped steps:"}, sk...)
	}
	return n
}

// AbortNotice is the notice posted when a run is aborted.
func AbortNotice(r *deploy.Run) Notice {
	return Notice{Kind: NoticeAborted, Icon: IconStopped, RunID: r.ID, Service: ServiceOf(r), AuditHead: r.AuditHead,
		Title:  servicePrefix(r) + fmt.Sprintf("Deployment of %s to %s aborted", r.Release, r.Env),
		Fields: []Field{{"Service", ServiceOf(r)}, {"Version", r.Release}, {"Environment", r.Env}, {"Run", r.ID}, {"By", r.AbortedBy.Mention()}, {"Reason", r.AbortReason}}}
}

// LastLine returns the last non-empty line of a step's output, at most 200
// bytes, as the cards show it.
func LastLine(out string) string {
	l := adapters.LastLine(out)
	if len(l) > 200 {
		l = strings.ToValidUTF8(l[:200], "") + "…"
	}
	return l
}

// ReturnsTo words the version a rollback returns to ("v1.3", or "no
// earlier completed version").
func ReturnsTo(previous string) string {
	if previous == "" {
		return "no earlier completed version"
	}
	return previous
}

// what names a service's version ("payments-api v1.4"), or the version
// alone when the service is unknown.
func what(service, release string) string {
	if service == "" {
		return release
	}
	return service + " " + release
}

// What names what the run deploys ("payments-api v1.4").
func (s Summary) What() string { return what(s.Service, s.Release) }

// What names what the run deploys ("payments-api v1.4").
func (c PhaseCard) What() string { return what(c.Service, c.Release) }

// ReturnsTo says what the rollback of the card's run returns to, for the
// rollback card ("returns to v1.3", "no earlier completed version").
func (c PhaseCard) ReturnsTo() string {
	if c.Previous == "" {
		return "no earlier completed version to return to"
	}
	return "returns to " + c.Previous
}

// servicePrefix leads a notice's title with the run's service ("api: "),
// or nothing when the run names none.
func servicePrefix(r *deploy.Run) string {
	if s := ServiceOf(r); s != "" {
		return s + ": "
	}
	return ""
}
