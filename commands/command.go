package commands

import (
	"strconv"
	"strings"
	"time"
)

// Kind names a /deploy subcommand. Its value is the subcommand as typed
// ("start"), which is also the Discord subcommand name.
type Kind string

// The subcommands, in the order of the product's command table.
const (
	KindStart      Kind = "start"
	KindStatus     Kind = "status"
	KindList       Kind = "list"
	KindApprove    Kind = "approve"
	KindRollback   Kind = "rollback"
	KindAbort      Kind = "abort"
	KindSchedule   Kind = "schedule"
	KindWindows    Kind = "windows"
	KindUnschedule Kind = "unschedule"
	KindPlan       Kind = "plan"
	KindLock       Kind = "lock"
	KindUnlock     Kind = "unlock"
	KindRunbook    Kind = "runbook"
	KindReport     Kind = "report"
	KindStats      Kind = "stats"
	KindHelp       Kind = "help"
)

// DefaultEnv is the environment of start and plan when none is given.
const DefaultEnv = "production"

// DefaultWindowLength is the length of a scheduled window when none is given.
const DefaultWindowLength = 2 * time.Hour

// MaxWindowLength is the longest window that can be scheduled.
const MaxWindowLength = 24 * time.Hour

// MinWindowLength is the shortest window that can be scheduled.
const MinWindowLength = time.Minute

// MaxReasonLength is the longest reason accepted, in characters (runes).
const MaxReasonLength = 500

// Command is one validated /deploy command. Only the fields its Kind uses are
// set; the others are zero.
type Command struct {
	Kind Kind
	// Service is the service of start, plan, runbook, schedule, lock,
	// unlock and stats. Empty means the only one for start, plan, runbook and
	// schedule (with several, the bot asks which), every service for lock,
	// unlock and stats.
	Service string
	// Version is the tag or commit of start, plan and schedule (case preserved).
	Version string
	// Env is the environment of start and plan (default DefaultEnv), lock and
	// unlock, and stats (empty: every environment).
	Env string
	// Run is the run id of status, approve, rollback, abort and report;
	// empty means "the one active run in this channel" (for report, else the
	// latest one that ended there).
	Run string
	// Phase is the phase id of approve: the one phase to approve. Empty
	// means the current phase, which the bot approves only when that is
	// safe (not a production phase, not right after the same person
	// approved another phase of the run).
	Phase string
	// Reason is the free text of rollback, abort and lock (trimmed, at most
	// MaxReasonLength characters).
	Reason string
	// Window is the window id of unschedule.
	Window string
	// Start is when a scheduled window opens, in the location it was given in.
	Start time.Time
	// StartZone is the IANA zone name START was given in ("Europe/Berlin",
	// "UTC" also when no zone was written), or "" when START was RFC 3339.
	StartZone string
	// Duration is the length of a scheduled window (default DefaultWindowLength).
	Duration time.Duration
	// Days is the period of stats in days (default DefaultStatsDays).
	Days int
}

// DefaultStatsDays is the period of /deploy stats when none is given.
const DefaultStatsDays = 30

// String returns the command's canonical text form, as it would be typed after
// /deploy ("start api v1.4 to production"), for logs and the audit trail.
// Parsing it again with the grammar that built it gives the same command,
// except for a run-less rollback or abort whose reason starts with a word
// shaped like a run id, and a run-less approve of a phase whose id has that
// shape (only FromOptions builds those).
func (c Command) String() string {
	parts := []string{string(c.Kind)}
	add := func(s ...string) { parts = append(parts, s...) }
	service := func() {
		if c.Service != "" {
			add(c.Service)
		}
	}
	switch c.Kind {
	case KindStart, KindPlan:
		service()
		add(c.Version, "to", c.Env)
	case KindStatus, KindReport:
		if c.Run != "" {
			add(c.Run)
		}
	case KindApprove:
		if c.Run != "" {
			add(c.Run)
		}
		if c.Phase != "" {
			add(c.Phase)
		}
	case KindRollback, KindAbort:
		if c.Run != "" {
			add(c.Run)
		}
		add(c.Reason)
	case KindSchedule:
		service()
		add(c.Version, formatStart(c.Start, c.StartZone), "for", formatDuration(c.Duration))
	case KindUnschedule:
		add(c.Window)
	case KindLock:
		add(c.Env)
		service()
		add(c.Reason)
	case KindUnlock:
		add(c.Env)
		service()
	case KindRunbook:
		service()
	case KindStats:
		service()
		if c.Env != "" {
			add("to", c.Env)
		}
		add(strconv.Itoa(c.Days))
	}
	return strings.Join(parts, " ")
}

// Error is a refused command. Its text is safe to show to the person who typed
// it (ephemerally): what is wrong and the usage line of the command concerned.
type Error struct {
	// Msg says what is wrong ("invalid version \"v1.4;\": …").
	Msg string
	// Usage is the usage line of the command concerned ("/deploy start VERSION
	// [to ENV]"), or "" when no command was recognised.
	Usage string
}

// Error returns Msg, followed by "\nUsage: " and Usage when there is one.
func (e *Error) Error() string {
	if e.Usage == "" {
		return e.Msg
	}
	return e.Msg + "\nUsage: " + e.Usage
}
