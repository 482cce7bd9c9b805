package commands

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// twoServices is the grammar of a bot that deploys api and web.
var twoServices = NewGrammar([]string{"api", "web"})

func TestGrammarAccepts(t *testing.T) {
	tests := []struct {
		name string
		text string
		want Command
	}{
		{"start names the service", "start api v1.4", Command{Kind: KindStart, Service: "api", Version: "v1.4", Env: "production"}},
		{"start names the service and the env", "start web v1.4 to staging", Command{Kind: KindStart, Service: "web", Version: "v1.4", Env: "staging"}},
		{"start leaves the service out", "start v1.4 to staging", Command{Kind: KindStart, Version: "v1.4", Env: "staging"}},
		{"start whose version is a service name", "start api api", Command{Kind: KindStart, Service: "api", Version: "api", Env: "production"}},
		{"plan names the service", "plan api v2.0 to staging", Command{Kind: KindPlan, Service: "api", Version: "v2.0", Env: "staging"}},
		{"plan leaves the service out", "plan v2.0", Command{Kind: KindPlan, Version: "v2.0", Env: "production"}},
		{"runbook of a service", "runbook web", Command{Kind: KindRunbook, Service: "web"}},
		{"runbook without a service", "runbook", Command{Kind: KindRunbook}},
		{"schedule names the service", "schedule api v1.4 2026-12-01 22:00 Europe/Berlin for 90m",
			Command{Kind: KindSchedule, Service: "api", Version: "v1.4", Start: time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC), StartZone: "Europe/Berlin", Duration: 90 * time.Minute}},
		{"schedule leaves the service out", "schedule v1.4 2026-12-01T22:00:00Z",
			Command{Kind: KindSchedule, Version: "v1.4", Start: time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC), Duration: 2 * time.Hour}},
		{"lock one service", "lock production api holiday freeze", Command{Kind: KindLock, Env: "production", Service: "api", Reason: "holiday freeze"}},
		{"lock every service: the word after ENV is no service", "lock production apis are flaky",
			Command{Kind: KindLock, Env: "production", Reason: "apis are flaky"}},
		{"lock every service", "lock production incident", Command{Kind: KindLock, Env: "production", Reason: "incident"}},
		{"unlock one service", "unlock production web", Command{Kind: KindUnlock, Env: "production", Service: "web"}},
		{"unlock every service", "unlock production", Command{Kind: KindUnlock, Env: "production"}},
		{"report of the channel's run", "report", Command{Kind: KindReport}},
		{"report of a run", "report r7k2qd", Command{Kind: KindReport, Run: "r7k2qd"}},
		{"stats by default", "stats", Command{Kind: KindStats, Days: DefaultStatsDays}},
		{"stats of a service", "stats api", Command{Kind: KindStats, Service: "api", Days: DefaultStatsDays}},
		{"stats of an env", "stats to staging", Command{Kind: KindStats, Env: "staging", Days: DefaultStatsDays}},
		{"stats over days", "stats 7", Command{Kind: KindStats, Days: 7}},
		{"stats of everything", "stats web TO production 365", Command{Kind: KindStats, Service: "web", Env: "production", Days: 365}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := twoServices.Parse(tt.text, testNow)
			if err != nil {
				t.Fatalf("Parse(%q) = error %v", tt.text, err)
			}
			if !sameCommand(got, tt.want) {
				t.Fatalf("Parse(%q)\n got %#v\nwant %#v", tt.text, got, tt.want)
			}
			again, err := twoServices.Parse(got.String(), testNow)
			if err != nil || !sameCommand(again, got) {
				t.Fatalf("canonical form %q parses to %#v, %v; want %#v", got.String(), again, err, got)
			}
		})
	}
}

