package deploy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"deploybot/runbook"
)

// txn is one transition being computed on a copy of a run.
type txn struct {
	e        *Engine
	run      *Run
	now      time.Time
	actor    Actor
	entries  []AuditEntry
	events   []Event
	schedule []DueItem
	cancel   []string
	dirty    bool // the document changed without an audit entry or event (progress)
}

// audit records an audit entry of the transition. The engine seals the
// entries (SealAudit: final rev, Prev and Hash, the run's AuditHead) just
// before the transition's one Store.Apply.
func (t *txn) audit(action, phase, step, reason, before, after string) {
	t.entries = append(t.entries, AuditEntry{
		RunID: t.run.ID, At: t.now, Actor: t.actor, Action: action, Phase: phase, Step: step,
		Reason: reason, Before: before, After: after, Rev: t.run.Rev,
	})
}

// by returns a copy of the transition's actor for a step or run to point
// at: nothing stored keeps the transition itself alive (the store's step
// cache holds steps by value).
func (t *txn) by() *Actor {
	a := t.actor
	return &a
}

func (t *txn) emit(ev Event) {
	ev.RunID = t.run.ID
	if ev.Actor.ID == "" {
		ev.Actor = t.actor
	}
	t.events = append(t.events, ev)
}

// locate finds a step by phase and step id; phase "" means the current phase.
func (t *txn) locate(phase, step string) (int, int, error) {
	pi := t.run.Phase
	if phase != "" {
		pi = t.run.FindPhase(phase)
		if pi < 0 {
			return 0, 0, userErr(ErrInvalid, "no phase %q in run %s", phase, t.run.ID)
		}
	}
	if step == "" {
		return pi, -1, nil
	}
	for j := range t.run.Phases[pi].Steps {
		if t.run.Phases[pi].Steps[j].ID == step {
			return pi, j, nil
		}
	}
	return 0, 0, userErr(ErrInvalid, "no step %q in phase %q", step, t.run.Phases[pi].ID)
}

// settledBy describes who settled a step and when ("done by @ana 2 min ago").
func (t *txn) settledBy(s *StepRun) string {
	who := "deploybot"
	if s.By != nil {
		who = s.By.Mention()
	}
	return fmt.Sprintf("already %s by %s %s", s.State, who, Ago(t.now, s.At))
}

func (t *txn) act(ctx context.Context, a Action) error {
	r := t.run
	if err := t.permit(a); err != nil {
		return err
	}
	switch a.Kind {
	case ActRollback:
		if r.Status == StatusActive && !r.CanRollBack() {
			first := r.PhaseTitle(r.FirstProduction())
			return userErr(ErrInvalid, "nothing of run %s is deployed yet (%q has not started), so there is nothing to roll back: abort it instead with /deploy abort %s REASON", r.ID, first, r.ID)
		}
		return t.rollback(ctx, a.Reason)
	case ActAbort:
		return t.abort(a.Reason)
	}
	if !r.Status.Open() {
		return userErr(ErrAlreadyDone, "run %s is already %s", r.ID, statusWord(r))
	}
	pi, sj, err := t.locate(a.Phase, a.Step)
	if err != nil {
		return err
	}
	if pi != r.Phase {
		if a.Kind == ActApprove && a.Choice == ChoiceNamed {
			return t.notWaiting(pi)
		}
		if pi < r.Phase {
			return t.stalePhase(pi)
		}
		return userErr(ErrInvalid, "phase %q has not started yet; finish %q first", r.Phases[pi].ID, r.PhaseTitle(r.Phase))
	}
	switch a.Kind {
	case ActDone:
		return t.done(pi, sj)
	case ActEndWatch:
		return t.endWatch(pi, sj, a.Reason)
	case ActSkip:
		return t.skip(pi, sj, a.Reason)
	case ActRetry:
		return t.retry(ctx, pi, sj, a.Attempt)
	case ActApprove:
		return t.approve(ctx, pi, a.Reason, a.Choice)
	case ActOverrideWindow:
		return t.overrideWindow(ctx, pi, a.Reason)
	case ActRequestApproval:
		return t.requestApproval(pi)
	}
	return userErr(ErrInvalid, "unknown action %q", a.Kind)
}

