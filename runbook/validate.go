package runbook

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// StepValidator checks an automated step's adapter name and parameters. The
// adapter registry satisfies it; the runbook package declares it so that it
// does not depend on the adapters.
type StepValidator interface {
	// Validate returns an error when adapter is unknown or with is not valid for it.
	Validate(adapter string, with map[string]any) error
}

// Limits of the values a runbook may hold.
const (
	// MaxStepTimeout is the longest timeout a step may set.
	MaxStepTimeout = 24 * time.Hour
	// MaxReminder is the earliest a reminder may come before a window.
	MaxReminder = 30 * 24 * time.Hour
	// MaxWindowDuration is the longest a recurring maintenance window may last.
	MaxWindowDuration = 7 * 24 * time.Hour
)

var (
	// ServiceNamePattern is what a service's name (its runbook's name, else
	// its file's name) must look like.
	ServiceNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)
	// EnvNamePattern is what an environment's name must look like (as in
	// /deploy start VERSION to ENV).
	EnvNamePattern      = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	serviceNameSentence = `lowercase letters, digits, "-" and "_", starting with a letter or digit, at most 40 characters`
	envNameSentence     = `lowercase letters, digits, "-" and "_", starting with a letter or digit, at most 32 characters`
	idPattern           = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$`)
	slackUserPattern    = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	slackGroupPattern   = regexp.MustCompile(`^@[A-Za-z0-9][A-Za-z0-9._-]{0,79}$`)
	discordIDPattern    = regexp.MustCompile(`^&?[0-9]{5,25}$`) // "&ID" names a Discord role, so the bot can mention it
	consoleNamePattern  = regexp.MustCompile(`^console:[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)
	idPatternSentence   = `letters, digits, ".", "-" and "_", starting with a letter or digit, at most 40 characters`
	reservedPhaseIDMsg  = `phase id "rollback" is reserved for the rollback procedure`
)

// Validate checks the runbook: a name, at least one phase, unique well-formed
// ids, titles, adapters and their parameters (through v; nil skips that check),
// timeouts, reminders, windows, approvers and the rollback procedure's steps. It returns *Problems listing every problem, or nil.
// Problems carry the Line fields of the runbook's values (0 when built in memory).
func (rb *Runbook) Validate(v StepValidator) error {
	var ps Problems
	validate(rb, v, positions{}, &ps)
	return ps.err()
}

// IsApprover reports whether s has the form of an approvers entry: a Slack
// user ID (U…/W…), a Slack user-group handle (@name), a Discord ID (user
// or role; "&ID" marks a role, so asking the approvers mentions it as one), or a
// console name ("console:ana", for rehearsing the rules in the console).
func IsApprover(s string) bool {
	return slackUserPattern.MatchString(s) || slackGroupPattern.MatchString(s) || discordIDPattern.MatchString(s) ||
		consoleNamePattern.MatchString(s)
}