func TestGrammarRefuses(t *testing.T) {
	const unknown = `: the services are api, web`
	tests := []struct {
		name, text, wantMsg, wantUsage string
	}{
		{"start with a misspelt service", "start apii v1.4", `unknown service "apii"` + unknown, "/deploy start [SERVICE] VERSION [to ENV]"},
		{"start with an injected first word", "start $(id) v1.4 to staging", `invalid version "$(id)": use letters, digits and . - _ + / only (at most 64), e.g. v1.4.2`, "/deploy start [SERVICE] VERSION [to ENV]"},
		{"start with a service but no version", "start api", "missing VERSION: a tag or commit, e.g. /deploy start api v1.4.2", "/deploy start [SERVICE] VERSION [to ENV]"},
		{"start with a service and to but no version", "start api to staging", "missing VERSION: a tag or commit, e.g. /deploy start api v1.4.2", "/deploy start [SERVICE] VERSION [to ENV]"},
		{"start with the env but no to", "start v1.4 staging", `unexpected "staging" (to choose the environment write "to staging")`, "/deploy start [SERVICE] VERSION [to ENV]"},
		{"start with a version and a stray flag", "start v1.4 --force", `unexpected "--force"`, "/deploy start [SERVICE] VERSION [to ENV]"},
		{"schedule with a version and no start time", "schedule v1.4 tomorrow", `invalid start date "tomorrow": use RFC 3339 (2026-12-01T22:00:00+01:00) or YYYY-MM-DD HH:MM [ZONE] (2026-12-01 22:00 Europe/Berlin)`, "/deploy schedule [SERVICE] VERSION START [for DURATION]"},
		{"plan with a service in capitals", "plan API v1.4", `unknown service "API"` + unknown, "/deploy plan [SERVICE] VERSION [to ENV]"},
		{"runbook of an unknown service", "runbook db", `unknown service "db"` + unknown, "/deploy runbook [SERVICE]"},
		{"schedule with an unknown service", "schedule db v1.4 2026-12-01 22:00", `unknown service "db"` + unknown, "/deploy schedule [SERVICE] VERSION START [for DURATION]"},
		{"unlock an unknown service", "unlock production db", `unknown service "db"` + unknown, "/deploy unlock ENV [SERVICE]"},
		{"lock a service without a reason", "lock production api",
			"missing REASON: why it is frozen, shown to whoever tries to start there (free text, at most 500 characters)", "/deploy lock ENV [SERVICE] REASON…"},
		{"report of something that is no run", "report latest", `invalid run id "latest": run ids look like r7k2qd (see /deploy list)`, "/deploy report [RUN]"},
		{"stats of an unknown service", "stats db", `unknown service "db"` + unknown, "/deploy stats [SERVICE] [to ENV] [DAYS]"},
		{"stats over no days", "stats 0", `invalid number of days "0": use a whole number from 1 to 365, e.g. 30`, "/deploy stats [SERVICE] [to ENV] [DAYS]"},
		{"stats over too many days", "stats api 366", `invalid number of days "366": use a whole number from 1 to 365, e.g. 30`, "/deploy stats [SERVICE] [to ENV] [DAYS]"},
		{"stats over a huge number", "stats 99999999999999999999", `invalid number of days "99999999999999999999": use a whole number from 1 to 365, e.g. 30`, "/deploy stats [SERVICE] [to ENV] [DAYS]"},
		{"stats with to but no env", "stats api to", `missing ENV after "to", e.g. staging`, "/deploy stats [SERVICE] [to ENV] [DAYS]"},
		{"stats with a word after the days", "stats api 7 more", `unexpected "more"`, "/deploy stats [SERVICE] [to ENV] [DAYS]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := twoServices.Parse(tt.text, testNow)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) = %#v, %v; want *Error", tt.text, got, err)
			}
			if e.Msg != tt.wantMsg || e.Usage != tt.wantUsage {
				t.Fatalf("Parse(%q) error\n got %q / %q\nwant %q / %q", tt.text, e.Msg, e.Usage, tt.wantMsg, tt.wantUsage)
			}
			if got != (Command{}) {
				t.Errorf("refused command is %#v, want the zero Command", got)
			}
		})
	}
}

// TestGrammarOptionsMatchText holds Discord's options to the text grammar
// for the service, report and stats arguments.
func TestGrammarOptionsMatchText(t *testing.T) {
	tests := []struct {
		text string
		kind Kind
		opts map[string]string
	}{
		{"start api v1.4 to staging", KindStart, map[string]string{"service": "api", "version": "v1.4", "env": "staging"}},
		{"plan web v1.4", KindPlan, map[string]string{"service": "web", "version": "v1.4"}},
		{"runbook web", KindRunbook, map[string]string{"service": "web"}},
		{"schedule api v1.4 2026-12-01 22:00", KindSchedule, map[string]string{"service": "api", "version": "v1.4", "start": "2026-12-01 22:00"}},
		{"lock production api freeze", KindLock, map[string]string{"env": "production", "service": "api", "reason": "freeze"}},
		{"unlock production web", KindUnlock, map[string]string{"env": "production", "service": "web"}},
		{"report r7k2qd", KindReport, map[string]string{"run": "r7k2qd"}},
		{"stats api to staging 7", KindStats, map[string]string{"service": "api", "env": "staging", "days": "7"}},
		{"stats", KindStats, nil},
		{"runbook db", KindRunbook, map[string]string{"service": "db"}},
		{"start db v1.4", KindStart, map[string]string{"service": "db", "version": "v1.4"}},
		{"unlock production db", KindUnlock, map[string]string{"env": "production", "service": "db"}},
		{"stats 0", KindStats, map[string]string{"days": "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			fromText, textErr := twoServices.Parse(tt.text, testNow)
			fromOpts, optsErr := twoServices.FromOptions(tt.kind, tt.opts, testNow)
			if fmt.Sprint(textErr) != fmt.Sprint(optsErr) {
				t.Fatalf("refusals differ:\n Parse:       %v\n FromOptions: %v", textErr, optsErr)
			}
			if !sameCommand(fromText, fromOpts) {
				t.Fatalf("commands differ:\n Parse:       %#v\n FromOptions: %#v", fromText, fromOpts)
			}
		})
	}
}

