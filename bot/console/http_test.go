package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/bot/console"
	"deploybot/deploy"
)

// slackUser is someone who started a run in chat.
var slackUser = deploy.Actor{ID: "U0ANA", Name: "ana", Platform: "slack"}

// get fetches path with the given cookies and extra headers.
func get(t *testing.T, base, path string, cookies []*http.Cookie, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return do(t, req)
}

// post sends a form to path with the given cookies and extra headers.
func post(t *testing.T, base, path string, form url.Values, cookies []*http.Cookie, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read %s: %v", req.URL.Path, err)
	}
	return res, string(body)
}

func named(name string) []*http.Cookie {
	return []*http.Cookie{{Name: "deploybot_name", Value: name}}
}

// TestReadOnlyDashboard: with a chat platform configured the page shows the
// runs, their cards, outputs and audit log, but no command box and no
// buttons, and every change is refused.
func TestReadOnlyDashboard(t *testing.T) {
	f := newFixture(t, options{readOnly: true})
	run := f.start(t, "v2.0", "slack", "C0DEPLOY", slackUser)
	if _, err := f.Core.Engine.Do(context.Background(), deploy.Action{Kind: deploy.ActDone, RunID: run.ID, Phase: "verify", Step: "notes", Actor: slackUser}); err != nil {
		t.Fatalf("tick notes: %v", err)
	}
	f.waitRun(t, run.ID, "the build step ran", func(r *deploy.Run) bool { return r.Phases[0].Steps[1].State == deploy.StepDone })

	res, page := get(t, f.URL, "/", nil, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", res.StatusCode)
	}
	shows := []struct{ name, want string }{
		{"the run", "v2.0"},
		{"the starter", "@ana"},
		{"the step's result", "exit 0"},
		{"the step's output", "<pre>building v2.0\nsmoke test passed</pre>"},
		{"the audit log, open", `<details open>`},
		{"an audit entry", "start"},
		{"the read-only label", "dashboard · read-only"},
	}
	for _, s := range shows {
		t.Run("shows "+s.name, func(t *testing.T) {
			if !strings.Contains(page, s.want) {
				t.Errorf("the dashboard does not contain %q", s.want)
			}
		})
	}
	lacks := []struct{ name, bad string }{
		{"buttons", "data-button="},
		{"the command box", `id="command-input"`},
		{"the name form", `id="name-form"`},
	}
	for _, l := range lacks {
		t.Run("has no "+l.name, func(t *testing.T) {
			if strings.Contains(page, l.bad) {
				t.Errorf("the dashboard contains %q", l.bad)
			}
		})
	}

	refused := []struct {
		name, path string
		form       url.Values
	}{
		{"a click", "/console/click", url.Values{"action": {"done:" + run.ID + ":verify:changelog"}}},
		{"a command", "/console/command", url.Values{"text": {"/deploy abort " + run.ID + " no"}}},
		{"a name", "/console/name", url.Values{"name": {"mallory"}}},
	}
	for _, r := range refused {
		t.Run("refuses "+r.name, func(t *testing.T) {
			res, _ := post(t, f.URL, r.path, r.form, named("mallory"), nil)
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s = %d, want 403", r.path, res.StatusCode)
			}
		})
	}
	got, err := f.Store.Run(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s := got.Phases[0].Steps[2].State; s != deploy.StepPending {
		t.Errorf("after the refused click the step is %s, want pending", s)
	}
}

