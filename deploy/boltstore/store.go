package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"deploybot/deploy"
	"deploybot/internal/clock"
)

var _ deploy.Store = (*Store)(nil)

// DefaultWriteIDTTL is how long Apply remembers a Change's WriteID.
const DefaultWriteIDTTL = 24 * time.Hour

// DefaultRunsLimit is how many finished runs Runs returns when the filter sets no limit.
const DefaultRunsLimit = 10

// sweepEvery is how often (by the store's clock) expired write ids and
// once-keys are deleted, inside a write transaction that runs anyway.
const sweepEvery = time.Hour

// Bucket names. Each is a top-level bucket created by Open.
var (
	bRuns     = []byte("runs")     // run id -> run JSON
	bMeta     = []byte("runmeta")  // run id -> meta JSON (rev, live, done index key)
	bAudit    = []byte("audit")    // run id -> bucket: sequence (8 bytes) -> audit entry JSON
	bLive     = []byte("live")     // run id -> Created (timeKey)
	bDone     = []byte("done")     // timeKey(Ended, else Updated) + run id -> run id
	bLocks    = []byte("locks")    // env -> run id: the environment-only locks of runs stored before services (never taken any more)
	bSvcLocks = []byte("svclocks") // env:service -> run id (one deployment at a time per service and env)
	bFreezes  = []byte("freezes")  // env -> freeze JSON (every service); env:service -> freeze JSON (one service)
	bCurrent  = []byte("current")  // env:service -> the version last completed (Change.SetCurrent)
	bWindows  = []byte("windows")  // window id -> window JSON
	bMessages = []byte("messages") // run id -> bucket: slot -> ref
	bDue      = []byte("due")      // item id -> DueItem JSON (with claims and lease)
	bWrites   = []byte("writes")   // write id -> expiry (timeKey)
	bOnce     = []byte("once")     // key -> expiry (timeKey; zero time = never)
	bStats    = []byte("stats")    // run id -> stats index entry JSON (deploy.StatsEntry)
	bStatsEnd = []byte("statsend") // timeKey(entry's Ended) + run id -> run id
	bOrgAudit = []byte("orgaudit") // sequence (8 bytes) -> org audit entry JSON (freezes, windows)
	bOrgHead  = []byte("orghead")  // "head" -> {"hash": the last org entry's Hash, "len": entries appended}
)

func allBuckets() [][]byte {
	return [][]byte{bRuns, bMeta, bAudit, bLive, bDone, bLocks, bSvcLocks, bFreezes, bCurrent, bWindows, bMessages, bDue, bWrites, bOnce, bStats, bStatsEnd, bOrgAudit, bOrgHead}
}

// svcKey is the key of service in env in bSvcLocks, bFreezes and bCurrent:
// the two joined by ":", which neither name may hold, so it never meets an
// environment-only key. An empty service is the environment itself (a
// freeze of every service).
func svcKey(service, env string) []byte {
	if service == "" {
		return []byte(env)
	}
	return []byte(env + ":" + service)
}

// meta is what Apply needs of a stored run without decoding its document.
type meta struct {
	Rev     int64  `json:"rev"`
	Live    bool   `json:"live"`
	DoneKey []byte `json:"done_key,omitempty"`
}

// Store is a deploy.Store in a bbolt file, for one process. It is safe for
// concurrent use; write transactions (Apply, Claim, ...) run one at a time.
type Store struct {
	db       *bolt.DB
	clock    clock.Clock
	writeTTL time.Duration
	closed   atomic.Bool

	// lastSweep is when expired write ids and once-keys were last deleted.
	// It is read and written only inside write transactions, which bbolt runs
	// one at a time, so it needs no lock of its own.
	lastSweep time.Time
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock that expires write ids and ClaimOnce keys (default clock.Real).
func WithClock(c clock.Clock) Option { return func(s *Store) { s.clock = c } }

// WithWriteIDTTL sets how long a Change's WriteID is remembered (default DefaultWriteIDTTL).
func WithWriteIDTTL(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.writeTTL = d
		}
	}
}