func statusWord(r *Run) string { return strings.ReplaceAll(string(r.Status), "_", " ") }

// stalePhase answers a click on a phase that is no longer current.
func (t *txn) stalePhase(pi int) error {
	p := &t.run.Phases[pi]
	if p.Approval != nil {
		return userErr(ErrAlreadyDone, "%q was already approved by %s %s", t.run.PhaseTitle(pi), p.Approval.By.Mention(), Ago(t.now, p.Approval.At))
	}
	return userErr(ErrAlreadyDone, "%q is no longer the current phase", t.run.PhaseTitle(pi))
}

func (t *txn) needStep(sj int) error {
	if sj < 0 {
		return userErr(ErrInvalid, "which step? the button names one")
	}
	return nil
}

func (t *txn) done(pi, sj int) error {
	if err := t.needStep(sj); err != nil {
		return err
	}
	s := &t.run.Phases[pi].Steps[sj]
	def := t.run.StepDef(pi, sj)
	switch {
	case s.State.Settled():
		return userErr(ErrAlreadyDone, "%q is %s", t.run.StepTitle(pi, sj), t.settledBy(s))
	case def.Run == "watch" && s.State == StepRunning:
		return userErr(ErrInvalid, "%q is still watching: End watch (approvers, with a reason) ends it early", t.run.StepTitle(pi, sj))
	case def.Automated():
		return userErr(ErrInvalid, "%q is automated: it runs by itself (Retry or Skip it if it failed)", t.run.StepTitle(pi, sj))
	}
	if err := t.inOrder(pi, sj, "ticked"); err != nil {
		return err
	}
	before := string(s.State)
	s.State, s.By, s.At = StepDone, t.by(), t.now
	t.audit("done", t.run.Phases[pi].ID, s.ID, "", before, string(StepDone))
	t.emit(Event{Kind: EventStepChanged, Phase: t.run.Phases[pi].ID, Step: s.ID})
	return t.advance(context.Background())
}

// inOrder refuses to settle step sj of phase pi out of order: nothing in a
// phase that waits for its maintenance window, nothing below an automated
// step that is running or failed. Manual steps keep their free order.
func (t *txn) inOrder(pi, sj int, verb string) error {
	r := t.run
	if r.WaitsForWindow(pi) {
		open, err := t.gateOpen(context.Background())
		if err != nil {
			return err
		}
		if !open {
			return userErr(ErrInvalid, "%q waits for its maintenance window: nothing in it can be %s before the window opens (an approver can Start outside window)", r.PhaseTitle(pi), verb)
		}
	}
	if k := r.BlockedBy(pi, sj); k >= 0 {
		above := r.StepTitle(pi, k)
		if r.Phases[pi].Steps[k].State == StepRunning {
			return userErr(ErrInvalid, "%q cannot be %s yet: %q above it is still running; wait for it to finish", r.StepTitle(pi, sj), verb, above)
		}
		return userErr(ErrInvalid, "%q cannot be %s yet: %q above it %s; retry or skip it first", r.StepTitle(pi, sj), verb, above, r.Phases[pi].Steps[k].State)
	}
	return nil
}

