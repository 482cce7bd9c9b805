package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"deploybot/internal/testkit"
	"deploybot/internal/testkit/slackfake"
)

// evidenceRunbook: a build phase whose automated schema check fails for
// v1.1 only (so it can be skipped, with a reason, on that run), then a
// production phase, and a rollback procedure that finishes by itself.
const evidenceRunbook = `
name: evidence
distinct_approver: true
phases:
  - id: build
    title: Build and verify
    steps:
      - id: notes
        title: Release notes written
      - id: schema
        title: Schema check
        run: shell
        with:
          command: ["sh", "-c", "echo \"schema check of $0\"; test \"$0\" != v1.1", "{{ .Version }}"]
  - id: prod
    title: Production
    production: true
    steps:
      - id: rollout
        title: Roll out
        run: shell
        with:
          command: ["echo", "rolled out", "{{ .Version }}"]
rollback:
  steps:
    - id: notify
      title: Notify the team
      run: notify
      with: {text: "Rolling back {{ .Version }}: {{ .Reason }}"}
    - id: revert
      title: Revert the release
      run: shell
      with:
        command: ["echo", "reverted", "{{ .Version }}"]
`

const (
	skipReason     = "schema registry is down; schema checked by hand against v1.0"
	rollbackReason = "error rate 12% after the rollout"
)

