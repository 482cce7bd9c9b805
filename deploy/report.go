package deploy

import (
	"fmt"
	"strings"
	"time"
)

// RunReport is a run's report: what happened, who decided what and why,
// built from the run and its audit log (BuildRunReport). It is posted when
// the run ends (EffectReport) and shown again by /deploy report and the
// dashboard; every rendering (ReportDoc, Markdown) is made from it.
type RunReport struct {
	RunID string
	// Service is the service deployed (the runbook's name on runs stored
	// before services existed).
	Service string
	// Version is the release deployed; Previous the version it replaced ("" when none).
	Version, Previous string
	Env               string
	StartedBy         Actor
	Started           time.Time
	// Ended is when the run ended (was deployed, rolled back or aborted);
	// zero while it is in progress.
	Ended  time.Time
	Status Status
	// InProgress is set while the run is not over (active, rolling back, or
	// deployed with follow-ups open): the report so far.
	InProgress bool
	// Total is the run's duration, from its start to its end (to the report's
	// time while in progress).
	Total time.Duration
	// Phases are the run's phases in order (the rollback procedure last).
	Phases []ReportPhase
	// Skipped are the skipped steps; EndedEarly the watches ended before their time.
	Skipped, EndedEarly []ReportStep
	// Attempts are the automated steps that did not pass at their first
	// attempt (failed, interrupted, stopped, retried), with every attempt.
	Attempts []ReportAttempts
	// Rollback is set once a rollback started: who, when, why, and the id of
	// the phase it started from.
	Rollback *RollbackInfo
	// RollbackFrom is the title of the phase the rollback started from.
	RollbackFrom string
	// Abort is set when the run was aborted.
	Abort *Approval
	// AuditHead is the short prefix of the run's audit chain head, "" when
	// the run's entries are unchained.
	AuditHead string
	// At is when the report was built.
	At time.Time
}

// ReportPhase is one phase in a report.
type ReportPhase struct {
	ID, Title string
	// Production, FollowUp and Rollback say what kind of phase it is.
	Production, FollowUp, Rollback bool
	Started, Ended                 time.Time
	// Duration is Ended-Started, or how long the current phase has run.
	Duration time.Duration
	// State is "approved", "passed", "stopped", "in progress" or "not reached".
	State string
	// Approval is who let the phase end (deploybot itself when it needed no
	// approval: Reason says so), nil while nobody did.
	Approval *Approval
	// Override is set when an approver started the phase outside its
	// maintenance window, with their reason.
	Override *Approval
	// Notes are what else happened at the gate, in order: requests that
	// expired, requests made again.
	Notes []ReportNote
}

// ReportNote is one event at a phase's gate.
type ReportNote struct {
	At time.Time
	// By is who did it (nil for the bot).
	By   *Actor
	Text string
}

// ReportStep is a step a person settled out of the ordinary: skipped, or a
// watch ended early.
type ReportStep struct {
	Phase, Step string
	// Where is "Phase title › Step title".
	Where  string
	By     *Actor
	At     time.Time
	Reason string
}

// ReportAttempts is an automated step's history of attempts.
type ReportAttempts struct {
	Phase, Step string
	Where       string
	// Final is the step's state now.
	Final    StepState
	Attempts []ReportAttempt
}

// ReportAttempt is one attempt of an automated step.
type ReportAttempt struct {
	N int
	// Outcome is "passed", "failed", "interrupted", "stopped", "running" or
	// "unknown" (an attempt whose result the audit log does not hold).
	Outcome string
	Result  string
	At      time.Time
	// RetriedBy and RetriedAt are who asked for the next attempt, and when.
	RetriedBy *Actor
	RetriedAt time.Time
}

// Outcome words the run's outcome as people read it.
func (r *RunReport) Outcome() string {
	switch r.Status {
	case StatusCompleted:
		return "completed"
	case StatusRolledBack:
		return "rolled back"
	case StatusAborted:
		return "aborted"
	case StatusRollingBack:
		return "rolling back (in progress)"
	case StatusDeployed:
		return "deployed, follow-ups open (in progress)"
	case StatusActive:
		return "in progress"
	}
	return string(r.Status)
}