// endWatch ends a running watch early: approvers only, with a reason; the
// step is done but marked as ended early.
func (t *txn) endWatch(pi, sj int, reason string) error {
	if err := t.needStep(sj); err != nil {
		return err
	}
	s := &t.run.Phases[pi].Steps[sj]
	def := t.run.StepDef(pi, sj)
	switch {
	case s.State.Settled():
		return userErr(ErrAlreadyDone, "%q is %s", t.run.StepTitle(pi, sj), t.settledBy(s))
	case def.Run != "watch" || s.State != StepRunning:
		return userErr(ErrInvalid, "%q is not a running watch: there is nothing to end early", t.run.StepTitle(pi, sj))
	}
	if err := needApprover(t.run.Rules(), t.actor, "end a running watch early"); err != nil {
		return err
	}
	if strings.TrimSpace(reason) == "" {
		return userErr(ErrInvalid, "ending the watch %q early needs a reason", t.run.StepTitle(pi, sj))
	}
	t.cancel = append(t.cancel, StepItem{RunID: t.run.ID, Phase: t.run.Phases[pi].ID, Step: s.ID, Attempt: s.Attempt}.ItemID())
	watched := runbook.Duration(t.now.Sub(s.Started).Round(time.Second)).String()
	s.State, s.By, s.At, s.Reason, s.EndedEarly = StepDone, t.by(), t.now, reason, true
	s.Result, s.Progress, s.Beat = fmt.Sprintf("ended early after %s by %s: %s", watched, t.actor.Mention(), reason), "", time.Time{}
	t.audit("end_watch", t.run.Phases[pi].ID, s.ID, reason, string(StepRunning), string(StepDone))
	t.emit(Event{Kind: EventStepChanged, Phase: t.run.Phases[pi].ID, Step: s.ID, Reason: reason})
	return t.advance(context.Background())
}

func (t *txn) skip(pi, sj int, reason string) error {
	if err := t.needStep(sj); err != nil {
		return err
	}
	s := &t.run.Phases[pi].Steps[sj]
	def := t.run.StepDef(pi, sj)
	if s.State.Settled() {
		return userErr(ErrAlreadyDone, "%q is %s", t.run.StepTitle(pi, sj), t.settledBy(s))
	}
	if def.Automated() {
		if err := needApprover(t.run.Rules(), t.actor, "skip an automated step"); err != nil {
			return err
		}
	}
	if strings.TrimSpace(reason) == "" {
		return userErr(ErrInvalid, "skipping %q needs a reason", t.run.StepTitle(pi, sj))
	}
	if err := t.inOrder(pi, sj, "skipped"); err != nil {
		return err
	}
	if s.State == StepRunning {
		if def.Run != "watch" {
			return userErr(ErrInvalid, "%q is running; wait for it, or roll back", t.run.StepTitle(pi, sj))
		}
		t.cancel = append(t.cancel, StepItem{RunID: t.run.ID, Phase: t.run.Phases[pi].ID, Step: s.ID, Attempt: s.Attempt}.ItemID())
	}
	before := string(s.State)
	s.State, s.By, s.At, s.Reason = StepSkipped, t.by(), t.now, reason
	t.audit("skip", t.run.Phases[pi].ID, s.ID, reason, before, string(StepSkipped))
	t.emit(Event{Kind: EventStepChanged, Phase: t.run.Phases[pi].ID, Step: s.ID, Reason: reason})
	return t.advance(context.Background())
}

func (t *txn) retry(ctx context.Context, pi, sj, seen int) error {
	if err := t.needStep(sj); err != nil {
		return err
	}
	s := &t.run.Phases[pi].Steps[sj]
	def := t.run.StepDef(pi, sj)
	switch {
	case !def.Automated():
		return userErr(ErrInvalid, "%q is a manual step: tick it with Done", t.run.StepTitle(pi, sj))
	case s.State.Settled():
		return userErr(ErrAlreadyDone, "%q is %s", t.run.StepTitle(pi, sj), t.settledBy(s))
	case s.State == StepRunning || s.State == StepPending:
		return userErr(ErrAlreadyDone, "%q was already retried: it is %s (attempt %d)", t.run.StepTitle(pi, sj), s.State, s.Attempt)
	case seen > 0 && seen != s.Attempt:
		return userErr(ErrAlreadyDone, "%q was already retried after attempt %d; attempt %d has %s since (%s)", t.run.StepTitle(pi, sj), seen, s.Attempt, s.State, s.Result)
	}
	before := string(s.State)
	s.State, s.By, s.At, s.Result, s.Output = StepPending, t.by(), t.now, "", ""
	t.audit("retry", t.run.Phases[pi].ID, s.ID, "", before, string(StepPending))
	t.emit(Event{Kind: EventStepChanged, Phase: t.run.Phases[pi].ID, Step: s.ID})
	return t.advance(ctx)
}

