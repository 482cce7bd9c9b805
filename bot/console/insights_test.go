package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"deploybot/deploy"
	"deploybot/deploy/storetest"
)

// seedIndex stores a run that ended with index entry e, through Store.Apply.
func seedIndex(t *testing.T, st deploy.Store, e deploy.StatsEntry) {
	t.Helper()
	r := storetest.SampleRun(e.RunID, e.Env, e.Started)
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

// seedInsights stores three ended runs of the rehearsal service in
// production: t0 is Tuesday 2030-03-05 21:58 UTC (ISO week 2030-W10).
func seedInsights(t *testing.T, f *fixture) {
	h, d, m := time.Hour, 24*time.Hour, time.Minute
	at := func(off time.Duration) time.Time { return t0.Add(off) }
	for _, e := range []deploy.StatsEntry{
		// W09: completed, lead 2h, approved after 30m.
		{RunID: "i1", Outcome: deploy.OutcomeCompleted, Started: at(-7 * d), Ended: at(-7*d + 2*h), Production: true, Waits: []deploy.ApprovalWait{{Phase: "verify", Wait: 30 * m}}},
		// W10: rolled back (rollback started at -1d+1h).
		{RunID: "i2", Outcome: deploy.OutcomeRolledBack, Started: at(-d), Ended: at(-d + 90*m), Production: true, RollbackAt: at(-d + h)},
		// W10: completed, lead 1h, approved after 10m: restores i2 after 2h.
		{RunID: "i3", Outcome: deploy.OutcomeCompleted, Started: at(-d + 2*h), Ended: at(-d + 3*h), Production: true, Waits: []deploy.ApprovalWait{{Phase: "verify", Wait: 10 * m}}},
	} {
		e.Service, e.Env, e.Release = "rehearsal", "production", "v1"
		seedIndex(t, f.Store, e)
	}
}

func TestInsightsPage(t *testing.T) {
	f := newFixture(t, options{})
	seedInsights(t, f)

	res, body := get(t, f.URL, "/insights", nil, nil)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /insights = %d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	// The period is the 90 days before t0: Wednesday 5 December 2029
	// (2029-W49) to 5 March 2030 (2030-W10): 4 weeks of 2029 (W49–W52) and
	// 10 of 2030 = 14 weeks. Completed: i1, i3 = 2, 2/(90/7) = 0.16 → 0.2
	// per week; production i1 i2 i3, failed i2: 1/3 = 33%; leads 2h 1h:
	// median 1h 30m, p90 (the 2nd) 2h; waits 30m 10m: median 20m; restore:
	// i3 ended at -1d+3h, i2's rollback started at -1d+1h: 2h.
	for _, want := range []string{
		"rehearsal, every environment",
		"last 90 days (5 Dec 2029 – 5 Mar 2030 UTC)",
		"<b>0.2</b> <span class=\"muted\">2 completed in the period</span>",
		"<b>33%</b> <span class=\"muted\">1 of 3 runs that reached production rolled back or aborted</span>",
		"<b>median 1h 30m · p90 2h</b> <span class=\"muted\">2 completed runs</span>",
		"<b>median 20m</b> <span class=\"muted\">2 approvals</span>",
		"<b>mean 2h</b> <span class=\"muted\">1 rollback</span>",
		// deployments per week: one bar per week, i1's week and i3's week.
		"<title>2030-W09 (from 25 Feb): 1 completed</title>",
		"<title>2030-W10 (from 4 Mar): 1 completed</title>",
		"<title>2029-W49 (from 3 Dec): 0 completed</title>",
		// lead time line: W09's median 2h, W10's 1h.
		"<title>2030-W09: median 2h, p90 2h (1 run)</title>",
		"<title>2030-W10: median 1h, p90 1h (1 run)</title>",
		// change failure rate: W09 0 of 1, W10 1 of 2 = 50%; weeks without production runs say so.
		"<title>2030-W09: 0 of 1 rolled back or aborted</title>",
		"<title>2030-W10: 1 of 2 rolled back or aborted</title>",
		">50%</text>",
		"<title>2030-W08: no data (no run reached production)</title>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the insights page lacks %q", want)
		}
	}
	for _, id := range []string{"chart-deployments", "chart-lead", "chart-failure"} {
		if !regexp.MustCompile(`<section class="panel chart" id="` + id + `">\s*<h3>[^<]+<span class="hint">[^<]+</span></h3>\s*<svg `).MatchString(body) {
			t.Errorf("the insights page has no SVG chart %s", id)
		}
	}
	if n := strings.Count(body, "<rect "); n != 2*14 {
		t.Errorf("%d bars, want 28 (14 weeks in two bar charts)", n)
	}
	if n := strings.Count(body, "<polyline "); n != 1 {
		t.Errorf("%d lead time lines, want 1 (W09 and W10 are adjacent)", n)
	}
	if strings.Contains(body, "<script") {
		t.Error("the insights page has a script; it must work without one")
	}

	// The console's page links to it.
	if _, page := get(t, f.URL, "/", named("ana"), nil); !strings.Contains(page, `href="/insights"`) {
		t.Error("the console's page has no link to /insights")
	}
}

