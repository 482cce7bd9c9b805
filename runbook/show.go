package runbook

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Show writes the runbook as text for `deploybot runbook show`: its title,
// then each group and phase with its steps ("[ ]" for manual steps,
// "[auto: ADAPTER]" for automated ones, "[notice: KIND]" for the bot's own
// notices), then the rollback procedure.
// Write errors are ignored; Show is meant for a terminal or a buffer.
func (rb *Runbook) Show(w io.Writer) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()

	title := rb.Title
	if title == "" {
		title = rb.Name
	}
	fmt.Fprintf(bw, "%s\n", title)
	if rb.Name != "" && rb.Name != title {
		fmt.Fprintf(bw, "runbook: %s\n", rb.Name)
	}
	fmt.Fprintf(bw, "%s, %s, %s\n", count(len(rb.Phases), "phase"), count(rb.StepCount(), "step"), count(len(rb.Rollback.Steps), "rollback step"))
	if names := rb.EnvNames(); len(names) > 0 {
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = n + envNotes(rb.Environments[n])
		}
		fmt.Fprintf(bw, "environments: %s\n", strings.Join(parts, ", "))
	}
	// Titles that use run variables are shown as for a first run (no previous version).
	vars := TitleVars{Service: rb.Service(), Version: "VERSION", Env: "ENV", RunID: "RUN"}

	group := ""
	for i := range rb.Phases {
		p := &rb.Phases[i]
		if p.Group != "" && p.Group != group {
			group = p.Group
			fmt.Fprintf(bw, "\n== %s ==\n", group)
		}
		fmt.Fprintf(bw, "\n%s [%s]%s\n", RenderTitle(p.Title, vars), p.ID, phaseNotes(p))
		for j := range p.Steps {
			showStep(bw, j+1, &p.Steps[j], vars)
		}
	}

	fmt.Fprintf(bw, "\n== Rollback Procedure ==\n")
	if rb.Rollback.When != "" {
		fmt.Fprintf(bw, "%s:\n", rb.Rollback.When)
	}
	for j := range rb.Rollback.Steps {
		showStep(bw, j+1, &rb.Rollback.Steps[j], vars)
	}
}

func phaseNotes(p *Phase) string {
	var notes []string
	if p.Production {
		notes = append(notes, "production")
	}
	if p.WindowRequired() {
		notes = append(notes, "waits for a maintenance window")
	}
	if !p.NeedsApproval() {
		notes = append(notes, "no approval")
	}
	if p.FollowUp {
		notes = append(notes, "follow-up: the run is deployed before it")
	}
	if len(notes) == 0 {
		return ""
	}
	return " (" + strings.Join(notes, ", ") + ")"
}

// envNotes describes an environment's policy (" (approval: false, window: none)").
func envNotes(e Environment) string {
	var notes []string
	if e.Approval != nil && !*e.Approval {
		notes = append(notes, "approval: false")
	}
	if e.Window == WindowNone {
		notes = append(notes, "window: none")
	}
	if len(e.Approvers) > 0 {
		notes = append(notes, "approvers: "+strings.Join(e.Approvers, " "))
	}
	if len(notes) == 0 {
		return ""
	}
	return " (" + strings.Join(notes, ", ") + ")"
}

func showStep(w io.Writer, n int, s *Step, vars TitleVars) {
	box := "[ ]"
	switch {
	case s.Automated():
		box = "[auto: " + s.Run + "]"
	case s.Notice != "":
		box = "[notice: " + s.Notice + "]"
	}
	fmt.Fprintf(w, "  %d. %s %s\n", n, box, RenderTitle(s.Title, vars))
}

// count spells n things ("1 phase", "8 phases").
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