// Open opens (creating it and its directories if needed) the bbolt file at
// path. Only one process may have the file open; Open gives up after a
// second if another holds it.
func Open(path string, opts ...Option) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("boltstore open: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("boltstore open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets() {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("bucket %s: %w", b, err)
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore open %s: %w", path, err)
	}
	s := &Store{db: db, clock: clock.Real{}, writeTTL: DefaultWriteIDTTL}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// wrap prefixes err with the operation; a closed database is deploy.ErrUnavailable.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("boltstore %s: %w: %w", op, deploy.ErrUnavailable, err)
	}
	return fmt.Errorf("boltstore %s: %w", op, err)
}

func (s *Store) update(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore %s: %w", op, err)
	}
	return wrap(op, s.db.Update(fn))
}

func (s *Store) view(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore %s: %w", op, err)
	}
	return wrap(op, s.db.View(fn))
}

// timeKey encodes t so that byte order is time order: seconds (sign bit
// flipped) then nanoseconds, big-endian.
func timeKey(t time.Time) []byte {
	k := make([]byte, 12)
	binary.BigEndian.PutUint64(k, uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(k[8:], uint32(t.Nanosecond()))
	return k
}

func keyTime(k []byte) time.Time {
	if len(k) < 12 {
		return time.Time{}
	}
	return time.Unix(int64(binary.BigEndian.Uint64(k)^(1<<63)), int64(binary.BigEndian.Uint32(k[8:]))).UTC()
}

func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func put(b *bolt.Bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), data)
}

// Apply implements deploy.Store in one write transaction.
func (s *Store) Apply(ctx context.Context, c deploy.Change) error {
	if err := deploy.CheckChange(c); err != nil {
		return fmt.Errorf("boltstore apply: %w", err)
	}
	r := c.Run
	var refused error // the answer when the transaction is rolled back on purpose
	err := s.update(ctx, "apply "+r.ID, func(tx *bolt.Tx) error {
		now := s.clock.Now()
		if c.WriteID != "" {
			if exp := tx.Bucket(bWrites).Get([]byte(c.WriteID)); exp != nil && keyTime(exp).After(now) {
				refused = fmt.Errorf("boltstore apply %s: write %s: %w", r.ID, c.WriteID, deploy.ErrAlreadyApplied)
				return refused
			}
		}
		m, err := getMeta(tx, r.ID)
		if err != nil {
			return err
		}
		if (c.PrevRev == 0 && m != nil) || (c.PrevRev != 0 && (m == nil || m.Rev != c.PrevRev)) {
			refused = fmt.Errorf("boltstore apply %s at rev %d: %w", r.ID, c.PrevRev, deploy.ErrConflict)
			return refused
		}
		if c.LockEnv {
			fb := tx.Bucket(bFreezes)
			f := fb.Get([]byte(r.Env))
			if f == nil {
				f = fb.Get(svcKey(r.Service, r.Env))
			}
			if f != nil {
				var fz deploy.Freeze
				if json.Unmarshal(f, &fz) != nil {
					fz = deploy.Freeze{Env: r.Env}
				}
				refused = &deploy.FrozenError{Freeze: fz}
				return refused
			}
			if h := liveHolder(tx, bSvcLocks, svcKey(r.Service, r.Env)); h != "" && h != r.ID {
				refused = &deploy.LockedError{Env: r.Env, Service: r.Service, RunID: h}
				return refused
			}
		}
		return s.write(tx, c, m, now)
	})
	if refused != nil {
		return refused
	}
	return err
}

