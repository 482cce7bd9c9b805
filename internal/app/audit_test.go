package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"

	"deploybot/deploy"
	"deploybot/deploy/boltstore"
	"deploybot/deploy/redisstore"
	"deploybot/deploy/storetest"
	"deploybot/internal/clock"
	"deploybot/internal/testkit"
	"deploybot/runbook"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// auditRunbook has only manual steps, so runs move on clicks alone.
const auditRunbook = `
name: audit-test
approvers: [U0ANA, U0BOB]
phases:
  - id: prep
    title: Preparation
    steps:
      - id: review
        title: Code review
      - id: backup
        title: Back up the database
  - id: prod
    title: Production
    production: true
    steps:
      - id: deploy
        title: Deploy
rollback:
  steps:
    - id: revert
      title: Revert
`

var (
	auditAna = deploy.Actor{ID: "U0ANA", Name: "ana", Platform: "slack"}
	auditBob = deploy.Actor{ID: "U0BOB", Name: "bob", Platform: "slack", Groups: []string{"@release"}}
	auditT0  = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
)

// seedAudit writes, through the real engine, a completed run (several
// transitions, one skip), an aborted run and a freeze of production and
// its lifting (the org chain, on the day of the aborted run), plus a run in
// the shape written before the chain; it returns the completed and aborted
// runs' ids.
func seedAudit(t *testing.T, st deploy.Store) (completed, aborted string) {
	t.Helper()
	ctx := t.Context()
	rb, err := runbook.Parse("audit.yaml", []byte(auditRunbook), nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(auditT0)
	ids := []string{"rdone1", "rabrt2"}
	e := deploy.NewEngine(deploy.Config{Store: st, Runbook: rb, Clock: clk, Logger: slog.New(slog.DiscardHandler),
		NewID: func() string { id := ids[0]; ids = ids[1:]; return id }})
	do := func(a deploy.Action) {
		t.Helper()
		clk.Advance(time.Minute)
		if _, err := e.Do(ctx, a); err != nil {
			t.Fatalf("%s %s/%s: %v", a.Kind, a.Phase, a.Step, err)
		}
	}
	out, err := e.Start(ctx, deploy.StartRequest{Release: "v1.4", Env: "production", Channel: "C1", Platform: "slack", Actor: auditAna})
	if err != nil {
		t.Fatal(err)
	}
	completed = out.Run.ID
	do(deploy.Action{Kind: deploy.ActDone, RunID: completed, Phase: "prep", Step: "review", Actor: auditBob})
	do(deploy.Action{Kind: deploy.ActSkip, RunID: completed, Phase: "prep", Step: "backup", Actor: auditAna, Reason: "no schema change"})
	do(deploy.Action{Kind: deploy.ActApprove, RunID: completed, Phase: "prep", Actor: auditBob})
	do(deploy.Action{Kind: deploy.ActDone, RunID: completed, Phase: "prod", Step: "deploy", Actor: auditAna})
	do(deploy.Action{Kind: deploy.ActApprove, RunID: completed, Phase: "prod", Actor: auditBob})

	clk.Advance(24 * time.Hour)
	out, err = e.Start(ctx, deploy.StartRequest{Release: "v1.5", Env: "production", Channel: "C1", Platform: "slack", Actor: auditAna})
	if err != nil {
		t.Fatal(err)
	}
	aborted = out.Run.ID
	do(deploy.Action{Kind: deploy.ActDone, RunID: aborted, Phase: "prep", Step: "review", Actor: auditBob})
	do(deploy.Action{Kind: deploy.ActAbort, RunID: aborted, Actor: auditAna, Reason: "wrong tag"})

	// The org chain: a freeze and its lifting.
	clk.Advance(time.Minute)
	if err := e.Freeze(ctx, "production", "", auditBob, "incident INC-9"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if err := e.Unfreeze(ctx, "production", "", auditAna); err != nil {
		t.Fatal(err)
	}

	old := storetest.SampleRun("rold00", "staging", auditT0.Add(-48*time.Hour))
	if err := st.Apply(ctx, storetest.Create(old, false)); err != nil { // entries without hashes
		t.Fatal(err)
	}
	return completed, aborted
}

func runAudit(t *testing.T, getenv map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), Env{Args: append([]string{"audit"}, args...), Getenv: func(k string) string { return getenv[k] },
		Stdout: &out, Stderr: &errb, Version: "test"})
	return code, out.String(), errb.String()
}

func wantAudit(t *testing.T, what string, code int, stdout, stderr string, wantCode int, wants ...string) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", what, code, wantCode, stdout, stderr)
	}
	for _, w := range wants {
		if !strings.Contains(stdout+stderr, w) {
			t.Errorf("%s: output does not say %q\nstdout:\n%s\nstderr:\n%s", what, w, stdout, stderr)
		}
	}
}

