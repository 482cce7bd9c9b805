package console

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/internal/clock"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/<test name>.golden.html (rewritten with -update).
func golden(t *testing.T, got string) {
	t.Helper()
	path := filepath.Join("testdata", strings.ReplaceAll(t.Name(), "/", "_")+".golden.html")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("rendering differs from %s (run with -update if the change is intended)\n got:\n%s", path, got)
	}
}

func renderer(t *testing.T, readOnly bool) *Console {
	t.Helper()
	tmpl, err := parseTemplates()
	if err != nil {
		t.Fatal(err)
	}
	return &Console{Page: &Page{readOnly: readOnly, tmpl: tmpl, clock: clock.NewFake(time.Date(2030, 3, 5, 22, 10, 0, 0, time.UTC)), hub: newHub("e", 8), mem: newMemory(4)}}
}

func render(t *testing.T, c *Console, name string, data any) string {
	t.Helper()
	var sb strings.Builder
	if err := c.tmpl.ExecuteTemplate(&sb, name, data); err != nil {
		t.Fatalf("render %s: %v", name, err)
	}
	return sb.String()
}

// everyButton is a card carrying each kind of button the model has, and
// markup in every text that came from outside.
func everyButton() bot.PhaseCard {
	b := func(label string, act deploy.ActionKind, step string, style bot.Style) bot.Button {
		return bot.Button{Label: label, Action: act, RunID: "r7k2q", Phase: "deploy", Step: step, Style: style}
	}
	skip := func(step string) bot.Button {
		s := b("Skip", deploy.ActSkip, step, bot.StyleDefault)
		s.NeedsReason = true
		return s
	}
	end := b("End watch", deploy.ActDone, "watch", bot.StyleDefault)
	end.Confirm = &bot.Confirm{Title: "End the watch early?", Text: `"Watch <b>canary</b>" will be marked done now, as passed.`, OK: "End watch", Cancel: "Keep watching"}
	approve := b("Approve", deploy.ActApprove, "", bot.StylePrimary)
	approve.Confirm = &bot.Confirm{Title: "Approve production phase?", Text: `Approve "Deploy" of v1.4<script> on production?`, OK: "Approve", Cancel: "Cancel"}
	rollback := b("Rollback", deploy.ActRollback, "", bot.StyleDanger)
	rollback.NeedsReason = true
	rollback.Confirm = &bot.Confirm{Title: "Roll back?", Text: "This starts the rollback procedure for v1.4 on production.", OK: "Roll back", Cancel: "Cancel"}
	outside := b("Start outside window", deploy.ActOverrideWindow, "", bot.StyleDefault)
	outside.NeedsReason = true
	outside.Confirm = &bot.Confirm{Title: "Start outside a window?", Text: "The phase will start now.", OK: "Start now", Cancel: "Wait"}
	return bot.PhaseCard{
		RunID: "r7k2q", PhaseID: "deploy", Group: "Deployment", Title: `Deploy <img src=x onerror=alert(1)>`, Index: 2, Total: 3,
		Service: "payments-<i>api</i>", Release: "v1.4", Env: "production", Production: true, State: bot.CardCurrent, Gate: bot.Gate{Kind: bot.GateApproval, NotBy: "@ana"},
		Steps: []bot.StepLine{
			{ID: "notes", Title: "Release notes reviewed", State: deploy.StepPending, Buttons: []bot.Button{b("Done", deploy.ActDone, "notes", bot.StylePrimary), skip("notes")}},
			{ID: "build", Title: "Build", State: deploy.StepFailed, Automated: true, Adapter: "shell", By: &bot.Stamp{Who: "@deploybot", Ago: "just now"}, Result: "exit 1: <script>alert(1)</script>", Attempt: 2,
				Buttons: []bot.Button{b("Retry", deploy.ActRetry, "build", bot.StylePrimary), skip("build")}},
			{ID: "watch", Title: "Watch canary", State: deploy.StepRunning, Automated: true, Adapter: "watch", Elapsed: 12 * time.Minute, Progress: "last check ok", Buttons: []bot.Button{end}},
			{ID: "skipped", Title: "Benchmarks", State: deploy.StepSkipped, By: &bot.Stamp{Who: "@bob", Ago: "2 min ago"}, Reason: `"not <needed>"`},
		},
		Buttons: []bot.Button{outside, approve, rollback},
	}
}

func TestRenderCard(t *testing.T) {
	run := &deploy.Run{ID: "r7k2q", Phases: []deploy.PhaseRun{{ID: "deploy", Steps: []deploy.StepRun{
		{ID: "build", Output: "compiling\n<script>window.pwned=1</script>\n"},
	}}}}
	for _, tc := range []struct {
		name     string
		readOnly bool
	}{{"console", false}, {"dashboard", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := renderer(t, tc.readOnly)
			got := render(t, c, "card", c.cardView(context.Background(), everyButton(), run, nil, roleNobody))
			golden(t, got)
			if strings.Contains(got, "<script>") || strings.Contains(got, "<img") || strings.Contains(got, "<i>") {
				t.Error("markup from outside was not escaped")
			}
			if tc.readOnly == strings.Contains(got, "data-button=") {
				t.Errorf("read-only %v, buttons rendered %v", tc.readOnly, strings.Contains(got, "data-button="))
			}
		})
	}
}

