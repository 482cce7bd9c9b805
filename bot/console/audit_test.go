package console

import (
	"strings"
	"testing"
	"time"

	"deploybot/bot"
)

// The console shows a closing notice's audit head as its last line.
func TestNoticeViewEndsWithTheAuditHead(t *testing.T) {
	c := renderer(t, false)
	lines := []string{"Preparation: 5 min"}
	n := bot.Notice{Kind: bot.NoticeCompletion, RunID: "r7k2q", Title: "v1.4 is deployed to production", Lines: lines,
		AuditHead: "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2"}
	m := c.mem.put("console/audit", "console", "", bot.Message{Notice: &n}, time.Date(2030, 3, 5, 22, 1, 0, 0, time.UTC))
	v := c.noticeView(m)
	if len(v.Lines) != 2 || v.Lines[1] != "audit a1b2c3d4e5f6" {
		t.Fatalf("notice lines %q, want the audit head last", v.Lines)
	}
	if len(n.Lines) != 1 {
		t.Fatalf("the view changed the notice's own lines: %q", n.Lines)
	}
	if got := render(t, c, "notice", v); !strings.Contains(got, "<li>audit a1b2c3d4e5f6</li>") {
		t.Errorf("rendered notice lacks the audit line:\n%s", got)
	}
}