// ShortHead is how many hex characters of the audit head a report shows.
const ShortHead = 12

// BuildRunReport builds run's report from the run and its audit log (oldest
// first), as of now. An audit log that could not be read (nil) leaves the
// attempts to what the run itself holds.
func BuildRunReport(run *Run, audit []AuditEntry, now time.Time) RunReport {
	r := RunReport{
		RunID: run.ID, Service: run.Service, Version: run.Release, Previous: run.Previous, Env: run.Env,
		StartedBy: run.Started, Started: run.Created, Status: run.Status, InProgress: run.Status.Open(), At: now,
	}
	if r.Service == "" {
		r.Service = run.Runbook.Name
	}
	if !r.InProgress && !run.Ended.IsZero() {
		r.Ended = run.Ended
	}
	end := now
	if !r.Ended.IsZero() {
		end = r.Ended
	}
	if end.After(run.Created) {
		r.Total = end.Sub(run.Created)
	}
	if h := run.AuditHead; h != "" {
		r.AuditHead = h[:min(len(h), ShortHead)]
	}
	notes := gateNotes(audit)
	for i := range run.Phases {
		r.Phases = append(r.Phases, reportPhase(run, i, now, notes[run.Phases[i].ID]))
	}
	for i := range run.Phases {
		for j := range run.Phases[i].Steps {
			s := &run.Phases[i].Steps[j]
			where := run.PhaseTitle(i) + " › " + run.StepTitle(i, j)
			st := ReportStep{Phase: run.Phases[i].ID, Step: s.ID, Where: where, By: s.By, At: s.At, Reason: s.Reason}
			switch {
			case s.State == StepSkipped:
				r.Skipped = append(r.Skipped, st)
			case s.EndedEarly:
				r.EndedEarly = append(r.EndedEarly, st)
			}
			if run.StepDef(i, j).Automated() {
				if a, ok := attemptsOf(run, i, j, audit); ok {
					a.Where = where
					r.Attempts = append(r.Attempts, a)
				}
			}
		}
	}
	if run.Rollback != nil {
		rb := *run.Rollback
		r.Rollback = &rb
		r.RollbackFrom = rb.FromPhase
		if i := run.FindPhase(rb.FromPhase); i >= 0 {
			r.RollbackFrom = run.PhaseTitle(i)
		}
	}
	if run.Status == StatusAborted {
		a := Approval{At: run.Ended, Reason: run.AbortReason}
		if run.AbortedBy != nil {
			a.By = *run.AbortedBy
		}
		r.Abort = &a
	}
	return r
}

// gateNotes collects the gate events of the audit log by phase.
func gateNotes(audit []AuditEntry) map[string][]ReportNote {
	out := map[string][]ReportNote{}
	for _, e := range audit {
		var text string
		switch e.Action {
		case "approval_expired":
			text = "the request for approval expired"
		case "request_approval":
			text = "approval requested again"
		default:
			continue
		}
		n := ReportNote{At: e.At, Text: text}
		if e.Actor.ID != System.ID {
			a := e.Actor
			n.By = &a
		}
		out[e.Phase] = append(out[e.Phase], n)
	}
	return out
}

func reportPhase(run *Run, i int, now time.Time, notes []ReportNote) ReportPhase {
	p := &run.Phases[i]
	def := run.PhaseDef(i)
	rp := ReportPhase{
		ID: p.ID, Title: run.PhaseTitle(i), Production: def.Production, FollowUp: def.FollowUp, Rollback: p.ID == RollbackPhaseID,
		Started: p.Started, Ended: p.Ended, Approval: p.Approval, Override: p.WindowOverride, Notes: notes,
	}
	current := i == run.Phase && run.Status.Open()
	switch {
	case p.Approval != nil && p.Approval.By.ID == System.ID:
		rp.State = "passed"
	case p.Approval != nil:
		rp.State = "approved"
	case current:
		rp.State = "in progress"
	case p.Started.IsZero():
		rp.State = "not reached"
	default:
		rp.State = "stopped"
	}
	switch {
	case !p.Started.IsZero() && !p.Ended.IsZero():
		rp.Duration = p.Ended.Sub(p.Started)
	case !p.Started.IsZero() && current && now.After(p.Started):
		rp.Duration = now.Sub(p.Started)
	case !p.Started.IsZero() && !run.Ended.IsZero() && run.Ended.After(p.Started):
		rp.Duration = run.Ended.Sub(p.Started)
	}
	return rp
}