// The driver's check on Redis: verify is 0 on the bot's own log, 1 naming
// the run and the entry after one entry was edited behind the bot's back.
func TestAuditVerifyOnRedis(t *testing.T) {
	srv := testkit.Redis(t)
	prefix := srv.Prefix(t)
	st, err := redisstore.Open(srv.URL(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	done, aborted := seedAudit(t, st)
	st.Close()
	env := map[string]string{"REDIS_URL": srv.URL(), "DEPLOYBOT_REDIS_PREFIX": prefix}

	code, out, errOut := runAudit(t, env, "verify")
	wantAudit(t, "verify", code, out, errOut, 0,
		"rold00 unchained (1 entries", done+" ok (", aborted+" ok (", "org ok (2 entries, head ",
		"audit verify: 3 runs: 2 ok, 1 unchained, 0 broken; org chain ok (2 entries)")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 5 || !strings.HasPrefix(lines[0], "rold00") || !strings.HasPrefix(lines[1], done) ||
		!strings.HasPrefix(lines[3], "org ok") {
		t.Errorf("want one line per run, oldest first, the org chain's and a summary:\n%s", out)
	}

	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	key := prefix + "audit:" + done
	raw, err := c.LIndex(t.Context(), key, 2).Result() // the skip, with its reason
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		t.Fatal(err)
	}
	if e["reason"] != "no schema change" {
		t.Fatalf("entry 3 is %s, want the skip", raw)
	}
	e["reason"] = "approved by the CTO"
	edited, _ := json.Marshal(e)
	if err := c.LSet(t.Context(), key, 2, edited).Err(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runAudit(t, env, "verify")
	wantAudit(t, "verify after an edit", code, out, errOut, 1,
		done+" BROKEN at entry 3 of ", "(skip prep/backup, rev 3)", "hash mismatch", aborted+" ok (",
		"3 runs: 1 ok, 1 unchained, 1 broken; first broken: run "+done+", entry 3 (hash mismatch)")
	// Only the run asked for.
	code, out, errOut = runAudit(t, env, "verify", aborted)
	wantAudit(t, "verify one run", code, out, errOut, 0, aborted+" ok (", "audit verify: 1 run: 1 ok")
	if strings.Contains(out, done) || strings.Contains(out, "org") {
		t.Errorf("verify %s printed another run or the org chain:\n%s", aborted, out)
	}
	// Only the org chain.
	code, out, errOut = runAudit(t, env, "verify", "org")
	wantAudit(t, "verify org", code, out, errOut, 0, "org ok (2 entries", "audit verify: org chain ok (2 entries)")
	if strings.Contains(out, done) || strings.Contains(out, "runs") {
		t.Errorf("verify org printed runs:\n%s", out)
	}

	// A removed entry in the middle, then reordered entries.
	if err := c.LSet(t.Context(), key, 2, raw).Err(); err != nil { // put it back
		t.Fatal(err)
	}
	if code, out, errOut = runAudit(t, env, "verify", done); code != 0 {
		t.Fatalf("restored entry: exit %d\n%s%s", code, out, errOut)
	}
	if err := c.LRem(t.Context(), key, 1, raw).Err(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runAudit(t, env, "verify", done)
	wantAudit(t, "verify after a removal", code, out, errOut, 1, done+" BROKEN at entry 3 of ", "prev mismatch")

	// An entry edited into something that is not an entry at all.
	if err := c.LSet(t.Context(), key, 1, "{not json").Err(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runAudit(t, env, "verify")
	wantAudit(t, "verify after garbage", code, out, errOut, 1, done+" BROKEN: the run or its audit log cannot be read", "entry 2:",
		aborted+" ok (", "first broken: run "+done+" (unreadable)")

	// Export: JSON Lines of the aborted run, with positions and the chain.
	code, out, errOut = runAudit(t, env, "export", aborted)
	wantAudit(t, "export", code, out, errOut, 0)
	lines := exportLines(t, out)
	if len(lines) < 3 || lines[0].Position != 1 || lines[0].Prev != "" || lines[0].Action != "start" {
		t.Fatalf("export of %s = %+v", aborted, lines)
	}
	for i, l := range lines {
		if l.RunID != aborted || l.Position != i+1 || l.Hash == "" || (i > 0 && l.Prev != lines[i-1].Hash) {
			t.Fatalf("line %d = %+v: want run %s, position %d, chained", i+1, l, aborted, i+1)
		}
	}
}

// The org chain on Redis: an edited freeze entry is named (exit 1), in
// verify of everything and of the org chain alone; export prints the
// chain's entries with run_id "org".
func TestAuditVerifyOrgChainOnRedis(t *testing.T) {
	srv := testkit.Redis(t)
	prefix := srv.Prefix(t)
	st, err := redisstore.Open(srv.URL(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	done, aborted := seedAudit(t, st)
	st.Close()
	env := map[string]string{"REDIS_URL": srv.URL(), "DEPLOYBOT_REDIS_PREFIX": prefix}

	code, out, errOut := runAudit(t, env, "export", "org")
	wantAudit(t, "export org", code, out, errOut, 0)
	lines := exportLines(t, out)
	if len(lines) != 2 || lines[0].Action != deploy.OrgFreeze || lines[0].Reason != "incident INC-9" || lines[1].Action != deploy.OrgUnfreeze ||
		lines[0].RunID != "org" || lines[1].Position != 2 || lines[1].Prev != lines[0].Hash {
		t.Fatalf("export org = %+v, want the freeze and the unfreeze, chained", lines)
	}
	if !strings.Contains(out, `"id":"U0BOB"`) || !strings.Contains(out, `"after":"{\"env\":\"production\"}"`) {
		t.Errorf("export org does not name who froze what:\n%s", out)
	}

	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	key := prefix + "orgaudit"
	raw, err := c.LIndex(t.Context(), key, 0).Result()
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		t.Fatal(err)
	}
	e["reason"] = "routine maintenance"
	edited, _ := json.Marshal(e)
	if err := c.LSet(t.Context(), key, 0, edited).Err(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runAudit(t, env, "verify")
	wantAudit(t, "verify after an org edit", code, out, errOut, 1,
		done+" ok (", aborted+" ok (", "org BROKEN at entry 1 of 2 (freeze, rev 1): hash mismatch: its content was edited",
		"audit verify: 3 runs: 2 ok, 1 unchained, 0 broken; org chain BROKEN at entry 1 (hash mismatch)")
	code, out, errOut = runAudit(t, env, "verify", "org")
	wantAudit(t, "verify org after an edit", code, out, errOut, 1, "org BROKEN at entry 1 of 2", "audit verify: org chain BROKEN at entry 1 (hash mismatch)")
	// The runs alone still hold.
	code, out, errOut = runAudit(t, env, "verify", done, aborted)
	wantAudit(t, "verify the runs after an org edit", code, out, errOut, 0, "2 runs: 2 ok")

	// A removed entry (the freeze): the unfreeze no longer follows anything.
	if err := c.LRem(t.Context(), key, 1, edited).Err(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runAudit(t, env, "verify", "org")
	wantAudit(t, "verify org after a removal", code, out, errOut, 1, "org BROKEN at entry 1 of 1 (unfreeze, rev 2)", "prev mismatch")
}

type exportLine struct {
	RunID    string    `json:"run_id"`
	Position int       `json:"position"`
	At       time.Time `json:"at"`
	Action   string    `json:"action"`
	Reason   string    `json:"reason"`
	Prev     string    `json:"prev"`
	Hash     string    `json:"hash"`
}

func exportLines(t *testing.T, out string) []exportLine {
	t.Helper()
	var ls []exportLine
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l exportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("export line %q is not JSON: %v", sc.Text(), err)
		}
		if !strings.Contains(sc.Text(), `"prev":`) || !strings.Contains(sc.Text(), `"hash":`) {
			t.Fatalf("export line %q lacks prev or hash", sc.Text())
		}
		ls = append(ls, l)
	}
	return ls
}

// The same on the embedded store: entries removed from the end, and
// entries reordered, edited in the bbolt file.
func TestAuditVerifyOnBolt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "deploybot.db")
	st, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	done, aborted := seedAudit(t, st)
	st.Close()
	env := map[string]string{"DEPLOYBOT_DATA": dir}

	code, out, errOut := runAudit(t, env, "verify")
	wantAudit(t, "verify", code, out, errOut, 0, done+" ok (", aborted+" ok (", "rold00 unchained", "3 runs: 2 ok, 1 unchained, 0 broken")

	// Export everything since the second day: only the aborted run's entries.
	code, out, errOut = runAudit(t, env, "export", "--since", auditT0.Add(24*time.Hour).Format(time.DateOnly))
	if _, again, _ := runAudit(t, env, "export", done, aborted, "org", "--since="+auditT0.Add(24*time.Hour).Format(time.RFC3339)); again != out {
		t.Errorf("export RUN… org --since=TIME printed\n%s\nwant\n%s", again, out)
	}
	wantAudit(t, "export --since", code, out, errOut, 0)
	lines := exportLines(t, out)
	if len(lines) == 0 {
		t.Fatal("export --since printed nothing")
	}
	var org int
	for _, l := range lines {
		if (l.RunID != aborted && l.RunID != "org") || l.At.Before(auditT0.Add(24*time.Hour)) {
			t.Fatalf("export --since printed %+v", l)
		}
		if l.RunID == "org" {
			org++
		}
	}
	if org != 2 || lines[len(lines)-1].RunID != "org" {
		t.Errorf("export --since printed %d org entries (want the freeze and the unfreeze, last)", org)
	}
	// A --since after the freeze leaves only the unfreeze.
	_, out, _ = runAudit(t, env, "export", "org", "--since", lines[len(lines)-1].At.Format(time.RFC3339Nano))
	if ls := exportLines(t, out); len(ls) != 1 || ls[0].Action != deploy.OrgUnfreeze || ls[0].Position != 2 {
		t.Errorf("export org --since the unfreeze = %+v", ls)
	}
	code, out, _ = runAudit(t, env, "export")
	if all := exportLines(t, out); code != 0 || len(all) <= len(lines) || all[0].RunID != "rold00" || all[0].Hash != "" {
		t.Fatalf("export of everything: exit %d, %d lines (want more than %d, oldest run first)", code, len(all), len(lines))
	}

	edit := func(id string, fn func(ab *bolt.Bucket, keys [][]byte) error) {
		t.Helper()
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		err = db.Update(func(tx *bolt.Tx) error {
			ab := tx.Bucket([]byte("audit")).Bucket([]byte(id))
			var keys [][]byte
			_ = ab.ForEach(func(k, _ []byte) error { keys = append(keys, bytes.Clone(k)); return nil })
			return fn(ab, keys)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	edit(done, func(ab *bolt.Bucket, keys [][]byte) error {
		n = len(keys)
		return ab.Delete(keys[n-1])
	})
	code, out, errOut = runAudit(t, env, "verify")
	wantAudit(t, "verify after removing the last entry", code, out, errOut, 1,
		fmt.Sprintf("%s BROKEN at entry %d (missing; the log has %d)", done, n, n-1), "head mismatch", "removed from the end")

	edit(aborted, func(ab *bolt.Bucket, keys [][]byte) error {
		a, b := bytes.Clone(ab.Get(keys[1])), bytes.Clone(ab.Get(keys[2]))
		if err := ab.Put(keys[1], b); err != nil {
			return err
		}
		return ab.Put(keys[2], a)
	})
	code, out, errOut = runAudit(t, env, "verify", aborted)
	wantAudit(t, "verify after reordering", code, out, errOut, 1, aborted+" BROKEN at entry 2 of ", "prev mismatch", "reordered")

	// The org chain's last entry removed from the bbolt file: its head no longer matches.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket([]byte("orgaudit")).Cursor().Last()
		return tx.Bucket([]byte("orgaudit")).Delete(k)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runAudit(t, env, "verify", "org")
	wantAudit(t, "verify org after removing its last entry", code, out, errOut, 1, "org BROKEN at entry 2 (missing; the log has 1): head mismatch")
}

func TestAuditUsageAndConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no subcommand", nil, nil, "deploybot audit verify [RUN…|org]"},
		{"unknown subcommand", nil, []string{"check"}, "deploybot audit verify [RUN…|org]"},
		{"bad date", map[string]string{"DEPLOYBOT_DATA": dir}, []string{"export", "--since", "last week"}, `--since "last week": want a date`},
		{"since without a date", map[string]string{"DEPLOYBOT_DATA": dir}, []string{"export", "r1", "--since"}, "--since needs a date"},
		{"unknown flag", map[string]string{"DEPLOYBOT_DATA": dir}, []string{"verify", "--all"}, `"--all" is not a run id`},
		{"no embedded store", map[string]string{"DEPLOYBOT_DATA": dir}, []string{"verify"}, "DEPLOYBOT_DATA: no store at " + filepath.Join(dir, "deploybot.db")},
		{"bad redis url", map[string]string{"REDIS_URL": "http://example.com"}, []string{"verify"}, "REDIS_URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runAudit(t, tt.env, tt.args...)
			wantAudit(t, tt.name, code, out, errOut, exitUsage, tt.want)
		})
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("a failed audit command created %v", m)
	}

	// A run that does not exist is a usage error, not a broken chain.
	st, err := boltstore.Open(filepath.Join(dir, "deploybot.db"))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	code, out, errOut := runAudit(t, map[string]string{"DEPLOYBOT_DATA": dir}, "verify", "rnope1")
	wantAudit(t, "unknown run", code, out, errOut, exitUsage, "rnope1: no such run")
}
