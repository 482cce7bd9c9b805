package commands

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse holds Parse to its promises on any input: it never panics, a
// refusal is an *Error with a message, and an accepted command carries only
// allow-listed values and reads back the same from its canonical form.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "help", "start v1.4", "start v1.4 to staging", "plan V1.4-rc+1/x_y to qa", "status r7k2qd", "approve",
		"list", "windows", "runbook", "rollback r7k2qd error rate doubled", "rollback revert it", "abort wrong tag",
		"schedule v1.4 2026-12-01 22:00 Europe/Berlin for 90m", "schedule v1.4 2026-12-01T22:00:00+01:00",
		"schedule v1.4 2026-12-01 22:00 utc for 1h30m", "unschedule w4k9zt", "lock production freeze", "unlock production",
		"start v1.4; rm -rf /", "start $(reboot)", "start -rf", "start `id`", "start v1.4 && ls", "start " + strings.Repeat("a", 65),
		"start vé", "start a/../b", "rollback r7k2qd bad\x07", "schedule v1 2027-03-28 02:30 Europe/Berlin", "/deploy START v1 TO prod",
		"start api v1.4 to staging", "plan web v2", "runbook api", "schedule api v1.4 2026-12-01 22:00", "lock production api freeze",
		"unlock production web", "report r7k2qd", "stats api to staging 7", "stats 400", "start apii v1",
	} {
		f.Add(s)
	}
	version := regexp.MustCompile(VersionPattern)
	env := regexp.MustCompile(EnvPattern)
	run := regexp.MustCompile(RunIDPattern)
	service := regexp.MustCompile(ServicePattern)
	f.Fuzz(func(t *testing.T, text string) {
		for _, g := range []Grammar{{}, twoServices} {
			checkParse(t, g, text, version, env, run, service)
		}
	})
}

// checkParse holds g.Parse(text) to the promises of FuzzParse.
func checkParse(t *testing.T, g Grammar, text string, version, env, run, service *regexp.Regexp) {
	{
		c, err := g.Parse(text, testNow)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Msg == "" {
				t.Fatalf("Parse(%q) error %T %q, want *Error with a message", text, err, err)
			}
			if c != (Command{}) {
				t.Fatalf("Parse(%q) refused but returned %#v", text, c)
			}
			return
		}
		if _, ok := g.definition(c.Kind); !ok {
			t.Fatalf("Parse(%q) kind %q is not defined", text, c.Kind)
		}
		switch c.Kind {
		case KindStart, KindPlan, KindSchedule:
			if !version.MatchString(c.Version) || strings.Contains(c.Version, "..") || strings.ContainsAny(c.Version[:1], "-./_+") {
				t.Fatalf("Parse(%q) accepted version %q", text, c.Version)
			}
		}
		if c.Env != "" && !env.MatchString(c.Env) {
			t.Fatalf("Parse(%q) accepted env %q", text, c.Env)
		}
		if c.Run != "" && !run.MatchString(c.Run) {
			t.Fatalf("Parse(%q) accepted run %q", text, c.Run)
		}
		if !utf8.ValidString(c.Reason) || utf8.RuneCountInString(c.Reason) > MaxReasonLength {
			t.Fatalf("Parse(%q) accepted reason %q", text, c.Reason)
		}
		if c.Kind == KindSchedule && (c.Start.Before(testNow) || c.Duration < MinWindowLength || c.Duration > MaxWindowLength) {
			t.Fatalf("Parse(%q) accepted window %v for %v", text, c.Start, c.Duration)
		}
		if c.Service != "" && !(g.IsService(c.Service) || len(g.Services()) == 0 && service.MatchString(c.Service)) {
			t.Fatalf("Parse(%q) accepted service %q", text, c.Service)
		}
		if c.Kind == KindStats && (c.Days < 1 || c.Days > MaxStatsDays) {
			t.Fatalf("Parse(%q) accepted %d days", text, c.Days)
		}
		again, err := g.Parse(c.String(), testNow)
		if err != nil || !sameCommand(again, c) {
			t.Fatalf("Parse(%q) = %#v; its canonical form %q parses to %#v, %v", text, c, c.String(), again, err)
		}
	}
}