// TestTokenMode: with a token the console asks for it first; a wrong token
// is refused, the right one opens the dashboard with an HttpOnly cookie.
func TestTokenMode(t *testing.T) {
	const token = "s3cret-dashboard-token"
	f := newFixture(t, options{readOnly: true, token: token})
	f.start(t, "v3.1", "slack", "C0DEPLOY", slackUser)

	t.Run("without the token the page is the login form", func(t *testing.T) {
		res, body := get(t, f.URL, "/", nil, nil)
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `action="/console/login"`) || strings.Contains(body, "v3.1") {
			t.Errorf("GET / = %d, login form %v, run shown %v; want 401 with the form and no run", res.StatusCode, strings.Contains(body, "/console/login"), strings.Contains(body, "v3.1"))
		}
	})
	for _, path := range []string{"/console/events", "/console/runs/r1?part=main"} {
		t.Run("without the token "+path+" is refused", func(t *testing.T) {
			if res, _ := get(t, f.URL, path, nil, nil); res.StatusCode != http.StatusUnauthorized {
				t.Errorf("GET %s = %d, want 401", path, res.StatusCode)
			}
		})
	}
	t.Run("a wrong token is refused", func(t *testing.T) {
		res, body := post(t, f.URL, "/console/login", url.Values{"token": {"guess"}}, nil, nil)
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not right") || len(res.Cookies()) != 0 {
			t.Errorf("wrong token: %d, %d cookies; want 401, no cookie", res.StatusCode, len(res.Cookies()))
		}
	})
	t.Run("a forged cookie is refused", func(t *testing.T) {
		if res, _ := get(t, f.URL, "/", []*http.Cookie{{Name: "deploybot_session", Value: token}}, nil); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET / with the raw token as cookie = %d, want 401", res.StatusCode)
		}
	})
	t.Run("the right token opens the dashboard", func(t *testing.T) {
		res, _ := post(t, f.URL, "/console/login", url.Values{"token": {token}}, nil, nil)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("login = %d, want 303", res.StatusCode)
		}
		var session *http.Cookie
		for _, c := range res.Cookies() {
			if c.Name == "deploybot_session" {
				session = c
			}
		}
		if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || strings.Contains(session.Value, token) {
			t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, not the token itself", session)
		}
		res, body := get(t, f.URL, "/", []*http.Cookie{session}, nil)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, "v3.1") {
			t.Errorf("GET / signed in = %d, shows the run %v", res.StatusCode, strings.Contains(body, "v3.1"))
		}
	})
	t.Run("with a token other machines may connect", func(t *testing.T) {
		res, _ := get(t, f.URL, "/", nil, map[string]string{"Host": "deploy.example.com"})
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET / for deploy.example.com = %d, want 401 (the login form)", res.StatusCode)
		}
	})
}

// TestWritesNeedTheSameOrigin: POSTs from another site are refused (the
// cookie is SameSite=Strict too); without a token only localhost is served.
func TestWritesNeedTheSameOrigin(t *testing.T) {
	f := newFixture(t, options{})
	cases := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"same origin", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": f.URL}, http.StatusOK},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, http.StatusForbidden},
		{"foreign origin without fetch metadata", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"another host name for this machine", map[string]string{"Host": "evil.example"}, http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, body := post(t, f.URL, "/console/command", url.Values{"text": {"/deploy help"}}, named("ana"), c.hdr)
			if res.StatusCode != c.want {
				t.Errorf("POST /console/command = %d (%s), want %d", res.StatusCode, strings.TrimSpace(body), c.want)
			}
		})
	}
}

// TestNamesAndCommands: the name picks the actor, commands need one, and an
// ephemeral reply comes back in the POST's answer only.
func TestNamesAndCommands(t *testing.T) {
	f := newFixture(t, options{})
	cases := []struct {
		name     string
		path     string
		form     url.Values
		cookies  []*http.Cookie
		wantCode int
		wantText string
	}{
		{"a name is set in a cookie", "/console/name", url.Values{"name": {"@ana"}}, nil, http.StatusOK, ""},
		{"a bad name is refused", "/console/name", url.Values{"name": {"<b>ana</b>"}}, nil, http.StatusBadRequest, "A name is"},
		{"a command without a name is refused", "/console/command", url.Values{"text": {"/deploy help"}}, nil, http.StatusBadRequest, "Pick a name"},
		{"help answers", "/console/command", url.Values{"text": {"/deploy help"}}, named("ana"), http.StatusOK, "/deploy start"},
		{"a bad version is refused", "/console/command", url.Values{"text": {"/deploy start v1;rm -rf /"}}, named("ana"), http.StatusOK, "letters, digits"},
		{"a foreign button is refused", "/console/click", url.Values{"action": {"launch:missiles"}}, named("ana"), http.StatusBadRequest, "not one of mine"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, body := post(t, f.URL, c.path, c.form, c.cookies, nil)
			if res.StatusCode != c.wantCode || !strings.Contains(body, c.wantText) {
				t.Errorf("POST %s = %d %s, want %d containing %q", c.path, res.StatusCode, strings.TrimSpace(body), c.wantCode, c.wantText)
			}
			if c.path == "/console/name" && c.wantCode == http.StatusOK {
				var ck *http.Cookie
				for _, x := range res.Cookies() {
					if x.Name == "deploybot_name" {
						ck = x
					}
				}
				if ck == nil || ck.Value != "ana" || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
					t.Errorf("name cookie %+v: want ana, HttpOnly, SameSite=Strict", ck)
				}
			}
		})
	}
}

