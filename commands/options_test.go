package commands

import (
	"errors"
	"testing"
	"time"
)

// TestFromOptionsMatchesParse holds Discord's options and Slack's text to one
// grammar: equivalent input gives the same command, or the same refusal.
func TestFromOptionsMatchesParse(t *testing.T) {
	tests := []struct {
		name string
		text string
		kind Kind
		opts map[string]string
	}{
		{"start with the default env", "start v1.4", KindStart, map[string]string{"version": "v1.4"}},
		{"start to staging", "start v1.4 to staging", KindStart, map[string]string{"version": "v1.4", "env": "staging"}},
		{"plan to staging", "plan v1.4 to staging", KindPlan, map[string]string{"version": "v1.4", "env": "staging"}},
		{"status", "status", KindStatus, map[string]string{}},
		{"status of a run", "status r7k2qd", KindStatus, map[string]string{"run": "r7k2qd"}},
		{"approve a run", "approve r7k2qd", KindApprove, map[string]string{"run": "r7k2qd"}},
		{"approve a phase of a run", "approve r7k2qd rollout", KindApprove, map[string]string{"run": "r7k2qd", "phase": "rollout"}},
		{"approve a phase", "approve rollout", KindApprove, map[string]string{"phase": "rollout"}},
		{"list", "list", KindList, nil},
		{"windows", "windows", KindWindows, nil},
		{"runbook", "runbook", KindRunbook, nil},
		{"help", "help", KindHelp, nil},
		{"rollback with run and reason", "rollback r7k2qd error rate doubled", KindRollback, map[string]string{"run": "r7k2qd", "reason": "error rate doubled"}},
		{"rollback with a reason only", "rollback error rate doubled", KindRollback, map[string]string{"reason": " error rate doubled "}},
		{"abort with run and reason", "abort r7k2qd wrong tag", KindAbort, map[string]string{"run": "r7k2qd", "reason": "wrong tag"}},
		{"schedule in a zone for 90m", "schedule v1.4 2026-12-01 22:00 Europe/Berlin for 90m", KindSchedule,
			map[string]string{"version": "v1.4", "start": "2026-12-01 22:00 Europe/Berlin", "duration": "90m"}},
		{"schedule with defaults", "schedule v1.4 2026-12-01 22:00", KindSchedule, map[string]string{"version": "v1.4", "start": "2026-12-01 22:00"}},
		{"schedule RFC 3339", "schedule v1.4 2026-12-01T22:00:00+01:00 for 2h", KindSchedule,
			map[string]string{"version": "v1.4", "start": "2026-12-01T22:00:00+01:00", "duration": "2h"}},
		{"unschedule", "unschedule w4k9zt", KindUnschedule, map[string]string{"window": "w4k9zt"}},
		{"lock", "lock production holiday freeze", KindLock, map[string]string{"env": "production", "reason": "holiday freeze"}},
		{"unlock", "unlock production", KindUnlock, map[string]string{"env": "production"}},

		{"refused: injected version", "start v1.4;", KindStart, map[string]string{"version": "v1.4;"}},
		{"refused: flag as version", "plan -rf", KindPlan, map[string]string{"version": "-rf"}},
		{"refused: capitalised env", "start v1.4 to Prod", KindStart, map[string]string{"version": "v1.4", "env": "Prod"}},
		{"refused: run id of the wrong shape", "status foo", KindStatus, map[string]string{"run": "foo"}},
		{"refused: missing reason", "rollback", KindRollback, map[string]string{}},
		{"refused: missing reason with a run", "abort r7k2qd", KindAbort, map[string]string{"run": "r7k2qd"}},
		{"refused: schedule in the past", "schedule v1.4 2026-05-31 22:00", KindSchedule, map[string]string{"version": "v1.4", "start": "2026-05-31 22:00"}},
		{"refused: unknown zone", "schedule v1.4 2026-12-01 22:00 Mars/Olympus", KindSchedule, map[string]string{"version": "v1.4", "start": "2026-12-01 22:00 Mars/Olympus"}},
		{"refused: too long a window", "schedule v1.4 2026-12-01 22:00 for 25h", KindSchedule, map[string]string{"version": "v1.4", "start": "2026-12-01 22:00", "duration": "25h"}},
		{"refused: missing start", "schedule v1.4", KindSchedule, map[string]string{"version": "v1.4"}},
		{"refused: bad window", "unschedule W1", KindUnschedule, map[string]string{"window": "W1"}},
		{"refused: lock without a reason", "lock production", KindLock, map[string]string{"env": "production"}},
		{"refused: unlock without an env", "unlock", KindUnlock, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fromText, textErr := Parse(tt.text, testNow)
			fromOpts, optsErr := FromOptions(tt.kind, tt.opts, testNow)
			if (textErr == nil) != (optsErr == nil) {
				t.Fatalf("Parse(%q) error %v, FromOptions error %v", tt.text, textErr, optsErr)
			}
			if textErr != nil {
				if textErr.Error() != optsErr.Error() {
					t.Fatalf("refusals differ:\n Parse:       %s\n FromOptions: %s", textErr, optsErr)
				}
				return
			}
			if !sameCommand(fromText, fromOpts) {
				t.Fatalf("commands differ:\n Parse:       %#v\n FromOptions: %#v", fromText, fromOpts)
			}
		})
	}
}