func TestInsightsFilterAndNoData(t *testing.T) {
	f := newFixture(t, options{})
	seedInsights(t, f)

	// Nothing ended in staging: each figure and chart says "no data".
	res, body := get(t, f.URL, "/insights?env=staging&days=14", nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /insights?env=staging = %d\n%s", res.StatusCode, body)
	}
	for _, want := range []string{
		"rehearsal to staging", "last 14 days",
		"<b>no data</b> <span class=\"muted\">no run reached a production phase</span>",
		"<b>no data</b> <span class=\"muted\">no completed run</span>",
		"<b>no data</b> <span class=\"muted\">no gate approved by a person</span>",
		"<b>no data</b> <span class=\"muted\">no rollback</span>",
		">no data: no completed run in this period</text>",
		">no data: no run reached a production phase in this period</text>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the staging insights lack %q", want)
		}
	}

	// 14 days in production: i1 (W09) and i2, i3 (W10); the deployments
	// per week figure is 2/(14/7) = 1.0.
	if _, body := get(t, f.URL, "/insights?service=rehearsal&env=production&days=14", nil, nil); !strings.Contains(body, "<b>1.0</b>") {
		t.Errorf("14 days in production: want 1.0 deployments per week")
	}

	for _, tt := range []struct{ query, want string }{
		{"days=0", "days is a whole number from 1 to 365"},
		{"days=366", "days is a whole number from 1 to 365"},
		{"days=ten", "days is a whole number from 1 to 365"},
		{"service=nope", "unknown service &#34;nope&#34;: the services are rehearsal"},
		{"env=" + url.QueryEscape(`<script>alert(1)</script>`), "invalid environment &#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;"},
	} {
		res, body := get(t, f.URL, "/insights?"+tt.query, nil, nil)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, tt.want) {
			t.Errorf("GET /insights?%s = %d, want 400 saying %q\n%s", tt.query, res.StatusCode, tt.want, body)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, "<svg") {
			t.Errorf("GET /insights?%s: the page shows the raw input or charts", tt.query)
		}
	}
}

func TestInsightsNeedTheConsolesSignIn(t *testing.T) {
	const token = "s3cret-dashboard-token"
	f := newFixture(t, options{readOnly: true, token: token})
	seedInsights(t, f)
	res, body := get(t, f.URL, "/insights", nil, nil)
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `name="next" value="/insights"`) || strings.Contains(body, "<svg") {
		t.Fatalf("GET /insights without signing in = %d, want 401 with the sign-in form leading back to /insights\n%s", res.StatusCode, body)
	}
	_, session := signIn(t, f, token)
	res, body = get(t, f.URL, "/insights", []*http.Cookie{session}, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "<svg") || !strings.Contains(body, "back to the dashboard") {
		t.Fatalf("GET /insights signed in = %d, want the page\n%s", res.StatusCode, body)
	}
}
