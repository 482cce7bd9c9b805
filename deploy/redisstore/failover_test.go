package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"deploybot/deploy"
	"deploybot/deploy/storetest"
	"deploybot/internal/httpserver"
	"deploybot/internal/testkit"
)

// A store opened through Sentinel carries on when the master dies and
// Sentinel promotes the replica: transitions applied while the master is
// gone either ride out the gap or fail as unavailable (each within its
// deadline), /readyz answers 503 during the gap and 200 after it, and once the new master answers every
// transition is applied exactly once: the revisions run 1..n without a gap
// and the audit has one entry per transition.
func TestSentinelFailover(t *testing.T) {
	master := testkit.StartRedis(t)
	replica := testkit.StartReplica(t, master)
	// Down after 2 s: a gap long enough to be seen by a 1 s /readyz.
	sentinel := testkit.StartSentinel(t, "deploybot", master,
		testkit.SentinelTimings{DownAfter: 2 * time.Second, FailoverTimeout: 5 * time.Second}, 1)

	s, err := Open("redis://"+sentinel.Addr()+"/0?master_name=deploybot", "failover:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	readyz := httptest.NewServer(httpserver.Ready(s.Ping))
	defer readyz.Close()
	if code := get(t, readyz.URL); code != http.StatusOK {
		t.Fatalf("/readyz before the failover: %d", code)
	}

	// apply applies the transition to rev n with a 1.5 s budget, as the
	// engine does: ErrAlreadyApplied means an earlier attempt whose reply was
	// lost did apply it, which counts as applied.
	r := storetest.SampleRun("r1", "production", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	runs := []*deploy.Run{r}
	changes := []deploy.Change{storetest.Create(r, true)}
	next := func() {
		prev := runs[len(runs)-1]
		n := storetest.Next(prev, nil)
		runs = append(runs, n)
		changes = append(changes, storetest.Update(prev, n, fmt.Sprintf("tick%d", n.Rev)))
	}
	apply := func(c deploy.Change) error {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- s.Apply(ctx, c) }()
		select {
		case err := <-done:
			if errors.Is(err, deploy.ErrAlreadyApplied) {
				return nil
			}
			return err
		case <-time.After(4 * time.Second):
			t.Fatalf("Apply rev %d still blocked 2.5 s after its deadline", c.Run.Rev)
			return nil
		}
	}
	for range 5 {
		if err := apply(changes[len(changes)-1]); err != nil {
			t.Fatalf("apply rev %d before the failover: %v", changes[len(changes)-1].Run.Rev, err)
		}
		next()
	}
	// Everything so far is on the replica too (Sentinel failover may lose
	// writes the replica never got; this test is about the ones it did).
	if err := master.Client(t).Do(t.Context(), "WAIT", 1, 2000).Err(); err != nil {
		t.Fatal(err)
	}

	master.Kill()
	sawDown, failed := false, 0
	deadline := time.Now().Add(30 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no transition applied within 30 s of the master's death (%d failed attempts)", failed)
		}
		if !sawDown && get(t, readyz.URL) == http.StatusServiceUnavailable {
			sawDown = true
		}
		err := apply(changes[len(changes)-1])
		if err == nil {
			break
		}
		if !errors.Is(err, deploy.ErrUnavailable) {
			t.Fatalf("apply rev %d during the failover: %v, want unavailable", changes[len(changes)-1].Run.Rev, err)
		}
		failed++
		time.Sleep(100 * time.Millisecond)
	}
	if !sawDown {
		t.Error("/readyz never answered 503 while the master was gone")
	}
	// go-redis's retries may ride out a short gap inside one call's budget,
	// so failed attempts are not required, only the promotion.
	t.Logf("%d attempts failed as unavailable during the failover", failed)
	// The replica is the master now, and the store carries on there.
	if role, err := replica.Client(t).Do(t.Context(), "ROLE").Slice(); err != nil || len(role) == 0 || role[0] != "master" {
		t.Fatalf("replica's role after the failover: %v %v", role, err)
	}
	for range 3 {
		next()
		if err := apply(changes[len(changes)-1]); err != nil {
			t.Fatalf("apply rev %d after the failover: %v", changes[len(changes)-1].Run.Rev, err)
		}
	}
	if code := get(t, readyz.URL); code != http.StatusOK {
		t.Errorf("/readyz after the failover: %d", code)
	}
	// Replaying any transition is refused, never applied twice.
	for _, c := range changes {
		if err := apply(c); err != nil {
			t.Fatalf("replay of rev %d: %v", c.Run.Rev, err)
		}
	}

	got, err := s.Run(t.Context(), "r1")
	if err != nil {
		t.Fatal(err)
	}
	want := changes[len(changes)-1].Run.Rev
	if got.Rev != want {
		t.Errorf("run at rev %d, want %d", got.Rev, want)
	}
	audit, err := s.Audit(t.Context(), "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != len(changes) {
		t.Errorf("%d audit entries for %d transitions", len(audit), len(changes))
	}
	for i, a := range audit {
		if a.Rev != int64(i+1) {
			t.Errorf("audit entry %d is rev %d: the sequence has a gap or a repeat", i, a.Rev)
			break
		}
	}

	// The store reads the new master, not a stale address.
	direct := redis.NewClient(&redis.Options{Addr: replica.Addr()})
	defer direct.Close()
	if rev, err := direct.HGet(t.Context(), s.k.run("r1"), "rev").Int64(); err != nil || rev != want {
		t.Errorf("the new master has rev %d (%v), want %d", rev, err, want)
	}
}

// get returns the status of a GET of url, or 0 when it fails.
func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