// TestEvidenceDriver plays issue #14's "Checked by" against the built
// binary on a real Redis, from the fake Slack: a run rolled back with a
// reason, a run completed with a skipped automated step; the report each
// run's thread gets, the notices' audit heads, /deploy report and /deploy
// stats, the dashboard's insights page and report.md; then `deploybot audit
// verify` (exit 0), one audit entry edited in Redis behind the bot's back,
// verify again (exit 1 naming the run and the entry), and `audit export`.
func TestEvidenceDriver(t *testing.T) {
	began := time.Now()
	d := newSlackDriver(t, evidenceRunbook)
	p := d.start()

	// Run A: v1.0 reaches production and is rolled back.
	runA := startRun(t, d, p, ana, "v1.0")
	summaryA := d.find(deployChannel, "v1.0", "production", "@ana")
	cardA := d.find(deployChannel, "Build and verify", "Release notes written", "run "+runA)
	d.press(p, bob, cardA, "Done", ":notes")
	cardA = d.find(deployChannel, "Build and verify", "schema check of v1.0", "run "+runA)
	d.press(p, bob, cardA, "Approve", ":"+runA)
	prodA := d.find(deployChannel, "Production", "rolled out v1.0", "run "+runA)
	views := len(d.fake.Views())
	d.press(p, bob, prodA, "Rollback", ":"+runA)
	d.reasonAfter(p, bob, views, rollbackReason)
	rollbackStart := d.find(noticeChannel, "Rolling back v1.0 on production", rollbackReason)
	rolledBack := d.find(noticeChannel, "v1.0 on production is rolled back", rollbackReason)

	// Run B: v1.1, its schema check fails and is skipped with a reason; completed.
	runB := startRun(t, d, p, ana, "v1.1")
	summaryB := d.find(deployChannel, "v1.1", "production", "@ana")
	cardB := d.find(deployChannel, "Build and verify", "Release notes written", "run "+runB)
	d.press(p, bob, cardB, "Done", ":notes")
	cardB = d.find(deployChannel, "Build and verify", "schema check of v1.1", "run "+runB)
	views = len(d.fake.Views())
	d.press(p, bob, cardB, "Skip", ":schema")
	d.reasonAfter(p, bob, views, skipReason)
	d.press(p, bob, cardB, "Approve", ":"+runB)
	prodB := d.find(deployChannel, "Production", "rolled out v1.1", "run "+runB)
	d.press(p, bob, prodB, "Approve", ":"+runB)
	completed := d.find(noticeChannel, "v1.1 is deployed to production")

	// The reports, posted in each run's thread.
	reportA := d.reportIn(summaryA, runA, "rolled back")
	reportB := d.reportIn(summaryB, runB, "completed")
	for _, c := range []struct {
		name, report string
		want         []string
	}{
		{"run A (rolled back)", reportA, []string{
			"Deployment report: v1.0 to production — rolled back",
			"Run: " + runA, "Version: v1.0", "Environment: production", "Started by: @ana", "Outcome: rolled back",
			"approved by @bob", // the build gate
			"Started by: @bob", "from “Production”", "Reason: " + rollbackReason,
			"Skipped steps", "none",
		}},
		{"run B (completed)", reportB, []string{
			"Deployment report: v1.1 to production — completed",
			"Run: " + runB, "Version: v1.1\n", "Environment: production", "Started by: @ana", "Outcome: completed",
			"Build and verify: ", "Production: ", "approved by @bob",
			"Build and verify › Schema check — skipped by @bob", skipReason,
			"Schema check — skipped after 1 attempt", "attempt 1: failed",
		}},
	} {
		for _, w := range c.want {
			if !strings.Contains(c.report, w) {
				t.Errorf("the report of %s lacks %q:\n%s", c.name, w, c.report)
			}
		}
	}
	if n := strings.Count(reportB, "— approved by @bob at "); n != 2 {
		t.Errorf("run B's report names bob as the approver of %d gates, want both:\n%s", n, reportB)
	}
	if !strings.Contains(reportA, "(production) — stopped") {
		t.Errorf("run A's report does not show its production phase stopped by the rollback:\n%s", reportA)
	}
	for _, run := range []string{runA, runB} {
		n := 0
		for _, m := range d.fake.Messages() {
			if v := m.Visible(); strings.HasPrefix(v, "Deployment report: ") && strings.Contains(v, "Run: "+run+"\n") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("the report of run %s was posted %d times, want once:\n%s", run, n, d.fake.Transcript(deployChannel))
		}
	}
	if strings.Contains(reportB, "Rollback") {
		t.Errorf("the completed run's report has a rollback section:\n%s", reportB)
	}
	headA, headB := reportHead(t, "run A", reportA), reportHead(t, "run B", reportB)
	if headA == headB {
		t.Errorf("both reports end at the same audit head %s", headA)
	}
	// The notices that end a run end with the head its report shows; the
	// rollback's start was written before the rollback ran, so its head is older.
	if got := lastLine(completed.Visible()); got != "audit "+headB {
		t.Errorf("the completion notice ends with %q, want %q (the head in run B's report):\n%s", got, "audit "+headB, completed.Visible())
	}
	if got := lastLine(rolledBack.Visible()); got != "audit "+headA {
		t.Errorf("the rolled-back notice ends with %q, want %q (the head in run A's report):\n%s", got, "audit "+headA, rolledBack.Visible())
	}
	if got := lastLine(rollbackStart.Visible()); !auditLine.MatchString(got) || got == "audit "+headA {
		t.Errorf("the rollback notice ends with %q: want an audit line older than the final head %s:\n%s", got, headA, rollbackStart.Visible())
	}

	// /deploy report RUN says the same as the thread; /deploy stats has the figures.
	for run, want := range map[string][]string{
		runA: {"Deployment report: v1.0 to production — rolled back", "Reason: " + rollbackReason, "Audit head: " + headA},
		runB: {"Deployment report: v1.1 to production — completed", "skipped by @bob", skipReason, "Audit head: " + headB},
	} {
		got := slackfake.Plain(d.command(p, bob, "report "+run))
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("/deploy report %s lacks %q:\n%s", run, w, got)
			}
		}
	}
	stats := slackfake.Plain(d.command(p, bob, "stats"))
	for _, w := range []string{
		"Delivery stats: evidence, every environment, last 30 days",
		"Deployments: 1 completed, 0.2 per week",
		"Change failure rate: 50% (1 of 2 runs that reached production rolled back or aborted)",
		"Lead time (start to completion): median ", "(1 run)",
		"Waiting for approval: median ", "(3 approvals)",
		"Time to restore: mean ", "(1 rollback)",
	} {
		if !strings.Contains(stats, w) {
			t.Errorf("/deploy stats lacks %q:\n%s", w, stats)
		}
	}
	if got := slackfake.Plain(d.command(p, bob, "stats evidence to production 7")); !strings.Contains(got, "evidence to production, last 7 days") ||
		!strings.Contains(got, "Change failure rate: 50%") {
		t.Errorf("/deploy stats evidence to production 7:\n%s", got)
	}

	// The dashboard (read-only, localhost) shows the same figures and the report.
	insights := get(t, p, "/insights?days=30")
	for _, w := range []string{
		`id="fig-failure"><dt>Change failure rate</dt><dd><b>50%</b> <span class="muted">1 of 2 runs that reached production rolled back or aborted</span>`,
		`id="fig-deployments"><dt>Deployments per week</dt><dd><b>0.2</b> <span class="muted">1 completed in the period</span>`,
		`id="fig-lead"`, "1 completed run",
		`id="fig-approval"`, "3 approvals",
		`id="fig-restore"><dt>Time to restore</dt><dd><b>mean `, "1 rollback",
		"<svg ",
	} {
		if !strings.Contains(insights, w) {
			t.Errorf("/insights lacks %q:\n%s", w, insights)
		}
	}
	if md := get(t, p, "/runs/"+runB+"/report.md"); !strings.Contains(md, skipReason) || !strings.Contains(md, headB) || !strings.Contains(md, "completed") {
		t.Errorf("/runs/%s/report.md:\n%s", runB, md)
	}

	// The audit log proves itself: verify, export, edit behind the bot's back, verify.
	out, code := d.audit(t, "verify")
	if code != 0 || !strings.Contains(out, runA+" ok (") || !strings.Contains(out, runB+" ok (") ||
		!strings.Contains(out, "head "+headA) || !strings.Contains(out, "head "+headB) || !strings.Contains(out, "2 runs: 2 ok, 0 unchained, 0 broken") {
		t.Fatalf("audit verify on the untouched store: exit %d, want 0 with both runs ok at the heads the reports show:\n%s", code, out)
	}
	out, code = d.audit(t, "export")
	if code != 0 {
		t.Fatalf("audit export: exit %d:\n%s", code, out)
	}
	entries := exported(t, out)
	skipAt := 0
	for _, e := range entries[runB] {
		if e.Action == "skip" {
			if e.Phase != "build" || e.Step != "schema" || e.Reason != skipReason || e.Actor.Name != bob.Name {
				t.Fatalf("audit export: the skip entry is %+v, want build/schema by bob with the reason %q", e, skipReason)
			}
			skipAt = e.Position
		}
	}
	if skipAt == 0 {
		t.Fatalf("audit export: no skip entry of run %s:\n%s", runB, out)
	}
	// The heads in chat are copies of hashes in the store: each report's
	// (and its run's final notice's) is its log's last, the rollback
	// notice's an earlier entry of run A.
	for run, head := range map[string]string{runA: headA, runB: headB} {
		es := entries[run]
		if last := es[len(es)-1].Hash; !strings.HasPrefix(last, head) {
			t.Errorf("run %s: the report shows head %s, the exported log ends at %s", run, head, last)
		}
	}
	older := strings.TrimPrefix(lastLine(rollbackStart.Visible()), "audit ")
	found := false
	for _, e := range entries[runA][:len(entries[runA])-1] {
		found = found || strings.HasPrefix(e.Hash, older)
	}
	if !found {
		t.Errorf("the rollback notice's head %s is no earlier entry of run %s's exported log", older, runA)
	}

	key := d.env["DEPLOYBOT_REDIS_PREFIX"] + "audit:" + runB
	rdb := testkit.Redis(t).Client(t)
	ctx := context.Background()
	raw, err := rdb.LIndex(ctx, key, int64(skipAt-1)).Result()
	if err != nil {
		t.Fatalf("LINDEX %s %d: %v", key, skipAt-1, err)
	}
	if !strings.Contains(raw, skipReason) {
		t.Fatalf("entry %d of %s is not the skip export named:\n%s", skipAt, key, raw)
	}
	edited := strings.Replace(raw, skipReason, "schema check passed", 1)
	if err := rdb.LSet(ctx, key, int64(skipAt-1), edited).Err(); err != nil {
		t.Fatalf("LSET %s: %v", key, err)
	}
	out, code = d.audit(t, "verify")
	wantLine := fmt.Sprintf("%s BROKEN at entry %d of ", runB, skipAt)
	wantSummary := fmt.Sprintf("first broken: run %s, entry %d (hash mismatch)", runB, skipAt)
	if code != 1 || !strings.Contains(out, wantLine) || !strings.Contains(out, "(skip build/schema, rev ") ||
		!strings.Contains(out, wantSummary) || !strings.Contains(out, runA+" ok (") || !strings.Contains(out, "1 ok, 0 unchained, 1 broken") {
		t.Fatalf("audit verify after editing entry %d of run %s: exit %d, want 1 with %q and %q:\n%s", skipAt, runB, code, wantLine, wantSummary, out)
	}
	// Naming the run alone says the same; the untouched run still holds.
	if out, code = d.audit(t, "verify", runA); code != 0 {
		t.Errorf("audit verify %s: exit %d:\n%s", runA, code, out)
	}
	if out, code = d.audit(t, "verify", runB); code != 1 || !strings.Contains(out, wantLine) {
		t.Errorf("audit verify %s: exit %d:\n%s", runB, code, out)
	}
	t.Logf("the evidence driver took %s", time.Since(began).Round(time.Millisecond))
}

