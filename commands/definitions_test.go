package commands

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// tableOrder is the order of the command table in PRODUCT.md section 4.
var tableOrder = []Kind{KindStart, KindStatus, KindList, KindApprove, KindRollback, KindAbort,
	KindSchedule, KindWindows, KindUnschedule, KindPlan, KindLock, KindUnlock, KindRunbook, KindReport, KindStats, KindHelp}

func TestDefinitionsFollowTheTable(t *testing.T) {
	defs := Definitions()
	if len(defs) != len(tableOrder) {
		t.Fatalf("%d definitions, want %d", len(defs), len(tableOrder))
	}
	for i, d := range defs {
		if d.Kind != tableOrder[i] {
			t.Errorf("definition %d is %q, want %q", i, d.Kind, tableOrder[i])
		}
	}
}

// TestDefinitionsFitDiscord checks what Discord's API would refuse when the
// front registers one subcommand per Definition with one option per Arg.
func TestDefinitionsFitDiscord(t *testing.T) {
	optionNames := map[string]bool{ArgVersion: true, ArgEnv: true, ArgRun: true, ArgReason: true, ArgStart: true, ArgDuration: true, ArgWindow: true, ArgService: true, ArgDays: true, ArgPhase: true}
	subcommandName := regexp.MustCompile(`^[a-z]{1,32}$`)
	placeholder := regexp.MustCompile(`[A-Z]{2,}`)
	for _, d := range Definitions() {
		t.Run(string(d.Kind), func(t *testing.T) {
			if !subcommandName.MatchString(string(d.Kind)) {
				t.Errorf("kind %q is not a valid Discord subcommand name", d.Kind)
			}
			if !strings.HasPrefix(d.Usage, "/deploy "+string(d.Kind)) {
				t.Errorf("usage %q does not start with /deploy %s", d.Usage, d.Kind)
			}
			if n := utf8.RuneCountInString(d.Summary); n < 1 || n > 100 {
				t.Errorf("summary is %d characters, want 1–100: %q", n, d.Summary)
			}
			seen := map[string]bool{}
			optional := false
			for _, a := range d.Args {
				if !optionNames[a.Name] {
					t.Errorf("arg %q is not one of the product's option names", a.Name)
				}
				if seen[a.Name] {
					t.Errorf("arg %q appears twice", a.Name)
				}
				seen[a.Name] = true
				if n := utf8.RuneCountInString(a.Description); n < 1 || n > 100 {
					t.Errorf("arg %s description is %d characters, want 1–100: %q", a.Name, n, a.Description)
				}
				if a.Required && optional {
					t.Errorf("required arg %s comes after an optional one", a.Name)
				}
				optional = optional || !a.Required
				if a.Required && a.Default != "" {
					t.Errorf("required arg %s has a default", a.Name)
				}
				if a.MaxLength < 1 || a.MaxLength > 6000 {
					t.Errorf("arg %s max length %d out of Discord's range", a.Name, a.MaxLength)
				}
				if !strings.Contains(d.Usage, a.Placeholder()) {
					t.Errorf("usage %q does not show %s", d.Usage, a.Placeholder())
				}
			}
			for _, p := range placeholder.FindAllString(d.Usage, -1) {
				if !seen[strings.ToLower(p)] {
					t.Errorf("usage %q shows %s but the definition has no such arg", d.Usage, p)
				}
			}
		})
	}
}

func TestDefaultsAreAccepted(t *testing.T) {
	for _, d := range Definitions() {
		for _, a := range d.Args {
			if a.Default == "" {
				continue
			}
			var c Command
			if err := (Grammar{}).set(&c, a.Name, a.Default, testNow); err != nil {
				t.Errorf("%s %s: default %q refused: %v", d.Kind, a.Name, a.Default, err)
			}
		}
	}
}

func TestDefinitionsReturnsAFreshSlice(t *testing.T) {
	Definitions()[0].Args[0].Name = "changed"
	if got := Definitions()[0].Args[0].Name; got != ArgVersion {
		t.Fatalf("a caller's change leaked into Definitions(): %q", got)
	}
}

func TestHelpMentionsEveryDefinition(t *testing.T) {
	help := Help()
	lines := strings.Split(help, "\n")
	for i, d := range Definitions() {
		want := "• `" + d.Usage + "` — " + d.Summary
		if lines[i] != want {
			t.Errorf("help line %d is %q, want %q", i, lines[i], want)
		}
		if strings.Count(help, "`"+d.Usage+"`") != 1 {
			t.Errorf("help does not mention %q exactly once", d.Usage)
		}
	}
	for _, note := range []string{"needs the RUN written before it", "at most 64", "Europe/Berlin", "default 2h, at most 24h"} {
		if !strings.Contains(help, note) {
			t.Errorf("help does not say %q", note)
		}
	}
}

func TestUnknownCommandListsEveryKind(t *testing.T) {
	_, err := Parse("frobnicate", testNow)
	if err == nil {
		t.Fatal("unknown command accepted")
	}
	for _, k := range tableOrder {
		if !strings.Contains(err.Error(), string(k)) {
			t.Errorf("unknown-command message does not list %s: %s", k, err)
		}
	}
}