// notWaiting refuses a command that named phase pi, which is not the
// current one.
func (t *txn) notWaiting(pi int) error {
	r := t.run
	kind := ErrInvalid
	why := ""
	if p := &r.Phases[pi]; pi < r.Phase && p.Approval != nil {
		kind = ErrAlreadyDone
		why = fmt.Sprintf(" (approved by %s %s)", p.Approval.By.Mention(), Ago(t.now, p.Approval.At))
	}
	return userErr(kind, "phase %s is not waiting for approval%s; the run is at phase %s", r.PhaseLabel(pi), why, r.PhaseLabel(r.Phase))
}

// unnamedApproval refuses an approval of phase pi by a command that named
// no phase when that is not safe: a production phase, or a phase that
// became current right after the same person approved another one (a
// command sent twice, an up-arrow and Enter). The refusal names the phase
// and the command that approves it by name.
func (t *txn) unnamedApproval(pi int) error {
	r := t.run
	byName := fmt.Sprintf("/deploy approve %s %s", r.ID, r.Phases[pi].ID)
	if r.PhaseDef(pi).Production {
		return userErr(ErrInvalid, "phase %s of run %s is waiting for approval and is a production phase: an approve that does not name it approves nothing. "+
			"Approve it by name: %s (or click its Approve button, which asks you to confirm)", r.PhaseLabel(pi), r.ID, byName)
	}
	for k := range r.Phases {
		ap := r.Phases[k].Approval
		if k == pi || ap == nil || ap.By.ID != t.actor.ID || ap.By.Platform != t.actor.Platform {
			continue
		}
		if t.now.Sub(ap.At) < DoubleSubmitWindow {
			return userErr(ErrInvalid, "phase %s of run %s is waiting for approval, but you approved phase %s %s: nothing was approved, in case this approve was sent twice. "+
				"Approve it by name: %s", r.PhaseLabel(pi), r.ID, r.PhaseLabel(k), Ago(t.now, ap.At), byName)
		}
	}
	return nil
}

func (t *txn) approve(ctx context.Context, pi int, note string, choice PhaseChoice) error {
	r := t.run
	p := &r.Phases[pi]
	def := r.PhaseDef(pi)
	if r.Status != StatusActive && r.Status != StatusDeployed {
		return userErr(ErrInvalid, "run %s is %s: there is nothing to approve", r.ID, statusWord(r))
	}
	if p.Approval != nil {
		return userErr(ErrAlreadyDone, "%q was already approved by %s %s", r.PhaseTitle(pi), p.Approval.By.Mention(), Ago(t.now, p.Approval.At))
	}
	if rules := r.Rules(); !IsApprover(rules, t.actor) {
		if len(rules.Approvers) == 0 {
			return userErr(ErrNotAllowed, "only this runbook's operators may approve (%s)", WhoOperates(rules))
		}
		if len(r.Policy().Approvers) > 0 {
			return userErr(ErrNotAllowed, "you are not on this runbook's approver list for %s (%s)", r.Env, strings.Join(rules.Approvers, ", "))
		}
		return userErr(ErrNotAllowed, "you are not on this runbook's approver list (%s)", strings.Join(rules.Approvers, ", "))
	}
	if r.Runbook.DistinctApprover && t.actor.ID == r.Started.ID && t.actor.Platform == r.Started.Platform {
		return userErr(ErrNotAllowed, "you started this run, so someone else must approve %q (two-person rule)", r.PhaseTitle(pi))
	}
	open := 0
	for _, s := range p.Steps {
		if !s.State.Settled() {
			open++
		}
	}
	if open > 0 {
		return userErr(ErrInvalid, "%q still has %d open step(s): tick or skip them before approving", r.PhaseTitle(pi), open)
	}
	if !p.ApprovalExpired.IsZero() {
		return userErr(ErrInvalid, "the request to approve %q expired %s, after %s: check the phase again, then click Request approval", r.PhaseTitle(pi), Ago(t.now, p.ApprovalExpired), def.ApprovalTimeout)
	}
	if choice == ChoiceCurrent {
		if err := t.unnamedApproval(pi); err != nil {
			return err
		}
	}
	p.Approval = &Approval{By: t.actor, At: t.now, Reason: note}
	t.audit("approve", p.ID, "", note, "", "approved")
	t.emit(Event{Kind: EventPhaseApproved, Phase: p.ID})
	t.leavePhase(ctx)
	return t.advance(ctx)
}

