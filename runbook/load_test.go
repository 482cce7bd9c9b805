package runbook

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// lines joins YAML lines so that a case's line numbers can be read off its index.
func lines(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }

// tail is a valid rollback section, appended where a case does not test rollback.
var tail = []string{
	"rollback:",
	"  steps:",
	"    - id: revert",
	"      title: Revert",
}

func with(head []string, rest ...[]string) []byte {
	all := append([]string{}, head...)
	for _, r := range rest {
		all = append(all, r...)
	}
	return lines(all...)
}

func TestParseReportsEveryProblemAtItsLine(t *testing.T) {
	tests := []struct {
		name string
		yaml []byte
		want []string
	}{
		{
			name: "unknown field and duplicate step id are both reported",
			yaml: with([]string{
				"name: demo", // 1
				"phases:",
				"  - id: build",
				"    title: Build",
				"    steps:", // 5
				"      - id: compile",
				"        title: Compile",
				"        tiemout: 5m",
				"      - id: compile",
				"        title: Compile again", // 10
			}, tail),
			want: []string{
				`f.yaml:8: unknown field "tiemout" in a step (did you mean "timeout"?)`,
				`f.yaml:9: duplicate step id "compile" (first at line 6)`,
			},
		},
		{
			name: "unknown field far from any known one lists the known fields",
			yaml: with([]string{
				"name: demo",
				"colour: blue",
				"phases:",
				"  - id: build",
				"    title: Build",
			}, tail),
			want: []string{
				`f.yaml:2: unknown field "colour" in the runbook (known fields: name, title, approvers, operators, distinct_approver, reminders, windows, environments, phases, rollback)`,
			},
		},
		{
			name: "unknown fields in phase, window and rollback",
			yaml: lines(
				"name: demo",
				"windows:",
				"  - cron: '0 22 * * TUE'",
				"    duration: 2h",
				"    zone: UTC", // 5
				"phases:",
				"  - id: build",
				"    title: Build",
				"    approve: true",
				"rollback:", // 10
				"  when: always",
				"  step:",
				"    - id: revert",
				"      title: Revert",
			),
			want: []string{
				`f.yaml:5: unknown field "zone" in a window (known fields: cron, duration, timezone)`,
				`f.yaml:9: unknown field "approve" in a phase (did you mean "approval"?)`,
				`f.yaml:12: unknown field "step" in rollback (did you mean "steps"?)`,
			},
		},
		{
			name: "step ids are unique across phases",
			yaml: with([]string{
				"name: demo",
				"phases:",
				"  - id: one",
				"    title: One",
				"    steps:", // 5
				"      - {id: check, title: Check}",
				"  - id: two",
				"    title: Two",
				"    steps:",
				"      - {id: check, title: Check again}", // 10
			}, tail),
			want: []string{`f.yaml:10: duplicate step id "check" (first at line 6)`},
		},
		{
			name: "phase ids are unique",
			yaml: with([]string{
				"name: demo",
				"phases:",
				"  - {id: one, title: One}",
				"  - {id: one, title: One again}",
			}, tail),
			want: []string{`f.yaml:4: duplicate phase id "one" (first at line 3)`},
		},
		{
			name: "rollback step ids are unique among rollback steps but may repeat a phase step id",
			yaml: lines(
				"name: demo",
				"phases:",
				"  - id: one",
				"    title: One",
				"    steps:", // 5
				"      - {id: notify, title: Notify}",
				"rollback:",
				"  steps:",
				"    - {id: notify, title: Notify}",
				"    - {id: revert, title: Revert}", // 10
				"    - {id: revert, title: Revert again}",
			),
			want: []string{`f.yaml:11: duplicate step id "revert" (first at line 10)`},
		},
		{
			name: "malformed and missing ids and titles",
			yaml: with([]string{
				"name: demo",
				"phases:",
				"  - id: Build Phase",
				"    steps:",
				"      - id: -lint", // 5
				"        title: Lint",
				"      - id: a-step-id-that-is-far-too-long-to-be-useful-x",
				"        title: Long",
				"      - title: No id",
				"      - id: no-title", // 10
				"  - id: rollback",
				"    title: Reserved",
				"  - title: No id either",
			}, tail),
			want: []string{
				`f.yaml:3: phase id "Build Phase" must be letters, digits, ".", "-" and "_", starting with a letter or digit, at most 40 characters`,
				`f.yaml:3: phase "Build Phase": title is required`,
				`f.yaml:5: step id "-lint" must be letters, digits, ".", "-" and "_", starting with a letter or digit, at most 40 characters`,
				`f.yaml:7: step id "a-step-id-that-is-far-too-long-to-be-useful-x" must be letters, digits, ".", "-" and "_", starting with a letter or digit, at most 40 characters`,
				`f.yaml:9: step 3 of phase "Build Phase": id is required`,
				`f.yaml:10: step "no-title": title is required`,
				`f.yaml:11: phase id "rollback" is reserved for the rollback procedure`,
				`f.yaml:13: phase 3: id is required`,
			},
		},
		{
			name: "step options",
			yaml: with([]string{
				"name: demo",
				"phases:",
				"  - id: one",
				"    title: One",
				"    window: optional", // 5
				"    steps:",
				"      - id: manual-with",
				"        title: Manual with parameters",
				"        with: {command: [ls]}",
				"      - id: zero", // 10
				"        title: Zero timeout",
				"        run: shell",
				"        timeout: 0s",
				"      - id: long",
				"        title: Long timeout", // 15
				"        run: shell",
				"        timeout: 25h",
				"      - id: garbled",
				"        title: Garbled timeout",
				"        run: shell", // 20
				"        timeout: soon",
				"      - id: retry",
				"        title: Retry on failure",
				"        run: shell",
				"        on_failure: retry", // 25
				"      - id: day",
				"        title: A day is allowed",
				"        run: shell",
				"        timeout: 24h",
				"        on_failure: rollback", // 30
				"      - id: typo",
				"        title: Unknown adapter",
				"        run: shel",
			}, []string{
				"rollback:",
				"  steps:",
				"    - id: revert", // 36
				"      title: Revert",
				"      on_failure: rollback",
			}),
			want: []string{
				`f.yaml:5: phase "one": window must be "required" or left out, not "optional"`,
				`f.yaml:9: step "manual-with": with is set but run is not (name the adapter that takes these parameters)`,
				`f.yaml:13: step "zero": timeout must be more than 0`,
				`f.yaml:17: step "long": timeout 25h is more than 24h`,
				`f.yaml:21: timeout: invalid duration "soon" (use e.g. 90s, 15m, 2h)`,
				`f.yaml:25: step "retry": on_failure must be "rollback" or left out, not "retry"`,
				`f.yaml:31: step "typo": unknown adapter "shel" (known: shell, http, github, prometheus, watch, webhook, notify, window)`,
				`f.yaml:38: step "revert": on_failure: rollback cannot be used inside the rollback procedure`,
			},
		},
		{
			name: "reminders",
			yaml: with([]string{
				"name: demo",
				"reminders:",
				"  - 1h",
				"  - 0s",
				"  - 800h", // 5
				"  - 1h",
				"  - later",
				"phases:",
				"  - {id: one, title: One}",
			}, tail),
			want: []string{
				`f.yaml:4: reminders: 0s must be more than 0`,
				`f.yaml:5: reminders: 800h is more than 30 days (720h) before the window`,
				`f.yaml:6: reminders: 1h is listed twice`,
				`f.yaml:7: reminder: invalid duration "later" (use e.g. 90s, 15m, 2h)`,
			},
		},
		{
			name: "windows",
			yaml: with([]string{
				"name: demo",
				"windows:",
				"  - cron: '0 22 * * TUE'",
				"    duration: 2h",
				"    timezone: Europe/Berlin", // 5
				"  - cron: '0 0 22 * * TUE'",
				"    duration: 192h",
				"    timezone: Mars/Olympus",
				"  - cron: 'CRON_TZ=UTC 0 22 * * *'",
				"    duration: 0s", // 10
				"  - duration: 1h",
				"phases:",
				"  - {id: one, title: One}",
			}, tail),
			want: []string{
				`f.yaml:6: window: cron "0 0 22 * * TUE" is not valid: expected exactly 5 fields, found 6: [0 0 22 * * TUE] (use 5 fields: minute hour day-of-month month day-of-week)`,
				`f.yaml:7: window: duration 192h is more than 7 days (168h)`,
				`f.yaml:8: window: unknown time zone "Mars/Olympus" (use an IANA name such as Europe/Berlin)`,
				`f.yaml:9: window: set the time zone with timezone:, not inside cron`,
				`f.yaml:10: window: duration is required and must be more than 0 (e.g. duration: 2h)`,
				`f.yaml:11: window: cron is required (e.g. cron: "0 22 * * TUE")`,
			},
		},
		{
			name: "approvers",
			yaml: with([]string{
				"name: demo",
				"approvers:",
				"  - U012ABCDEF",
				"  - W0ABC",
				"  - '@release-managers'", // 5
				"  - '123456789012345678'",
				"  - alice",
				"  - ''",
				"  - '@'",
				"  - u012abcdef", // 10
				"operators:",
				"  - '@oncall'",
				"  - bob",
				"phases:",
				"  - {id: one, title: One}",
			}, tail),
			want: []string{
				`f.yaml:7: approvers: "alice" is not a Slack user ID (U…/W…), a Slack user-group handle (@name), a Discord ID (digits, &digits for a role) or a console name (console:NAME)`,
				`f.yaml:8: approvers: an entry is empty`,
				`f.yaml:9: approvers: "@" is not a Slack user ID (U…/W…), a Slack user-group handle (@name), a Discord ID (digits, &digits for a role) or a console name (console:NAME)`,
				`f.yaml:10: approvers: "u012abcdef" is not a Slack user ID (U…/W…), a Slack user-group handle (@name), a Discord ID (digits, &digits for a role) or a console name (console:NAME)`,
				`f.yaml:13: operators: "bob" is not a Slack user ID (U…/W…), a Slack user-group handle (@name), a Discord ID (digits, &digits for a role) or a console name (console:NAME)`,
			},
		},
		{
			name: "missing phases (name and rollback may be left out)",
			yaml: lines("title: Nothing here"),
			want: []string{
				`f.yaml:1: a runbook needs at least one phase (phases: is missing or empty)`,
			},
		},
		{
			name: "empty phases and rollback point at their keys",
			yaml: lines(
				"name: demo",
				"phases: []",
				"rollback:",
				"  steps: []",
			),
			want: []string{
				`f.yaml:2: a runbook needs at least one phase (phases: is missing or empty)`,
			},
		},
		{
			name: "values of the wrong kind",
			yaml: lines(
				"name: [a, b]",
				"distinct_approver: sometimes",
				"approvers: '@everyone'",
				"phases:",
				"  - id: one", // 5
				"    title: One",
				"    approval: yes please",
				"    steps:",
				"      id: not-a-list",
				"  - just text", // 10
				"  - id: two",
				"    title: Two",
				"    steps:",
				"      - id: s",
				"        title: {a: b}", // 15
				"        run: shell",
				"        with: ls -la",
				"rollback: [revert]",
			),
			want: []string{
				`f.yaml:1: name must be a text, not a list`,
				`f.yaml:2: distinct_approver must be true or false, not a text`,
				`f.yaml:3: approvers must be a list (lines starting with -), not a text`,
				`f.yaml:7: approval must be true or false, not a text`,
				`f.yaml:9: steps must be a list (lines starting with -), not a mapping`,
				`f.yaml:10: a phase must be a mapping (key: value lines), not a text`,
				`f.yaml:15: title must be a text, not a mapping`,
				`f.yaml:17: with must be a mapping of the adapter's parameters, not a text`,
				`f.yaml:18: rollback must be a mapping (key: value lines), not a list`,
			},
		},
		{
			name: "alias to an anchor that does not exist",
			yaml: with([]string{
				"name: demo",
				"phases:",
				"  - id: one",
				"    title: One",
				"    steps:", // 5
				"      - id: s",
				"        title: S",
				"        run: http",
				"        with: *probe",
			}, tail),
			want: []string{`f.yaml:9: alias *probe refers to no anchor &probe defined above it`},
		},
		{
			name: "an anchor under an unknown field still resolves",
			yaml: with([]string{
				"name: demo",
				"x-probe: &probe {url: https://example.com}",
				"phases:",
				"  - id: one",
				"    title: One", // 5
				"    steps:",
				"      - {id: s, title: S, run: http, with: *probe}",
			}, tail),
			want: []string{`f.yaml:2: unknown field "x-probe" in the runbook (known fields: name, title, approvers, operators, distinct_approver, reminders, windows, environments, phases, rollback)`},
		},
		{
			name: "duplicate key is a YAML error",
			yaml: lines("name: a", "name: b"),
			want: []string{`f.yaml:2: YAML syntax: mapping key "name" already defined at [1:1]`},
		},
		{
			name: "unterminated list is a YAML error",
			yaml: lines("name: demo", "approvers: [U012ABCDEF"),
			want: []string{`f.yaml:2: YAML syntax: sequence end token ']' not found`},
		},
		{
			name: "empty file",
			yaml: []byte(""),
			want: []string{`f.yaml:1: the file is empty; a runbook needs at least a name and phases`},
		},
		{
			name: "comments only",
			yaml: lines("# nothing yet", "# still nothing"),
			want: []string{`f.yaml:1: the file is empty; a runbook needs at least a name and phases`},
		},
		{
			name: "a list instead of a runbook",
			yaml: lines("- name: demo"),
			want: []string{`f.yaml:1: a runbook must be a mapping (key: value lines), not a list`},
		},
		{
			name: "two documents",
			yaml: with([]string{
				"name: demo",
				"phases:",
				"  - {id: one, title: One}",
			}, tail, []string{"---", "name: other"}),
			want: []string{`f.yaml:9: a runbook file holds one YAML document; remove the second one (after ---)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rb, err := Parse("f.yaml", tt.yaml, stubValidator{})
			if rb != nil {
				t.Errorf("Parse returned a runbook along with problems")
			}
			got := problemLines(t, err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestParseRecordsLines(t *testing.T) {
	src := lines(
		"name: demo", // 1
		"windows:",
		"  - cron: '0 22 * * TUE'",
		"    duration: 2h",
		"phases:", // 5
		"  - id: one",
		"    title: One",
		"    steps:",
		"      - id: a",
		"        title: A", // 10
		"",
		"      - title: B",
		"        id: b",
		"  - {id: two, title: Two, steps: [{id: c, title: C}]}",
		"rollback:", // 15
		"  steps:",
		"    - id: revert",
		"      title: Revert",
	)
	rb, err := Parse("f.yaml", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{
		"window":      rb.Windows[0].Line,
		"phase one":   rb.Phases[0].Line,
		"step a":      rb.Phases[0].Steps[0].Line,
		"step b":      rb.Phases[0].Steps[1].Line,
		"phase two":   rb.Phases[1].Line,
		"step c":      rb.Phases[1].Steps[0].Line,
		"rollback":    rb.Rollback.Steps[0].Line,
		"file is set": map[bool]int{true: 1}[rb.File == "f.yaml"],
	}
	want := map[string]int{
		"window": 3, "phase one": 6, "step a": 9, "step b": 12, "phase two": 14, "step c": 14, "rollback": 17, "file is set": 1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lines = %v, want %v", got, want)
	}
}

func TestParseDecodesValues(t *testing.T) {
	src := lines(
		"name: demo",
		"title: Demo Release",
		"approvers: [U012ABCDEF, '@release-managers']",
		"distinct_approver: true",
		"reminders: [2h, 30m]",
		"windows:",
		"  - cron: '0 22 * * TUE'",
		"    duration: 90m",
		"    timezone: Europe/Berlin",
		"phases:",
		"  - id: one",
		"    group: Before",
		"    title: One",
		"    approval: false",
		"    steps:",
		"      - id: probe",
		"        title: Probe",
		"        run: http",
		"        timeout: 2m",
		"        on_failure: rollback",
		"        with: &probe",
		"          url: https://example.com/healthz",
		"          expect_status: [200, 204]",
		"          headers: {Accept: application/json}",
		"      - id: probe-again",
		"        title: Probe again",
		"        run: http",
		"        with:",
		"          <<: *probe",
		"          url: https://example.com/v1/status",
		"          retries: 3",
		"      - id: run",
		"        title: Run",
		"        run: shell",
		"        with:",
		"          command: [echo, deploying, '{{ .Version }}']",
		"          env: {LEVEL: '2', ON: true}",
		"  - id: two",
		"    title: Two",
		"    production: true",
		"    window: required",
		"rollback:",
		"  when: If it breaks",
		"  steps:",
		"    - id: revert",
		"      title: Revert",
	)
	rb, err := Parse("f.yaml", src, stubValidator{})
	if err != nil {
		t.Fatal(err)
	}
	no := false
	probe := map[string]any{
		"url":           "https://example.com/healthz",
		"expect_status": []any{uint64(200), uint64(204)},
		"headers":       map[string]any{"Accept": "application/json"},
	}
	want := &Runbook{
		Name:             "demo",
		Title:            "Demo Release",
		Approvers:        []string{"U012ABCDEF", "@release-managers"},
		DistinctApprover: true,
		Reminders:        []Duration{Duration(7200e9), Duration(1800e9)},
		Windows:          []RecurringWindow{{Cron: "0 22 * * TUE", Duration: Duration(5400e9), Timezone: "Europe/Berlin", Line: 7}},
		Phases: []Phase{
			{ID: "one", Group: "Before", Title: "One", Approval: &no, Line: 11, Steps: []Step{
				{ID: "probe", Title: "Probe", Run: "http", Timeout: Duration(120e9), OnFailure: OnFailureRollback, With: probe, Line: 16},
				{ID: "probe-again", Title: "Probe again", Run: "http", Line: 25, With: map[string]any{
					"url":           "https://example.com/v1/status",
					"expect_status": []any{uint64(200), uint64(204)},
					"headers":       map[string]any{"Accept": "application/json"},
					"retries":       uint64(3),
				}},
				{ID: "run", Title: "Run", Run: "shell", Line: 32, With: map[string]any{
					"command": []any{"echo", "deploying", "{{ .Version }}"},
					"env":     map[string]any{"LEVEL": "2", "ON": true},
				}},
			}},
			{ID: "two", Title: "Two", Production: true, Window: WindowRequired, Line: 38},
		},
		Rollback: Rollback{When: "If it breaks", Steps: []Step{{ID: "revert", Title: "Revert", Line: 45}}},
		File:     "f.yaml",
		NameLine: 1,
	}
	if !reflect.DeepEqual(rb, want) {
		t.Errorf("Parse =\n%#v\nwant\n%#v", rb, want)
	}
	if rb.Phases[0].NeedsApproval() || !rb.Phases[1].NeedsApproval() {
		t.Error("approval: false must turn the gate off and its absence keep it on")
	}
	if got := rb.Phases[0].Steps[0].StepTimeout(); got != 2*60e9 {
		t.Errorf("StepTimeout = %v", got)
	}
}

func TestParseWithoutValidatorAcceptsAnyAdapter(t *testing.T) {
	src := with([]string{
		"name: demo",
		"phases:",
		"  - id: one",
		"    title: One",
		"    steps:",
		"      - {id: s, title: S, run: teleport, with: {to: mars}}",
	}, tail)
	if _, err := Parse("f.yaml", src, nil); err != nil {
		t.Errorf("nil validator: %v", err)
	}
	if _, err := Parse("f.yaml", src, stubValidator{}); err == nil {
		t.Error("stub validator accepted an unknown adapter")
	}
}

func TestParsePassesStepParametersToValidator(t *testing.T) {
	src := with([]string{
		"name: demo",
		"phases:",
		"  - id: one",
		"    title: One",
		"    steps:", // 5
		"      - id: fetch",
		"        title: Fetch",
		"        run: http",
		"        with:",
		"          url: ftp://example.com", // 10
		"      - id: ok",
		"        title: OK",
		"        run: http",
		"        with: {url: https://example.com}",
	}, tail)
	var seen []string
	v := validatorFunc(func(adapter string, with map[string]any) error {
		seen = append(seen, adapter+" "+with["url"].(string))
		if !strings.HasPrefix(with["url"].(string), "https://") {
			return errors.New(`url: "ftp://example.com" must start with https://`)
		}
		return nil
	})
	_, err := Parse("f.yaml", src, v)
	got := problemLines(t, err)
	want := []string{`f.yaml:6: step "fetch": url: "ftp://example.com" must start with https://`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems = %q, want %q", got, want)
	}
	if !reflect.DeepEqual(seen, []string{"http ftp://example.com", "http https://example.com"}) {
		t.Errorf("validator saw %q", seen)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, with([]string{"name: demo", "phases:", "  - {id: one, title: One}"}, tail), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, with([]string{"name: demo", "phasess: []"}, tail), 0o600); err != nil {
		t.Fatal(err)
	}

	rb, err := Load(good, stubValidator{})
	if err != nil {
		t.Fatalf("Load(good): %v", err)
	}
	if rb.File != good || rb.Name != "demo" {
		t.Errorf("Load(good) = file %q name %q", rb.File, rb.Name)
	}

	_, err = Load(bad, stubValidator{})
	got := problemLines(t, err)
	if want := bad + `:2: unknown field "phasess" in the runbook (did you mean "phases"?)`; len(got) != 1 || got[0] != want {
		t.Errorf("Load(bad) problems = %q, want only %q", got, want)
	}

	missing := filepath.Join(dir, "missing.yaml")
	_, err = Load(missing, nil)
	var ps *Problems
	if err == nil || errors.As(err, &ps) || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing) = %v, want a not-exist error naming the file", err)
	}
}

func TestASmallRunbookMayLeaveOutItsNameAndRollback(t *testing.T) {
	rb, err := Parse("dir/small.yaml", []byte(`phases:
  - id: one
    title: One
    steps:
      - id: a
        title: Do it
`), stubValidator{})
	if err != nil {
		t.Fatal(err)
	}
	if rb.Name != "small" || len(rb.Rollback.Steps) != 0 {
		t.Fatalf("name %q, rollback %v", rb.Name, rb.Rollback.Steps)
	}
}
