package commands

import (
	"slices"
	"strconv"
	"strings"
)

// The argument names, shared by the text grammar (in upper case in usage lines)
// and Discord (as option names).
const (
	ArgVersion  = "version"
	ArgEnv      = "env"
	ArgRun      = "run"
	ArgReason   = "reason"
	ArgStart    = "start"
	ArgDuration = "duration"
	ArgWindow   = "window"
	ArgService  = "service"
	ArgDays     = "days"
	ArgPhase    = "phase"
)

// Definition describes one /deploy subcommand: how it is typed, what it does
// and its arguments. The help text and the Discord command are built from it.
type Definition struct {
	Kind Kind
	// Usage is the command as typed, with placeholders ("/deploy start VERSION [to ENV]").
	Usage string
	// Summary says what it does, in at most 100 characters (Discord's limit).
	Summary string
	// Args are the arguments, required ones first (Discord refuses a required
	// option after an optional one); the order they are typed in is Usage's.
	Args []Arg
}

// Arg is one argument of a Definition.
type Arg struct {
	// Name is one of ArgVersion, ArgEnv, ArgRun, ArgReason, ArgStart,
	// ArgDuration, ArgWindow, ArgService, ArgDays and ArgPhase; it is the Discord
	// option name.
	Name string
	// Required is true when the command is refused without it.
	Required bool
	// Description says what to give, in at most 100 characters (Discord's limit).
	Description string
	// Default is the value used when an optional argument is left out, or "".
	Default string
	// MaxLength is the longest accepted value in characters (Discord's max_length).
	MaxLength int
	// Choices, when set, are the only values accepted (Discord's choices):
	// the services, when there are at most MaxServiceChoices of them.
	Choices []string
}

// Placeholder returns the argument as it appears in usage lines ("VERSION").
func (a Arg) Placeholder() string { return strings.ToUpper(a.Name) }

// Definitions returns the definitions of every /deploy subcommand, in the order
// of the product's command table (report and stats follow runbook). Each call
// returns a fresh slice. The SERVICE arguments carry the grammar's services as
// Choices when there are 1 to MaxServiceChoices of them.
func (g Grammar) Definitions() []Definition { return g.definitions(true) }

// definitions returns the definitions, with the services as Choices when
// choices is set (parsing needs none: it checks a SERVICE by name).
func (g Grammar) definitions(choices bool) []Definition {
	version := Arg{Name: ArgVersion, Required: true, MaxLength: maxVersionLength,
		Description: "tag or commit: letters, digits and . - _ + / (at most 64), e.g. v1.4.2"}
	env := Arg{Name: ArgEnv, Default: DefaultEnv, MaxLength: maxEnvLength,
		Description: "environment (default production), e.g. staging"}
	run := Arg{Name: ArgRun, MaxLength: runIDLength,
		Description: "run id, e.g. r7k2qd; may be left out when exactly one run is active here"}
	reason := func(what string) Arg {
		return Arg{Name: ArgReason, Required: true, MaxLength: MaxReasonLength,
			Description: what + " (free text, at most 500 characters)"}
	}
	service := func(what string) Arg {
		a := Arg{Name: ArgService, MaxLength: maxServiceLength, Description: what}
		if n := len(g.services); choices && n > 0 && n <= MaxServiceChoices {
			a.Choices = slices.Clone(g.services)
		}
		return a
	}
	deployed := service("service; may be left out when there is only one, e.g. payments-api")
	return []Definition{
		{Kind: KindStart, Usage: "/deploy start [SERVICE] VERSION [to ENV]",
			Summary: "starts a run of the service's runbook for VERSION (default ENV production)",
			Args:    []Arg{version, env, deployed}},
		{Kind: KindStatus, Usage: "/deploy status [RUN]",
			Summary: "where the run stands: phase, each step's state, who did what",
			Args:    []Arg{run}},
		{Kind: KindList, Usage: "/deploy list",
			Summary: "active runs, the last ten finished ones and the environments, by service"},
		{Kind: KindApprove, Usage: "/deploy approve [RUN] [PHASE]",
			Summary: "approves PHASE, like its Approve button; without PHASE only a safe current gate",
			Args: []Arg{run, {Name: ArgPhase, MaxLength: maxPhaseLength,
				Description: "phase id, e.g. build; needed for production phases and right after another approval"}}},
		{Kind: KindRollback, Usage: "/deploy rollback [RUN] REASON…",
			Summary: "starts the rollback procedure",
			Args:    []Arg{reason("why roll back"), run}},
		{Kind: KindAbort, Usage: "/deploy abort [RUN] REASON…",
			Summary: "stops the run without rollback (only before the first production phase)",
			Args:    []Arg{reason("why abort"), run}},
		{Kind: KindSchedule, Usage: "/deploy schedule [SERVICE] VERSION START [for DURATION]",
			Summary: "schedules a maintenance window for VERSION of the service",
			Args: []Arg{
				version,
				{Name: ArgStart, Required: true, MaxLength: maxStartLength,
					Description: "RFC 3339 or YYYY-MM-DD HH:MM [ZONE], e.g. 2026-12-01 22:00 Europe/Berlin"},
				{Name: ArgDuration, Default: "2h", MaxLength: maxDurationLength,
					Description: "how long, e.g. 2h, 90m or 1h30m (default 2h, at most 24h)"},
				deployed,
			}},
		{Kind: KindWindows, Usage: "/deploy windows",
			Summary: "upcoming windows, scheduled and recurring"},
		{Kind: KindUnschedule, Usage: "/deploy unschedule WINDOW",
			Summary: "cancels a scheduled window",
			Args: []Arg{{Name: ArgWindow, Required: true, MaxLength: maxWindowRefLength,
				Description: "window id as shown by /deploy windows, e.g. w4k9zt"}}},
		{Kind: KindPlan, Usage: "/deploy plan [SERVICE] VERSION [to ENV]",
			Summary: "rehearses the run without running anything: what each automated step would do",
			Args:    []Arg{version, env, deployed}},
		{Kind: KindLock, Usage: "/deploy lock ENV [SERVICE] REASON…",
			Summary: "freezes ENV (for every service, or one): no run starts there until /deploy unlock",
			Args: []Arg{
				{Name: ArgEnv, Required: true, MaxLength: maxEnvLength, Description: "environment to freeze, e.g. production"},
				reason("why it is frozen, shown to whoever tries to start there"),
				service("the one service to freeze; left out, every service in ENV is frozen"),
			}},
		{Kind: KindUnlock, Usage: "/deploy unlock ENV [SERVICE]",
			Summary: "lifts a freeze (of every service, or of the one named)",
			Args: []Arg{
				{Name: ArgEnv, Required: true, MaxLength: maxEnvLength, Description: "environment to unfreeze, e.g. production"},
				service("the service whose own freeze to lift; left out, the freeze of every service"),
			}},
		{Kind: KindRunbook, Usage: "/deploy runbook [SERVICE]",
			Summary: "the service's runbook: its phases and steps",
			Args:    []Arg{service("service whose runbook to show; may be left out when there is only one")}},
		{Kind: KindReport, Usage: "/deploy report [RUN]",
			Summary: "the report of a run: who did what and when (default: this channel's run)",
			Args: []Arg{{Name: ArgRun, MaxLength: runIDLength,
				Description: "run id, e.g. r7k2qd; left out: this channel's run, or the latest ended here"}}},
		{Kind: KindStats, Usage: "/deploy stats [SERVICE] [to ENV] [DAYS]",
			Summary: "deployment figures over the last DAYS days (default 30), by service and environment",
			Args: []Arg{
				service("service to count; left out, every service"),
				{Name: ArgEnv, MaxLength: maxEnvLength, Description: "environment to count; left out, every environment"},
				{Name: ArgDays, Default: strconv.Itoa(DefaultStatsDays), MaxLength: 3,
					Description: "how many days back, 1 to 365 (default 30)"},
			}},
		{Kind: KindHelp, Usage: "/deploy help",
			Summary: "this list"},
	}
}

