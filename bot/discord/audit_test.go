package discord

import (
	"strings"
	"testing"

	"deploybot/bot"
)

// The closing notices end with the audit chain's head in the embed's footer.
func TestNoticeFooterEndsWithTheAuditHead(t *testing.T) {
	n := bot.Notice{Kind: bot.NoticeCompletion, RunID: "r7k2q", Title: "v1.4 is deployed to production",
		Fields: []bot.Field{{Label: "Version", Value: "v1.4"}}, AuditHead: "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2"}
	r := render(bot.Message{Notice: &n})
	if len(r.Embeds) != 1 || r.Embeds[0].Footer == nil || r.Embeds[0].Footer.Text != "run r7k2q · audit a1b2c3d4e5f6" {
		t.Fatalf("footer = %+v, want the run and the audit head", r.Embeds)
	}
	n.AuditHead = ""
	if r := render(bot.Message{Notice: &n}); strings.Contains(r.Embeds[0].Footer.Text, "audit") {
		t.Errorf("a notice without a head shows %q", r.Embeds[0].Footer.Text)
	}
}