// validate appends rb's problems to ps. lines, when not nil, holds the lines
// of the fields the file set (see decoder).
func validate(rb *Runbook, v StepValidator, lines positions, ps *Problems) {
	c := checker{file: rb.File, lines: lines, ps: ps, v: v}
	bad := lines.failed
	root := lines.at("", 0)

	if strings.TrimSpace(rb.Name) == "" && !bad("name") {
		c.add(lines.at("name", root), "name is required (e.g. name: payments-api)")
	} else if !bad("name") && rb.Service() == "" {
		c.add(lines.at("name", root), "name %q has no letter or digit to name its service by (a service name is %s)", rb.Name, serviceNameSentence)
	}
	c.environments(rb)
	c.people("approvers", rb.Approvers)
	c.people("operators", rb.Operators)
	seenReminder := map[Duration]bool{}
	for i, r := range rb.Reminders {
		line := lines.at(fmt.Sprintf("reminders[%d]", i), lines.at("reminders", 0))
		switch {
		case r <= 0:
			c.add(line, "reminders: %s must be more than 0", r)
		case time.Duration(r) > MaxReminder:
			c.add(line, "reminders: %s is more than 30 days (720h) before the window", r)
		case seenReminder[r]:
			c.add(line, "reminders: %s is listed twice", r)
		}
		seenReminder[r] = true
	}
	for i := range rb.Windows {
		c.window(&rb.Windows[i], fmt.Sprintf("windows[%d]", i))
	}

	if len(rb.Phases) == 0 && !bad("phases") {
		c.add(lines.at("phases", root), "a runbook needs at least one phase (phases: is missing or empty)")
	}
	phaseLines := map[string]int{}
	steps := map[string]stepRef{}
	for i := range rb.Phases {
		p := &rb.Phases[i]
		path := fmt.Sprintf("phases[%d]", i)
		line := lines.at(path, p.Line)
		switch {
		case p.ID == "":
			if !bad(path + ".id") {
				c.add(line, "phase %d: id is required", i+1)
			}
		case p.ID == "rollback":
			c.add(lines.at(path+".id", line), "%s", reservedPhaseIDMsg)
		case !idPattern.MatchString(p.ID):
			c.add(lines.at(path+".id", line), "phase id %q must be %s", p.ID, idPatternSentence)
		}
		if p.ID != "" {
			if first, dup := phaseLines[p.ID]; dup {
				c.add(line, "duplicate phase id %q%s", p.ID, firstAt(first, ""))
			} else {
				phaseLines[p.ID] = line
			}
		}
		name := phaseName(p, i)
		if strings.TrimSpace(p.Title) == "" && !bad(path+".title") {
			c.add(line, "%s: title is required", name)
		} else if err := checkTitle(p.Title); err != nil {
			c.add(lines.at(path+".title", line), "%s: title: %v", name, err)
		}
		if p.Window != "" && p.Window != WindowRequired {
			c.add(lines.at(path+".window", line), "%s: window must be %q or left out, not %q", name, WindowRequired, p.Window)
		}
		switch {
		case p.ApprovalTimeout == 0 && lines.has(path+".approval_timeout") && !bad(path+".approval_timeout"):
			c.add(lines.at(path+".approval_timeout", line), "%s: approval_timeout must be more than 0", name)
		case time.Duration(p.ApprovalTimeout) > MaxReminder:
			c.add(lines.at(path+".approval_timeout", line), "%s: approval_timeout %s is more than 30 days", name, p.ApprovalTimeout)
		case p.ApprovalTimeout > 0 && !p.NeedsApproval():
			c.add(lines.at(path+".approval_timeout", line), "%s: approval_timeout is set but the phase needs no approval", name)
		}
		if p.FollowUp {
			switch {
			case p.Production:
				c.add(lines.at(path+".follow_up", line), "%s: a follow-up phase cannot be production: the run is deployed before it", name)
			case p.WindowRequired():
				c.add(lines.at(path+".follow_up", line), "%s: a follow-up phase cannot wait for a maintenance window", name)
			}
		} else if i > 0 && rb.Phases[i-1].FollowUp {
			c.add(line, "%s: follow-up phases come last; this phase follows one", name)
		}
		for j := range p.Steps {
			c.step(&p.Steps[j], fmt.Sprintf("%s.steps[%d]", path, j), p.ID, j, steps, false)
			if p.FollowUp && p.Steps[j].Notice != "" {
				c.add(lines.at(fmt.Sprintf("%s.steps[%d].notice", path, j), line), "step %q: a follow-up phase cannot hold a notice step", p.Steps[j].ID)
			}
		}
	}
	if len(rb.Phases) > 0 && rb.Phases[0].FollowUp {
		c.add(lines.at("phases[0].follow_up", 0), "phase %q: the first phase cannot be a follow-up phase (nothing would be deployed)", rb.Phases[0].ID)
	}

	// A runbook may have no rollback procedure: Rollback then sends its
	// notices and ends the run as rolled back at once.
	rollbackSteps := map[string]stepRef{}
	for j := range rb.Rollback.Steps {
		c.step(&rb.Rollback.Steps[j], fmt.Sprintf("rollback.steps[%d]", j), "", j, rollbackSteps, true)
	}
}

// people checks the entries of an approvers or operators list at path.
func (c *checker) people(path string, list []string) {
	for i, a := range list {
		line := c.lines.at(fmt.Sprintf("%s[%d]", path, i), c.lines.at(path, 0))
		switch {
		case strings.TrimSpace(a) == "":
			c.add(line, "%s: an entry is empty", path)
		case !IsApprover(a):
			c.add(line, "%s: %q is not a Slack user ID (U…/W…), a Slack user-group handle (@name), a Discord ID (digits, &digits for a role) or a console name (console:NAME)", path, a)
		}
	}
}

// environments checks the environments: names like the environments of
// /deploy start, window none or left out, approvers like the runbook's.
func (c *checker) environments(rb *Runbook) {
	for _, name := range rb.EnvNames() {
		env := rb.Environments[name]
		path := "environments." + name
		line := c.lines.at(path, env.Line)
		if !EnvNamePattern.MatchString(name) {
			c.add(line, "environment %q must be %s", name, envNameSentence)
		}
		if env.Window != "" && env.Window != WindowNone {
			c.add(c.lines.at(path+".window", line), "environment %q: window must be %q or left out, not %q", name, WindowNone, env.Window)
		}
		if env.Approvers != nil && len(env.Approvers) == 0 && c.lines.has(path+".approvers") {
			c.add(c.lines.at(path+".approvers", line), "environment %q: approvers is empty (leave it out to keep the runbook's approvers)", name)
		}
		c.people(path+".approvers", env.Approvers)
	}
}

// checker carries what every check needs.
type checker struct {
	file  string
	lines positions
	ps    *Problems
	v     StepValidator
}

func (c *checker) add(line int, format string, args ...any) {
	c.ps.add(c.file, line, format, args...)
}

// stepRef remembers where a step id was first used.
type stepRef struct {
	line  int
	phase string
}

func firstAt(line int, phase string) string {
	switch {
	case line > 0:
		return fmt.Sprintf(" (first at line %d)", line)
	case phase != "":
		return fmt.Sprintf(" (first in phase %q)", phase)
	default:
		return ""
	}
}

