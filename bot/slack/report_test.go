package slackfront

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"deploybot/deploy"
)

// longReport is a report with 60 skipped steps, each with a 500-character
// reason: far more than one Slack message or Discord embed holds.
func longReport() deploy.RunReport {
	at := time.Date(2030, 3, 5, 22, 0, 0, 0, time.UTC)
	ana := deploy.Actor{ID: "U0ANA", Name: "ana", Platform: "slack"}
	r := deploy.RunReport{RunID: "r7k2qd", Service: "shop", Version: "v1.4", Env: "production", StartedBy: ana,
		Started: at, Ended: at.Add(time.Hour), Status: deploy.StatusCompleted, Total: time.Hour, At: at.Add(time.Hour)}
	for i := range 60 {
		r.Skipped = append(r.Skipped, deploy.ReportStep{Phase: "p", Step: fmt.Sprint(i), Where: fmt.Sprintf("Phase › Step %02d", i), By: &ana, At: at,
			Reason: fmt.Sprintf("<reason %02d> ", i) + strings.Repeat("x&y ", 120)})
	}
	return r
}

// A report longer than a message: sections of at most 3000 characters
// within the block text budget, cut at a line, ending with where to read
// it whole; people's text escaped.
func TestRenderReportFitsSlackLimits(t *testing.T) {
	out := RenderReport(longReport())
	checkRendered(t, out)
	if n := blockText(out.Blocks); n > maxBlockText {
		t.Errorf("block text %d characters, over the %d budget", n, maxBlockText)
	}
	raw, err := out.JSON()
	if err != nil {
		t.Fatal(err)
	}
	all := string(raw)
	if !strings.Contains(all, "… see /deploy report r7k2qd") {
		t.Errorf("a cut report does not say where to read it whole:\n%s", all)
	}
	if !strings.Contains(all, "&lt;reason 00&gt;") || strings.Contains(all, "<reason") {
		t.Errorf("the reasons are not escaped for mrkdwn")
	}
	if strings.Contains(all, "Step 59") {
		t.Errorf("the whole report fit in one message: the test proves nothing")
	}
	if !strings.Contains(out.Text, "Deployment report: v1.4 to production — completed") {
		t.Errorf("fallback text %q", out.Text)
	}
	// A short report is shown whole.
	short := longReport()
	short.Skipped = short.Skipped[:1]
	out = RenderReport(short)
	checkRendered(t, out)
	raw, _ = out.JSON()
	if strings.Contains(string(raw), "see /deploy report") || !strings.Contains(string(raw), "Failed and retried steps") {
		t.Errorf("a short report is not shown whole:\n%s", raw)
	}
}