// attemptsOf returns the attempts of step j of phase i when it did not
// simply pass at its first attempt.
func attemptsOf(run *Run, i, j int, audit []AuditEntry) (ReportAttempts, bool) {
	p := &run.Phases[i]
	s := &p.Steps[j]
	out := ReportAttempts{Phase: p.ID, Step: s.ID, Final: s.State}
	for _, e := range audit {
		if e.Phase != p.ID || e.Step != s.ID {
			continue
		}
		switch e.Action {
		case "step_result":
			a := ReportAttempt{N: len(out.Attempts) + 1, At: e.At, Outcome: "passed"}
			if e.After == string(StepFailed) {
				a.Outcome, a.Result = "failed", e.Reason
			}
			out.Attempts = append(out.Attempts, a)
		case "interrupted":
			out.Attempts = append(out.Attempts, ReportAttempt{N: len(out.Attempts) + 1, At: e.At, Outcome: "interrupted",
				Result: "the bot stopped while this step ran"})
		case "retry":
			if n := len(out.Attempts); n > 0 {
				by := e.Actor
				out.Attempts[n-1].RetriedBy, out.Attempts[n-1].RetriedAt = &by, e.At
			}
		}
	}
	// The attempts the log does not end: the current one (running, or
	// stopped by a rollback or an abort), or all of them on a run whose log
	// could not be read.
	for len(out.Attempts) < s.Attempt {
		a := ReportAttempt{N: len(out.Attempts) + 1, Outcome: "unknown"}
		if a.N == s.Attempt {
			a.At, a.Result = s.At, s.Result
			switch s.State {
			case StepRunning, StepStopped, StepFailed, StepInterrupted:
				a.Outcome = string(s.State)
			case StepDone:
				a.Outcome = "passed"
			}
		}
		out.Attempts = append(out.Attempts, a)
	}
	if n := len(out.Attempts); n > 0 && out.Attempts[n-1].Outcome == "passed" && s.State == StepDone && s.Result != "" {
		out.Attempts[n-1].Result = s.Result // a pass's result is on the run, not in the log
	}
	if len(out.Attempts) == 0 || (len(out.Attempts) == 1 && out.Attempts[0].Outcome == "passed") {
		return out, false
	}
	if len(out.Attempts) == 1 && out.Attempts[0].Outcome == "running" {
		return out, false
	}
	return out, true
}

// ---- the one rendering: a document of sections and lines ----

// ReportDoc is a report laid out for reading: a title, an optional note,
// and sections of lines. Every rendering (Markdown, Slack mrkdwn, the
// console's HTML) is made from it, so they say the same.
type ReportDoc struct {
	Title string
	// Note is set while the run is in progress.
	Note     string
	Sections []ReportSection
}

// ReportSection is a titled list of lines ("" title: the report's header fields).
type ReportSection struct {
	Title string
	Lines []ReportLine
}

// ReportLine is one line: an optional bold label, its text, and sub-lines.
type ReportLine struct {
	Label string
	Text  string
	Sub   []string
}

// reportTime is how a report writes a moment.
func reportTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// ReportDuration words a duration as a report does ("1h 05m", "12m 30s", "40s").
func ReportDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		if s := int(d.Seconds()) % 60; s != 0 {
			return fmt.Sprintf("%dm %02ds", int(d.Minutes()), s)
		}
		return fmt.Sprintf("%dm", int(d.Minutes()))
	default:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
}

func who(a *Actor) string {
	if a == nil {
		return "deploybot"
	}
	return a.Mention()
}

