package app

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"deploybot/deploy"
	"deploybot/deploy/boltstore"
	"deploybot/deploy/redisstore"
	"deploybot/deploy/storetest"
	"deploybot/internal/clock"
	"deploybot/internal/testkit"
	"deploybot/runbook"
)

// statsRunbook has manual steps only, a production phase and a follow-up
// phase a person approves (after the run was deployed).
const statsRunbook = `
name: api
approvers: [U0ANA, U0BOB]
phases:
  - id: prep
    title: Preparation
    steps:
      - id: check
        title: Checks done
  - id: prod
    title: Production
    production: true
    steps:
      - id: ship
        title: Ship it
  - id: retro
    title: Retrospective
    follow_up: true
    steps:
      - id: notes
        title: Notes written
rollback:
  steps:
    - id: revert
      title: Revert
`

// unindexed is a store as an older deploybot used it: its changes carry no
// stats index entry.
type unindexed struct{ deploy.Store }

func (s unindexed) Apply(ctx context.Context, c deploy.Change) error {
	c.Stats = nil
	return s.Store.Apply(ctx, c)
}

// playStats plays five runs through the engine with a fake clock: A
// completed after its follow-ups (its retrospective approved by a person),
// B rolled back, C aborted, D deployed with its follow-ups open, E still
// active.
func playStats(t *testing.T, st deploy.Store) {
	t.Helper()
	ctx := t.Context()
	rb, err := runbook.Parse("stats.yaml", []byte(statsRunbook), nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(auditT0)
	ids := []string{"rruna1", "rrunb2", "rrunc3", "rrund4", "rrune5"}
	e := deploy.NewEngine(deploy.Config{Store: st, Runbook: rb, Clock: clk, Logger: slog.New(slog.DiscardHandler),
		NewID: func() string { id := ids[0]; ids = ids[1:]; return id }})
	start := func() string {
		t.Helper()
		clk.Advance(time.Hour)
		out, err := e.Start(ctx, deploy.StartRequest{Release: "v2", Env: "production", Channel: "C1", Platform: "slack", Actor: auditAna})
		if err != nil {
			t.Fatal(err)
		}
		return out.Run.ID
	}
	do := func(after time.Duration, a deploy.Action) {
		t.Helper()
		clk.Advance(after)
		if a.Actor.ID == "" {
			a.Actor = auditBob
		}
		if _, err := e.Do(ctx, a); err != nil {
			t.Fatalf("%s %s/%s: %v", a.Kind, a.Phase, a.Step, err)
		}
	}
	deployed := func(id string) {
		t.Helper()
		do(5*time.Minute, deploy.Action{Kind: deploy.ActDone, RunID: id, Phase: "prep", Step: "check"})
		do(10*time.Minute, deploy.Action{Kind: deploy.ActApprove, RunID: id, Phase: "prep"})
		do(5*time.Minute, deploy.Action{Kind: deploy.ActDone, RunID: id, Phase: "prod", Step: "ship"})
		do(20*time.Minute, deploy.Action{Kind: deploy.ActApprove, RunID: id, Phase: "prod"})
	}
	a := start()
	deployed(a)
	do(time.Hour, deploy.Action{Kind: deploy.ActDone, RunID: a, Phase: "retro", Step: "notes"})
	do(2*time.Hour, deploy.Action{Kind: deploy.ActApprove, RunID: a, Phase: "retro"})

	b := start()
	do(5*time.Minute, deploy.Action{Kind: deploy.ActDone, RunID: b, Phase: "prep", Step: "check"})
	do(7*time.Minute, deploy.Action{Kind: deploy.ActApprove, RunID: b, Phase: "prep"})
	do(5*time.Minute, deploy.Action{Kind: deploy.ActRollback, RunID: b, Reason: "errors up"})
	do(15*time.Minute, deploy.Action{Kind: deploy.ActDone, RunID: b, Phase: deploy.RollbackPhaseID, Step: "revert"})

	c := start()
	do(5*time.Minute, deploy.Action{Kind: deploy.ActAbort, RunID: c, Actor: auditAna, Reason: "wrong tag"})

	deployed(start())
	start()
}

// statsCase is one store kind the rebuild runs on.
type statsCase struct {
	env     map[string]string
	open    func(t *testing.T) deploy.Store // the store the CLI rebuilds, opened again
	corrupt func(t *testing.T, id string)   // makes a stored run undecodable (nil: not tried)
}

func statsCases(t *testing.T) map[string]func(t *testing.T) statsCase {
	return map[string]func(t *testing.T) statsCase{
		"redis": func(t *testing.T) statsCase {
			srv := testkit.Redis(t)
			prefix := srv.Prefix(t)
			return statsCase{
				env: map[string]string{"REDIS_URL": srv.URL(), "DEPLOYBOT_REDIS_PREFIX": prefix},
				open: func(t *testing.T) deploy.Store {
					st, err := redisstore.Open(srv.URL(), prefix)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { st.Close() })
					return st
				},
				corrupt: func(t *testing.T, id string) {
					c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
					defer c.Close()
					if err := c.HSet(t.Context(), prefix+"run:"+id, "doc", "{not json").Err(); err != nil {
						t.Fatal(err)
					}
				},
			}
		},
		"bolt": func(t *testing.T) statsCase {
			dir := t.TempDir()
			return statsCase{
				env: map[string]string{"DEPLOYBOT_DATA": dir},
				open: func(t *testing.T) deploy.Store {
					st, err := boltstore.Open(filepath.Join(dir, "deploybot.db"))
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { st.Close() })
					return st
				},
			}
		},
	}
}

