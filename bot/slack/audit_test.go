package slackfront

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"deploybot/bot"
)

// The closing notices end with the audit chain's head: a context block
// after the lines, and the last line of the notification text.
func TestNoticeEndsWithTheAuditHead(t *testing.T) {
	n := bot.Notice{Kind: bot.NoticeAborted, RunID: "r7k2q", Title: "Deployment of v1.4 to production aborted",
		Fields: []bot.Field{{Label: "Reason", Value: "wrong tag"}}, Lines: []string{"one line"},
		AuditHead: "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2"}
	r := RenderNotice(n)
	last, ok := r.Blocks[len(r.Blocks)-1].(*slack.ContextBlock)
	if !ok {
		b, _ := json.Marshal(r.Blocks)
		t.Fatalf("the last block is not the audit context: %s", b)
	}
	if len(last.ContextElements.Elements) != 1 {
		t.Fatalf("context elements %+v", last.ContextElements.Elements)
	}
	if txt, _ := last.ContextElements.Elements[0].(*slack.TextBlockObject); txt == nil || txt.Text != "audit a1b2c3d4e5f6" {
		t.Fatalf("audit context = %+v", last.ContextElements.Elements[0])
	}
	if !strings.HasSuffix(r.Text, "audit a1b2c3d4e5f6") {
		t.Errorf("notification text %q does not end with the audit head", r.Text)
	}
	n.AuditHead = ""
	if r := RenderNotice(n); strings.Contains(r.Text, "audit") {
		t.Errorf("a notice without a head says %q", r.Text)
	}
}
