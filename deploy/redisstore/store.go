package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"deploybot/deploy"
)

var (
	_ deploy.Store      = (*Store)(nil)
	_ deploy.EpochStore = (*Store)(nil)
)

// DefaultWriteIDTTL is how long Apply remembers a Change's WriteID.
const DefaultWriteIDTTL = 24 * time.Hour

// DefaultRunsLimit is how many finished runs Runs returns when the filter sets no limit.
const DefaultRunsLimit = 10

// Store is a deploy.Store on Redis. Every run transition is one Lua script,
// so several bot processes can share one Redis. It is safe for concurrent use.
type Store struct {
	c        redis.UniversalClient
	k        keys
	sc       *scripts
	steps    *stepCache // the JSON of steps recently written
	writeTTL time.Duration
	owned    bool        // Close closes c (the store created it)
	closed   atomic.Bool // Close ran (it closes c once)
}

// Option configures a Store.
type Option func(*Store)

// WithWriteIDTTL sets how long a Change's WriteID is remembered (default DefaultWriteIDTTL).
func WithWriteIDTTL(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.writeTTL = d
		}
	}
}

// New returns a store keeping its keys under prefix in the given client's
// Redis. The caller keeps ownership of client: Close does not close it.
//
// go-redis retries a command after a timeout or EOF even when Redis already
// ran it; Apply stays correct under such a replay only when the Change has a
// WriteID (the replay then fails with deploy.ErrAlreadyApplied).
func New(client redis.UniversalClient, prefix string, opts ...Option) *Store {
	s := &Store{c: client, k: keys{p: prefix}, sc: newScripts(), steps: newStepCache(), writeTTL: DefaultWriteIDTTL}
	for _, o := range opts {
		o(s)
	}
	return s
}

// wrap prefixes err with the operation and marks failures to reach Redis
// (network errors, timeouts, a closed client, a server that is loading or
// without a master) as deploy.ErrUnavailable.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if unavailable(err) {
		return fmt.Errorf("redisstore %s: %w: %w", op, deploy.ErrUnavailable, err)
	}
	return fmt.Errorf("redisstore %s: %w", op, err)
}

// wrapWrite is wrap for a write: unless its deadline had passed before the
// call (sent is false), a failed write also wraps deploy.ErrOutcomeUnknown.
// The last error cannot tell more: go-redis retries a command on a lost
// connection, so an earlier attempt may have run even when the last one
// could not connect or was answered LOADING or READONLY.
func wrapWrite(op string, err error, sent bool) error {
	if err == nil || !sent {
		return wrap(op, err)
	}
	if unavailable(err) {
		return fmt.Errorf("redisstore %s: %w: %w: %w", op, deploy.ErrUnavailable, deploy.ErrOutcomeUnknown, err)
	}
	return fmt.Errorf("redisstore %s: %w: %w", op, deploy.ErrOutcomeUnknown, err)
}

func unavailable(err error) bool {
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		for _, p := range []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "BUSY", "NOREPLICAS"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false // Redis answered: the command itself failed
	}
	return true
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// runDoc is a run as stored in its "doc" field: without its runbook
// snapshot, which is stored once, in "rb", when the run is created (it is
// the runbook as it was at start and never changes), so a transition
// encodes and writes only the run's own state.
type runDoc struct {
	*deploy.Run
	// Runbook hides the run's own field of that name; nil leaves it out.
	Runbook *struct{} `json:"runbook,omitempty"`
}