// definition returns the Definition of k.
func (g Grammar) definition(k Kind) (Definition, bool) {
	for _, d := range g.definitions(false) {
		if d.Kind == k {
			return d, true
		}
	}
	return Definition{}, false
}

// kindNames returns the subcommand names in table order, comma-separated.
func kindNames() string {
	defs := Grammar{}.Definitions()
	names := make([]string, len(defs))
	for i, d := range defs {
		names[i] = string(d.Kind)
	}
	return strings.Join(names, ", ")
}

// Help returns the help text: one line per command ("• `/deploy start [SERVICE]
// VERSION [to ENV]` — starts a run …"), then notes on the arguments, the
// services among them. It uses only backticks and bullets, so it reads the
// same in Slack, Discord and the console.
func (g Grammar) Help() string {
	var b strings.Builder
	for _, d := range g.Definitions() {
		b.WriteString("• `" + d.Usage + "` — " + d.Summary + "\n")
	}
	b.WriteString("\n")
	switch len(g.services) {
	case 0:
		b.WriteString("SERVICE is the name of a service's runbook; it may be left out when there is only one.\n")
	case 1:
		b.WriteString("SERVICE may be left out: the only service is `" + g.services[0] + "`.\n")
	default:
		b.WriteString("SERVICE is one of " + backticked(g.services) + "; say it when you start, plan, schedule or show a runbook, " +
			"e.g. `/deploy start " + g.services[0] + " v1.4`. `lock ENV REASON…` without a SERVICE freezes every service in ENV.\n")
	}
	b.WriteString("RUN may be left out when exactly one run is active in the channel. " +
		"Run ids look like `r7k2qd`: a REASON whose first word has that shape (r and 5 letters or digits, " +
		"e.g. \"revert\") needs the RUN written before it: `/deploy rollback r7k2qd revert the config`.\n")
	b.WriteString("PHASE is a phase id, shown in brackets by `/deploy runbook`. `approve` without PHASE approves the current phase only " +
		"when it is no production phase and you did not approve another phase of the run in the last 30 seconds " +
		"(a second `approve` sent by mistake must not pass the next gate); otherwise name it: `/deploy approve r7k2qd rollout`.\n")
	b.WriteString("VERSION: letters, digits and `. - _ + /` only, at most 64, starting with a letter or digit. " +
		"ENV: lowercase letters, digits, `-` and `_`. DAYS: 1 to 365.\n")
	b.WriteString("START: RFC 3339 (`2026-12-01T22:00:00+01:00`) or `YYYY-MM-DD HH:MM [ZONE]` " +
		"with an IANA zone such as `Europe/Berlin` (default UTC). " +
		"DURATION: `2h`, `90m`, `1h30m` (default 2h, at most 24h).\n")
	return b.String()
}

// backticked returns the names in backticks, comma-separated.
func backticked(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "`" + n + "`"
	}
	return strings.Join(out, ", ")
}

// Usage returns the usage line of kind ("/deploy start [SERVICE] VERSION
// [to ENV]"), or "" for a kind that does not exist.
func Usage(kind Kind) string {
	d, _ := Grammar{}.definition(kind)
	return d.Usage
}