// Doc lays the report out.
func (r *RunReport) Doc() ReportDoc {
	d := ReportDoc{Title: fmt.Sprintf("Deployment report: %s to %s — %s", r.Version, r.Env, r.Outcome())}
	if r.InProgress {
		d.Note = "In progress: this is the report so far, as of " + reportTime(r.At) + "."
	}
	version := r.Version
	if r.Previous != "" {
		version += " (previous: " + r.Previous + ")"
	}
	total := ReportDuration(r.Total)
	if r.InProgress {
		total += " so far"
	}
	head := r.AuditHead
	if head == "" {
		head = "unchained"
	}
	started := r.StartedBy.Mention() + " at " + reportTime(r.Started)
	fields := []ReportLine{
		{Label: "Run", Text: r.RunID},
		{Label: "Service", Text: r.Service},
		{Label: "Version", Text: version},
		{Label: "Environment", Text: r.Env},
		{Label: "Started by", Text: started},
		{Label: "Outcome", Text: r.Outcome()},
	}
	if !r.Ended.IsZero() {
		fields = append(fields, ReportLine{Label: "Ended", Text: reportTime(r.Ended)})
	}
	fields = append(fields, ReportLine{Label: "Total duration", Text: total}, ReportLine{Label: "Audit head", Text: head})
	d.Sections = append(d.Sections, ReportSection{Lines: fields})

	var phases []ReportLine
	for _, p := range r.Phases {
		phases = append(phases, phaseLine(p))
	}
	d.Sections = append(d.Sections, ReportSection{Title: "Phases and gates", Lines: phases})

	if r.Rollback != nil {
		rb := r.Rollback
		d.Sections = append(d.Sections, ReportSection{Title: "Rollback", Lines: []ReportLine{
			{Label: "Started by", Text: rb.By.Mention() + " at " + reportTime(rb.At) + " from " + quote(r.RollbackFrom)},
			{Label: "Reason", Text: rb.Reason},
		}})
	}
	if a := r.Abort; a != nil {
		d.Sections = append(d.Sections, ReportSection{Title: "Abort", Lines: []ReportLine{
			{Label: "Aborted by", Text: a.By.Mention() + " at " + reportTime(a.At)},
			{Label: "Reason", Text: a.Reason},
		}})
	}
	var skipped []ReportLine
	for _, s := range r.Skipped {
		skipped = append(skipped, ReportLine{Text: fmt.Sprintf("%s — skipped by %s at %s: %s", s.Where, who(s.By), reportTime(s.At), s.Reason)})
	}
	if len(skipped) == 0 {
		skipped = []ReportLine{{Text: "none"}}
	}
	d.Sections = append(d.Sections, ReportSection{Title: "Skipped steps", Lines: skipped})
	var tries []ReportLine
	for _, a := range r.Attempts {
		l := ReportLine{Text: fmt.Sprintf("%s — %s after %d attempt%s", a.Where, finalWord(a.Final), len(a.Attempts), plural(len(a.Attempts)))}
		for _, t := range a.Attempts {
			s := fmt.Sprintf("attempt %d: %s", t.N, t.Outcome)
			if t.Result != "" {
				s += " (" + t.Result + ")"
			}
			if !t.At.IsZero() {
				s += " at " + reportTime(t.At)
			}
			if t.RetriedBy != nil {
				s += "; retried by " + t.RetriedBy.Mention() + " at " + reportTime(t.RetriedAt)
			}
			l.Sub = append(l.Sub, s)
		}
		tries = append(tries, l)
	}
	if len(tries) == 0 {
		tries = []ReportLine{{Text: "none"}}
	}
	d.Sections = append(d.Sections, ReportSection{Title: "Failed and retried steps", Lines: tries})
	if len(r.EndedEarly) > 0 {
		var early []ReportLine
		for _, s := range r.EndedEarly {
			early = append(early, ReportLine{Text: fmt.Sprintf("%s — ended early by %s at %s: %s", s.Where, who(s.By), reportTime(s.At), s.Reason)})
		}
		d.Sections = append(d.Sections, ReportSection{Title: "Watches ended early", Lines: early})
	}
	return d
}