func (t *txn) overrideWindow(ctx context.Context, pi int, reason string) error {
	r := t.run
	p := &r.Phases[pi]
	if !r.WindowRequired(pi) {
		return userErr(ErrInvalid, "%q does not wait for a maintenance window", r.PhaseTitle(pi))
	}
	if p.WindowOverride != nil {
		return userErr(ErrAlreadyDone, "the window was already overridden by %s %s", p.WindowOverride.By.Mention(), Ago(t.now, p.WindowOverride.At))
	}
	if !IsApprover(r.Rules(), t.actor) {
		return userErr(ErrNotAllowed, "only approvers can start %q outside a maintenance window", r.PhaseTitle(pi))
	}
	if strings.TrimSpace(reason) == "" {
		return userErr(ErrInvalid, "overriding the maintenance window needs a reason")
	}
	p.WindowOverride = &Approval{By: t.actor, At: t.now, Reason: reason}
	t.audit("override_window", p.ID, "", reason, "", "")
	t.emit(Event{Kind: EventWindowOverridden, Phase: p.ID, Reason: reason})
	return t.advance(ctx)
}

// leavePhase ends the current phase and moves to the next, completing the
// run after the last phase and ending a rollback after its phase.
func (t *txn) leavePhase(ctx context.Context) {
	r := t.run
	p := r.Current()
	p.Ended = t.now
	if p.ID == RollbackPhaseID {
		r.Status, r.Ended = StatusRolledBack, t.now
		t.audit("rolled_back", p.ID, "", "", string(StatusRollingBack), string(StatusRolledBack))
		t.emit(Event{Kind: EventRunRolledBack, Actor: System})
		return
	}
	if r.Phase+1 >= len(r.Runbook.Phases) {
		before := r.Status
		r.Status = StatusCompleted
		if before == StatusDeployed {
			// Ended stays the time it was deployed.
			t.audit("follow_ups_done", "", "", "", string(StatusDeployed), string(StatusCompleted))
			t.emit(Event{Kind: EventFollowUpsDone, Actor: System})
			return
		}
		r.Ended = t.now
		t.audit("complete", "", "", "", string(StatusActive), string(StatusCompleted))
		t.emit(Event{Kind: EventRunCompleted})
		return
	}
	r.Phase++
	if r.Status == StatusActive && r.Runbook.Phases[r.Phase].FollowUp {
		r.Status, r.Ended = StatusDeployed, t.now
		t.audit("deployed", "", "", "", string(StatusActive), string(StatusDeployed))
		t.emit(Event{Kind: EventRunDeployed})
	}
}

// gateOpen reports whether the current phase may run its steps now.
func (t *txn) gateOpen(ctx context.Context) (bool, error) {
	p := t.run.Current()
	if !t.run.WindowRequired(t.run.Phase) || p.WindowOverride != nil || t.e.windows == nil {
		return true, nil
	}
	if !p.WindowOpened.IsZero() {
		return true, nil // it opened once: the phase goes on even if it closed meanwhile
	}
	open, next, err := t.e.windows.Window(ctx, t.run.Service, t.run.Env, t.run.Release, t.now)
	if err != nil {
		return false, fmt.Errorf("window gate: %w", err)
	}
	if open && t.run.Status == StatusActive {
		p.WindowOpened, p.NextWindow = t.now, nil
		t.dirty = true
		t.emit(Event{Kind: EventStepChanged, Phase: p.ID, Actor: System})
	}
	if !open {
		t.noteNextWindow(p, next)
	}
	return open, nil
}