func runStats(t *testing.T, getenv map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), Env{Args: append([]string{"stats"}, args...), Getenv: func(k string) string { return getenv[k] },
		Stdout: &out, Stderr: &errb, Version: "test"})
	return code, out.String(), errb.String()
}

// `deploybot stats rebuild` on a store an older deploybot wrote (runs
// without index entries): it writes the entries the engine writes today
// (played on a reference store that keeps the index), for the runs that
// ended or were deployed and the run stored before services; a stale entry
// is replaced; a second rebuild changes nothing.
func TestStatsRebuild(t *testing.T) {
	for name, open := range statsCases(t) {
		t.Run(name, func(t *testing.T) { testStatsRebuild(t, open(t)) })
	}
}

func testStatsRebuild(t *testing.T, sc statsCase) {
	ctx := t.Context()
	ref, err := boltstore.Open(filepath.Join(t.TempDir(), "reference.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	playStats(t, ref)
	want, err := ref.StatsSince(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range want {
		got = append(got, e.RunID+" "+string(e.Outcome))
	}
	if w := []string{"rruna1 completed", "rrunb2 rolled_back", "rrunc3 aborted", "rrund4 completed"}; !slices.Equal(got, w) {
		t.Fatalf("the engine indexed %v, want %v", got, w)
	}

	st := sc.open(t)
	playStats(t, unindexed{st})
	// A run stored before services (no Service: its runbook names it),
	// completed long before the others.
	old := storetest.SampleRun("rold00", "staging", auditT0.Add(-48*time.Hour))
	if err := st.Apply(ctx, storetest.Create(old, false)); err != nil {
		t.Fatal(err)
	}
	oldEnd := storetest.Finish(old, deploy.StatusCompleted)
	if err := st.Apply(ctx, storetest.Update(old, oldEnd, "complete")); err != nil {
		t.Fatal(err)
	}
	want = append([]deploy.StatsEntry{deploy.StatsEntryOf(oldEnd)}, want...)
	if want[0].Service != "orchestration-system" {
		t.Fatalf("the old run's entry names service %q, want its runbook's", want[0].Service)
	}
	if es, err := st.StatsSince(ctx, time.Time{}); err != nil || len(es) != 0 {
		t.Fatalf("the index before the rebuild: %+v (%v), want none", es, err)
	}
	// A stale entry of run A (wrong outcome, wrong end) is replaced.
	stale := want[1]
	stale.Outcome, stale.Ended = deploy.OutcomeAborted, stale.Ended.Add(24*time.Hour)
	if err := st.PutStats(ctx, stale); err != nil {
		t.Fatal(err)
	}
	st.Close()

	for _, round := range []string{"first", "second"} {
		code, out, errOut := runStats(t, sc.env, "rebuild")
		if code != exitOK || strings.TrimSpace(out) != "stats rebuild: wrote 5 entries (6 stored runs; 1 live, not ended yet)" || errOut != "" {
			t.Fatalf("%s rebuild: exit %d\nstdout:\n%s\nstderr:\n%s", round, code, out, errOut)
		}
		st := sc.open(t)
		got, err := st.StatsSince(ctx, time.Time{})
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("the index after the %s rebuild:\n got  %+v\n want %+v", round, got, want)
		}
	}

	if sc.corrupt == nil {
		return
	}
	// A run that cannot be decoded is named and skipped; the others are written.
	sc.corrupt(t, "rrunc3")
	code, out, errOut := runStats(t, sc.env, "rebuild")
	if code != exitFailed || !strings.Contains(errOut, "deploybot stats rebuild: run rrunc3 cannot be read, skipped") ||
		!strings.Contains(out, "wrote 4 entries (6 stored runs; 1 live, not ended yet; 1 unreadable, skipped)") {
		t.Fatalf("rebuild with an unreadable run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

func TestStatsUsageAndConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no subcommand", nil, nil, "deploybot stats rebuild"},
		{"unknown subcommand", nil, []string{"show"}, "deploybot stats rebuild"},
		{"extra argument", nil, []string{"rebuild", "r1"}, "deploybot stats rebuild"},
		{"no embedded store", map[string]string{"DEPLOYBOT_DATA": dir}, []string{"rebuild"}, "DEPLOYBOT_DATA: no store at " + filepath.Join(dir, "deploybot.db")},
		{"bad redis url", map[string]string{"REDIS_URL": "http://example.com"}, []string{"rebuild"}, "REDIS_URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runStats(t, tt.env, tt.args...)
			if code != exitUsage || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, want %d saying %q\nstdout:\n%s\nstderr:\n%s", code, exitUsage, tt.want, out, errOut)
			}
		})
	}
	if code, out, _ := runStats(t, nil, "help"); code != exitOK || !strings.Contains(out, "after upgrading from a version without delivery metrics") {
		t.Errorf("stats help: exit %d\n%s", code, out)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("a failed stats command created %v", m)
	}
}