// Apply implements deploy.Store: one Lua script checks the write id, the
// revision, the freeze and the lock, then writes everything in the change.
// The runbook snapshot is written when the run is created; a later change
// keeps the one stored.
func (s *Store) Apply(ctx context.Context, c deploy.Change) error {
	if err := deploy.CheckChange(c); err != nil {
		return fmt.Errorf("redisstore apply: %w", err)
	}
	r := c.Run
	doc, err := s.steps.encodeRun(r)
	if err != nil {
		return fmt.Errorf("redisstore apply %s: %w", r.ID, err)
	}
	var rb []byte
	if c.PrevRev == 0 {
		if rb, err = json.Marshal(r.Runbook); err != nil {
			return fmt.Errorf("redisstore apply %s: runbook: %w", r.ID, err)
		}
	}
	finished := r.Ended
	if finished.IsZero() {
		finished = r.Updated
	}
	keys := []string{
		s.k.run(r.ID), s.k.audit(r.ID), s.k.writeID(c.WriteID),
		s.k.liveRuns(), s.k.doneRuns(), s.k.serviceLock(r.Service, r.Env), s.k.freeze(r.Env),
		s.k.serviceFreeze(r.Service, r.Env), s.k.envLock(r.Env), s.k.current(r.Service, r.Env),
		s.k.statsRuns(), s.k.statsEnded(),
	}
	args := make([]any, 0, 22+len(c.Audit)+6*len(c.Schedule)+len(c.Cancel))
	args = append(args,
		c.PrevRev, r.Rev, doc, string(r.Status), boolArg(r.Status.Live()), r.Env, r.ID,
		ms(r.Created), ms(finished), boolArg(c.LockEnv), boolArg(c.UnlockEnv),
		c.WriteID, s.writeTTL.Milliseconds(),
		s.k.runPrefix(), s.k.dueItemPrefix(), s.k.dueQueuePrefix(),
		len(c.Audit), len(c.Schedule), len(c.Cancel), rb,
		boolArg(c.SetCurrent), r.Release,
	)
	for _, a := range c.Audit {
		b, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("redisstore apply %s: audit: %w", r.ID, err)
		}
		args = append(args, b)
	}
	if args, err = appendItems(args, c.Schedule); err != nil {
		return fmt.Errorf("redisstore apply %s: %w", r.ID, err)
	}
	for _, id := range c.Cancel {
		args = append(args, id)
	}
	if c.Stats != nil {
		b, err := json.Marshal(c.Stats)
		if err != nil {
			return fmt.Errorf("redisstore apply %s: stats: %w", r.ID, err)
		}
		args = append(args, b, ms(c.Stats.Ended))
	}
	sent := ctx.Err() == nil // a deadline already past sends nothing
	res, err := s.sc.apply.Run(ctx, s.c, keys, args...).StringSlice()
	if err == nil && len(res) > 0 && res[0] == "rb" {
		// A run stored before the runbook had its own field: move it there.
		if rb, err = json.Marshal(r.Runbook); err != nil {
			return fmt.Errorf("redisstore apply %s: runbook: %w", r.ID, err)
		}
		args[19] = rb
		sent = ctx.Err() == nil
		res, err = s.sc.apply.Run(ctx, s.c, keys, args...).StringSlice()
	}
	if err != nil {
		return wrapWrite("apply "+r.ID, err, sent)
	}
	if len(res) == 0 {
		return fmt.Errorf("redisstore apply %s: empty script reply", r.ID)
	}
	switch res[0] {
	case "ok":
		return nil
	case "already":
		return fmt.Errorf("redisstore apply %s: write %s: %w", r.ID, c.WriteID, deploy.ErrAlreadyApplied)
	case "conflict":
		return fmt.Errorf("redisstore apply %s at rev %d: %w", r.ID, c.PrevRev, deploy.ErrConflict)
	case "frozen":
		var f deploy.Freeze
		if len(res) < 2 || json.Unmarshal([]byte(res[1]), &f) != nil {
			f = deploy.Freeze{Env: r.Env}
		}
		return &deploy.FrozenError{Freeze: f}
	case "locked":
		holder := ""
		if len(res) > 1 {
			holder = res[1]
		}
		return &deploy.LockedError{Env: r.Env, Service: r.Service, RunID: holder}
	default:
		return fmt.Errorf("redisstore apply %s: unexpected script reply %q", r.ID, res[0])
	}
}

// appendItems appends (id, kind, due ms, item JSON, claims, payload) per
// item; the stored JSON leaves out the lease, which lives in its own hash
// field, and the payload is also stored on its own, for AckIf and Hold to
// compare without decoding the JSON.
func appendItems(args []any, items []deploy.DueItem) ([]any, error) {
	for _, it := range items {
		claims := it.Claims
		it.Claims, it.LeaseUntil = 0, time.Time{}
		b, err := json.Marshal(it)
		if err != nil {
			return nil, fmt.Errorf("due item %s: %w", it.ID, err)
		}
		args = append(args, it.ID, it.Kind, ms(it.Due), b, claims, it.Payload)
	}
	return args, nil
}

// Run implements deploy.Store.
func (s *Store) Run(ctx context.Context, id string) (*deploy.Run, error) {
	v, err := s.c.HMGet(ctx, s.k.run(id), "doc", "rb").Result()
	if err != nil {
		return nil, wrap("run "+id, err)
	}
	doc, _ := v[0].(string)
	if v[0] == nil {
		return nil, fmt.Errorf("redisstore run %s: %w", id, deploy.ErrNotFound)
	}
	rb, _ := v[1].(string)
	r, err := decodeRun(doc, rb)
	if err != nil {
		return nil, fmt.Errorf("redisstore run %s: %w", id, err)
	}
	return r, nil
}