func TestFromOptions(t *testing.T) {
	tests := []struct {
		name      string
		kind      Kind
		opts      map[string]string
		want      Command
		wantMsg   string
		wantUsage string
	}{
		{"blank env means the default", KindStart, map[string]string{"version": "v1.4", "env": "  "},
			Command{Kind: KindStart, Version: "v1.4", Env: "production"}, "", ""},
		{"a run-shaped reason needs no run", KindRollback, map[string]string{"reason": "revert the config"},
			Command{Kind: KindRollback, Reason: "revert the config"}, "", ""},
		{"an explicit run is checked", KindRollback, map[string]string{"run": "latest", "reason": "broken"},
			Command{}, `invalid run id "latest": run ids look like r7k2qd (see /deploy list)`, "/deploy rollback [RUN] REASON…"},
		{"schedule start with extra spaces", KindSchedule, map[string]string{"version": "v1.4", "start": " 2026-12-01  22:00   UTC "},
			Command{Kind: KindSchedule, Version: "v1.4", Start: time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC), StartZone: "UTC", Duration: 2 * time.Hour}, "", ""},
		{"an option the command does not take", KindStatus, map[string]string{"env": "staging"},
			Command{}, `unexpected option "env"`, "/deploy status [RUN]"},
		{"an unknown option name", KindStart, map[string]string{"version": "v1.4", "target": "x"},
			Command{}, `unexpected option "target"`, "/deploy start [SERVICE] VERSION [to ENV]"},
		{"missing version", KindStart, map[string]string{"env": "staging"},
			Command{}, "missing VERSION: tag or commit: letters, digits and . - _ + / (at most 64), e.g. v1.4.2", "/deploy start [SERVICE] VERSION [to ENV]"},
		{"unknown kind", Kind("deploy"), nil, Command{},
			`unknown command "deploy". Try /deploy help — commands: start, status, list, approve, rollback, abort, schedule, windows, unschedule, plan, lock, unlock, runbook, report, stats, help`, ""},
		{"empty kind", Kind(""), nil, Command{},
			`unknown command "". Try /deploy help — commands: start, status, list, approve, rollback, abort, schedule, windows, unschedule, plan, lock, unlock, runbook, report, stats, help`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromOptions(tt.kind, tt.opts, testNow)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("FromOptions = error %v", err)
				}
				if !sameCommand(got, tt.want) {
					t.Fatalf("FromOptions\n got %#v\nwant %#v", got, tt.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("FromOptions = %#v, %v; want *Error", got, err)
			}
			if e.Msg != tt.wantMsg || e.Usage != tt.wantUsage {
				t.Fatalf("FromOptions error\n got %q / %q\nwant %q / %q", e.Msg, e.Usage, tt.wantMsg, tt.wantUsage)
			}
		})
	}
}