func TestServiceShapeWithoutNames(t *testing.T) {
	if c, err := FromOptions(KindStart, map[string]string{"service": "payments-api", "version": "v1"}, testNow); err != nil || c.Service != "payments-api" {
		t.Fatalf("FromOptions without names = %#v, %v; want service payments-api", c, err)
	}
	_, err := FromOptions(KindStart, map[string]string{"service": "pay;ments", "version": "v1"}, testNow)
	if err == nil || !strings.Contains(err.Error(), `invalid service "pay;ments"`) {
		t.Fatalf("FromOptions with a bad service = %v, want it refused", err)
	}
}

func TestServiceChoices(t *testing.T) {
	for _, d := range twoServices.Definitions() {
		for _, a := range d.Args {
			if a.Name == ArgService && strings.Join(a.Choices, ",") != "api,web" {
				t.Errorf("%s: service choices %q, want api, web", d.Kind, a.Choices)
			}
		}
	}
	var many []string
	for i := range MaxServiceChoices + 1 {
		many = append(many, fmt.Sprintf("svc%02d", i))
	}
	for _, d := range NewGrammar(many).Definitions() {
		for _, a := range d.Args {
			if len(a.Choices) > 0 {
				t.Errorf("%s: %d services offered as choices, want none past %d", d.Kind, len(a.Choices), MaxServiceChoices)
			}
		}
	}
	withService := map[Kind]bool{}
	for _, d := range twoServices.Definitions() {
		for _, a := range d.Args {
			if a.Name == ArgService {
				withService[d.Kind] = true
				if a.Required {
					t.Errorf("%s: the service option is required; it may be left out (the bot asks which)", d.Kind)
				}
			}
		}
	}
	for _, k := range []Kind{KindStart, KindPlan, KindRunbook, KindSchedule, KindLock, KindUnlock, KindStats} {
		if !withService[k] {
			t.Errorf("%s has no service option", k)
		}
	}
}

func TestGrammarHelpNamesTheServices(t *testing.T) {
	help := twoServices.Help()
	for _, want := range []string{"`api`, `web`", "`/deploy start api v1.4`", "`/deploy start [SERVICE] VERSION [to ENV]`",
		"`/deploy lock ENV [SERVICE] REASON…`", "`/deploy report [RUN]`", "`/deploy stats [SERVICE] [to ENV] [DAYS]`"} {
		if !strings.Contains(help, want) {
			t.Errorf("help does not say %s:\n%s", want, help)
		}
	}
	if one := NewGrammar([]string{"api"}).Help(); !strings.Contains(one, "the only service is `api`") {
		t.Errorf("help of one service does not say it may be left out:\n%s", one)
	}
}

func TestNewGrammarCopiesTheNames(t *testing.T) {
	names := []string{"api", "web"}
	g := NewGrammar(names)
	names[0] = "db"
	if !g.IsService("api") || g.IsService("db") {
		t.Fatalf("a caller's change leaked into the grammar: %q", g.Services())
	}
}

// BenchmarkGrammarParse parses typical commands with 30 services known (the
// service is found by a linear search of the names).
func BenchmarkGrammarParse(b *testing.B) {
	var names []string
	for i := range 30 {
		names = append(names, fmt.Sprintf("service-%02d", i))
	}
	g := NewGrammar(names)
	texts := []string{"start service-29 v1.4.2 to staging", "lock production service-15 change freeze", "status r7k2qd", "start v1.4"}
	for b.Loop() {
		for _, text := range texts {
			if _, err := g.Parse(text, testNow); err != nil {
				b.Fatal(err)
			}
		}
	}
}