// decodeRun decodes a stored run and its runbook snapshot (rb; "" when
// the document carries it, as documents written before the split do).
func decodeRun(doc, rb string) (*deploy.Run, error) {
	var r deploy.Run
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		return nil, err
	}
	if rb != "" {
		if err := json.Unmarshal([]byte(rb), &r.Runbook); err != nil {
			return nil, fmt.Errorf("runbook: %w", err)
		}
	}
	return &r, nil
}

// Runs implements deploy.Store: live runs by creation time, or finished runs
// newest first (at most f.Limit, default DefaultRunsLimit).
func (s *Store) Runs(ctx context.Context, f deploy.RunFilter) ([]*deploy.Run, error) {
	key, last, newest := s.k.liveRuns(), -1, "0"
	if !f.Live {
		limit := f.Limit
		if limit <= 0 {
			limit = DefaultRunsLimit
		}
		key, last, newest = s.k.doneRuns(), limit-1, "1"
	}
	docs, err := s.sc.runs.Run(ctx, s.c, []string{key}, s.k.runPrefix(), last, newest).StringSlice()
	if err != nil {
		return nil, wrap("runs", err)
	}
	runs := make([]*deploy.Run, 0, len(docs)/2)
	for i := 0; i+1 < len(docs); i += 2 {
		r, err := decodeRun(docs[i], docs[i+1])
		if err != nil {
			return nil, fmt.Errorf("redisstore runs: %w", err)
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// Audit implements deploy.Store; a run without entries has an empty log.
func (s *Store) Audit(ctx context.Context, runID string) ([]deploy.AuditEntry, error) {
	vals, err := s.c.LRange(ctx, s.k.audit(runID), 0, -1).Result()
	if err != nil {
		return nil, wrap("audit "+runID, err)
	}
	out := make([]deploy.AuditEntry, len(vals))
	for i, v := range vals {
		if err := json.Unmarshal([]byte(v), &out[i]); err != nil {
			return nil, fmt.Errorf("redisstore audit %s: entry %d: %w", runID, i+1, err)
		}
	}
	return out, nil
}

// RunIDs implements deploy.Store: the members of the live and the finished
// runs index, read in one MULTI.
func (s *Store) RunIDs(ctx context.Context) ([]string, error) {
	var live, done *redis.StringSliceCmd
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		live = p.ZRange(ctx, s.k.liveRuns(), 0, -1)
		done = p.ZRange(ctx, s.k.doneRuns(), 0, -1)
		return nil
	})
	if err != nil {
		return nil, wrap("run ids", err)
	}
	ids := append(append(make([]string, 0, len(live.Val())+len(done.Val())), live.Val()...), done.Val()...)
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// StatsSince implements deploy.Store in one script call.
func (s *Store) StatsSince(ctx context.Context, since time.Time) ([]deploy.StatsEntry, error) {
	docs, err := s.sc.statsSince.Run(ctx, s.c, []string{s.k.statsEnded(), s.k.statsRuns()}, ms(since)).StringSlice()
	if err != nil {
		return nil, wrap("stats", err)
	}
	out := make([]deploy.StatsEntry, 0, len(docs))
	for _, d := range docs {
		var e deploy.StatsEntry
		if err := json.Unmarshal([]byte(d), &e); err != nil {
			return nil, fmt.Errorf("redisstore stats: %w", err)
		}
		if !e.Ended.Before(since) { // the score keeps milliseconds only
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b deploy.StatsEntry) int { return a.Ended.Compare(b.Ended) })
	return out, nil
}

// PutStats implements deploy.Store in one MULTI: each entry's JSON in the
// stats:runs hash and its end in the stats:ended zset, replacing what the
// run had. Both keys carry the store's prefix, so in Redis Cluster they
// share its hash tag's slot.
func (s *Store) PutStats(ctx context.Context, entries ...deploy.StatsEntry) error {
	if len(entries) == 0 {
		return nil
	}
	docs := make([]any, 0, 2*len(entries))
	ends := make([]redis.Z, 0, len(entries))
	for _, e := range entries {
		if e.RunID == "" {
			return errors.New("redisstore put stats: an entry without a run id")
		}
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("redisstore put stats %s: %w", e.RunID, err)
		}
		docs = append(docs, e.RunID, b)
		ends = append(ends, redis.Z{Score: float64(ms(e.Ended)), Member: e.RunID})
	}
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.k.statsRuns(), docs...)
		p.ZAdd(ctx, s.k.statsEnded(), ends...)
		return nil
	})
	return wrap("put stats", err)
}