// noteNextWindow records when the next window for the run opens (nil: none
// known), so the waiting phase can say when.
func (t *txn) noteNextWindow(p *PhaseRun, next *WindowAt) {
	if (next == nil) == (p.NextWindow == nil) && (next == nil || (next.Start.Equal(p.NextWindow.Start) && next.Zone == p.NextWindow.Zone)) {
		return
	}
	p.NextWindow = next
	t.dirty = true
	t.emit(Event{Kind: EventStepChanged, Phase: p.ID, Actor: System})
}

// advance moves the run forward as far as it goes by itself: starts the
// current phase, starts the automated step that became due, and passes
// phases that need no approval.
func (t *txn) advance(ctx context.Context) error {
	r := t.run
	for r.Status.Open() {
		p := r.Current()
		if p == nil {
			return nil
		}
		def := r.PhaseDef(r.Phase)
		if p.Started.IsZero() {
			p.Started = t.now
			t.emit(Event{Kind: EventPhaseStarted, Phase: p.ID, Actor: System})
		}
		open, err := t.gateOpen(ctx)
		if err != nil {
			return err
		}
		if open {
			t.passNotices(def, p)
			t.startDue(def, p)
		}
		for _, s := range p.Steps {
			if !s.State.Settled() {
				return nil
			}
		}
		if r.NeedsApproval(r.Phase) {
			t.awaitApproval(p, def)
			return nil
		}
		reason := "no approval required"
		if def.NeedsApproval() {
			// The environment lifts the gate: the bot passes it, audited with why.
			reason = fmt.Sprintf("the runbook says approval: false for %s", r.Env)
			t.auditAs(System, "approve", p.ID, "", reason, "", "passed")
		}
		p.Approval = &Approval{By: System, At: t.now, Reason: reason}
		t.emit(Event{Kind: EventPhaseApproved, Phase: p.ID, Actor: System})
		t.leavePhase(ctx)
	}
	return nil
}

// awaitApproval notes when the phase started waiting for approval and, with
// an approval_timeout, schedules the request's expiry.
func (t *txn) awaitApproval(p *PhaseRun, def *runbook.Phase) {
	if !p.AwaitingSince.IsZero() || p.Approval != nil {
		return
	}
	p.AwaitingSince = t.now
	t.dirty = true
	t.emit(Event{Kind: EventApprovalRequested, Phase: p.ID, Actor: System})
	if def.ApprovalTimeout > 0 {
		x := ExpiryItem{RunID: t.run.ID, Phase: p.ID, Since: t.now}
		t.schedule = append(t.schedule, x.due(t.now.Add(time.Duration(def.ApprovalTimeout))))
	}
}

func (t *txn) expire(x ExpiryItem) error {
	r := t.run
	pi := r.FindPhase(x.Phase)
	if (r.Status != StatusActive && r.Status != StatusDeployed) || pi != r.Phase {
		return errNoChange
	}
	p := &r.Phases[pi]
	if p.Approval != nil || !p.ApprovalExpired.IsZero() || !p.AwaitingSince.Equal(x.Since) {
		return errNoChange // approved, already expired, or a newer request
	}
	p.ApprovalExpired = t.now
	t.audit("approval_expired", p.ID, "", "", "awaiting approval", "expired")
	t.emit(Event{Kind: EventApprovalExpired, Phase: p.ID, Actor: System})
	return nil
}

func (t *txn) requestApproval(pi int) error {
	p := &t.run.Phases[pi]
	def := t.run.PhaseDef(pi)
	if p.ApprovalExpired.IsZero() {
		return userErr(ErrAlreadyDone, "approval of %q is already requested", t.run.PhaseTitle(pi))
	}
	p.ApprovalExpired, p.AwaitingSince = time.Time{}, time.Time{}
	t.audit("request_approval", p.ID, "", "", "expired", "awaiting approval")
	t.emit(Event{Kind: EventStepChanged, Phase: p.ID})
	t.awaitApproval(p, def)
	return nil
}

