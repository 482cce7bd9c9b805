package bot_test

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/deploy/boltstore"
	"deploybot/internal/clock"
	"deploybot/runbook"
)

// tenancyBot is a bot on the embedded store with no chat platform: the
// replies to commands are what a person sees.
func tenancyBot(t *testing.T, allowed ...string) *bot.Bot {
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
	return bot.New(bot.Config{Engine: e, Clock: clk, Logger: slog.New(slog.DiscardHandler), Workspaces: allowed})
}

func TestListAndStatusShowOnlyTheAskersWorkspace(t *testing.T) {
	b := tenancyBot(t)
	ctx := t.Context()
	ana := deploy.Actor{ID: "U0ANA", Name: "ana", Platform: "slack", Workspace: "T1"}
	zed := deploy.Actor{ID: "U0ZED", Name: "zed", Platform: "slack", Workspace: "T2"}
	mine := b.Command(ctx, bot.Request{Platform: "slack", Channel: "C1", Actor: ana, Text: "start v1.4"})
	theirs := b.Command(ctx, bot.Request{Platform: "slack", Channel: "C9", Actor: zed, Text: "start v9.9 to staging"})
	if mine.RunID == "" || theirs.RunID == "" {
		t.Fatalf("starts: %+v, %+v", mine, theirs)
	}
	list := b.Command(ctx, bot.Request{Platform: "slack", Channel: "C1", Actor: ana, Text: "list"}).Text
	if !strings.Contains(list, mine.RunID) || strings.Contains(list, theirs.RunID) || strings.Contains(list, "v9.9") {
		t.Errorf("ana's /deploy list:\n%s\nwant %s and not %s", list, mine.RunID, theirs.RunID)
	}
	if got := b.Command(ctx, bot.Request{Platform: "slack", Channel: "C1", Actor: ana, Text: "status " + theirs.RunID}).Text; !strings.Contains(got, "no such run") {
		t.Errorf("status of another workspace's run: %q, want no such run", got)
	}
	if got := b.Command(ctx, bot.Request{Platform: "slack", Channel: "C1", Actor: ana, Text: "rollback " + theirs.RunID + " because"}).Text; !strings.Contains(got, "no such run") {
		t.Errorf("rollback of another workspace's run: %q, want no such run", got)
	}
}

func TestWorkspaceAllowList(t *testing.T) {
	b := tenancyBot(t, "T1", "123456789012345678")
	ctx := t.Context()
	out := deploy.Actor{ID: "U0OUT", Name: "out", Platform: "slack", Workspace: "T7"}
	got := b.Command(ctx, bot.Request{Platform: "slack", Channel: "C1", Actor: out, Text: "start v1.4"})
	if got.RunID != "" || !strings.Contains(got.Text, "does not serve this workspace") {
		t.Errorf("start from a workspace not allowed: %+v", got)
	}
	if got := b.Click(ctx, bot.Click{Platform: "slack", Channel: "C1", Actor: out, ButtonID: "done:r1:go:check"}); !strings.Contains(got.Text, "does not serve this workspace") {
		t.Errorf("click from a workspace not allowed: %+v", got)
	}
	in := deploy.Actor{ID: "42", Name: "dee", Platform: "discord", Workspace: "123456789012345678"}
	if got := b.Command(ctx, bot.Request{Platform: "discord", Channel: "9", Actor: in, Text: "start v1.4"}); got.RunID == "" {
		t.Errorf("start from an allowed guild: %+v", got)
	}
}