// EnvHolder implements deploy.Store. A lock left behind by a finished run counts as free.
func (s *Store) EnvHolder(ctx context.Context, service, env string) (string, error) {
	id, err := s.sc.envHolder.Run(ctx, s.c, []string{s.k.serviceLock(service, env), s.k.envLock(env)}, s.k.runPrefix()).Text()
	if err != nil {
		return "", wrap("env holder "+env, err)
	}
	return id, nil
}

// CurrentVersion implements deploy.Store.
func (s *Store) CurrentVersion(ctx context.Context, service, env string) (string, error) {
	v, err := s.c.Get(ctx, s.k.current(service, env)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", wrap("current version "+service+" "+env, err)
	}
	return v, nil
}

// SetFreeze implements deploy.Store.
func (s *Store) SetFreeze(ctx context.Context, f deploy.Freeze) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("redisstore set freeze %s: %w", f.Env, err)
	}
	return wrap("set freeze "+f.Env, s.c.Set(ctx, s.k.serviceFreeze(f.Service, f.Env), b, 0).Err())
}

// GetFreeze implements deploy.Store.
func (s *Store) GetFreeze(ctx context.Context, env, service string) (*deploy.Freeze, error) {
	b, err := s.c.Get(ctx, s.k.serviceFreeze(service, env)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore get freeze %s: %w", env, deploy.ErrNotFound)
	}
	if err != nil {
		return nil, wrap("get freeze "+env, err)
	}
	var f deploy.Freeze
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("redisstore get freeze %s: %w", env, err)
	}
	return &f, nil
}

// DeleteFreeze implements deploy.Store.
func (s *Store) DeleteFreeze(ctx context.Context, env, service string) error {
	n, err := s.c.Del(ctx, s.k.serviceFreeze(service, env)).Result()
	if err != nil {
		return wrap("delete freeze "+env, err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore delete freeze %s: %w", env, deploy.ErrNotFound)
	}
	return nil
}

// PutWindow implements deploy.Store.
func (s *Store) PutWindow(ctx context.Context, w deploy.Window) error {
	if w.ID == "" {
		return errors.New("redisstore put window: window without an id")
	}
	b, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("redisstore put window %s: %w", w.ID, err)
	}
	_, err = s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.k.windows(), w.ID, b)
		p.ZAdd(ctx, s.k.windowEnds(), redis.Z{Score: float64(ms(w.End())), Member: w.ID})
		return nil
	})
	return wrap("put window "+w.ID, err)
}

// Windows implements deploy.Store.
func (s *Store) Windows(ctx context.Context, after time.Time) ([]deploy.Window, error) {
	ids, err := s.c.ZRangeByScore(ctx, s.k.windowEnds(), &redis.ZRangeBy{Min: strconv.FormatInt(ms(after), 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, wrap("windows", err)
	}
	if len(ids) == 0 {
		return []deploy.Window{}, nil
	}
	vals, err := s.c.HMGet(ctx, s.k.windows(), ids...).Result()
	if err != nil {
		return nil, wrap("windows", err)
	}
	out := make([]deploy.Window, 0, len(vals))
	for _, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue // deleted meanwhile
		}
		var w deploy.Window
		if err := json.Unmarshal([]byte(str), &w); err != nil {
			return nil, fmt.Errorf("redisstore windows: %w", err)
		}
		if w.End().After(after) {
			out = append(out, w)
		}
	}
	sortWindows(out)
	return out, nil
}

func sortWindows(ws []deploy.Window) {
	slices.SortFunc(ws, func(a, b deploy.Window) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// DeleteWindow implements deploy.Store.
func (s *Store) DeleteWindow(ctx context.Context, id string) error {
	var del *redis.IntCmd
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		del = p.HDel(ctx, s.k.windows(), id)
		p.ZRem(ctx, s.k.windowEnds(), id)
		return nil
	})
	if err != nil {
		return wrap("delete window "+id, err)
	}
	if del.Val() == 0 {
		return fmt.Errorf("redisstore delete window %s: %w", id, deploy.ErrNotFound)
	}
	return nil
}

// SetMessage implements deploy.Store.
func (s *Store) SetMessage(ctx context.Context, runID, slot, ref string) error {
	return wrap("set message "+runID, s.c.HSet(ctx, s.k.msgs(runID), slot, ref).Err())
}