func phaseName(p *Phase, i int) string {
	if p.ID != "" {
		return fmt.Sprintf("phase %q", p.ID)
	}
	return fmt.Sprintf("phase %d", i+1)
}

func (c *checker) step(s *Step, path, phase string, index int, seen map[string]stepRef, inRollback bool) {
	line := c.lines.at(path, s.Line)
	at := func(field string) int { return c.lines.at(path+"."+field, line) }
	name := fmt.Sprintf("step %q", s.ID)
	switch {
	case s.ID == "" && inRollback:
		name = fmt.Sprintf("rollback step %d", index+1)
	case s.ID == "" && phase != "":
		name = fmt.Sprintf("step %d of phase %q", index+1, phase)
	case s.ID == "":
		name = fmt.Sprintf("step %d", index+1)
	}

	bad := c.lines.failed
	switch {
	case s.ID == "":
		if !bad(path + ".id") {
			c.add(line, "%s: id is required", name)
		}
	case !idPattern.MatchString(s.ID):
		c.add(at("id"), "step id %q must be %s", s.ID, idPatternSentence)
	}
	if s.ID != "" {
		if first, dup := seen[s.ID]; dup {
			c.add(line, "duplicate step id %q%s", s.ID, firstAt(first.line, first.phase))
		} else {
			seen[s.ID] = stepRef{line: line, phase: phase}
		}
	}
	if strings.TrimSpace(s.Title) == "" && !bad(path+".title") {
		c.add(line, "%s: title is required", name)
	} else if err := checkTitle(s.Title); err != nil {
		c.add(at("title"), "%s: title: %v", name, err)
	}
	if s.Run == "" {
		if s.With != nil || c.lines.has(path+".with") {
			c.add(at("with"), "%s: with is set but run is not (name the adapter that takes these parameters)", name)
		}
	} else if c.v != nil {
		if err := c.v.Validate(s.Run, s.With); err != nil {
			c.add(line, "%s: %v", name, err)
		}
	}
	switch {
	case s.Timeout == 0 && c.lines.has(path+".timeout") && !bad(path+".timeout"):
		c.add(at("timeout"), "%s: timeout must be more than 0", name)
	case s.Timeout < 0:
		c.add(at("timeout"), "%s: timeout must be more than 0", name)
	case time.Duration(s.Timeout) > MaxStepTimeout:
		c.add(at("timeout"), "%s: timeout %s is more than 24h", name, s.Timeout)
	}
	switch {
	case s.Notice == "":
	case s.Notice != NoticeAnnouncement && s.Notice != NoticeCompletion && s.Notice != NoticeRollback:
		c.add(at("notice"), "%s: notice must be %q, %q or %q, not %q", name, NoticeAnnouncement, NoticeCompletion, NoticeRollback, s.Notice)
	case s.Run != "":
		c.add(at("notice"), "%s: a notice step has no run: (the bot's own notice is its output)", name)
	case inRollback != (s.Notice == NoticeRollback):
		c.add(at("notice"), "%s: notice: rollback belongs in the rollback procedure, and only there", name)
	}
	switch {
	case s.OnFailure != "" && s.OnFailure != OnFailureRollback:
		c.add(at("on_failure"), "%s: on_failure must be %q or left out, not %q", name, OnFailureRollback, s.OnFailure)
	case s.OnFailure == OnFailureRollback && inRollback:
		c.add(at("on_failure"), "%s: on_failure: rollback cannot be used inside the rollback procedure", name)
	}
}

func (c *checker) window(w *RecurringWindow, path string) {
	line := c.lines.at(path, w.Line)
	at := func(field string) int { return c.lines.at(path+"."+field, line) }
	bad := c.lines.failed
	spec := strings.TrimSpace(w.Cron)
	switch {
	case bad(path + ".cron"):
	case spec == "":
		c.add(line, "window: cron is required (e.g. cron: \"0 22 * * TUE\")")
	case strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ="):
		c.add(at("cron"), "window: set the time zone with timezone:, not inside cron")
	default:
		if err := parseCron(spec); err != nil {
			c.add(at("cron"), "window: cron %q is not valid: %v (use 5 fields: minute hour day-of-month month day-of-week)", spec, err)
		}
	}
	switch {
	case bad(path + ".duration"):
	case w.Duration <= 0:
		c.add(at("duration"), "window: duration is required and must be more than 0 (e.g. duration: 2h)")
	case time.Duration(w.Duration) > MaxWindowDuration:
		c.add(at("duration"), "window: duration %s is more than 7 days (168h)", w.Duration)
	}
	if w.Timezone != "" {
		if _, err := time.LoadLocation(w.Timezone); err != nil {
			c.add(at("timezone"), "window: unknown time zone %q (use an IANA name such as Europe/Berlin)", w.Timezone)
		}
	}
}

// parseCron checks a standard five-field cron expression, turning a panic of
// the cron parser into an error and trimming Go parser details from its message.
func parseCron(spec string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot be parsed")
		}
	}()
	if _, err := cron.ParseStandard(spec); err != nil {
		msg, _, _ := strings.Cut(err.Error(), ": strconv.")
		return errors.New(msg)
	}
	return nil
}
