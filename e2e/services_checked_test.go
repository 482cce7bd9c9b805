package e2e

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"deploybot/internal/testkit"
	"deploybot/internal/testkit/slackfake"
)

// recordStep is a shell step that writes what it was given into
// $E2E_OUT/RUN_ID (passed on by pass_env): {{ .Service }} and
// {{ .Previous }} as argv, and DEPLOY_SERVICE, DEPLOY_PREVIOUS and
// DEPLOY_ENV from its environment. It also prints them, so the card shows
// them. %s is the step's title.
const recordStep = `      - id: record
        title: %s
        run: shell
        with:
          command:
            - sh
            - -c
            - >-
              printf 'argv service=[%%s] previous=[%%s]\nenv service=[%%s] previous=[%%s] env=[%%s]\n'
              "$1" "$2" "$DEPLOY_SERVICE" "$DEPLOY_PREVIOUS" "$DEPLOY_ENV" > "$E2E_OUT/$DEPLOY_RUN_ID"
              && echo "seen by $1: previous=[$2]"
            - record
            - "{{ .Service }}"
            - "{{ .Previous }}"
          pass_env: [E2E_OUT]
`

// checkedCheckout lists its environments; staging needs no approval.
var checkedCheckout = `name: checkout
environments:
  production:
  staging:
    approval: false
phases:
  - id: deploy
    title: Deploy checkout
    steps:
` + fmt.Sprintf(recordStep, "Record checkout")

// checkedSearch lists no environments: any goes, with the runbook's rules.
var checkedSearch = `name: search
phases:
  - id: deploy
    title: Deploy search
    steps:
` + fmt.Sprintf(recordStep, "Record search")