// TestPosterRefsSurviveARestart: Post returns distinct references naming
// the channel; Update of a reference from an earlier process keeps the message.
func TestPosterRefsSurviveARestart(t *testing.T) {
	f := newFixture(t, options{})
	ctx := context.Background()
	c := f.Console
	n := bot.Notice{Kind: bot.NoticeText, Title: "first"}
	a, err := c.Post(ctx, "console", "", bot.Message{Notice: &n})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Post(ctx, "console", "", bot.Message{Notice: &n})
	if err != nil {
		t.Fatal(err)
	}
	if a == b || !strings.HasPrefix(a, "console/") {
		t.Errorf("refs %q and %q: want distinct, naming the channel", a, b)
	}
	if c.Platform() != "console" {
		t.Errorf("Platform() = %q", c.Platform())
	}

	// A second console (a restarted process) is asked to edit the first one's message.
	later, err := console.New(console.Config{Bot: f.Core.Bot, Clock: f.Clock})
	if err != nil {
		t.Fatal(err)
	}
	edited := bot.Notice{Kind: bot.NoticeText, Title: "edited after a restart"}
	if err := later.Update(ctx, a, bot.Message{Notice: &edited}); err != nil {
		t.Fatalf("Update of an earlier ref: %v", err)
	}
	mux := http.NewServeMux()
	later.Routes(mux)
	srv := httptestServer(t, mux)
	if _, body := get(t, srv, "/", nil, nil); !strings.Contains(body, "edited after a restart") {
		t.Error("the restarted console does not show the message it was asked to update")
	}
}

// TestEventsStream: the stream sends updates after the page's cursor, tells
// a page from another process to reload, and ends when the console closes.
func TestEventsStream(t *testing.T) {
	f := newFixture(t, options{})
	_, page := get(t, f.URL, "/", nil, nil)
	i := strings.Index(page, `data-cursor="`)
	if i < 0 {
		t.Fatal("the page has no cursor")
	}
	cursor := page[i+len(`data-cursor="`):]
	cursor = cursor[:strings.IndexByte(cursor, '"')]

	t.Run("an unknown cursor gets a reset", func(t *testing.T) {
		lines := stream(t, f.URL+"/console/events?since=deadbeef-7", func(string) bool { return false })
		if !strings.Contains(strings.Join(lines, "\n"), "event: reset") {
			t.Errorf("stream %q: want a reset event", lines)
		}
	})
	t.Run("a post reaches the open page", func(t *testing.T) {
		go func() {
			n := bot.Notice{Kind: bot.NoticeText, Title: "hello <everyone>"}
			_, _ = f.Console.Post(context.Background(), "console", "", bot.Message{Notice: &n})
		}()
		lines := stream(t, f.URL+"/console/events?since="+cursor, func(l string) bool { return strings.HasPrefix(l, "data: ") && strings.Contains(l, "hello") })
		last := lines[len(lines)-1]
		if !strings.Contains(last, `hello \u0026lt;everyone\u0026gt;`) {
			t.Errorf("update %s: want the escaped title", last)
		}
	})
	t.Run("the stream ends when the console closes", func(t *testing.T) {
		go f.Console.Close()
		lines := stream(t, f.URL+"/console/events?since="+cursor, func(string) bool { return false })
		if len(lines) == 0 {
			t.Error("no lines before the end")
		}
	})
}

