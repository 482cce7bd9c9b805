package redisstore

import (
	"testing"
	"time"

	"deploybot/deploy"
	"deploybot/deploy/storetest"
	"deploybot/internal/testkit"
)

// The stats index lands on the keys keys.go names, and both its script
// calls (Apply writing it, StatsSince reading it) declare keys of the store.
func TestStatsIndexKeys(t *testing.T) {
	ctx := t.Context()
	c := newClient(t)
	h := &keysHook{}
	c.AddHook(h)
	prefix := testkit.Redis(t).Prefix(t)
	k := keys{p: prefix}
	s := New(c, prefix)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r := storetest.SampleRun("r1", "production", now)
	if err := s.Apply(ctx, storetest.Create(r, true)); err != nil {
		t.Fatal(err)
	}
	end := storetest.Finish(r, deploy.StatusAborted)
	e := deploy.StatsEntryOf(end)
	ch := storetest.Update(r, end, "abort")
	ch.Stats = &e
	if err := s.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	score, err := c.ZScore(ctx, k.statsEnded(), "r1").Result()
	if err != nil || score != float64(end.Ended.UnixMilli()) {
		t.Errorf("stats:ended score of r1 = %v (%v), want %d", score, err, end.Ended.UnixMilli())
	}
	if n, err := c.HExists(ctx, k.statsRuns(), "r1").Result(); err != nil || !n {
		t.Errorf("stats:runs has no entry of r1 (%v)", err)
	}
	got, err := s.StatsSince(ctx, now)
	if err != nil || len(got) != 1 || got[0].RunID != "r1" || got[0].Outcome != deploy.OutcomeAborted {
		t.Errorf("StatsSince = %+v (%v), want r1 aborted", got, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.scripted < 3 || len(h.keyless) > 0 {
		t.Errorf("%d script calls, without a key: %v; want 3, each with keys", h.scripted, h.keyless)
	}
}