// press waits for the button labelled label (with idPart in its action id)
// on the latest version of m, clicks it as u and checks the answer is 200.
func (d *slackDriver) press(p *proc, u slackfake.User, m slackfake.Message, label, idPart string) {
	d.t.Helper()
	waitFor(d.t, fmt.Sprintf("a %q button (%s) on message %s", label, idPart, m.TS), 20*time.Second, func() bool {
		return hasButton(d.fake, m, label, idPart)
	})
	if code := d.click(p, u, m, label, idPart); code != http.StatusOK {
		d.t.Fatalf("%s clicked %q (%s): HTTP %d", u.Name, label, idPart, code)
	}
}

// startRun types /deploy start VERSION as u and returns the run's id.
func startRun(t *testing.T, d *slackDriver, p *proc, u slackfake.User, version string) string {
	t.Helper()
	got := d.command(p, u, "start "+version)
	if !strings.Contains(got, "Started run ") {
		t.Fatalf("start %s: %q", version, got)
	}
	id := strings.TrimSuffix(strings.Fields(strings.TrimPrefix(got[strings.Index(got, "Started run "):], "Started run "))[0], ":")
	if !runIDShape.MatchString(id) {
		t.Fatalf("start %s: no run id in %q", version, got)
	}
	return id
}

var (
	runIDShape = regexp.MustCompile(`^[a-z0-9]{4,12}$`)
	auditLine  = regexp.MustCompile(`^audit [0-9a-f]{12}$`)
	headLine   = regexp.MustCompile(`(?m)^(?:• )?Audit head: ([0-9a-f]{12})$`)
)