// write does the writes of an accepted change; m is the run's previous meta (nil on create).
func (s *Store) write(tx *bolt.Tx, c deploy.Change, m *meta, now time.Time) error {
	r := c.Run
	if m == nil {
		m = &meta{}
	}
	if err := put(tx.Bucket(bRuns), r.ID, r); err != nil {
		return err
	}
	if len(c.Audit) > 0 {
		ab, err := tx.Bucket(bAudit).CreateBucketIfNotExists([]byte(r.ID))
		if err != nil {
			return err
		}
		for _, e := range c.Audit {
			seq, err := ab.NextSequence()
			if err != nil {
				return err
			}
			if err := put(ab, string(seqKey(seq)), e); err != nil {
				return err
			}
		}
	}
	live, done := tx.Bucket(bLive), tx.Bucket(bDone)
	if m.DoneKey != nil {
		if err := done.Delete(m.DoneKey); err != nil {
			return err
		}
		m.DoneKey = nil
	}
	m.Rev, m.Live = r.Rev, r.Status.Live()
	if m.Live {
		if err := live.Put([]byte(r.ID), timeKey(r.Created)); err != nil {
			return err
		}
	} else {
		if err := live.Delete([]byte(r.ID)); err != nil {
			return err
		}
		finished := r.Ended
		if finished.IsZero() {
			finished = r.Updated
		}
		m.DoneKey = append(timeKey(finished), r.ID...)
		if err := done.Put(m.DoneKey, []byte(r.ID)); err != nil {
			return err
		}
	}
	if err := put(tx.Bucket(bMeta), r.ID, m); err != nil {
		return err
	}
	locks, legacy, lk := tx.Bucket(bSvcLocks), tx.Bucket(bLocks), svcKey(r.Service, r.Env)
	if c.LockEnv {
		if err := locks.Put(lk, []byte(r.ID)); err != nil {
			return err
		}
	}
	if c.UnlockEnv {
		for _, l := range []struct {
			b   *bolt.Bucket
			key []byte
		}{{locks, lk}, {legacy, []byte(r.Env)}} {
			if string(l.b.Get(l.key)) != r.ID {
				continue
			}
			if err := l.b.Delete(l.key); err != nil {
				return err
			}
		}
	}
	if c.SetCurrent {
		if err := tx.Bucket(bCurrent).Put(svcKey(r.Service, r.Env), []byte(r.Release)); err != nil {
			return err
		}
	}
	if err := schedule(tx, c.Schedule); err != nil {
		return err
	}
	due := tx.Bucket(bDue)
	for _, id := range c.Cancel {
		if err := due.Delete([]byte(id)); err != nil {
			return err
		}
	}
	if c.Stats != nil {
		if err := putStats(tx, *c.Stats); err != nil {
			return err
		}
	}
	if c.WriteID != "" {
		if err := tx.Bucket(bWrites).Put([]byte(c.WriteID), timeKey(now.Add(s.writeTTL))); err != nil {
			return err
		}
	}
	return s.sweep(tx, now)
}

// putStats writes a run's stats index entry, replacing the one it had.
func putStats(tx *bolt.Tx, e deploy.StatsEntry) error {
	st, ends := tx.Bucket(bStats), tx.Bucket(bStatsEnd)
	if old := st.Get([]byte(e.RunID)); old != nil {
		var o deploy.StatsEntry
		if err := json.Unmarshal(old, &o); err != nil {
			return fmt.Errorf("stats entry %s: %w", e.RunID, err)
		}
		if err := ends.Delete(append(timeKey(o.Ended), e.RunID...)); err != nil {
			return err
		}
	}
	if err := put(st, e.RunID, e); err != nil {
		return err
	}
	return ends.Put(append(timeKey(e.Ended), e.RunID...), []byte(e.RunID))
}