func finalWord(s StepState) string {
	switch s {
	case StepDone:
		return "passed"
	case StepSkipped:
		return "skipped"
	}
	return string(s)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func quote(s string) string { return "“" + s + "”" }

// phaseLine words one phase: its duration and its gate.
func phaseLine(p ReportPhase) ReportLine {
	l := ReportLine{Label: p.Title}
	var parts []string
	switch {
	case p.Started.IsZero():
		parts = append(parts, "not reached")
	case p.State == "in progress":
		parts = append(parts, "in progress for "+ReportDuration(p.Duration))
	default:
		parts = append(parts, ReportDuration(p.Duration))
	}
	if p.Production {
		parts[0] += " (production)"
	}
	if p.FollowUp {
		parts[0] += " (follow-up)"
	}
	switch a := p.Approval; {
	case a != nil && a.By.ID == System.ID:
		why := a.Reason
		if why == "" {
			why = "no approval required"
		}
		parts = append(parts, "passed by itself at "+reportTime(a.At)+" ("+why+")")
	case a != nil:
		s := "approved by " + a.By.Mention() + " at " + reportTime(a.At)
		if a.Reason != "" {
			s += ": " + a.Reason
		}
		parts = append(parts, s)
	case p.State == "stopped":
		parts = append(parts, "stopped")
	}
	l.Text = strings.Join(parts, " — ")
	if o := p.Override; o != nil {
		l.Sub = append(l.Sub, fmt.Sprintf("started outside its maintenance window by %s at %s: %s", o.By.Mention(), reportTime(o.At), o.Reason))
	}
	for _, n := range p.Notes {
		s := n.Text + " at " + reportTime(n.At)
		if n.By != nil {
			s = n.Text + " by " + n.By.Mention() + " at " + reportTime(n.At)
		}
		l.Sub = append(l.Sub, s)
	}
	return l
}

// ReportStyle is the markup a report is written in.
type ReportStyle int

// The report styles.
const (
	// StyleMarkdown is CommonMark (report.md, Discord): "**bold**", and
	// people's text with its markup characters escaped by backslashes.
	StyleMarkdown ReportStyle = iota
	// StyleSlack is Slack mrkdwn for blocks: "*bold*", and &, <, > as entities.
	StyleSlack
	// StyleSlackText is Slack mrkdwn for a text the front escapes itself
	// (an ephemeral reply): "*bold*", nothing escaped.
	StyleSlackText
	// StyleText is the console's reply panel, which shows every character
	// as text and only draws "**bold**" and bullets: nothing escaped.
	StyleText
)

// mdEscaper escapes the characters CommonMark gives meaning to.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`,
	"#", `\#`, "|", `\|`, "~", `\~`, "&", `\&`,
)

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// oneLine folds line breaks, so people's text cannot start a heading or a list.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ", "\t", " ").Replace(s)), " ")
}

func (st ReportStyle) esc(s string) string {
	s = oneLine(s)
	switch st {
	case StyleMarkdown:
		return mdEscaper.Replace(s)
	case StyleSlack:
		return slackEscaper.Replace(s)
	}
	return s
}

func (st ReportStyle) bold(s string) string {
	if st == StyleSlack || st == StyleSlackText {
		return "*" + st.esc(s) + "*"
	}
	return "**" + st.esc(s) + "**"
}

// Markdown writes the report in style, one line per line of the document:
// the title, the note, then each section's title and its bullets.
func (r *RunReport) Markdown(st ReportStyle) string { return r.Doc().Markdown(st) }

// Markdown writes the document in style.
func (d ReportDoc) Markdown(st ReportStyle) string {
	var b strings.Builder
	if d.Title != "" {
		b.WriteString(st.bold(d.Title) + "\n")
	}
	if d.Note != "" {
		if st == StyleSlack || st == StyleSlackText {
			b.WriteString("_" + st.esc(d.Note) + "_\n")
		} else {
			b.WriteString("*" + st.esc(d.Note) + "*\n")
		}
	}
	bullet, sub := "- ", "  - "
	if st == StyleSlack || st == StyleSlackText {
		bullet, sub = "• ", "    ◦ "
	}
	for _, s := range d.Sections {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		if s.Title != "" {
			b.WriteString(st.bold(s.Title) + "\n")
		}
		for _, l := range s.Lines {
			b.WriteString(bullet)
			if l.Label != "" {
				b.WriteString(st.bold(l.Label) + ": ")
			}
			b.WriteString(st.esc(l.Text) + "\n")
			for _, x := range l.Sub {
				b.WriteString(sub + st.esc(x) + "\n")
			}
		}
	}
	return b.String()
}
