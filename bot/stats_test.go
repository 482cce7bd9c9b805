package bot_test

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/commands"
	"deploybot/deploy"
	"deploybot/deploy/boltstore"
	"deploybot/deploy/storetest"
	"deploybot/internal/clock"
	"deploybot/runbook"
)

// seedStats stores a run that ended with index entry e, through Store.Apply.
func seedStats(t *testing.T, st deploy.Store, e deploy.StatsEntry) {
	t.Helper()
	r := storetest.SampleRun(e.RunID, e.Env, e.Started)
	r.Workspace = e.Workspace
	if err := st.Apply(t.Context(), storetest.Create(r, false)); err != nil {
		t.Fatal(err)
	}
	next := storetest.Next(r, func(n *deploy.Run) { n.Status, n.Ended, n.Updated = e.Outcome, e.Ended, e.Ended })
	c := storetest.Update(r, next, "end")
	c.Stats = &e
	if err := st.Apply(t.Context(), c); err != nil {
		t.Fatal(err)
	}
}

// statsBot is a bot on the embedded store (service "t", the tenancy
// runbook) at t0, and its store.
func statsBot(t *testing.T) (*bot.Bot, deploy.Store) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "bot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rb, err := runbook.Parse("t.yaml", []byte("name: t\nphases:\n  - id: go\n    title: Go\n    steps:\n      - id: check\n        title: Check\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(t0)
	e := deploy.NewEngine(deploy.Config{Store: st, Runbook: rb, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	return bot.New(bot.Config{Engine: e, Clock: clk, Logger: slog.New(slog.DiscardHandler)}), st
}

func TestStatsCommand(t *testing.T) {
	b, st := statsBot(t)
	ctx := t.Context()
	h, d, m := time.Hour, 24*time.Hour, time.Minute
	at := func(off time.Duration) time.Time { return t0.Add(off) }
	waits := func(w time.Duration) []deploy.ApprovalWait { return []deploy.ApprovalWait{{Phase: "go", Wait: w}} }
	// t0 is Wednesday 2026-11-25 10:00 UTC (W48); 30 days back is Monday
	// 26 October 10:00 (W44).
	for _, e := range []deploy.StatsEntry{
		{RunID: "x1", Workspace: "T1", Outcome: deploy.OutcomeCompleted, Started: at(-10 * d), Ended: at(-10*d + 2*h), Production: true, Waits: waits(15 * m)},                         // W46, lead 2h
		{RunID: "x2", Workspace: "T1", Outcome: deploy.OutcomeRolledBack, Started: at(-5 * d), Ended: at(-5*d + 2*h), Production: true, RollbackAt: at(-5*d + h), Waits: waits(5 * m)}, // W47
		{RunID: "x3", Outcome: deploy.OutcomeCompleted, Started: at(-5*d + 3*h), Ended: at(-5*d + 4*h), Production: true, Waits: waits(25 * m)},                                        // W47, lead 1h, no workspace
		{RunID: "x4", Workspace: "T1", Outcome: deploy.OutcomeAborted, Started: at(-2 * d), Ended: at(-2*d + 10*m)},                                                                    // W48
		{RunID: "z1", Workspace: "T2", Outcome: deploy.OutcomeCompleted, Started: at(-3 * d), Ended: at(-3*d + 9*h), Production: true},                                                 // another workspace
		{RunID: "old", Workspace: "T1", Outcome: deploy.OutcomeCompleted, Started: at(-41 * d), Ended: at(-40 * d), Production: true},                                                  // before the period
	} {
		e.Service, e.Env, e.Release = "t", "production", "v1"
		seedStats(t, st, e)
	}
	ana := deploy.Actor{ID: "U0ANA", Name: "ana", Platform: "slack", Workspace: "T1"}
	ask := func(who deploy.Actor, cmd commands.Command) string {
		t.Helper()
		cmd.Kind = commands.KindStats
		return b.Execute(ctx, bot.Request{Platform: "slack", Channel: "C1", Actor: who}, cmd).Text
	}

	got := ask(ana, commands.Command{})
	// ana sees x1…x4 (T1 and no workspace): completed x1 x3 = 2 in 30 days,
	// 2/(30/7) = 0.47 per week; production x1 x2 x3, failed x2: 1/3 = 33%;
	// leads 2h 1h: median 1h30m, p90 = the ⌈1.8⌉ = 2nd = 2h; waits 15m 5m
	// 25m: median 15m; x2's rollback at -5d+1h, restored by x3 at -5d+4h: 3h.
	for _, want := range []string{
		"Delivery stats: t, every environment, last 30 days (26 Oct 2026 – 25 Nov 2026 UTC)",
		"• Deployments: 2 completed, 0.5 per week (W44 0 · W45 0 · W46 1 · W47 1 · W48 0)",
		"• Change failure rate: 33% (1 of 3 runs that reached production rolled back or aborted)",
		"• Lead time (start to completion): median 1h 30m, p90 2h (2 runs)",
		"• Waiting for approval: median 15m (3 approvals)",
		"• Time to restore: mean 3h (1 rollback)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("ana's /deploy stats:\n%s\nwant a line with %q", got, want)
		}
	}
	if strings.Contains(got, "9h") {
		t.Errorf("ana's /deploy stats counts another workspace's run (lead 9h):\n%s", got)
	}

	// A period of 3 days: only x4 (aborted before production).
	got = ask(ana, commands.Command{Service: "t", Env: "production", Days: 3})
	for _, want := range []string{
		"t to production, last 3 days",
		"• Deployments: 0 completed, 0.0 per week (W47 0 · W48 0)", // 3 days back is Sunday 22 November (W47)
		"• Change failure rate: no data (no run reached a production phase)",
		"• Lead time (start to completion): no data (no completed run)",
		"• Waiting for approval: no data (no gate approved by a person)",
		"• Time to restore: no data (no rollback)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("/deploy stats t to production 3:\n%s\nwant a line with %q", got, want)
		}
	}
	// A year lists the latest 8 weeks only; "old" (W42) is in it now:
	// 3 completed in 365 days = 3/(365/7) = 0.06 → 0.1 per week.
	if got := ask(ana, commands.Command{Days: 365}); !strings.Contains(got,
		"• Deployments: 3 completed, 0.1 per week (last 8 weeks: W41 0 · W42 1 · W43 0 · W44 0 · W45 0 · W46 1 · W47 1 · W48 0)") {
		t.Errorf("/deploy stats 365:\n%s\nwant the last 8 weeks", got)
	}
	// Another environment: nothing ended there.
	if got := ask(ana, commands.Command{Env: "staging"}); !strings.Contains(got, "No run ended in this period: no data.") {
		t.Errorf("/deploy stats to staging:\n%s\nwant no data", got)
	}

	for _, tt := range []struct {
		name string
		cmd  commands.Command
		want string
	}{
		{"unknown service", commands.Command{Service: "nope"}, `unknown service "nope": the services are t`},
		{"too long a period", commands.Command{Days: 400}, "the period is 1 to 365 days"},
		{"a negative period", commands.Command{Days: -1}, "the period is 1 to 365 days"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ask(ana, tt.cmd); !strings.Contains(got, tt.want) {
				t.Errorf("answer %q, want %q", got, tt.want)
			}
		})
	}

	// The console's figures count every workspace: x1…x4 and z1.
	all, err := b.Stats(ctx, deploy.Period("", "", 30, t0))
	if err != nil {
		t.Fatal(err)
	}
	if all.Runs != 5 || all.Deployments != 3 {
		t.Errorf("Bot.Stats: %d runs, %d deployments; want 5 and 3", all.Runs, all.Deployments)
	}
}

func TestStatsDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second:                 "45s",
		12*time.Minute + 20*time.Second:  "12m",
		2*time.Hour + 10*time.Minute:     "2h 10m",
		3 * time.Hour:                    "3h",
		3*24*time.Hour + 4*time.Hour:     "3d 4h",
		2*24*time.Hour + 10*time.Minute:  "2d",
		90*time.Minute + 40*time.Second:  "1h 31m",
		59*time.Minute + 50*time.Second:  "1h",
		23*time.Hour + 59*time.Minute:    "23h 59m",
		-5 * time.Minute:                 "5m",
		time.Duration(0):                 "0s",
		1500 * time.Millisecond:          "2s",
		24 * time.Hour:                   "1d",
		36*time.Hour + 29*time.Minute:    "1d 12h",
		7*24*time.Hour + 30*time.Minute:  "7d 1h",
		100*24*time.Hour + 5*time.Minute: "100d",
	} {
		if got := bot.StatsDuration(d); got != want {
			t.Errorf("StatsDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
