package discord

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"deploybot/bot"
	"deploybot/deploy"
)

// A report longer than an embed's description is cut at a line to 4096
// characters and says where to read it whole; people's text is escaped.
func TestRenderReportFitsDiscordLimits(t *testing.T) {
	at := time.Date(2030, 3, 5, 22, 0, 0, 0, time.UTC)
	ana := deploy.Actor{ID: "1", Name: "ana", Platform: "discord"}
	r := deploy.RunReport{RunID: "r7k2qd", Service: "shop", Version: "v1.4", Env: "production", StartedBy: ana,
		Started: at, Ended: at.Add(time.Hour), Status: deploy.StatusRolledBack, Total: time.Hour, At: at.Add(time.Hour),
		Rollback: &deploy.RollbackInfo{By: ana, Reason: "@everyone *boom*", At: at}, RollbackFrom: "Production"}
	for i := range 60 {
		r.Skipped = append(r.Skipped, deploy.ReportStep{Where: fmt.Sprintf("Phase › Step %02d", i), By: &ana, At: at, Reason: strings.Repeat("why ", 120)})
	}
	out := render(bot.Message{Report: &r})
	if len(out.Embeds) != 1 {
		t.Fatalf("%d embeds, want 1", len(out.Embeds))
	}
	e := out.Embeds[0]
	if n := utf8.RuneCountInString(e.Description); n > maxDescription {
		t.Errorf("description of %d characters, over %d", n, maxDescription)
	}
	if !strings.HasSuffix(e.Description, "… see /deploy report r7k2qd") || strings.Contains(e.Description, "Step 59") {
		t.Errorf("a cut report does not end with where to read it whole:\n%s", e.Description)
	}
	if e.Title != "Deployment report: v1.4 to production — rolled back" {
		t.Errorf("title %q", e.Title)
	}
	if !strings.Contains(e.Description, `**Reason**: @everyone \*boom\*`) {
		t.Errorf("the rollback reason is not escaped:\n%s", e.Description)
	}
	if out.Allowed != nil {
		t.Errorf("a report may not notify anyone: %+v", out.Allowed)
	}
}