// Messages implements deploy.Store; a run without messages has an empty map.
func (s *Store) Messages(ctx context.Context, runID string) (map[string]string, error) {
	m, err := s.c.HGetAll(ctx, s.k.msgs(runID)).Result()
	if err != nil {
		return nil, wrap("messages "+runID, err)
	}
	return m, nil
}

// Schedule implements deploy.Store.
func (s *Store) Schedule(ctx context.Context, items ...deploy.DueItem) error {
	if len(items) == 0 {
		return nil
	}
	if err := deploy.CheckItems(items); err != nil {
		return fmt.Errorf("redisstore schedule: %w", err)
	}
	args, err := appendItems([]any{s.k.dueItemPrefix(), s.k.dueQueuePrefix()}, items)
	if err != nil {
		return fmt.Errorf("redisstore schedule: %w", err)
	}
	ks := make([]string, len(items))
	for i, it := range items {
		ks[i] = s.k.dueItem(it.ID)
	}
	return wrap("schedule", s.sc.schedule.Run(ctx, s.c, ks, args...).Err())
}

// Claim implements deploy.Store. LeaseUntil is kept to the millisecond.
func (s *Store) Claim(ctx context.Context, kind string, now time.Time, lease time.Duration, max int) ([]deploy.DueItem, error) {
	if max <= 0 {
		return nil, nil
	}
	res, err := s.sc.claim.Run(ctx, s.c, []string{s.k.dueReady(kind), s.k.dueLeased(kind)},
		ms(now), ms(now.Add(lease)), max, s.k.dueItemPrefix()).Slice()
	if err != nil {
		return nil, wrap("claim "+kind, err)
	}
	items, err := decodeItems(res)
	if err != nil {
		return nil, fmt.Errorf("redisstore claim %s: %w", kind, err)
	}
	return items, nil
}

// decodeItems turns the scripts' {item JSON, claims, lease ms} triples into items.
func decodeItems(res []any) ([]deploy.DueItem, error) {
	out := make([]deploy.DueItem, 0, len(res))
	for _, r := range res {
		triple, ok := r.([]any)
		if !ok || len(triple) != 3 {
			return nil, fmt.Errorf("unexpected script reply %v", r)
		}
		doc, _ := triple[0].(string)
		claims, _ := triple[1].(string)
		lease, _ := triple[2].(string)
		var it deploy.DueItem
		if err := json.Unmarshal([]byte(doc), &it); err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(claims)
		if err != nil {
			return nil, fmt.Errorf("item %s: claims %q: %w", it.ID, claims, err)
		}
		l, err := strconv.ParseInt(lease, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("item %s: lease %q: %w", it.ID, lease, err)
		}
		it.Claims, it.LeaseUntil = n, fromMS(l)
		out = append(out, it)
	}
	return out, nil
}

// Extend implements deploy.Store. It fails with deploy.ErrNotFound when the
// item is gone or no longer leased (rescheduled meanwhile).
func (s *Store) Extend(ctx context.Context, id string, until time.Time) error {
	return s.extend(ctx, id, "", until)
}

// ExtendClaim renews the lease of an item only while it is still the claim
// the caller holds: claims is the Claims of the DueItem Claim returned. When
// the lease ran out and another worker claimed the item again (Claims moved
// on), or the item was rescheduled or acked, it fails with
// deploy.ErrNotFound: the caller lost the item and must stop working on it.
func (s *Store) ExtendClaim(ctx context.Context, id string, claims int, until time.Time) error {
	return s.extend(ctx, id, strconv.Itoa(claims), until)
}