// reasonAfter fills the reason dialog opened after the first before views.
func (d *slackDriver) reasonAfter(p *proc, u slackfake.User, before int, reason string) {
	d.t.Helper()
	waitFor(d.t, "the reason dialog", 20*time.Second, func() bool { return len(d.fake.Views()) > before })
	d.submitReason(p, u, reason)
}

// reportIn waits for the run's report posted as a reply in the thread of
// its summary and returns what a reader sees.
func (d *slackDriver) reportIn(summary slackfake.Message, runID, outcome string) string {
	d.t.Helper()
	var text string
	waitFor(d.t, "the report of run "+runID+" in its thread", 20*time.Second, func() bool {
		for _, m := range d.fake.Messages() {
			v := m.Visible()
			if m.Channel == summary.Channel && strings.HasPrefix(v, "Deployment report: ") && strings.Contains(v, "Run: "+runID) {
				if m.ThreadTS != summary.TS {
					d.t.Fatalf("the report of run %s is not a reply in its summary's thread (thread %q, summary %s):\n%s",
						runID, m.ThreadTS, summary.TS, d.fake.Transcript(summary.Channel))
				}
				text = v
				return true
			}
		}
		return false
	})
	if !strings.Contains(strings.SplitN(text, "\n", 2)[0], outcome) {
		d.t.Errorf("the report of run %s does not say %q in its title:\n%s", runID, outcome, text)
	}
	return text
}

