package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"deploybot/bot"
	"deploybot/deploy"
)

// The dashboard serves a run's report as Markdown and as a page, made from
// the same report: people's text is escaped in both (a reason holding a
// script tag shows as text), and the ended run's view carries the report card.
func TestReportMarkdownAndPage(t *testing.T) {
	f := newFixture(t, options{})
	ana := deploy.Actor{ID: "console:ana", Name: "ana", Platform: "console"}
	bob := deploy.Actor{ID: "console:bob", Name: "bob", Platform: "console"}
	run := f.start(t, "v1.4", "console", "console", ana)
	const evil = `<script>alert("x")</script>`
	if _, err := f.Core.Engine.Do(context.Background(), deploy.Action{Kind: deploy.ActSkip, RunID: run.ID, Phase: "verify", Step: "notes",
		Reason: "covered by " + evil, Actor: bob}); err != nil {
		t.Fatal(err)
	}

	// In progress: the report so far, marked so; no card in the run's view yet.
	res, body := get(t, f.URL, "/runs/"+run.ID+"/report.md", nil, nil)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/markdown; charset=utf-8" {
		t.Fatalf("report.md: %d %q\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if !strings.Contains(body, "In progress: this is the report so far") {
		t.Errorf("the report of a live run is not marked in progress:\n%s", body)
	}
	if _, page := get(t, f.URL, "/runs/"+run.ID, named("ana"), nil); strings.Contains(page, `id="report-`+run.ID+`"`) {
		t.Errorf("a live run's view has a report card")
	}

	if _, err := f.Core.Engine.Do(context.Background(), deploy.Action{Kind: deploy.ActAbort, RunID: run.ID, Reason: "wrong <b>build</b>", Actor: bob}); err != nil {
		t.Fatal(err)
	}
	res, md := get(t, f.URL, "/runs/"+run.ID+"/report.md", nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("report.md: %d\n%s", res.StatusCode, md)
	}
	for _, want := range []string{
		"**Deployment report: v1.4 to production — aborted**",
		"- **Outcome**: aborted",
		"- **Aborted by**: @bob at 2030-03-05 21:58 UTC",
		`- **Reason**: wrong \<b\>build\</b\>`,
		`Verify the release › Release notes reviewed — skipped by @bob at 2030-03-05 21:58 UTC: covered by \<script\>alert("x")\</script\>`,
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md does not say %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "<script>") || strings.Contains(md, "In progress") {
		t.Errorf("report.md of the aborted run:\n%s", md)
	}

	res, page := get(t, f.URL, "/runs/"+run.ID+"/report", nil, nil)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("report page: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		"Deployment report: v1.4 to production — aborted",
		"<strong>Aborted by</strong>: @bob at 2030-03-05 21:58 UTC",
		"covered by &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;",
		"wrong &lt;b&gt;build&lt;/b&gt;",
		`href="/runs/` + run.ID + `/report.md"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the report page does not show %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "<b>build") {
		t.Errorf("the report page lets people's text through as HTML:\n%s", page)
	}

	// The ended run's view has the report card, escaped the same way.
	_, view := get(t, f.URL, "/runs/"+run.ID, named("ana"), nil)
	i := strings.Index(view, `id="report-slot-`+run.ID+`"`)
	if i < 0 {
		t.Fatalf("the run's view has no place for the report:\n%s", view)
	}
	if card := view[i:]; !strings.Contains(card, `id="report-`+run.ID+`"`) || !strings.Contains(card, "covered by &lt;script&gt;") {
		t.Errorf("the run's view has no report card:\n%s", view)
	}
	if strings.Contains(view, evil) {
		t.Errorf("the run's view lets the reason through as HTML")
	}

	// The report the bot posts to the console reaches the open pages as the
	// run's report card.
	cursor := view[strings.Index(view, `data-cursor="`)+len(`data-cursor="`):]
	cursor = cursor[:strings.IndexByte(cursor, '"')]
	rep, err := f.Core.Bot.Get(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		r := deploy.BuildRunReport(rep, nil, f.Clock.Now())
		_, _ = f.Console.Post(context.Background(), "console", "", bot.Message{Report: &r})
	}()
	lines := stream(t, f.URL+"/console/events?since="+cursor, func(l string) bool {
		return strings.HasPrefix(l, "data: ") && strings.Contains(l, `"id":"report-`+run.ID+`"`)
	})
	if last := lines[len(lines)-1]; !strings.Contains(last, `"parent":"report-slot-`+run.ID+`"`) || !strings.Contains(last, `\u0026lt;script\u0026gt;`) {
		t.Errorf("report update %s: want the escaped card in the run's report slot", last)
	}

	// An unknown run: 404, for both.
	for _, p := range []string{"/runs/rzzzzz/report.md", "/runs/rzzzzz/report"} {
		if res, body := get(t, f.URL, p, nil, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404\n%s", p, res.StatusCode, body)
		}
	}
}
