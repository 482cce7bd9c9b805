package bot_test

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"deploybot/adapters"
	"deploybot/adapters/shell"
	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/deploy/boltstore"
	"deploybot/deploy/schedule"
	"deploybot/internal/clock"
	"deploybot/runbook"
)

// serviceRunbook is a one-phase runbook of a service with one shell step.
func serviceRunbook(t *testing.T, name, step string) *runbook.Runbook {
	t.Helper()
	reg, err := adapters.NewRegistry(shell.New(shell.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := runbook.Parse(name+".yaml", []byte("name: "+name+`
phases:
  - id: go
    title: Go
    steps:
      - {id: ship, title: `+step+`, run: shell, with: {command: ["echo", "{{ .Version }}"]}}
rollback:
  steps:
    - {id: revert, title: Revert}
`), reg)
	if err != nil {
		t.Fatal(err)
	}
	return rb
}

// twoServiceBot is a bot on the embedded store that deploys api and web.
func twoServiceBot(t *testing.T) *bot.Bot {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "bot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	api, web := serviceRunbook(t, "api", "Ship the API"), serviceRunbook(t, "web", "Ship the web app")
	cat, err := runbook.NewCatalog(web, api)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := adapters.NewRegistry(shell.New(shell.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(t0)
	e := deploy.NewEngine(deploy.Config{Store: st, Services: cat, Runbook: api, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	cal := schedule.NewCalendar(schedule.CalendarConfig{Store: st, Services: cat, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	return bot.New(bot.Config{Engine: e, Steps: reg, Windows: cal, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
}

var svcAna = deploy.Actor{ID: "U0ANA", Name: "ana", Platform: "slack", Workspace: "T1"}

func say(t *testing.T, b *bot.Bot, text string) bot.Reply {
	t.Helper()
	return b.Command(t.Context(), bot.Request{Platform: "slack", Channel: "C1", Actor: svcAna, Text: text})
}

// noRuns fails when any run exists.
func noRuns(t *testing.T, b *bot.Bot, after string) {
	t.Helper()
	live, err := b.Live(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 0 {
		t.Fatalf("after %s, %d runs are live; want none (nothing runs)", after, len(live))
	}
}

func TestLeavingOutTheServiceAsksWhichOne(t *testing.T) {
	b := twoServiceBot(t)
	tests := []struct{ text, want string }{
		{"start v1.4", "Which service? api, web — e.g. /deploy start api v1.4"},
		{"start v1.4 to staging", "Which service? api, web — e.g. /deploy start api v1.4 to staging"},
		{"plan v1.4", "Which service? api, web — e.g. /deploy plan api v1.4"},
		{"runbook", "Which service? api, web — e.g. /deploy runbook api"},
	}
	for _, tt := range tests {
		got := say(t, b, tt.text)
		if got.Text != tt.want || got.Public || got.RunID != "" {
			t.Errorf("%q answered %+v, want the private answer %q", tt.text, got, tt.want)
		}
		noRuns(t, b, tt.text)
	}
}

func TestAnUnknownServiceIsRefusedBeforeAnythingRuns(t *testing.T) {
	b := twoServiceBot(t)
	for _, text := range []string{"start apii v1.4", "plan db v1.4 to staging", "runbook db", "unlock production db",
		"schedule db v1.4 2030-01-01 10:00"} {
		got := say(t, b, text)
		if !strings.Contains(got.Text, "unknown service") || !strings.Contains(got.Text, "the services are api, web") {
			t.Errorf("%q answered %q, want the unknown service refused with the list", text, got.Text)
		}
		noRuns(t, b, text)
	}
}

func TestRunbookShowsTheNamedService(t *testing.T) {
	b := twoServiceBot(t)
	if got := say(t, b, "runbook web").Text; !strings.Contains(got, "Ship the web app") || strings.Contains(got, "Ship the API") {
		t.Errorf("runbook web:\n%s\nwant web's steps only", got)
	}
	if got := say(t, b, "runbook api").Text; !strings.Contains(got, "Ship the API") || strings.Contains(got, "Ship the web app") {
		t.Errorf("runbook api:\n%s\nwant api's steps only", got)
	}
}

func TestPlanNamesTheServiceAndWhatARollbackReturnsTo(t *testing.T) {
	b := twoServiceBot(t)
	got := say(t, b, "plan web v2.0 to staging").Text
	for _, want := range []string{"Plan for web v2.0 to staging", "no earlier completed version", "Ship the web app — shell"} {
		if !strings.Contains(got, want) {
			t.Errorf("plan does not say %q:\n%s", want, got)
		}
	}
	noRuns(t, b, "plan")
	text := bot.PlanFor(nil, adapters.Vars{Service: "api", Version: "v1.4", Env: "production", Previous: "v1.3"})
	if !strings.Contains(text, "Plan for api v1.4 to production") || !strings.Contains(text, "A rollback returns to v1.3") {
		t.Errorf("plan with a previous version:\n%s", text)
	}
}

func TestListGroupsByService(t *testing.T) {
	b := twoServiceBot(t)
	started := say(t, b, "start api v1.4")
	if started.RunID == "" {
		t.Fatalf("start api: %+v", started)
	}
	list := say(t, b, "list").Text
	api, web := strings.Index(list, "— api —"), strings.Index(list, "— web —")
	if api < 0 || web < api {
		t.Fatalf("list is not grouped by service (api, then web):\n%s", list)
	}
	apiPart, webPart := list[api:web], list[web:]
	if !strings.Contains(apiPart, started.RunID) || !strings.Contains(apiPart, "🔒 held by run "+started.RunID) {
		t.Errorf("api's section does not show its run and the environment it holds:\n%s", apiPart)
	}
	if strings.Contains(webPart, started.RunID) || !strings.Contains(webPart, "No active runs.") {
		t.Errorf("web's section shows api's run:\n%s", webPart)
	}
	if got := say(t, b, "status").Text; !strings.Contains(got, "api v1.4 to production") {
		t.Errorf("status does not name the service: %q", got)
	}

	// Freezes show in the service they stop, or for every service.
	say(t, b, "lock production web incident INC-7")
	say(t, b, "lock production change freeze")
	list = say(t, b, "list").Text
	web = strings.Index(list, "— web —")
	if web < 0 || !strings.Contains(list[web:], "• production: 🧊 frozen by @ana just now: incident INC-7") {
		t.Errorf("web's section does not show its freeze:\n%s", list)
	}
	if !strings.Contains(list, "Frozen for every service:\n• production: 🧊 frozen by @ana just now: change freeze") {
		t.Errorf("the list does not show the freeze of every service:\n%s", list)
	}
}

func TestHelpAndUnknownCommandsShowTheServiceGrammar(t *testing.T) {
	b := twoServiceBot(t)
	for _, text := range []string{"help"} {
		got := say(t, b, text).Text
		if !strings.Contains(got, "`/deploy start [SERVICE] VERSION [to ENV]`") || !strings.Contains(got, "`api`, `web`") {
			t.Errorf("%s does not show the service grammar:\n%s", text, got)
		}
	}
	for _, tt := range []struct{ text, want string }{
		{"report", "no run was started in this channel yet"},
		{"stats api 7", "Delivery stats: api, every environment, last 7 days"},
		{"stats shop 7", "unknown service"},
	} {
		if got := say(t, b, tt.text).Text; !strings.Contains(got, tt.want) {
			t.Errorf("%s answered %q, want it to say %q", tt.text, got, tt.want)
		}
	}
}

func TestScheduleLockAndUnlockNameTheService(t *testing.T) {
	b := twoServiceBot(t)
	tests := []struct{ text, want string }{
		{"schedule v1.4 2026-12-01 22:00", "Which service? api, web — e.g. /deploy schedule api v1.4 2026-12-01 22:00 UTC for 2h"},
		{"schedule web v1.4 2026-12-01 22:00", "booked for web v1.4: Tue 2026-12-01 22:00 UTC (for 2h 00m)"},
		{"lock production web incident INC-7", "🧊 web is frozen in production: no run of it starts there until /deploy unlock production web. Reason: incident INC-7"},
		{"unlock production web", "web is no longer frozen in production (lifted by @ana)."},
		{"lock production change freeze", "🧊 production is frozen for every service: no run starts there until /deploy unlock production. Reason: change freeze"},
		{"unlock production", "production is no longer frozen (lifted by @ana)."},
	}
	for _, tt := range tests {
		if got := say(t, b, tt.text).Text; !strings.Contains(got, tt.want) {
			t.Errorf("%q answered %q, want it to say %q", tt.text, got, tt.want)
		}
	}
}

func TestPlanRefusesAnEnvironmentTheServiceDoesNotList(t *testing.T) {
	b := twoServiceBot(t)
	b.Services().Get("web").Environments = map[string]runbook.Environment{"staging": {}, "production": {}}
	got := say(t, b, "plan web v2.0 to prodution").Text
	if !strings.Contains(got, `web does not deploy to "prodution": its environments are production, staging`) {
		t.Errorf("plan to an unlisted environment answered %q, want it refused with the list", got)
	}
	if got := say(t, b, "plan web v2.0 to staging").Text; !strings.Contains(got, "Plan for web v2.0 to staging") {
		t.Errorf("plan to a listed environment answered %q", got)
	}
}

func TestWindowNoticesNameTheService(t *testing.T) {
	start := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	w := deploy.WindowView{ID: "w4k9zt", Service: "web", Release: "v2.0", Start: start, End: start.Add(2 * time.Hour), By: "@ana"}
	n := bot.WindowNotice(schedule.Notice{Kind: schedule.KindReminder, Window: w, Env: "production", Offset: time.Hour, Until: time.Hour})
	if n.Title != "Maintenance window for web v2.0 opens in 1h 00m" || n.Service != "web" {
		t.Errorf("reminder %q of service %q, want it to name web", n.Title, n.Service)
	}
	if len(n.Fields) == 0 || n.Fields[0] != (bot.Field{Label: "Service", Value: "web"}) {
		t.Errorf("reminder fields %v, want the service first", n.Fields)
	}
	if len(n.Buttons) != 1 || n.Buttons[0].Confirm == nil || n.Buttons[0].Confirm.Text != "This starts a run of web v2.0 to production now." {
		t.Errorf("reminder buttons %+v, want Start naming the service", n.Buttons)
	}
	open := bot.WindowNotice(schedule.Notice{Kind: schedule.KindOpen, Window: w, Env: "production"})
	if !strings.Contains(open.Text(), "/deploy start web v2.0") {
		t.Errorf("window open notice does not say how to start web:\n%s", open.Text())
	}
}