// reportHead returns the audit head a report shows.
func reportHead(t *testing.T, name, report string) string {
	t.Helper()
	m := headLine.FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("the report of %s shows no audit head (a line \"Audit head: <12 hex>\"):\n%s", name, report)
	}
	return m[1]
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return strings.TrimSpace(s[strings.LastIndex(s, "\n")+1:])
}

// get fetches a dashboard page from localhost and returns its body.
func get(t *testing.T, p *proc, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d:\n%s", path, resp.StatusCode, body)
	}
	return string(body)
}

// audit runs `deploybot audit ARGS…` on the driver's Redis and prefix and
// returns its output (stdout and stderr) and exit code.
func (d *slackDriver) audit(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"audit"}, args...)...)
	cmd.Dir = d.dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + d.dir,
		"REDIS_URL=" + d.env["REDIS_URL"], "DEPLOYBOT_REDIS_PREFIX=" + d.env["DEPLOYBOT_REDIS_PREFIX"]}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("deploybot audit %s did not finish in 20 s:\n%s", strings.Join(args, " "), out)
	}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatalf("deploybot audit %s: %v", strings.Join(args, " "), err)
	}
	return string(out), 0
}

// exportEntry is one line of `deploybot audit export`.
type exportEntry struct {
	RunID    string `json:"run_id"`
	Position int    `json:"position"`
	Action   string `json:"action"`
	Phase    string `json:"phase"`
	Step     string `json:"step"`
	Reason   string `json:"reason"`
	Actor    struct {
		Name string `json:"name"`
	} `json:"actor"`
	Prev *string `json:"prev"`
	Hash string  `json:"hash"`
}

// exported reads the JSON Lines of `audit export` by run, checking that
// every line is an entry, positions count from 1 and each entry is chained
// onto the one before it.
func exported(t *testing.T, out string) map[string][]exportEntry {
	t.Helper()
	runs := map[string][]exportEntry{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e exportEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit export printed a line that is not JSON (%v): %q\n%s", err, sc.Text(), out)
		}
		prev := ""
		if n := len(runs[e.RunID]); n > 0 {
			prev = runs[e.RunID][n-1].Hash
		}
		if e.Position != len(runs[e.RunID])+1 || e.Prev == nil || *e.Prev != prev || len(e.Hash) != 64 {
			t.Fatalf("audit export: entry %d of run %s out of order or unchained (position %d, prev %v, hash %q):\n%s",
				len(runs[e.RunID])+1, e.RunID, e.Position, e.Prev, e.Hash, out)
		}
		runs[e.RunID] = append(runs[e.RunID], e)
	}
	if len(runs) != 2 {
		t.Fatalf("audit export: entries of %d runs, want 2:\n%s", len(runs), out)
	}
	return runs
}
