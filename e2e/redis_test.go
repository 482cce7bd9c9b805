package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"deploybot/internal/testkit"
	"deploybot/internal/testkit/slackfake"
)

// TestSentinelFailoverMidRun runs a deployment on two bot processes whose
// REDIS_URL names a Sentinel, kills the Redis master while the run is live
// and lets Sentinel promote the replica: /readyz answers 503 during the gap
// and 200 after it, a click made during the gap is answered within Slack's
// 3 s with "try again, nothing changed" and takes effect when repeated after
// the gap, and the run goes on to the end with every automated step run once
// and every message posted once.
func TestSentinelFailoverMidRun(t *testing.T) {
	master := testkit.StartRedis(t)
	replica := testkit.StartReplica(t, master)
	// Down after 2 s: a gap long enough to be seen by a 1 s /readyz.
	sentinel := testkit.StartSentinel(t, "deploybot", master,
		testkit.SentinelTimings{DownAfter: 2 * time.Second, FailoverTimeout: 5 * time.Second}, 1)

	dir := t.TempDir()
	d := newSlackDriver(t, strings.ReplaceAll(replicasRunbook, "%DIR%", dir))
	d.env["REDIS_URL"] = "redis://" + sentinel.Addr() + "/0?master_name=deploybot"
	a, b := d.start(), d.start()
	runs := filepath.Join(dir, "runs")
	lines := func() []string {
		data, _ := os.ReadFile(runs)
		return strings.Fields(string(data))
	}
	readyz := func(p *proc) int {
		c := http.Client{Timeout: 3 * time.Second}
		resp, err := c.Get("http://" + p.addr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := readyz(a); code != http.StatusOK {
		t.Fatalf("/readyz before the failover: %d", code)
	}

	if got := d.command(a, ana, "start v7.0"); !strings.Contains(got, "Started run") {
		t.Fatalf("start on a: %q", got)
	}
	card := d.find(deployChannel, "Build and verify", "Release notes written")
	// The replica has everything so far (a failover may lose writes it never
	// got; this test is about carrying on, not about that loss).
	if err := master.Client(t).Do(context.Background(), "WAIT", 1, 2000).Err(); err != nil {
		t.Fatal(err)
	}

	master.Kill()
	sawDown := false
	for range 20 {
		if readyz(a) == http.StatusServiceUnavailable {
			sawDown = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !sawDown {
		t.Error("/readyz never answered 503 while the master was gone")
	}

	// Click Done until the step is done: a click during the gap is answered
	// "try again", and the button stays until one takes effect.
	deadline := time.Now().Add(30 * time.Second)
	clicks := 0
	for hasButton(d.fake, card, "Done", ":notes") {
		clicks++
		if time.Now().After(deadline) {
			t.Fatalf("the Done click never took effect after the failover:\n%s\n%s", a.output(), b.output())
		}
		began := time.Now()
		if code := d.click(b, bob, card, "Done", ":notes"); code != http.StatusOK {
			t.Fatalf("click during the failover: HTTP %d", code)
		}
		// Slack's deadline for the answer.
		if took := time.Since(began); took > 3*time.Second {
			t.Errorf("click %d during the failover was answered after %s", clicks, took)
		}
		time.Sleep(300 * time.Millisecond)
	}
	d.find(deployChannel, "Build and verify", "smoke ok")
	// The first click came a second into a gap of at least two.
	if clicks < 2 {
		t.Errorf("the first click took effect during the gap (%d clicks)", clicks)
	}
	// A click in the gap never reached a master ("nothing was changed") or
	// reached the old one and lost its answer ("cannot tell yet").
	d.ephemeralTo(bob, "not answering right now; nothing was changed. Try again", "the state store did not answer, so I cannot tell yet whether this was applied")
	if role, err := replica.Client(t).Do(context.Background(), "ROLE").Slice(); err != nil || len(role) == 0 || role[0] != "master" {
		t.Fatalf("replica's role after the failover: %v %v", role, err)
	}
	waitFor(t, "/readyz 200 on both processes after the failover", 20*time.Second, func() bool {
		return readyz(a) == http.StatusOK && readyz(b) == http.StatusOK
	})

	d.click(b, bob, card, "Approve", "")
	d.find(deployChannel, "Production", "rolled out")
	prod, _ := d.fake.Find(deployChannel, "Production", "rolled out")
	d.click(a, bob, prod, "Approve", "")
	d.find(noticeChannel, "v7.0 is deployed to production")

	// Give a duplicate every chance to show before counting.
	time.Sleep(2 * time.Second)
	if got := lines(); len(got) != 2 || got[0] != "v7.0" || got[1] != "rollout-v7.0" {
		t.Fatalf("step executions = %q, want each step exactly once", got)
	}
	d.postedOnceEach(t, "Phase 1/2", "Phase 2/2", "Deployment of v7.0 to production started", "v7.0 is deployed to production")
}

// hasButton reports whether the latest version of m has the button.
func hasButton(fake *slackfake.Server, m slackfake.Message, label, idPart string) bool {
	m, _ = fake.Message(m.Channel, m.TS)
	_, ok := m.Action(label, idPart)
	return ok
}

// A REDIS_URL of none of the three forms stops the bot at start with one
// line naming the variable and exit code 2, whether the configuration check
// or go-redis's own option parsing finds the problem; a password in it is
// never shown.
func TestBadRedisURLStopsWithOneLine(t *testing.T) {
	for name, tc := range map[string]struct{ url, want string }{
		"addr without master_name": {"redis://:hunter2@s-a:26379?addr=s-b:26379", "needs master_name"},
		"cluster with a database":  {"redis+cluster://n-a:6379/3", "only database 0"},
		"unknown option":           {"redis://s-a:26379?master_name=m&password=hunter2&colour=blue", "unexpected option: colour"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary)
			cmd.Dir = t.TempDir()
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DEPLOYBOT_ADDR=" + freeAddr(t), "REDIS_URL=" + tc.url}
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2; output:\n%s", err, out)
			}
			text := strings.TrimSpace(string(out))
			if strings.Count(text, "\n") != 0 || !strings.Contains(text, "REDIS_URL: ") || !strings.Contains(text, tc.want) {
				t.Fatalf("output %q: want one line naming REDIS_URL and saying %q", text, tc.want)
			}
			if strings.Contains(text, "hunter2") {
				t.Fatalf("the password was printed: %q", text)
			}
		})
	}
}

// With the bot's Redis paused (SIGSTOP), every command and click is still
// answered within Slack's 3 s — a read with "nothing changed", a click whose
// write was sent with "cannot tell yet whether this was applied" (Redis
// runs it when it goes on) — and /readyz answers 503; once Redis goes on,
// the click has taken effect, once.
// (go-redis without ContextTimeoutEnabled kept reads waiting past the
// deadline, and answers came up to 5 s late.)
func TestPausedRedisAnswersInTime(t *testing.T) {
	redis := testkit.StartRedis(t)
	dir := t.TempDir()
	d := newSlackDriver(t, strings.ReplaceAll(replicasRunbook, "%DIR%", dir))
	d.env["REDIS_URL"] = redis.URL()
	p := d.start()
	if got := d.command(p, ana, "start v8.0"); !strings.Contains(got, "Started run") {
		t.Fatalf("start: %q", got)
	}
	card := d.find(deployChannel, "Build and verify", "Release notes written")

	redis.Pause(t)
	const slackDeadline = 3 * time.Second
	for i := range 3 {
		began := time.Now()
		got := d.command(p, ana, "list")
		if took := time.Since(began); took > slackDeadline {
			t.Errorf("command %d on a paused Redis answered after %s", i, took)
		}
		if !strings.Contains(got, "not answering right now") {
			t.Errorf("command %d on a paused Redis: %q", i, got)
		}
		// A start also checks the store's epoch marker: that check too ends
		// at the start's deadline, whatever the background check waits for.
		began = time.Now()
		if got := d.command(p, ana, "start v9.0 to staging"); !strings.Contains(got, "not answering right now") {
			t.Errorf("start %d on a paused Redis: %q", i, got)
		}
		if took := time.Since(began); took > slackDeadline {
			t.Errorf("start %d on a paused Redis answered after %s", i, took)
		}
		began = time.Now()
		if code := d.click(p, bob, card, "Done", ":notes"); code != http.StatusOK {
			t.Fatalf("click %d on a paused Redis: HTTP %d", i, code)
		}
		if took := time.Since(began); took > slackDeadline {
			t.Errorf("click %d on a paused Redis answered after %s", i, took)
		}
	}
	d.ephemeralTo(bob, "the state store did not answer, so I cannot tell yet whether this was applied")
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + p.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz on a paused Redis: %d", resp.StatusCode)
	}

	redis.Resume()
	waitFor(t, "the click to take effect after Redis went on", 20*time.Second, func() bool {
		if hasButton(d.fake, card, "Done", ":notes") {
			d.click(p, bob, card, "Done", ":notes")
			time.Sleep(300 * time.Millisecond)
			return false
		}
		return true
	})
	d.find(deployChannel, "Build and verify", "smoke ok")
}