// passNotices settles the pending notice steps of an open phase: the
// bot's own notice (announcement, completion, rollback) is their output,
// so they are one message with it, not a second one.
func (t *txn) passNotices(def *runbook.Phase, p *PhaseRun) {
	for j := range p.Steps {
		s := &p.Steps[j]
		n := def.Steps[j].Notice
		if n == "" || s.State != StepPending {
			continue
		}
		s.State, s.By, s.At = StepDone, systemActor(), t.now
		switch n {
		case runbook.NoticeAnnouncement:
			s.Result = "the start announcement was posted in the notice channel"
		case runbook.NoticeCompletion:
			s.Result = "the completion notice goes to the notice channel once the run is deployed"
		case runbook.NoticeRollback:
			s.Result = "the rollback notice was posted in the notice channel"
		}
		t.audit("notice_step", p.ID, s.ID, "", string(StepPending), string(StepDone))
		t.emit(Event{Kind: EventStepChanged, Phase: p.ID, Step: s.ID, Actor: System})
	}
}

// startDue starts the first automated step whose steps above are all settled.
func (t *txn) startDue(def *runbook.Phase, p *PhaseRun) {
	for j := range p.Steps {
		s := &p.Steps[j]
		if s.State.Settled() {
			continue
		}
		if s.State == StepPending && def.Steps[j].Automated() {
			s.State, s.Attempt, s.Started, s.At = StepRunning, s.Attempt+1, t.now, t.now
			s.Result, s.Output, s.Progress = "", "", ""
			item := StepItem{RunID: t.run.ID, Phase: p.ID, Step: s.ID, Attempt: s.Attempt}
			t.schedule = append(t.schedule, item.due(t.now))
			t.emit(Event{Kind: EventStepChanged, Phase: p.ID, Step: s.ID, Actor: System})
		}
		return
	}
}

func (t *txn) report(ctx context.Context, rep StepReport) error {
	r := t.run
	pi, sj, err := t.locate(rep.Phase, rep.Step)
	if err != nil {
		return err
	}
	s := &r.Phases[pi].Steps[sj]
	if s.State != StepRunning || s.Attempt != rep.Attempt {
		return userErr(ErrAlreadyDone, "stale report for %s/%s attempt %d (step is %s, attempt %d)", rep.Phase, rep.Step, rep.Attempt, s.State, s.Attempt)
	}
	def := r.StepDef(pi, sj)
	if rep.Beat && !rep.Interrupted {
		s.Progress, s.Beat = rep.Progress, t.now
		t.dirty = true
		t.emit(Event{Kind: EventStepChanged, Phase: rep.Phase, Step: rep.Step})
		return nil
	}
	s.At, s.Progress, s.Beat = t.now, "", time.Time{}
	s.By = systemActor()
	switch {
	case rep.Interrupted:
		s.State, s.Result = StepInterrupted, "interrupted: the bot stopped while this step ran; it will not re-run unless someone clicks Retry"
		t.audit("interrupted", rep.Phase, rep.Step, "", string(StepRunning), string(StepInterrupted))
	case rep.OK:
		s.State, s.Result, s.Output = StepDone, rep.Summary, rep.Output
		t.audit("step_result", rep.Phase, rep.Step, "", string(StepRunning), string(StepDone))
	default:
		s.State, s.Result, s.Output = StepFailed, rep.Summary, rep.Output
		t.audit("step_result", rep.Phase, rep.Step, rep.Summary, string(StepRunning), string(StepFailed))
	}
	t.emit(Event{Kind: EventStepChanged, Phase: rep.Phase, Step: rep.Step})
	if s.State == StepFailed && def.OnFailure == runbook.OnFailureRollback && r.Status == StatusActive {
		return t.rollback(ctx, fmt.Sprintf("step %q failed: %s", r.StepTitle(pi, sj), rep.Summary))
	}
	if pi != r.Phase {
		return nil
	}
	return t.advance(ctx)
}