// newServicesDriver is a Slack driver whose bot serves a directory of two
// runbooks (checkout and search); out is where their shell steps write.
func newServicesDriver(t *testing.T) (d *slackDriver, out string) {
	t.Helper()
	dir := t.TempDir()
	services := filepath.Join(dir, "services")
	out = filepath.Join(dir, "out")
	for _, p := range []string{services, out} {
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"checkout.yaml": checkedCheckout, "search.yaml": checkedSearch} {
		if err := os.WriteFile(filepath.Join(services, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	redis := testkit.Redis(t)
	fake := slackfake.New(t)
	return &slackDriver{t: t, fake: fake, dir: dir, env: map[string]string{
		"SLACK_BOT_TOKEN": slackfake.BotToken, "SLACK_SIGNING_SECRET": signingSecret, "SLACK_API_URL": fake.APIURL(),
		"REDIS_URL": redis.URL(), "DEPLOYBOT_REDIS_PREFIX": redis.Prefix(t), "DEPLOYBOT_RUNBOOK": services,
		"DEPLOYBOT_NOTICE_CHANNEL": noticeChannel, "E2E_OUT": out,
	}}, out
}

// recorded waits for the file the record step of run wrote and checks it
// holds exactly what the step should have seen.
func recorded(t *testing.T, out, run, service, previous, env string) {
	t.Helper()
	path := filepath.Join(out, run)
	want := fmt.Sprintf("argv service=[%s] previous=[%s]\nenv service=[%s] previous=[%s] env=[%s]\n", service, previous, service, previous, env)
	var got []byte
	waitFor(t, "the record step of run "+run+" to write "+path, 20*time.Second, func() bool {
		b, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("reading %s: %v", path, err)
		}
		got = b
		return strings.HasSuffix(string(b), "\n") && strings.Count(string(b), "\n") >= 2
	})
	if string(got) != want {
		t.Fatalf("run %s (%s to %s): the shell step saw\n%s\nwant\n%s", run, service, env, got, want)
	}
}

// listSections splits a /deploy list answer into its per-service sections
// ("— NAME —" headings), failing when one of services has none.
func listSections(t *testing.T, list string, services ...string) map[string]string {
	t.Helper()
	sections := map[string]string{}
	name := ""
	for line := range strings.SplitSeq(list, "\n") {
		if strings.HasPrefix(line, "— ") && strings.HasSuffix(line, " —") {
			name = strings.TrimSuffix(strings.TrimPrefix(line, "— "), " —")
			if _, dup := sections[name]; dup {
				t.Fatalf("/deploy list has two sections for %s:\n%s", name, list)
			}
			sections[name] = ""
			continue
		}
		if name == "" {
			t.Fatalf("/deploy list has a line before any service's heading (%q):\n%s", line, list)
		}
		sections[name] += line + "\n"
	}
	for _, s := range services {
		if _, ok := sections[s]; !ok {
			t.Fatalf("/deploy list has no section for %s:\n%s", s, list)
		}
	}
	return sections
}

// TestServicesCheckedByDriver plays issue #13's "Checked by" against the
// built binary on a real Redis, from the fake Slack, with
// DEPLOYBOT_RUNBOOK naming a directory of two runbooks: a start without a
// service is answered with the services and starts nothing; checkout and
// search deploy to production at once; a second checkout run there is
// refused naming the run holding it; {{ .Service }} and {{ .Previous }}
// reach a shell step (argv and DEPLOY_*), Previous empty on a first run and
// the first version after it completed; a start to an environment the
// runbook does not list is refused with the list; a staging run whose
// environment says approval: false completes without an Approve; /deploy
// list groups by service.
func TestServicesCheckedByDriver(t *testing.T) {
	began := time.Now()
	d, out := newServicesDriver(t)
	p := d.start()

	// 6a. No service named, with two: the list and an example, nothing starts.
	got := d.command(p, ana, "start v1.0")
	if want := "Which service? checkout, search — e.g. /deploy start checkout v1.0"; !strings.Contains(got, want) {
		t.Fatalf("/deploy start v1.0 with two services answered %q, want %q", got, want)
	}
	if strings.Contains(got, "Started run") {
		t.Fatalf("/deploy start v1.0 without a service started a run: %q", got)
	}
	for svc, text := range listSections(t, d.command(p, ana, "list"), "checkout", "search") {
		if !strings.Contains(text, "No active runs.") {
			t.Fatalf("after a start without a service, /deploy list shows something active for %s:\n%s", svc, text)
		}
	}
	if n := d.fake.CallCount("chat.postMessage"); n != 0 {
		t.Fatalf("a start without a service posted %d messages:\n%s\n%s", n, d.fake.Transcript(deployChannel), d.fake.Transcript(noticeChannel))
	}

	// 1. Both services at once in production: both announced, both live.
	checkout1 := startRun(t, d, p, ana, "checkout v1.0")
	search1 := startRun(t, d, p, ana, "search v2.0")
	d.find(noticeChannel, "checkout: Deployment of v1.0 to production started")
	d.find(noticeChannel, "search: Deployment of v2.0 to production started")
	d.find(deployChannel, "checkout v1.0 → production", "Run "+checkout1+" · started by @ana")
	d.find(deployChannel, "search v2.0 → production", "Run "+search1+" · started by @ana")
	// 3a. A first run sees no previous version, in argv and in its environment.
	cardC := d.find(deployChannel, "Deploy checkout", "run "+checkout1, "seen by checkout: previous=[]")
	cardS := d.find(deployChannel, "Deploy search", "run "+search1, "seen by search: previous=[]")
	recorded(t, out, checkout1, "checkout", "", "production")
	recorded(t, out, search1, "search", "", "production")
	waitFor(t, "an Approve button on both cards", 20*time.Second, func() bool {
		return hasButton(d.fake, cardC, "Approve", ":"+checkout1) && hasButton(d.fake, cardS, "Approve", ":"+search1)
	})

	// 6b. /deploy list groups by service: each run under its own.
	list := d.command(p, bob, "list")
	sec := listSections(t, list, "checkout", "search")
	if !strings.Contains(sec["checkout"], "• "+checkout1+" — v1.0 to production") || strings.Contains(sec["checkout"], search1) {
		t.Fatalf("/deploy list: the checkout section does not hold run %s alone:\n%s", checkout1, list)
	}
	if !strings.Contains(sec["search"], "• "+search1+" — v2.0 to production") || strings.Contains(sec["search"], checkout1) {
		t.Fatalf("/deploy list: the search section does not hold run %s alone:\n%s", search1, list)
	}
	for svc, run := range map[string]string{"checkout": checkout1, "search": search1} {
		if !strings.Contains(sec[svc], "• production: 🔒 held by run "+run) {
			t.Errorf("/deploy list: %s's production is not shown held by run %s:\n%s", svc, run, list)
		}
	}

	// 2. A second checkout run in production is refused, naming the holder.
	got = d.command(p, bob, "start checkout v1.1")
	if want := "checkout already has a deployment in progress in production: run " + checkout1 + " (v1.0 by @ana"; !strings.Contains(got, want) {
		t.Fatalf("a second checkout run in production answered %q, want %q", got, want)
	}
	if _, ok := d.fake.Find(noticeChannel, "v1.1"); ok {
		t.Fatalf("the refused start was announced:\n%s", d.fake.Transcript(noticeChannel))
	}

	// 3b. After checkout v1.0 completes, the next checkout run in production sees it.
	d.press(p, bob, cardC, "Approve", ":"+checkout1)
	d.find(noticeChannel, "checkout: v1.0 is deployed to production")
	checkout2 := startRun(t, d, p, ana, "checkout v1.1")
	d.find(deployChannel, "Deploy checkout", "run "+checkout2, "seen by checkout: previous=[v1.0]")
	recorded(t, out, checkout2, "checkout", "v1.0", "production")
	// The other service's run is untouched by checkout's: still waiting.
	if m, _ := d.fake.Message(cardS.Channel, cardS.TS); !hasButton(d.fake, m, "Approve", ":"+search1) {
		t.Errorf("search's run %s no longer waits for approval after checkout's completed:\n%s", search1, m.Visible())
	}

	// 4. An environment the runbook does not list: refused with the list.
	posts := d.fake.CallCount("chat.postMessage")
	got = d.command(p, ana, "start checkout v1.2 to prodution")
	if want := `checkout does not deploy to "prodution": its environments are production, staging`; !strings.Contains(got, want) {
		t.Fatalf("a start to prodution answered %q, want %q", got, want)
	}
	if n := d.fake.CallCount("chat.postMessage"); n != posts {
		t.Fatalf("the refused start to prodution posted %d messages:\n%s", n-posts, d.fake.Transcript(deployChannel))
	}
	if l := d.command(p, ana, "list"); strings.Contains(l, "v1.2") || strings.Contains(l, "prodution") {
		t.Fatalf("the refused start to prodution shows in /deploy list:\n%s", l)
	}

	// 5. Staging says approval: false: two runs complete with no click at
	// all (the driver sends none from here on); the first sees no previous
	// version there (production's is production's), the second the first.
	staging1 := startRun(t, d, p, ana, "checkout v3.0 to staging")
	d.find(noticeChannel, "checkout: v3.0 is deployed to staging")
	recorded(t, out, staging1, "checkout", "", "staging")
	staging2 := startRun(t, d, p, ana, "checkout v3.1 to staging")
	d.find(noticeChannel, "checkout: v3.1 is deployed to staging")
	recorded(t, out, staging2, "checkout", "v3.0", "staging")
	for _, run := range []string{staging1, staging2} {
		report := slackfake.Plain(d.command(p, bob, "report "+run))
		for _, w := range []string{"— completed", "Service: checkout", "Environment: staging", "passed by itself", "approval: false for staging"} {
			if !strings.Contains(report, w) {
				t.Errorf("/deploy report %s lacks %q:\n%s", run, w, report)
			}
		}
		if strings.Contains(report, "approved by") {
			t.Errorf("/deploy report %s names an approver of a staging gate:\n%s", run, report)
		}
	}

	// The end state, by service: checkout v1.1 holds production, search
	// v2.0 still holds its own production; staging shows v3.1 deployed.
	list = d.command(p, bob, "list")
	sec = listSections(t, list, "checkout", "search")
	for _, w := range []string{"• " + checkout2 + " — v1.1 to production", "• production: 🔒 held by run " + checkout2, staging2 + " — v3.1 to staging: completed"} {
		if !strings.Contains(sec["checkout"], w) {
			t.Errorf("/deploy list: the checkout section lacks %q:\n%s", w, list)
		}
	}
	if !strings.Contains(sec["search"], "• production: 🔒 held by run "+search1) || strings.Contains(sec["search"], "staging") {
		t.Errorf("/deploy list: the search section is not search's production held by %s alone:\n%s", search1, list)
	}
	t.Logf("the services driver took %s", time.Since(began).Round(time.Millisecond))
}
