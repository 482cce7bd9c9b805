package bot

import (
	"fmt"
	"strings"
	"time"

	"deploybot/deploy"
	"deploybot/runbook"
)

// This file is the plain-text renderer of the message model: the words of
// /deploy status and list, notification fallbacks and logs. The chat
// renderers use its phrases for a gate or a run's status where they say the
// same thing, and word everything else (step lines, icons, layout) their own
// way.

// RunStatusText words a run's state ("rolling back (by @bob: error rate)").
func RunStatusText(s RunState) string {
	switch s.Status {
	case deploy.StatusActive:
		return "in progress"
	case deploy.StatusRollingBack:
		return fmt.Sprintf("rolling back (by %s: %s)", s.By, s.Reason)
	case deploy.StatusCompleted:
		return fmt.Sprintf("completed in %s", Human(s.Took))
	case deploy.StatusDeployed:
		return fmt.Sprintf("deployed in %s; follow-ups open (%s)", Human(s.Took), s.FollowUps)
	case deploy.StatusRolledBack:
		return fmt.Sprintf("rolled back (by %s: %s)", s.By, s.Reason)
	case deploy.StatusAborted:
		return fmt.Sprintf("aborted by %s: %s", s.By, s.Reason)
	}
	return string(s.Status)
}

// GateText words what a phase waits for, or how it ended
// ("Approved by @bob 2 min ago", "3 of 5 steps open").
func GateText(g Gate) string {
	switch g.Kind {
	case GatePassed:
		return "Passed (no approval needed)"
	case GateApproved:
		return fmt.Sprintf("Approved by %s %s", g.By.Who, g.By.Ago)
	case GateStopped:
		return "Stopped: run " + RunStatusText(g.Run)
	case GateWindow:
		if g.Opens != nil {
			return "Waiting for a maintenance window: " + OpensText(*g.Opens)
		}
		return "Waiting for a maintenance window to open (/deploy windows)"
	case GateNotStarted:
		return "Not started"
	case GateStepsOpen:
		return fmt.Sprintf("%d of %d steps open", g.Open, g.Steps)
	case GateApprovalExpired:
		ago := ""
		if g.By != nil {
			ago = g.By.Ago
		}
		return fmt.Sprintf("The request for approval expired %s (after %s). Check the phase again, then Request approval.", ago, runbook.Duration(g.Timeout))
	case GateApproval:
		who := "an approver"
		if g.NotBy != "" {
			who = "an approver other than " + g.NotBy
		}
		return "Waiting for approval by " + who
	case GateFinishing:
		return "Finishing"
	}
	return string(g.Kind)
}

// OpensText words when a window opens, in the zone it was booked in and
// relative to the message ("opens 22:00 Europe/Berlin, in 2 h 10 min").
func OpensText(w WindowTime) string {
	at := w.At.UTC()
	zone := "UTC"
	if w.Zone != "" && w.Zone != "UTC" {
		if loc, err := time.LoadLocation(w.Zone); err == nil {
			at, zone = w.At.In(loc), w.Zone
		}
	}
	s := "opens " + at.Format("15:04") + " " + zone
	if w.In != "" {
		s += ", " + w.In
	}
	return s
}

// Until words how long until t ("in 2 h 10 min", "in 5 min", "now").
func Until(now, t time.Time) string {
	d := t.Sub(now).Round(time.Minute)
	switch {
	case d <= 0:
		return "now"
	case d >= 24*time.Hour:
		return fmt.Sprintf("in %d d %d h", int(d.Hours())/24, int(d.Hours())%24)
	case d >= time.Hour:
		return fmt.Sprintf("in %d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("in %d min", int(d.Minutes()))
}

// StepDetail words a step's reason, progress or result
// ("skipped: checked by hand", "running for 4m · 12m of 30m", "exit 3: boom"),
// or "" when there is nothing to say.
func StepDetail(l StepLine) string {
	switch {
	case l.State == deploy.StepSkipped:
		return "skipped: " + l.Reason
	case l.EndedEarly:
		who := ""
		if l.By != nil {
			who = " by " + l.By.Who
		}
		return "ended early" + who + ": " + l.Reason
	case l.State == deploy.StepStopped && l.Result == "":
		return "stopped"
	case l.State == deploy.StepRunning && l.Progress != "":
		return "running for " + Human(l.Elapsed) + " · " + l.Progress
	case l.State == deploy.StepRunning:
		return "running for " + Human(l.Elapsed)
	case l.Result != "":
		return l.Result
	case l.AwaitsWindow:
		return "waiting for a maintenance window"
	case l.Blocked != "":
		return "waits for " + l.Blocked
	}
	return ""
}

// StepText is the emoji of a step state, shared by the plain-text rendering
// and the chat renderers that draw states as emoji.
func StepText(s deploy.StepState) string {
	switch s {
	case deploy.StepDone:
		return "✅"
	case deploy.StepSkipped:
		return "⏭️"
	case deploy.StepRunning:
		return "⏳"
	case deploy.StepFailed:
		return "❌"
	case deploy.StepInterrupted:
		return "⚠️"
	case deploy.StepStopped:
		return "⏹️"
	}
	return "⬜"
}

// IconText is the emoji of a notice icon ("" for IconNone), shared by the
// plain-text rendering and the chat renderers that draw icons as emoji.
func IconText(i Icon) string {
	switch i {
	case IconStart:
		return "🚀"
	case IconDone:
		return "✅"
	case IconAlert:
		return "🚨"
	case IconRolledBack:
		return "↩️"
	case IconStopped:
		return "⏹️"
	case IconClock:
		return "⏰"
	case IconOpen:
		return "🟢"
	case IconClosing:
		return "⏳"
	case IconWarning:
		return "⚠️"
	case IconApproval:
		return "🙋"
	}
	return ""
}

// Headline is the notice's title led by its icon's emoji.
func (n Notice) Headline() string {
	if e := IconText(n.Icon); e != "" {
		return e + " " + n.Title
	}
	return n.Title
}

// Text returns a plain-text rendering (notification fallback, logs).
func (n Notice) Text() string {
	var b strings.Builder
	b.WriteString(n.Headline())
	for _, f := range n.Fields {
		fmt.Fprintf(&b, "\n%s: %s", f.Label, f.Value)
	}
	for _, l := range n.Lines {
		b.WriteString("\n" + l)
	}
	if a := n.AuditLine(); a != "" {
		b.WriteString("\n" + a)
	}
	return b.String()
}