// PutStats implements deploy.Store in one write transaction.
func (s *Store) PutStats(ctx context.Context, entries ...deploy.StatsEntry) error {
	for _, e := range entries {
		if e.RunID == "" {
			return errors.New("boltstore put stats: an entry without a run id")
		}
	}
	if len(entries) == 0 {
		return nil
	}
	return s.update(ctx, "put stats", func(tx *bolt.Tx) error {
		for _, e := range entries {
			if err := putStats(tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// StatsSince implements deploy.Store.
func (s *Store) StatsSince(ctx context.Context, since time.Time) ([]deploy.StatsEntry, error) {
	out := []deploy.StatsEntry{}
	err := s.view(ctx, "stats", func(tx *bolt.Tx) error {
		st := tx.Bucket(bStats)
		cur := tx.Bucket(bStatsEnd).Cursor()
		for k, id := cur.Seek(timeKey(since)); k != nil; k, id = cur.Next() {
			v := st.Get(id)
			if v == nil {
				continue
			}
			var e deploy.StatsEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("stats entry %s: %w", id, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sweep deletes expired write ids and once-keys, at most once per sweepEvery.
func (s *Store) sweep(tx *bolt.Tx, now time.Time) error {
	if now.Sub(s.lastSweep) < sweepEvery && !now.Before(s.lastSweep) {
		return nil
	}
	for _, name := range [][]byte{bWrites, bOnce} {
		b := tx.Bucket(name)
		var expired [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if exp := keyTime(v); !exp.IsZero() && !exp.After(now) {
				expired = append(expired, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	s.lastSweep = now
	return nil
}

func getMeta(tx *bolt.Tx, id string) (*meta, error) {
	v := tx.Bucket(bMeta).Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	var m meta
	if err := json.Unmarshal(v, &m); err != nil {
		return nil, fmt.Errorf("run %s meta: %w", id, err)
	}
	return &m, nil
}

// liveHolder returns the live run holding the lock at key in bucket, or "".
func liveHolder(tx *bolt.Tx, bucket, key []byte) string {
	h := string(tx.Bucket(bucket).Get(key))
	if h == "" {
		return ""
	}
	if m, err := getMeta(tx, h); err != nil || m == nil || !m.Live {
		return ""
	}
	return h
}

// schedule puts items unleased, replacing any with the same id.
func schedule(tx *bolt.Tx, items []deploy.DueItem) error {
	due := tx.Bucket(bDue)
	for _, it := range items {
		it.LeaseUntil = time.Time{}
		if err := put(due, it.ID, it); err != nil {
			return err
		}
	}
	return nil
}

// Run implements deploy.Store.
func (s *Store) Run(ctx context.Context, id string) (*deploy.Run, error) {
	var r *deploy.Run
	err := s.view(ctx, "run "+id, func(tx *bolt.Tx) error {
		var err error
		r, err = getRun(tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("boltstore run %s: %w", id, deploy.ErrNotFound)
	}
	return r, nil
}

func getRun(tx *bolt.Tx, id string) (*deploy.Run, error) {
	v := tx.Bucket(bRuns).Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	var r deploy.Run
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("run %s: %w", id, err)
	}
	return &r, nil
}

// Runs implements deploy.Store: live runs by creation time, or finished runs
// newest first (at most f.Limit, default DefaultRunsLimit).
func (s *Store) Runs(ctx context.Context, f deploy.RunFilter) ([]*deploy.Run, error) {
	var ids []string
	runs := []*deploy.Run{}
	err := s.view(ctx, "runs", func(tx *bolt.Tx) error {
		if f.Live {
			type entry struct {
				id      string
				created []byte
			}
			var es []entry
			err := tx.Bucket(bLive).ForEach(func(k, v []byte) error {
				es = append(es, entry{string(k), bytes.Clone(v)})
				return nil
			})
			if err != nil {
				return err
			}
			slices.SortFunc(es, func(a, b entry) int {
				if c := bytes.Compare(a.created, b.created); c != 0 {
					return c
				}
				return strings.Compare(a.id, b.id)
			})
			for _, e := range es {
				ids = append(ids, e.id)
			}
		} else {
			limit := f.Limit
			if limit <= 0 {
				limit = DefaultRunsLimit
			}
			cur := tx.Bucket(bDone).Cursor()
			for k, v := cur.Last(); k != nil && len(ids) < limit; k, v = cur.Prev() {
				ids = append(ids, string(v))
			}
		}
		for _, id := range ids {
			r, err := getRun(tx, id)
			if err != nil {
				return err
			}
			if r != nil {
				runs = append(runs, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return runs, nil
}

// Audit implements deploy.Store; a run without entries has an empty log.
func (s *Store) Audit(ctx context.Context, runID string) ([]deploy.AuditEntry, error) {
	out := []deploy.AuditEntry{}
	err := s.view(ctx, "audit "+runID, func(tx *bolt.Tx) error {
		ab := tx.Bucket(bAudit).Bucket([]byte(runID))
		if ab == nil {
			return nil
		}
		return ab.ForEach(func(_, v []byte) error {
			var e deploy.AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("entry %d: %w", len(out)+1, err)
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RunIDs implements deploy.Store: the keys of the runs bucket, which bbolt keeps sorted.
func (s *Store) RunIDs(ctx context.Context) ([]string, error) {
	ids := []string{}
	err := s.view(ctx, "run ids", func(tx *bolt.Tx) error {
		return tx.Bucket(bRuns).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// EnvHolder implements deploy.Store. A lock left behind by a finished run counts as free.
func (s *Store) EnvHolder(ctx context.Context, service, env string) (string, error) {
	var h string
	err := s.view(ctx, "env holder "+env, func(tx *bolt.Tx) error {
		h = liveHolder(tx, bSvcLocks, svcKey(service, env))
		if h == "" {
			h = liveHolder(tx, bLocks, []byte(env))
		}
		return nil
	})
	return h, err
}

// CurrentVersion implements deploy.Store.
func (s *Store) CurrentVersion(ctx context.Context, service, env string) (string, error) {
	var v string
	err := s.view(ctx, "current version "+service+" "+env, func(tx *bolt.Tx) error {
		v = string(tx.Bucket(bCurrent).Get(svcKey(service, env)))
		return nil
	})
	return v, err
}

// SetFreeze implements deploy.Store.
func (s *Store) SetFreeze(ctx context.Context, f deploy.Freeze) error {
	return s.update(ctx, "set freeze "+f.Env, func(tx *bolt.Tx) error {
		return put(tx.Bucket(bFreezes), string(svcKey(f.Service, f.Env)), f)
	})
}

// GetFreeze implements deploy.Store.
func (s *Store) GetFreeze(ctx context.Context, env, service string) (*deploy.Freeze, error) {
	var f *deploy.Freeze
	err := s.view(ctx, "get freeze "+env, func(tx *bolt.Tx) error {
		v := tx.Bucket(bFreezes).Get(svcKey(service, env))
		if v == nil {
			return nil
		}
		f = &deploy.Freeze{}
		return json.Unmarshal(v, f)
	})
	if err != nil {
		return nil, err
	}
	if f == nil {
		return nil, fmt.Errorf("boltstore get freeze %s: %w", env, deploy.ErrNotFound)
	}
	return f, nil
}

// DeleteFreeze implements deploy.Store.
func (s *Store) DeleteFreeze(ctx context.Context, env, service string) error {
	return s.deleteKey(ctx, "delete freeze "+env, bFreezes, string(svcKey(service, env)))
}

// deleteKey deletes key from bucket, or fails with ErrNotFound.
func (s *Store) deleteKey(ctx context.Context, op string, bucket []byte, key string) error {
	return s.update(ctx, op, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b.Get([]byte(key)) == nil {
			return deploy.ErrNotFound
		}
		return b.Delete([]byte(key))
	})
}

// PutWindow implements deploy.Store.
func (s *Store) PutWindow(ctx context.Context, w deploy.Window) error {
	if w.ID == "" {
		return errors.New("boltstore put window: window without an id")
	}
	return s.update(ctx, "put window "+w.ID, func(tx *bolt.Tx) error {
		return put(tx.Bucket(bWindows), w.ID, w)
	})
}

// Windows implements deploy.Store.
func (s *Store) Windows(ctx context.Context, after time.Time) ([]deploy.Window, error) {
	out := []deploy.Window{}
	err := s.view(ctx, "windows", func(tx *bolt.Tx) error {
		return tx.Bucket(bWindows).ForEach(func(_, v []byte) error {
			var w deploy.Window
			if err := json.Unmarshal(v, &w); err != nil {
				return err
			}
			if w.End().After(after) {
				out = append(out, w)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b deploy.Window) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// DeleteWindow implements deploy.Store.
func (s *Store) DeleteWindow(ctx context.Context, id string) error {
	return s.deleteKey(ctx, "delete window "+id, bWindows, id)
}

// SetMessage implements deploy.Store.
func (s *Store) SetMessage(ctx context.Context, runID, slot, ref string) error {
	return s.update(ctx, "set message "+runID, func(tx *bolt.Tx) error {
		mb, err := tx.Bucket(bMessages).CreateBucketIfNotExists([]byte(runID))
		if err != nil {
			return err
		}
		return mb.Put([]byte(slot), []byte(ref))
	})
}

// Messages implements deploy.Store; a run without messages has an empty map.
func (s *Store) Messages(ctx context.Context, runID string) (map[string]string, error) {
	out := map[string]string{}
	err := s.view(ctx, "messages "+runID, func(tx *bolt.Tx) error {
		mb := tx.Bucket(bMessages).Bucket([]byte(runID))
		if mb == nil {
			return nil
		}
		return mb.ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Schedule implements deploy.Store.
func (s *Store) Schedule(ctx context.Context, items ...deploy.DueItem) error {
	if len(items) == 0 {
		return nil
	}
	if err := deploy.CheckItems(items); err != nil {
		return fmt.Errorf("boltstore schedule: %w", err)
	}
	return s.update(ctx, "schedule", func(tx *bolt.Tx) error { return schedule(tx, items) })
}

// items returns the queued items of kind (all kinds when kind is "").
func items(tx *bolt.Tx, kind string) ([]deploy.DueItem, error) {
	var out []deploy.DueItem
	err := tx.Bucket(bDue).ForEach(func(_, v []byte) error {
		var it deploy.DueItem
		if err := json.Unmarshal(v, &it); err != nil {
			return err
		}
		if kind == "" || it.Kind == kind {
			out = append(out, it)
		}
		return nil
	})
	return out, err
}

// Claim implements deploy.Store: items whose lease expired come first
// (oldest expiry first), then unleased due items (earliest first). It scans
// the whole queue, which is fine for the few items one bot keeps.
func (s *Store) Claim(ctx context.Context, kind string, now time.Time, lease time.Duration, max int) ([]deploy.DueItem, error) {
	if max <= 0 {
		return nil, nil
	}
	var claimed []deploy.DueItem
	err := s.update(ctx, "claim "+kind, func(tx *bolt.Tx) error {
		all, err := items(tx, kind)
		if err != nil {
			return err
		}
		var expired, ready []deploy.DueItem
		for _, it := range all {
			switch {
			case it.LeaseUntil.IsZero() && !it.Due.After(now):
				ready = append(ready, it)
			case !it.LeaseUntil.IsZero() && it.LeaseUntil.Before(now):
				expired = append(expired, it)
			}
		}
		slices.SortFunc(expired, func(a, b deploy.DueItem) int { return byTime(a.LeaseUntil, b.LeaseUntil, a.ID, b.ID) })
		slices.SortFunc(ready, func(a, b deploy.DueItem) int { return byTime(a.Due, b.Due, a.ID, b.ID) })
		due := tx.Bucket(bDue)
		for _, it := range append(expired, ready...) {
			if len(claimed) == max {
				break
			}
			it.Claims++
			it.LeaseUntil = now.Add(lease)
			if err := put(due, it.ID, it); err != nil {
				return err
			}
			claimed = append(claimed, it)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

func byTime(a, b time.Time, aID, bID string) int {
	if c := a.Compare(b); c != 0 {
		return c
	}
	return strings.Compare(aID, bID)
}

// Extend implements deploy.Store. It fails with deploy.ErrNotFound when the
// item is gone or no longer leased (rescheduled meanwhile).
func (s *Store) Extend(ctx context.Context, id string, until time.Time) error {
	return s.extend(ctx, id, -1, until)
}

// ExtendClaim renews the lease of an item only while it is still the claim
// the caller holds: claims is the Claims of the DueItem Claim returned. When
// the lease ran out and another worker claimed the item again (Claims moved
// on), or the item was rescheduled or acked, it fails with
// deploy.ErrNotFound: the caller lost the item and must stop working on it.
func (s *Store) ExtendClaim(ctx context.Context, id string, claims int, until time.Time) error {
	return s.extend(ctx, id, claims, until)
}

// extend renews a lease; claims < 0 accepts any holder.
func (s *Store) extend(ctx context.Context, id string, claims int, until time.Time) error {
	err := s.update(ctx, "extend "+id, func(tx *bolt.Tx) error {
		due := tx.Bucket(bDue)
		v := due.Get([]byte(id))
		if v == nil {
			return deploy.ErrNotFound
		}
		var it deploy.DueItem
		if err := json.Unmarshal(v, &it); err != nil {
			return err
		}
		if it.LeaseUntil.IsZero() || (claims >= 0 && it.Claims != claims) {
			return deploy.ErrNotFound // not the caller's claim any more
		}
		it.LeaseUntil = until
		return put(due, id, it)
	})
	return err
}

// Ack implements deploy.Store; acking a missing item is not an error.
func (s *Store) Ack(ctx context.Context, id string) error {
	return s.update(ctx, "ack "+id, func(tx *bolt.Tx) error {
		return tx.Bucket(bDue).Delete([]byte(id))
	})
}

// Hold implements deploy.Store.
func (s *Store) Hold(ctx context.Context, id string, claims int, payload string, until time.Time) error {
	return s.update(ctx, "hold "+id, func(tx *bolt.Tx) error {
		due := tx.Bucket(bDue)
		v := due.Get([]byte(id))
		if v == nil {
			return deploy.ErrNotFound
		}
		var it deploy.DueItem
		if err := json.Unmarshal(v, &it); err != nil {
			return err
		}
		if it.Claims != claims || it.Payload != payload {
			return deploy.ErrNotFound // not the caller's version any more
		}
		it.LeaseUntil = until
		return put(due, id, it)
	})
}

// AckIf implements deploy.Store in one transaction.
func (s *Store) AckIf(ctx context.Context, items ...deploy.DueItem) (int, error) {
	if len(items) == 0 {
		return 0, nil
	}
	n := 0
	err := s.update(ctx, "ack", func(tx *bolt.Tx) error {
		n = 0
		due := tx.Bucket(bDue)
		for _, want := range items {
			v := due.Get([]byte(want.ID))
			if v == nil {
				continue
			}
			var it deploy.DueItem
			if err := json.Unmarshal(v, &it); err != nil {
				return err
			}
			if it.Payload != want.Payload {
				continue
			}
			if err := due.Delete([]byte(want.ID)); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// Pending implements deploy.Store: items by due time, then ID.
func (s *Store) Pending(ctx context.Context, kind string) ([]deploy.DueItem, error) {
	var out []deploy.DueItem
	err := s.view(ctx, "pending "+kind, func(tx *bolt.Tx) error {
		var err error
		out, err = items(tx, kind)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b deploy.DueItem) int { return byTime(a.Due, b.Due, a.ID, b.ID) })
	return out, nil
}

// takeOnce records key until now+ttl (for ever when ttl <= 0) unless it is
// recorded and unexpired; it reports whether this call took it.
func takeOnce(tx *bolt.Tx, key string, ttl time.Duration, now time.Time) (bool, error) {
	b := tx.Bucket(bOnce)
	if v := b.Get([]byte(key)); v != nil {
		if exp := keyTime(v); exp.IsZero() || exp.After(now) {
			return false, nil
		}
	}
	var exp time.Time
	if ttl > 0 {
		exp = now.Add(ttl)
	}
	if err := b.Put([]byte(key), timeKey(exp)); err != nil {
		return false, err
	}
	return true, nil
}

// ClaimOnce implements deploy.Store; ttl <= 0 means the key never expires.
// Expiry follows the store's clock.
func (s *Store) ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	first := false
	err := s.update(ctx, "claim once "+key, func(tx *bolt.Tx) error {
		now := s.clock.Now()
		var err error
		if first, err = takeOnce(tx, key, ttl, now); err != nil || !first {
			return err
		}
		return s.sweep(tx, now)
	})
	if err != nil {
		return false, err
	}
	return first, nil
}

// Ping implements deploy.Store: nil while the store is open.
func (s *Store) Ping(ctx context.Context) error {
	return s.view(ctx, "ping", func(*bolt.Tx) error { return nil })
}

// Close implements deploy.Store: it closes the file. Closing twice is harmless.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore close: %w", err)
	}
	return nil
}