// stopRunning marks the current phase's running steps as failed (cancelled)
// and drops their queue items, so their workers stop.
func (t *txn) stopRunning(why string) {
	p := t.run.Current()
	if p == nil {
		return
	}
	for j := range p.Steps {
		s := &p.Steps[j]
		if s.State != StepRunning {
			continue
		}
		t.cancel = append(t.cancel, StepItem{RunID: t.run.ID, Phase: p.ID, Step: s.ID, Attempt: s.Attempt}.ItemID())
		s.State, s.Result, s.At, s.By = StepStopped, "stopped by the "+why, t.now, systemActor()
		s.Progress, s.Beat = "", time.Time{}
		t.emit(Event{Kind: EventStepChanged, Phase: p.ID, Step: s.ID, Actor: System})
	}
}

func (t *txn) rollback(ctx context.Context, reason string) error {
	r := t.run
	switch r.Status {
	case StatusRollingBack:
		return userErr(ErrAlreadyDone, "run %s is already rolling back (started by %s %s: %s)", r.ID, r.Rollback.By.Mention(), Ago(t.now, r.Rollback.At), r.Rollback.Reason)
	case StatusActive:
	case StatusDeployed:
		return userErr(ErrInvalid, "run %s is already deployed and no longer holds %s (only its follow-ups are open): to undo it, deploy the previous version", r.ID, r.Env)
	default:
		return userErr(ErrAlreadyDone, "run %s is already %s", r.ID, statusWord(r))
	}
	if strings.TrimSpace(reason) == "" {
		return userErr(ErrInvalid, "a rollback needs a reason: /deploy rollback %s REASON", r.ID)
	}
	from := r.Current().ID
	t.stopRunning("rollback")
	r.Current().Ended = t.now
	r.Rollback = &RollbackInfo{By: t.actor, Reason: reason, FromPhase: from, At: t.now}
	r.Status = StatusRollingBack
	pr := PhaseRun{ID: RollbackPhaseID}
	for _, s := range r.Runbook.Rollback.Steps {
		pr.Steps = append(pr.Steps, StepRun{ID: s.ID, State: StepPending})
	}
	r.Phases = append(r.Phases, pr)
	r.Phase = len(r.Phases) - 1
	t.audit("rollback", from, "", reason, string(StatusActive), string(StatusRollingBack))
	t.emit(Event{Kind: EventRollbackStarted, Phase: from, Reason: reason})
	return t.advance(ctx)
}

func (t *txn) abort(reason string) error {
	r := t.run
	if r.Status != StatusActive {
		if r.Status == StatusRollingBack {
			return userErr(ErrInvalid, "run %s is rolling back; it cannot be aborted", r.ID)
		}
		if r.Status == StatusDeployed {
			return userErr(ErrInvalid, "run %s is already deployed; only its follow-ups are open", r.ID)
		}
		return userErr(ErrAlreadyDone, "run %s is already %s", r.ID, statusWord(r))
	}
	if r.ProductionStarted() {
		return userErr(ErrNotAllowed, "a production phase of run %s has started, so it can no longer be aborted: use /deploy rollback %s REASON", r.ID, r.ID)
	}
	if strings.TrimSpace(reason) == "" {
		return userErr(ErrInvalid, "an abort needs a reason: /deploy abort %s REASON", r.ID)
	}
	t.stopRunning("abort")
	r.Current().Ended = t.now
	r.Status, r.Ended, r.AbortReason, r.AbortedBy = StatusAborted, t.now, reason, t.by()
	t.audit("abort", r.Current().ID, "", reason, string(StatusActive), string(StatusAborted))
	t.emit(Event{Kind: EventRunAborted, Reason: reason})
	return nil
}

// auditAs records an audit entry whose actor is who (the bot passing a
// gate for a person's click), through the one audit method.
func (t *txn) auditAs(who Actor, action, phase, step, reason, before, after string) {
	actor := t.actor
	t.actor = who
	t.audit(action, phase, step, reason, before, after)
	t.actor = actor
}

func systemActor() *Actor {
	a := System
	return &a
}