func (s *Store) extend(ctx context.Context, id, claims string, until time.Time) error {
	n, err := s.sc.extend.Run(ctx, s.c, []string{s.k.dueItem(id)}, id, ms(until), s.k.dueQueuePrefix(), claims).Int()
	if err != nil {
		return wrap("extend "+id, err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore extend %s: %w", id, deploy.ErrNotFound)
	}
	return nil
}

// Ack implements deploy.Store; acking a missing item is not an error.
func (s *Store) Ack(ctx context.Context, id string) error {
	return wrap("ack "+id, s.sc.ack.Run(ctx, s.c, []string{s.k.dueItem(id)}, id, s.k.dueItemPrefix(), s.k.dueQueuePrefix()).Err())
}

// Hold implements deploy.Store. LeaseUntil is kept to the millisecond.
func (s *Store) Hold(ctx context.Context, id string, claims int, payload string, until time.Time) error {
	n, err := s.sc.hold.Run(ctx, s.c, []string{s.k.dueItem(id)}, id, claims, payload, ms(until), s.k.dueQueuePrefix()).Int()
	if err != nil {
		return wrap("hold "+id, err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore hold %s: %w", id, deploy.ErrNotFound)
	}
	return nil
}

// AckIf implements deploy.Store in one script call.
func (s *Store) AckIf(ctx context.Context, items ...deploy.DueItem) (int, error) {
	if len(items) == 0 {
		return 0, nil
	}
	ks, args := s.ackArgs(items)
	n, err := s.sc.ackIf.Run(ctx, s.c, ks, args...).Int()
	if err != nil {
		return 0, wrap("ack", err)
	}
	return n, nil
}

// ackArgs returns the keys and arguments of the acknowledging scripts:
// each item's key, then the prefixes and each item's id and payload.
func (s *Store) ackArgs(items []deploy.DueItem) ([]string, []any) {
	ks := make([]string, len(items))
	args := make([]any, 0, 2+2*len(items))
	args = append(args, s.k.dueItemPrefix(), s.k.dueQueuePrefix())
	for i, it := range items {
		ks[i] = s.k.dueItem(it.ID)
		args = append(args, it.ID, it.Payload)
	}
	return ks, args
}

// AckEach is AckIf telling which items it removed: done[i] is false when
// items[i] was gone or replaced by another version. One script call.
func (s *Store) AckEach(ctx context.Context, items ...deploy.DueItem) (done []bool, err error) {
	if len(items) == 0 {
		return nil, nil
	}
	ks, args := s.ackArgs(items)
	res, err := s.sc.ackEach.Run(ctx, s.c, ks, args...).Int64Slice()
	if err != nil {
		return nil, wrap("ack", err)
	}
	if len(res) != len(items) {
		return nil, fmt.Errorf("redisstore ack: %d answers for %d items", len(res), len(items))
	}
	done = make([]bool, len(items))
	for i, n := range res {
		done[i] = n == 1
	}
	return done, nil
}

// Pending implements deploy.Store: items by due time, then ID.
func (s *Store) Pending(ctx context.Context, kind string) ([]deploy.DueItem, error) {
	res, err := s.sc.pending.Run(ctx, s.c, []string{s.k.dueReady(kind), s.k.dueLeased(kind)}, s.k.dueItemPrefix()).Slice()
	if err != nil {
		return nil, wrap("pending "+kind, err)
	}
	items, err := decodeItems(res)
	if err != nil {
		return nil, fmt.Errorf("redisstore pending %s: %w", kind, err)
	}
	slices.SortFunc(items, func(a, b deploy.DueItem) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return items, nil
}

// ClaimOnce implements deploy.Store with SET NX GET PX (no expiry when ttl
// <= 0). Each call writes its own random token: when go-redis sends the
// command again after a lost reply although Redis ran it, the retry finds
// its own token and still answers true, so the claim is never taken by
// nobody.
func (s *Store) ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl < 0 {
		ttl = 0
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	token := hex.EncodeToString(b[:])
	prev, err := s.c.SetArgs(ctx, s.k.once(key), token, redis.SetArgs{Mode: "NX", Get: true, TTL: ttl}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return true, nil // the key was free: set by this call
	case err != nil:
		return false, wrap("claim once "+key, err)
	}
	return prev == token, nil
}

// Ping implements deploy.Store.
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping", s.c.Ping(ctx).Err())
}

// Epoch implements deploy.EpochStore: the marker, or "" when there is none.
func (s *Store) Epoch(ctx context.Context) (string, error) {
	v, err := s.c.Get(ctx, s.k.epoch()).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, wrap("epoch", err)
}

// InitEpoch implements deploy.EpochStore: SET NX of the marker, then the
// marker recorded (this one or an earlier one).
func (s *Store) InitEpoch(ctx context.Context, marker string) (string, error) {
	prev, err := s.c.SetArgs(ctx, s.k.epoch(), marker, redis.SetArgs{Mode: "NX", Get: true}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return marker, nil // the key was free: set by this call
	case err != nil:
		return "", wrap("init epoch", err)
	}
	return prev, nil
}

// Close implements deploy.Store: it closes the client when Open created it.
// Closing twice is harmless.
func (s *Store) Close() error {
	if !s.owned || !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := s.c.Close(); err != nil {
		return fmt.Errorf("redisstore close: %w", err)
	}
	return nil
}
