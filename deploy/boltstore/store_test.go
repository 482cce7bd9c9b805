package boltstore

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"deploybot/deploy"
	"deploybot/deploy/storetest"
	"deploybot/internal/clock"
)

func open(t *testing.T, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) deploy.Store {
		return open(t, filepath.Join(t.TempDir(), "deploybot.db"))
	})
}

func TestRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "nested", "deploybot.db") // directories are created
	o := func(t *testing.T) deploy.Store { return open(t, path) }
	storetest.RunRestart(t, o, o)
}

var t0 = time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC)

// Once-keys and write ids expire by the injected clock.
func TestExpiryFollowsTheClock(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewFake(t0)
	s := open(t, filepath.Join(t.TempDir(), "db"), WithClock(clk), WithWriteIDTTL(time.Hour))

	r1 := storetest.SampleRun("r1", "production", t0)
	create := storetest.Create(r1, false)
	if err := s.Apply(ctx, create); err != nil {
		t.Fatal(err)
	}
	claim := func(key string, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.ClaimOnce(ctx, key, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim("k", time.Minute) || claim("k", time.Minute) {
		t.Fatal("ClaimOnce: want true then false")
	}
	if !claim("forever", 0) {
		t.Fatal("ClaimOnce(forever) = false")
	}

	steps := []struct {
		name        string
		advance     time.Duration
		wantKey     bool // ClaimOnce("k") wins again
		wantReplay  error
		wantForever bool
	}{
		{"before the ttl the key is held", 59 * time.Second, false, deploy.ErrAlreadyApplied, false},
		{"at the ttl the key is free again", time.Second, true, deploy.ErrAlreadyApplied, false},
		{"after the write-id ttl a replay is judged by its rev", time.Hour, true, deploy.ErrConflict, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clk.Advance(st.advance)
			if got := claim("k", time.Minute); got != st.wantKey {
				t.Errorf("ClaimOnce(k) = %v, want %v", got, st.wantKey)
			}
			if got := claim("forever", 0); got != st.wantForever {
				t.Errorf("ClaimOnce(forever) = %v, want %v", got, st.wantForever)
			}
			if err := s.Apply(ctx, create); !errors.Is(err, st.wantReplay) {
				t.Errorf("replay: %v, want %v", err, st.wantReplay)
			}
		})
	}
}

// A closed store answers ErrUnavailable.
func TestClosedIsUnavailable(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"))
	ctx := t.Context()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping while open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]error{
		"Ping":  s.Ping(ctx),
		"Apply": s.Apply(ctx, storetest.Create(storetest.SampleRun("r1", "production", t0), true)),
	}
	_, calls["Run"] = s.Run(ctx, "r1")
	_, calls["Claim"] = s.Claim(ctx, "step", t0, time.Minute, 1)
	for call, err := range calls {
		if !errors.Is(err, deploy.ErrUnavailable) {
			t.Errorf("%s after Close: %v, want ErrUnavailable", call, err)
		}
	}
}

// Only one process (or store) may have the file open.
func TestSecondOpenFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	open(t, path)
	if s, err := Open(path); err == nil {
		_ = s.Close()
		t.Fatal("second Open of an open file succeeded")
	}
}

func TestTimeKeyOrder(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(1969, 12, 31, 23, 59, 59, 999, time.UTC),
		time.Unix(0, 0),
		time.Unix(0, 1),
		t0,
		t0.Add(time.Nanosecond),
		time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for i, tm := range times {
		if got := keyTime(timeKey(tm)); !got.Equal(tm) {
			t.Errorf("keyTime(timeKey(%v)) = %v", tm, got)
		}
		if i > 0 && string(timeKey(times[i-1])) >= string(timeKey(tm)) {
			t.Errorf("timeKey(%v) does not sort before timeKey(%v)", times[i-1], tm)
		}
	}
}

// A lock written the way the store wrote it before services (env -> run id
// in the locks bucket) still reads and is released by its run.
func TestOldLock(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "deploybot.db"))
	storetest.RunOldLock(t, s, func(t *testing.T, env, runID string) {
		err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bLocks).Put([]byte(env), []byte(runID)) })
		if err != nil {
			t.Fatal(err)
		}
	})
}

// auditEditor edits the audit bucket of a run in the bbolt file directly.
type auditEditor struct{ s *Store }

// entryKey returns the key of the i-th entry of a run's audit bucket.
func entryKey(t *testing.T, ab *bolt.Bucket, i int) []byte {
	t.Helper()
	cur := ab.Cursor()
	k, _ := cur.First()
	for ; i > 0 && k != nil; i-- {
		k, _ = cur.Next()
	}
	if k == nil {
		t.Fatalf("no audit entry at index %d", i)
	}
	return bytes.Clone(k)
}

// auditLog returns the bucket of runID's audit log, or of the org chain.
func auditLog(tx *bolt.Tx, runID string) *bolt.Bucket {
	if runID == deploy.OrgAuditID {
		return tx.Bucket(bOrgAudit)
	}
	return tx.Bucket(bAudit).Bucket([]byte(runID))
}

func (e auditEditor) SetEntry(t *testing.T, runID string, i int, raw []byte) {
	t.Helper()
	err := e.s.db.Update(func(tx *bolt.Tx) error {
		ab := auditLog(tx, runID)
		return ab.Put(entryKey(t, ab, i), raw)
	})
	if err != nil {
		t.Fatalf("edit audit %s %d: %v", runID, i, err)
	}
}

func (e auditEditor) RemoveEntry(t *testing.T, runID string, i int) {
	t.Helper()
	err := e.s.db.Update(func(tx *bolt.Tx) error {
		ab := auditLog(tx, runID)
		return ab.Delete(entryKey(t, ab, i))
	})
	if err != nil {
		t.Fatalf("remove audit %s %d: %v", runID, i, err)
	}
}

func TestAuditChain(t *testing.T) {
	storetest.RunAuditChain(t, func(t *testing.T) (deploy.Store, storetest.AuditEditor) {
		s := open(t, filepath.Join(t.TempDir(), "deploybot.db"))
		return s, auditEditor{s: s}
	})
}

// The embedded store has one process: its "two clients" are one store
// written from several goroutines.
func TestOrgAudit(t *testing.T) {
	storetest.RunOrgAudit(t, func(t *testing.T) (deploy.Store, deploy.Store, storetest.AuditEditor) {
		s := open(t, filepath.Join(t.TempDir(), "deploybot.db"))
		return s, s, auditEditor{s: s}
	})
}
