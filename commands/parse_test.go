package commands

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// now is the reference time of the tests: 2026-06-01 12:00 UTC.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load zone %s: %v", name, err)
	}
	return loc
}

// sameCommand compares commands field by field, times by instant.
func sameCommand(a, b Command) bool {
	return a.Kind == b.Kind && a.Version == b.Version && a.Env == b.Env && a.Run == b.Run &&
		a.Reason == b.Reason && a.Window == b.Window && a.Start.Equal(b.Start) &&
		a.StartZone == b.StartZone && a.Duration == b.Duration && a.Service == b.Service && a.Days == b.Days
}

func TestParseAccepts(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	long64 := strings.Repeat("a", 64)
	reason500 := strings.Repeat("x", 499) + "é"
	tests := []struct {
		name string
		text string
		want Command
	}{
		{"empty text is help", "", Command{Kind: KindHelp}},
		{"blank text is help", " \t \n", Command{Kind: KindHelp}},
		{"help", "help", Command{Kind: KindHelp}},
		{"help in capitals", "HELP", Command{Kind: KindHelp}},
		{"leading /deploy is ignored", "/deploy start v1.4", Command{Kind: KindStart, Version: "v1.4", Env: "production"}},
		{"start defaults to production", "start v1.4", Command{Kind: KindStart, Version: "v1.4", Env: "production"}},
		{"start to staging", "start v1.4 to staging", Command{Kind: KindStart, Version: "v1.4", Env: "staging"}},
		{"start keywords in any case", "Start v1.4 TO staging", Command{Kind: KindStart, Version: "v1.4", Env: "staging"}},
		{"start keeps the version's case and every allowed character", "start V1.4-RC1+Build.7/x_y to qa-2",
			Command{Kind: KindStart, Version: "V1.4-RC1+Build.7/x_y", Env: "qa-2"}},
		{"start with a commit", "start 3f2a9c1 to eu_west", Command{Kind: KindStart, Version: "3f2a9c1", Env: "eu_west"}},
		{"start with a 64-character version", "start " + long64, Command{Kind: KindStart, Version: long64, Env: "production"}},
		{"start with odd spacing", "  start\tv1.4   to \u00a0staging ", Command{Kind: KindStart, Version: "v1.4", Env: "staging"}},
		{"plan defaults to production", "plan v1.4", Command{Kind: KindPlan, Version: "v1.4", Env: "production"}},
		{"plan to staging", "plan v2.0.0 to staging", Command{Kind: KindPlan, Version: "v2.0.0", Env: "staging"}},
		{"status of the active run", "status", Command{Kind: KindStatus}},
		{"status of a run", "status r7k2qd", Command{Kind: KindStatus, Run: "r7k2qd"}},
		{"approve the active run", "approve", Command{Kind: KindApprove}},
		{"approve a run", "approve r00a9b", Command{Kind: KindApprove, Run: "r00a9b"}},
		{"approve a phase", "approve rollout", Command{Kind: KindApprove, Phase: "rollout"}},
		{"approve a phase of a run", "approve r00a9b C", Command{Kind: KindApprove, Run: "r00a9b", Phase: "C"}},
		{"approve a phase whose id looks like a run id", "approve r00a9b review", Command{Kind: KindApprove, Run: "r00a9b", Phase: "review"}},
		{"approve a capitalised word", "approve R7K2QD", Command{Kind: KindApprove, Phase: "R7K2QD"}},
		{"list", "list", Command{Kind: KindList}},
		{"windows", "windows", Command{Kind: KindWindows}},
		{"runbook", "runbook", Command{Kind: KindRunbook}},
		{"rollback the active run", "rollback error rate doubled", Command{Kind: KindRollback, Reason: "error rate doubled"}},
		{"rollback a run", "rollback r7k2qd error rate doubled", Command{Kind: KindRollback, Run: "r7k2qd", Reason: "error rate doubled"}},
		{"rollback reason keeps its inner spacing, trimmed", "rollback r7k2qd  5xx   spike\n see graph  \n",
			Command{Kind: KindRollback, Run: "r7k2qd", Reason: "5xx   spike\n see graph"}},
		{"rollback: a run-shaped first word is the RUN", "rollback revert the config",
			Command{Kind: KindRollback, Run: "revert", Reason: "the config"}},
		{"rollback: RUN written before a run-shaped reason", "rollback r7k2qd revert the config",
			Command{Kind: KindRollback, Run: "r7k2qd", Reason: "revert the config"}},
		{"rollback: a capitalised word is not a RUN", "rollback R7K2QD broke it",
			Command{Kind: KindRollback, Reason: "R7K2QD broke it"}},
		{"rollback: a longer r-word is not a RUN", "rollback regression in checkout",
			Command{Kind: KindRollback, Reason: "regression in checkout"}},
		{"rollback reason with shell characters is plain text", "rollback r7k2qd $(reboot); `id` && ls",
			Command{Kind: KindRollback, Run: "r7k2qd", Reason: "$(reboot); `id` && ls"}},
		{"rollback reason in any script", "rollback Zürich DC down 🔥", Command{Kind: KindRollback, Reason: "Zürich DC down 🔥"}},
		{"rollback reason of 500 characters", "rollback " + reason500, Command{Kind: KindRollback, Reason: reason500}},
		{"abort the active run", "abort wrong version", Command{Kind: KindAbort, Reason: "wrong version"}},
		{"abort a run", "ABORT r7k2qd wrong version", Command{Kind: KindAbort, Run: "r7k2qd", Reason: "wrong version"}},
		{"schedule defaults to UTC and 2h", "schedule v1.4 2026-12-01 22:00",
			Command{Kind: KindSchedule, Version: "v1.4", Start: time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC), StartZone: "UTC", Duration: 2 * time.Hour}},
		{"schedule in a zone for 90m", "schedule v1.4 2026-12-01 22:00 Europe/Berlin for 90m",
			Command{Kind: KindSchedule, Version: "v1.4", Start: time.Date(2026, 12, 1, 22, 0, 0, 0, berlin), StartZone: "Europe/Berlin", Duration: 90 * time.Minute}},
		{"schedule in summer time", "schedule v1.4 2026-07-01 06:15 Europe/Berlin for 1h30m",
			Command{Kind: KindSchedule, Version: "v1.4", Start: time.Date(2026, 7, 1, 4, 15, 0, 0, time.UTC), StartZone: "Europe/Berlin", Duration: 90 * time.Minute}},
		{"schedule with utc in lower case", "schedule v1.4 2026-12-01 22:00 utc",
			Command{Kind: KindSchedule, Version: "v1.4", Start: time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC), StartZone: "UTC", Duration: 2 * time.Hour}},
		{"schedule with a one-digit hour", "schedule v1.4 2026-12-01 9:30",
			Command{Kind: KindSchedule, Version: "v1.4", Start: time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC), StartZone: "UTC", Duration: 2 * time.Hour}},
		{"schedule RFC 3339 with an offset", "schedule v1.4 2026-12-01T22:00:00+01:00 for 1h30m",
			Command{Kind: KindSchedule, Version: "v1.4", Start: time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC), Duration: 90 * time.Minute}},
		{"schedule RFC 3339 in UTC", "schedule v1.4 2026-12-01T22:00:00Z FOR 24h",
			Command{Kind: KindSchedule, Version: "v1.4", Start: time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC), Duration: 24 * time.Hour}},
		{"schedule starting right now", "schedule v1.4 2026-06-01 12:00 for 1m",
			Command{Kind: KindSchedule, Version: "v1.4", Start: testNow, StartZone: "UTC", Duration: time.Minute}},
		{"unschedule a window", "unschedule w4k9zt", Command{Kind: KindUnschedule, Window: "w4k9zt"}},
		{"unschedule a window with a longer id", "unschedule weekly-2026-12-01", Command{Kind: KindUnschedule, Window: "weekly-2026-12-01"}},
		{"lock", "lock production holiday freeze until Jan 5", Command{Kind: KindLock, Env: "production", Reason: "holiday freeze until Jan 5"}},
		{"unlock", "unlock production", Command{Kind: KindUnlock, Env: "production"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.text, testNow)
			if err != nil {
				t.Fatalf("Parse(%q) = error %v", tt.text, err)
			}
			if !sameCommand(got, tt.want) {
				t.Fatalf("Parse(%q)\n got %#v\nwant %#v", tt.text, got, tt.want)
			}
			again, err := Parse(got.String(), testNow)
			if err != nil || !sameCommand(again, got) {
				t.Fatalf("canonical form %q parses to %#v, %v; want %#v", got.String(), again, err, got)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	const (
		startUsage    = "/deploy start [SERVICE] VERSION [to ENV]"
		scheduleUsage = "/deploy schedule [SERVICE] VERSION START [for DURATION]"
		badVersion    = `: use letters, digits and . - _ + / only (at most 64), e.g. v1.4.2`
		startHelp     = "use RFC 3339 (2026-12-01T22:00:00+01:00) or YYYY-MM-DD HH:MM [ZONE] (2026-12-01 22:00 Europe/Berlin)"
		unknownZone   = ": use an IANA name such as Europe/Berlin, or UTC"
	)
	commandList := "start, status, list, approve, rollback, abort, schedule, windows, unschedule, plan, lock, unlock, runbook, report, stats, help"
	tests := []struct {
		name      string
		text      string
		wantMsg   string
		wantUsage string
	}{
		{"unknown command", "deploy v1.4", `unknown command "deploy". Try /deploy help — commands: ` + commandList, ""},
		{"command substitution as a command", "$(reboot)", `unknown command "$(reboot)". Try /deploy help — commands: ` + commandList, ""},
		{"flag as a command", "-rf", `unknown command "-rf". Try /deploy help — commands: ` + commandList, ""},
		{"unicode look-alike of start", "ſtart v1.4", `unknown command "ſtart". Try /deploy help — commands: ` + commandList, ""},

		{"start without a version", "start", "missing VERSION: a tag or commit, e.g. /deploy start v1.4.2", startUsage},
		{"start to an env without a version", "start to staging", "missing VERSION: a tag or commit, e.g. /deploy start v1.4.2", startUsage},
		{"start with a command separator", "start v1.4; rm -rf /", `invalid version "v1.4;"` + badVersion, startUsage},
		{"start with command substitution", "start $(reboot)", `invalid version "$(reboot)"` + badVersion, startUsage},
		{"start with backticks", "start `id`", "invalid version \"`id`\"" + badVersion, startUsage},
		{"start with a flag", "start -rf", `invalid version "-rf": it must start with a letter or digit, e.g. v1.4.2`, startUsage},
		{"start with && as a word", "start v1.4 && ls", `unexpected "&&"`, startUsage},
		{"start with && inside the version", "start v1.4&&ls", `invalid version "v1.4&&ls"` + badVersion, startUsage},
		{"start with a pipe", "plan v1.4|cat to staging", `invalid version "v1.4|cat"` + badVersion, "/deploy plan [SERVICE] VERSION [to ENV]"},
		{"start with a 65-character version", "start " + strings.Repeat("a", 65),
			`invalid version "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"…: too long (65 characters, at most 64)`, startUsage},
		{"start with a non-ASCII letter", "start vé1", `invalid version "vé1"` + badVersion, startUsage},
		{"start with a full-width digit", "start v1.４", `invalid version "v1.４"` + badVersion, startUsage},
		{"start with a NUL byte", "start v1\x00", `invalid version "v1\x00"` + badVersion, startUsage},
		{"start with invalid UTF-8", "start v1\xff", `invalid version "v1\xff"` + badVersion, startUsage},
		{"start with a leading slash", "start /etc/passwd", `invalid version "/etc/passwd": it must start with a letter or digit, e.g. v1.4.2`, startUsage},
		{"start with a leading dot", "start ../etc", `invalid version "../etc": it must start with a letter or digit, e.g. v1.4.2`, startUsage},
		{"start with .. inside", "start a/../b", `invalid version "a/../b": ".." is not allowed, e.g. v1.4.2`, startUsage},
		{"start with the env but no to", "start v1.4 staging", `unexpected "staging" (to choose the environment write "to staging")`, startUsage},
		{"start with to but no env", "start v1.4 to", `missing ENV after "to", e.g. staging`, startUsage},
		{"start to a capitalised env", "start v1.4 to Staging",
			`invalid environment "Staging": use lowercase letters, digits, - and _ (at most 32, starting with a letter or digit), e.g. staging`, startUsage},
		{"start to an env with a separator", "start v1.4 to prod;ls",
			`invalid environment "prod;ls": use lowercase letters, digits, - and _ (at most 32, starting with a letter or digit), e.g. staging`, startUsage},
		{"start with a word after the env", "start v1.4 to staging now", `unexpected "now"`, startUsage},
		{"plan without a version", "plan", "missing VERSION: a tag or commit, e.g. /deploy plan v1.4.2", "/deploy plan [SERVICE] VERSION [to ENV]"},

		{"status of something that is no run id", "status foo", `invalid run id "foo": run ids look like r7k2qd (see /deploy list)`, "/deploy status [RUN]"},
		{"status with a second word", "status r7k2qd x", `unexpected "x"`, "/deploy status [RUN]"},
		{"approve a run that is no run id", "approve build r7k2qd", `invalid run id "build": run ids look like r7k2qd (see /deploy list)`, "/deploy approve [RUN] [PHASE]"},
		{"approve a phase that is no phase id", "approve r7k2qd roll*out", `invalid phase "roll*out": use a phase id as /deploy runbook shows it in brackets, e.g. build`, "/deploy approve [RUN] [PHASE]"},
		{"approve with a third word", "approve r7k2qd build now", `unexpected "now"`, "/deploy approve [RUN] [PHASE]"},
		{"list with a word", "list all", `unexpected "all"`, "/deploy list"},
		{"windows with a word", "windows next", `unexpected "next"`, "/deploy windows"},
		{"runbook with two words", "runbook api show", `unexpected "show"`, "/deploy runbook [SERVICE]"},
		{"help with a word", "help start", `unexpected "start"`, "/deploy help"},

		{"rollback without a reason", "rollback", "missing REASON: why roll back (free text, at most 500 characters)", "/deploy rollback [RUN] REASON…"},
		{"rollback with a run but no reason", "rollback r7k2qd", "missing REASON: why roll back (free text, at most 500 characters)", "/deploy rollback [RUN] REASON…"},
		{"rollback with a 501-character reason", "rollback r7k2qd " + strings.Repeat("é", 501), "reason is too long (501 characters, at most 500)", "/deploy rollback [RUN] REASON…"},
		{"rollback reason with a control character", "rollback r7k2qd bad\x07bell", "invalid reason: control character U+0007 is not allowed", "/deploy rollback [RUN] REASON…"},
		{"rollback reason with invalid UTF-8", "rollback bad \xff", "invalid reason: it is not valid UTF-8 text", "/deploy rollback [RUN] REASON…"},
		{"abort without a reason", "abort r7k2qd", "missing REASON: why abort (free text, at most 500 characters)", "/deploy abort [RUN] REASON…"},

		{"schedule without a version", "schedule", "missing VERSION: a tag or commit, e.g. /deploy schedule v1.4.2 2026-12-01 22:00 Europe/Berlin", scheduleUsage},
		{"schedule without a start", "schedule v1.4", "missing START: RFC 3339 or YYYY-MM-DD HH:MM [ZONE], e.g. 2026-12-01 22:00 Europe/Berlin", scheduleUsage},
		{"schedule with a duration but no start", "schedule v1.4 for 2h", "missing START: RFC 3339 or YYYY-MM-DD HH:MM [ZONE], e.g. 2026-12-01 22:00 Europe/Berlin", scheduleUsage},
		{"schedule with a bad version", "schedule v1.4;x 2026-12-01 22:00", `invalid version "v1.4;x"` + badVersion, scheduleUsage},
		{"schedule in the past", "schedule v1.4 2026-05-31 22:00", "start 2026-05-31 22:00 UTC is in the past (it is now 2026-06-01 12:00 UTC)", scheduleUsage},
		{"schedule in the past in a zone", "schedule v1.4 2026-06-01 13:30 Europe/Berlin",
			"start 2026-06-01 13:30 Europe/Berlin is in the past (it is now 2026-06-01 14:00 Europe/Berlin)", scheduleUsage},
		{"schedule in the past in RFC 3339", "schedule v1.4 2026-06-01T13:00:00+02:00",
			"start 2026-06-01T13:00:00+02:00 is in the past (it is now 2026-06-01T14:00:00+02:00)", scheduleUsage},
		{"schedule in an unknown zone", "schedule v1.4 2026-12-01 22:00 Mars/Olympus", `unknown time zone "Mars/Olympus"` + unknownZone, scheduleUsage},
		{"schedule in a zone in the wrong case", "schedule v1.4 2026-12-01 22:00 europe/berlin", `unknown time zone "europe/berlin"` + unknownZone, scheduleUsage},
		{"schedule in a zone that is a path", "schedule v1.4 2026-12-01 22:00 ../../etc/passwd", `unknown time zone "../../etc/passwd"` + unknownZone, scheduleUsage},
		{"schedule in the machine's zone", "schedule v1.4 2026-12-01 22:00 Local", `unknown time zone "Local"` + unknownZone, scheduleUsage},
		{"schedule on a date that does not exist", "schedule v1.4 2026-02-30 22:00", `invalid start date "2026-02-30": ` + startHelp, scheduleUsage},
		{"schedule at a time that does not exist", "schedule v1.4 2026-12-01 25:00", `invalid start time "25:00": ` + startHelp, scheduleUsage},
		{"schedule skipped by the clock change", "schedule v1.4 2027-03-28 02:30 Europe/Berlin",
			"2027-03-28 02:30 does not exist in Europe/Berlin (the clocks skip it): pick another time", scheduleUsage},
		{"schedule with a word for a date", "schedule v1.4 tomorrow 22:00", `invalid start date "tomorrow": ` + startHelp, scheduleUsage},
		{"schedule without a time", "schedule v1.4 2026-12-01", "missing time after 2026-12-01: " + startHelp, scheduleUsage},
		{"schedule with a shortened RFC 3339", "schedule v1.4 2026-12-01T22:00", `invalid start "2026-12-01T22:00": ` + startHelp, scheduleUsage},
		{"schedule RFC 3339 with a zone", "schedule v1.4 2026-12-01T22:00:00Z Europe/Berlin",
			`unexpected "Europe/Berlin": an RFC 3339 start carries its own offset (` + startHelp + ")", scheduleUsage},
		{"schedule with a duration but no for", "schedule v1.4 2026-12-01 22:00 Europe/Berlin 90m",
			`unexpected "90m" (to give the window's length write "for 90m")`, scheduleUsage},
		{"schedule with a fourth start word", "schedule v1.4 2026-12-01 22:00 Europe/Berlin tonight", `unexpected "tonight": ` + startHelp, scheduleUsage},
		{"schedule with for but no duration", "schedule v1.4 2026-12-01 22:00 for", `missing DURATION after "for", e.g. 90m`, scheduleUsage},
		{"schedule for 25h", "schedule v1.4 2026-12-01 22:00 for 25h", `duration "25h" is too long (at most 24h)`, scheduleUsage},
		{"schedule for 30s", "schedule v1.4 2026-12-01 22:00 for 30s", `duration "30s" is too short (at least 1m)`, scheduleUsage},
		{"schedule for no time", "schedule v1.4 2026-12-01 22:00 for 0s", `duration "0s" is too short (at least 1m)`, scheduleUsage},
		{"schedule for a negative time", "schedule v1.4 2026-12-01 22:00 for -1h", `duration "-1h" is too short (at least 1m)`, scheduleUsage},
		{"schedule for a number without unit", "schedule v1.4 2026-12-01 22:00 for 90", `invalid duration "90": use 2h, 90m or 1h30m`, scheduleUsage},
		{"schedule with a word after the duration", "schedule v1.4 2026-12-01 22:00 for 2h now", `unexpected "now"`, scheduleUsage},

		{"unschedule without a window", "unschedule", "missing WINDOW: window id as shown by /deploy windows, e.g. w4k9zt", "/deploy unschedule WINDOW"},
		{"unschedule a capitalised window", "unschedule W4K9Z", `invalid window id "W4K9Z": use the id shown by /deploy windows, e.g. w4k9zt`, "/deploy unschedule WINDOW"},
		{"unschedule command substitution", "unschedule $(id)", `invalid window id "$(id)": use the id shown by /deploy windows, e.g. w4k9zt`, "/deploy unschedule WINDOW"},
		{"unschedule two windows", "unschedule w4k9zt w5k9zt", `unexpected "w5k9zt"`, "/deploy unschedule WINDOW"},

		{"lock without an env", "lock", "missing ENV: environment to freeze, e.g. production", "/deploy lock ENV [SERVICE] REASON…"},
		{"lock without a reason", "lock production", "missing REASON: why it is frozen, shown to whoever tries to start there (free text, at most 500 characters)", "/deploy lock ENV [SERVICE] REASON…"},
		{"lock a bad env", "lock Prod! freeze",
			`invalid environment "Prod!": use lowercase letters, digits, - and _ (at most 32, starting with a letter or digit), e.g. staging`, "/deploy lock ENV [SERVICE] REASON…"},
		{"unlock without an env", "unlock", "missing ENV: environment to unfreeze, e.g. production", "/deploy unlock ENV [SERVICE]"},
		{"unlock with a path", "unlock ../prod",
			`invalid environment "../prod": use lowercase letters, digits, - and _ (at most 32, starting with a letter or digit), e.g. staging`, "/deploy unlock ENV [SERVICE]"},
		{"unlock with two words after the env", "unlock production api now", `unexpected "now"`, "/deploy unlock ENV [SERVICE]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.text, testNow)
			if err == nil {
				t.Fatalf("Parse(%q) = %#v, want an error", tt.text, got)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) error %T %v, want *Error", tt.text, err, err)
			}
			if e.Msg != tt.wantMsg {
				t.Errorf("message\n got %s\nwant %s", e.Msg, tt.wantMsg)
			}
			if e.Usage != tt.wantUsage {
				t.Errorf("usage %q, want %q", e.Usage, tt.wantUsage)
			}
			if got != (Command{}) {
				t.Errorf("refused command is %#v, want the zero Command", got)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"with usage", &Error{Msg: `invalid version "v1.4;"`, Usage: "/deploy start [SERVICE] VERSION [to ENV]"},
			"invalid version \"v1.4;\"\nUsage: /deploy start [SERVICE] VERSION [to ENV]"},
		{"without usage", &Error{Msg: `unknown command "foo"`}, `unknown command "foo"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCommandString(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	tests := []struct {
		name string
		cmd  Command
		want string
	}{
		{"start", Command{Kind: KindStart, Version: "v1.4", Env: "production"}, "start v1.4 to production"},
		{"plan", Command{Kind: KindPlan, Version: "v1.4", Env: "staging"}, "plan v1.4 to staging"},
		{"status without run", Command{Kind: KindStatus}, "status"},
		{"approve with run", Command{Kind: KindApprove, Run: "r7k2qd"}, "approve r7k2qd"},
		{"approve a phase of a run", Command{Kind: KindApprove, Run: "r7k2qd", Phase: "rollout"}, "approve r7k2qd rollout"},
		{"approve a phase", Command{Kind: KindApprove, Phase: "rollout"}, "approve rollout"},
		{"list", Command{Kind: KindList}, "list"},
		{"rollback without run", Command{Kind: KindRollback, Reason: "5xx spike"}, "rollback 5xx spike"},
		{"abort with run", Command{Kind: KindAbort, Run: "r7k2qd", Reason: "wrong tag"}, "abort r7k2qd wrong tag"},
		{"schedule in a zone", Command{Kind: KindSchedule, Version: "v1.4", Start: time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC), StartZone: "Europe/Berlin", Duration: 90 * time.Minute},
			"schedule v1.4 2026-12-01 22:00 Europe/Berlin for 1h30m"},
		{"schedule in UTC", Command{Kind: KindSchedule, Version: "v1.4", Start: time.Date(2026, 12, 1, 22, 0, 0, 0, berlin), StartZone: "UTC", Duration: 2 * time.Hour},
			"schedule v1.4 2026-12-01 21:00 UTC for 2h"},
		{"schedule RFC 3339", Command{Kind: KindSchedule, Version: "v1.4", Start: time.Date(2026, 12, 1, 22, 0, 0, 0, time.FixedZone("", 3600)), Duration: 24 * time.Hour},
			"schedule v1.4 2026-12-01T22:00:00+01:00 for 24h"},
		{"unschedule", Command{Kind: KindUnschedule, Window: "w4k9zt"}, "unschedule w4k9zt"},
		{"lock", Command{Kind: KindLock, Env: "production", Reason: "freeze"}, "lock production freeze"},
		{"unlock", Command{Kind: KindUnlock, Env: "production"}, "unlock production"},
		{"help", Command{Kind: KindHelp}, "help"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cmd.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
