package runbook

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func validRunbook() *Runbook {
	return &Runbook{
		Name: "demo",
		Phases: []Phase{
			{ID: "one", Title: "One", Steps: []Step{{ID: "a", Title: "A"}, {ID: "b", Title: "B", Run: "shell", With: map[string]any{"command": []any{"true"}}}}},
			{ID: "two", Title: "Two", Steps: []Step{{ID: "c", Title: "C"}}},
		},
		Rollback: Rollback{Steps: []Step{{ID: "revert", Title: "Revert"}}},
	}
}

func TestValidateInMemory(t *testing.T) {
	tests := []struct {
		name   string
		change func(rb *Runbook)
		want   []string
	}{
		{name: "valid", change: func(*Runbook) {}},
		{
			name:   "problems without lines name only the file",
			change: func(rb *Runbook) { rb.File = "mem.yaml"; rb.Name = ""; rb.Phases[1].Steps[0].ID = "a" },
			want: []string{
				`mem.yaml: name is required (e.g. name: payments-api)`,
				`mem.yaml: duplicate step id "a" (first in phase "one")`,
			},
		},
		{
			name:   "without a file a problem is its message",
			change: func(rb *Runbook) { rb.Phases = nil },
			want:   []string{`a runbook needs at least one phase (phases: is missing or empty)`},
		},
		{
			name: "Line fields are used when set",
			change: func(rb *Runbook) {
				rb.File = "mem.yaml"
				rb.Phases[0].Steps[1].Line = 7
				rb.Phases[0].Steps[1].Run = "teleport"
				rb.Windows = []RecurringWindow{{Cron: "every tuesday", Duration: Duration(time.Hour), Line: 3}}
			},
			want: []string{
				`mem.yaml:3: window: cron "every tuesday" is not valid: expected exactly 5 fields, found 2: [every tuesday] (use 5 fields: minute hour day-of-month month day-of-week)`,
				`mem.yaml:7: step "b": unknown adapter "teleport" (known: shell, http, github, prometheus, watch, webhook, notify, window)`,
			},
		},
		{
			name: "follow-up phases come last and hold no production, window or notice",
			change: func(rb *Runbook) {
				rb.Phases[0].FollowUp, rb.Phases[0].Production = true, true
				rb.Phases[0].Steps[0].Notice = NoticeCompletion
			},
			want: []string{
				`phase "one": a follow-up phase cannot be production: the run is deployed before it`,
				`step "a": a follow-up phase cannot hold a notice step`,
				`phase "two": follow-up phases come last; this phase follows one`,
				`phase "one": the first phase cannot be a follow-up phase (nothing would be deployed)`,
			},
		},
		{
			name: "notice steps name a known notice, have no run, and rollback only in the rollback procedure",
			change: func(rb *Runbook) {
				rb.Phases[0].Steps[0].Notice = "party"
				rb.Phases[0].Steps[1].Notice = NoticeAnnouncement
				rb.Phases[1].Steps[0].Notice = NoticeRollback
				rb.Rollback.Steps[0].Notice = NoticeAnnouncement
			},
			want: []string{
				`step "a": notice must be "announcement", "completion" or "rollback", not "party"`,
				`step "b": a notice step has no run: (the bot's own notice is its output)`,
				`step "c": notice: rollback belongs in the rollback procedure, and only there`,
				`step "revert": notice: rollback belongs in the rollback procedure, and only there`,
			},
		},
		{
			name:   "with without run",
			change: func(rb *Runbook) { rb.Phases[0].Steps[0].With = map[string]any{} },
			want:   []string{`step "a": with is set but run is not (name the adapter that takes these parameters)`},
		},
		{
			name:   "a zero timeout in memory means the default",
			change: func(rb *Runbook) { rb.Phases[0].Steps[1].Timeout = 0 },
		},
		{
			name: "negative and too long timeouts",
			change: func(rb *Runbook) {
				rb.Phases[0].Steps[0].Timeout = -1
				rb.Phases[0].Steps[1].Timeout = Duration(48 * time.Hour)
			},
			want: []string{
				`step "a": timeout must be more than 0`,
				`step "b": timeout 48h is more than 24h`,
			},
		},
		{
			name:   "no phases",
			change: func(rb *Runbook) { rb.Phases = nil },
			want:   []string{`a runbook needs at least one phase (phases: is missing or empty)`},
		},
		{
			name:   "empty reminders are allowed (no reminders)",
			change: func(rb *Runbook) { rb.Reminders = []Duration{} },
		},
		{
			name: "windows at their limits are valid",
			change: func(rb *Runbook) {
				rb.Windows = []RecurringWindow{
					{Cron: "@weekly", Duration: Duration(7 * 24 * time.Hour)},
					{Cron: "30 2 1 * *", Duration: Duration(time.Minute), Timezone: "America/New_York"},
				}
				rb.Reminders = []Duration{Duration(30 * 24 * time.Hour), Duration(time.Second)}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rb := validRunbook()
			tt.change(rb)
			err := rb.Validate(stubValidator{})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			got := problemLines(t, err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestIsApprover(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"U012ABCDEF", true},
		{"W0ABC", true},
		{"@release-managers", true},
		{"@ops.team_1", true},
		{"123456789012345678", true},
		{"12345", true},
		{"1234", false},
		{"U1", false},
		{"u012abcdef", false},
		{"alice", false},
		{"console:alice", true},
		{"console:", false},
		{"@", false},
		{"@-leading-dash", false},
		{"", false},
		{"<@U012ABCDEF>", false},
		{"12345678901234567890123456", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := IsApprover(tt.in); got != tt.want {
				t.Errorf("IsApprover(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestApprovalTimeout(t *testing.T) {
	src := func(extra string) string {
		return "name: t\nphases:\n  - id: one\n    title: One\n" + extra + "    steps:\n      - id: a\n        title: A\n"
	}
	if rb, err := Parse("f.yaml", []byte(src("    approval_timeout: 4h\n")), nil); err != nil || rb.Phases[0].ApprovalTimeout != Duration(4*time.Hour) {
		t.Fatalf("approval_timeout 4h: %v", err)
	}
	for extra, want := range map[string]string{
		"    approval_timeout: 0s\n":                      "f.yaml:5: phase \"one\": approval_timeout must be more than 0",
		"    approval: false\n    approval_timeout: 1h\n": "approval_timeout is set but the phase needs no approval",
		"    approval_timeout: 900h\n":                    "approval_timeout 900h is more than 30 days",
	} {
		_, err := Parse("f.yaml", []byte(src(extra)), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", extra, err, want)
		}
	}
}