func TestRenderSummaryAndNotice(t *testing.T) {
	c := renderer(t, false)
	s := bot.Summary{RunID: "r7k2q", Service: "payments-api", Release: "v1.4", Env: "production", StartedBy: "@ana", Run: bot.RunState{Status: deploy.StatusActive},
		PhaseTitle: "Deploy", Settled: 5, Total: 9, Started: time.Date(2030, 3, 5, 21, 58, 0, 0, time.UTC),
		Phases: []bot.PhaseLine{{Title: "Code & Repository", State: bot.PhaseApproved, ApprovedBy: "@bob"}, {Title: "Deploy", State: bot.PhaseInProgress},
			{Title: "Validate", State: bot.PhasePending}, {Title: "Clean <b>up</b>", State: bot.PhaseStopped}}}
	golden(t, render(t, c, "summary", c.summaryView(s)))

	n := bot.Notice{Kind: bot.NoticeRollback, RunID: "r7k2q", Service: "payments-api", Icon: bot.IconAlert, Title: "payments-api: Rolling back v1.4 on production",
		Fields: []bot.Field{{Label: "Service", Value: "payments-api"}, {Label: "Returns to", Value: "v1.3.9"}, {Label: "Reason", Value: "<script>alert(1)</script>"}}, Lines: []string{"The rollback procedure (3 steps) is posted in the run's thread."}}
	m := c.mem.put("console/abc", "console", "", bot.Message{Notice: &n}, time.Date(2030, 3, 5, 22, 1, 0, 0, time.UTC))
	t.Run("notice", func(t *testing.T) {
		golden(t, render(t, c, "notice", c.noticeView(m)))
	})
}

func TestMemoryIsBounded(t *testing.T) {
	m := newMemory(3)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		n := bot.Notice{Title: string(rune('a' + i))}
		m.put("console/"+string(rune('a'+i)), "console", "", bot.Message{Notice: &n}, now)
	}
	got := m.channel("console")
	if len(got) != 3 || got[0].Msg.Notice.Title != "c" {
		t.Errorf("kept %d messages starting at %q, want the last 3 (c, d, e)", len(got), got[0].Msg.Notice.Title)
	}
	if _, ok := m.get("console/a"); ok {
		t.Error("an evicted message is still found by its ref")
	}
	if ns := m.notices(2); len(ns) != 2 || ns[0].Msg.Notice.Title != "e" {
		t.Errorf("notices(2) = %d starting with %q, want e first", len(ns), ns[0].Msg.Notice.Title)
	}
}

func TestHubReplaysAndDetectsGaps(t *testing.T) {
	h := newHub("ep", 3)
	start := h.cursor()
	for i := range 2 {
		h.publish(update{Op: "upsert", ID: string(rune('a' + i))})
	}
	seq, ok := h.parse(start)
	if !ok {
		t.Fatalf("parse(%q) failed", start)
	}
	evs, _, gap, _ := h.since(seq)
	if gap || len(evs) != 2 {
		t.Errorf("since start: %d events, gap %v; want 2, no gap", len(evs), gap)
	}
	for i := range 3 {
		h.publish(update{Op: "upsert", ID: string(rune('x' + i))})
	}
	if _, _, gap, _ := h.since(seq); !gap {
		t.Error("a cursor older than the ring is not reported as a gap")
	}
	if _, ok := h.parse("other-1"); ok {
		t.Error("a cursor of another process parses")
	}
}

func TestRollbackCardSaysWhatItReturnsTo(t *testing.T) {
	c := renderer(t, false)
	run := &deploy.Run{ID: "r7k2q"}
	for _, tc := range []struct{ previous, want string }{
		{"v1.3.9", "payments-api · Rollback procedure · returns to v1.3.9"},
		{"", "payments-api · Rollback procedure · no earlier completed version to return to"},
	} {
		card := bot.PhaseCard{RunID: "r7k2q", PhaseID: deploy.RollbackPhaseID, Title: "Rollback Procedure", Rollback: true, Service: "payments-api",
			Release: "v1.4", Env: "production", Previous: tc.previous, State: bot.CardCurrent, Gate: bot.Gate{Kind: bot.GateFinishing}}
		got := render(t, c, "card", c.cardView(context.Background(), card, run, nil, roleNobody))
		if !strings.Contains(got, `<div class="eyebrow">`+tc.want+`</div>`) {
			t.Errorf("rollback card with previous %q does not say %q:\n%s", tc.previous, tc.want, got)
		}
	}
}