// stream reads server-sent event lines until until accepts one or the stream
// ends; it fails the test after a deadline.
func stream(t *testing.T, u string, until func(string) bool) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	var lines []string
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if until(sc.Text()) {
			return lines
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("stream %s: timed out after %q", u, lines)
	}
	return lines
}

// windowed is the rehearsal runbook with a recurring maintenance window.
const windowed = `
name: windowed
windows:
  - cron: "0 22 * * TUE"
    duration: 2h
    timezone: Europe/Berlin
phases:
  - id: only
    title: Only
    steps:
      - id: one
        title: One
rollback:
  steps:
    - id: undo
      title: Undo
`

// TestUpcomingWindows: the page lists the booked and the recurring windows,
// and a public reply (the booking) goes to everybody's feed.
func TestUpcomingWindows(t *testing.T) {
	f := newFixture(t, options{runbook: windowed, windows: true})
	res, body := post(t, f.URL, "/console/command", url.Values{"text": {"/deploy schedule v1.4 2030-03-07 06:00 for 90m"}}, named("ana"), nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"public":true`) {
		t.Fatalf("schedule = %d %s", res.StatusCode, body)
	}
	_, page := get(t, f.URL, "/", nil, nil)
	shows := []struct{ name, want string }{
		{"the panel", "Maintenance windows"},
		{"the booked window", "Thu 2030-03-07 06:00 UTC"},
		{"its length and booker", "v1.4 · 1h 30m · scheduled by @ana"},
		{"the recurring window", "recurring"},
		{"the booking in the feed", "Maintenance window"},
	}
	for _, s := range shows {
		t.Run(s.name, func(t *testing.T) {
			if !strings.Contains(page, s.want) {
				t.Errorf("the page does not contain %q", s.want)
			}
		})
	}
}

// followUps: one phase that deploys, then a follow-up phase.
const followUps = `
name: follow
phases:
  - id: ship
    title: Ship
    approval: false
    steps:
      - id: go
        title: Roll out
  - id: after
    title: Follow-up Actions
    follow_up: true
    steps:
      - id: retro
        title: Review the deployment process
`

// A deployed run whose follow-ups are open is still worked on: the page
// lists it with the active runs, saying so, not with the finished ones.
func TestDeployedRunWithOpenFollowUpsIsListedAsActive(t *testing.T) {
	f := newFixture(t, options{runbook: followUps})
	run := f.start(t, "v3.1", "console", "console", deploy.Actor{ID: "console:ana", Name: "ana", Platform: "console"})
	if _, err := f.Core.Engine.Do(context.Background(), deploy.Action{Kind: deploy.ActDone, RunID: run.ID, Phase: "ship", Step: "go",
		Actor: deploy.Actor{ID: "console:bob", Name: "bob", Platform: "console"}}); err != nil {
		t.Fatalf("tick: %v", err)
	}
	f.waitRun(t, run.ID, "deployed", func(r *deploy.Run) bool { return r.Status == deploy.StatusDeployed })
	_, page := get(t, f.URL, "/", nil, nil)
	active, finished, ok := strings.Cut(page, `id="recent-runs"`)
	if !ok {
		t.Fatal("no list of finished runs on the page")
	}
	active = active[strings.Index(active, `id="live-runs"`):]
	if !strings.Contains(active, run.ID) || !strings.Contains(active, "deployed · follow-ups open") {
		t.Errorf("the active runs do not list %s as deployed with follow-ups open:\n%s", run.ID, active)
	}
	if strings.Contains(finished[:strings.Index(finished, "</section>")], run.ID) {
		t.Errorf("the deployed run is also listed as finished")
	}
}

// TestOversizedFormsAreToldTheirSize: a form larger than the console takes
// (16 KiB) is answered 413 with a text that says it is too large, not as if
// its fields were empty ("Type a command…", "not one of mine").
func TestOversizedFormsAreToldTheirSize(t *testing.T) {
	f := newFixture(t, options{})
	big := strings.Repeat("x", 20<<10)
	cases := []struct {
		name string
		path string
		form url.Values
	}{
		{"a command", "/console/command", url.Values{"text": {"/deploy help"}, "pad": {big}}},
		{"a click", "/console/click", url.Values{"action": {"done:r1:verify:changelog"}, "reason": {big}}},
		{"a name", "/console/name", url.Values{"name": {"ana"}, "pad": {big}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, body := post(t, f.URL, c.path, c.form, named("ana"), nil)
			if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "too much to send") || !strings.Contains(body, "16 KiB") {
				t.Errorf("POST %s with %d bytes = %d %s, want 413 saying it is too much (16 KiB at most)", c.path, len(c.form.Encode()), res.StatusCode, strings.TrimSpace(body))
			}
		})
	}
}

// TestCommandRefusalsAreNotOK: the command endpoint's "ok" says whether the
// bot did it, as a click's does: a refusal is ok:false with its text (the
// page shows it as refused and keeps the command typed).
func TestCommandRefusalsAreNotOK(t *testing.T) {
	f := newFixture(t, options{})
	cases := []struct {
		name   string
		text   string
		wantOK bool
		want   string
	}{
		{"help", "/deploy help", true, "/deploy start"},
		{"a start", "/deploy start v1.4", true, "Started run"},
		{"a bad version", "/deploy start v1;rm -rf /", false, "letters, digits"},
		{"a run that does not exist", "/deploy status nosuchrun", false, "nosuchrun"},
		{"a run that is not there", "/deploy status r7k2qd", false, "r7k2qd"},
		{"an unknown command", "/deploy launch", false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, body := post(t, f.URL, "/console/command", url.Values{"text": {c.text}}, named("ana"), nil)
			var r struct {
				OK   bool   `json:"ok"`
				Text string `json:"text"`
			}
			if err := json.Unmarshal([]byte(body), &r); err != nil {
				t.Fatalf("POST /console/command %q: %v (%s)", c.text, err, body)
			}
			if res.StatusCode != http.StatusOK || r.OK != c.wantOK || r.Text == "" || !strings.Contains(r.Text, c.want) {
				t.Errorf("POST /console/command %q = %d ok:%v %q, want 200 ok:%v with a text containing %q", c.text, res.StatusCode, r.OK, r.Text, c.wantOK, c.want)
			}
		})
	}
}

// TestListShowsADeployedRunOnce: /deploy list shows a deployed run whose
// follow-ups are open once, under "Deployed, follow-ups open", not again
// under "Recently finished".
func TestListShowsADeployedRunOnce(t *testing.T) {
	f := newFixture(t, options{runbook: followUps})
	run := f.start(t, "v3.1", "console", "console", deploy.Actor{ID: "console:ana", Name: "ana", Platform: "console"})
	if _, err := f.Core.Engine.Do(context.Background(), deploy.Action{Kind: deploy.ActDone, RunID: run.ID, Phase: "ship", Step: "go",
		Actor: deploy.Actor{ID: "console:bob", Name: "bob", Platform: "console"}}); err != nil {
		t.Fatalf("tick: %v", err)
	}
	f.waitRun(t, run.ID, "deployed", func(r *deploy.Run) bool { return r.Status == deploy.StatusDeployed })
	_, body := post(t, f.URL, "/console/command", url.Values{"text": {"/deploy list"}}, named("ana"), nil)
	var r struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("/deploy list: %v (%s)", err, body)
	}
	section, shown := "", 0
	for _, l := range strings.Split(r.Text, "\n") {
		if !strings.HasPrefix(l, "• ") {
			section = l
			continue
		}
		if strings.HasPrefix(l, "• "+run.ID+" ") {
			shown++
			if section != "Deployed, follow-ups open:" {
				t.Errorf("%s is listed under %q", run.ID, section)
			}
		}
	}
	if shown != 1 {
		t.Errorf("/deploy list shows %s %d times, want once:\n%s", run.ID, shown, r.Text)
	}
}
