package redisstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"deploybot/deploy"
	"deploybot/deploy/storetest"
	"deploybot/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// newClient returns a client of the test Redis, closed when the test ends.
func newClient(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: testkit.Redis(t).Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) deploy.Store {
		return New(newClient(t), testkit.Redis(t).Prefix(t))
	})
}

func TestRestart(t *testing.T) {
	srv := testkit.Redis(t)
	prefix := srv.Prefix(t)
	open := func(t *testing.T) deploy.Store {
		s, err := Open(srv.URL(), prefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	storetest.RunRestart(t, open, open)
}

// Stores with different prefixes on one Redis see nothing of each other.
func TestPrefixesAreSeparate(t *testing.T) {
	ctx := t.Context()
	c := newClient(t)
	a := New(c, testkit.Redis(t).Prefix(t))
	b := New(c, testkit.Redis(t).Prefix(t))
	r := storetest.SampleRun("r1", "production", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := a.Apply(ctx, storetest.Create(r, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Run(ctx, "r1"); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("other prefix sees the run: %v", err)
	}
	if err := b.Apply(ctx, storetest.Create(r, true)); err != nil {
		t.Errorf("other prefix is locked or conflicts: %v", err)
	}
}

// The keys Apply writes expire as documented: write ids after the TTL, and
// ClaimOnce keys after theirs; run data never expires.
func TestTTLs(t *testing.T) {
	ctx := t.Context()
	c := newClient(t)
	prefix := testkit.Redis(t).Prefix(t)
	s := New(c, prefix, WithWriteIDTTL(time.Hour))
	r := storetest.SampleRun("r1", "production", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	ch := storetest.Create(r, false)
	if err := s.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimOnce(ctx, "k", 90*time.Second); err != nil {
		t.Fatal(err)
	}
	k := keys{p: prefix}
	tests := []struct {
		name     string
		key      string
		min, max time.Duration // -1: no expiry
	}{
		{"write id", k.writeID(ch.WriteID), 59 * time.Minute, time.Hour},
		{"once key", k.once("k"), 89 * time.Second, 90 * time.Second},
		{"run", k.run("r1"), -1, -1},
		{"audit", k.audit("r1"), -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ttl, err := c.PTTL(ctx, tt.key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if tt.min < 0 {
				if ttl != -1 {
					t.Errorf("PTTL(%s) = %v, want no expiry", tt.key, ttl)
				}
				return
			}
			if ttl < tt.min || ttl > tt.max {
				t.Errorf("PTTL(%s) = %v, want within [%v, %v]", tt.key, ttl, tt.min, tt.max)
			}
		})
	}
}

// A store whose Redis cannot be reached answers with ErrUnavailable, and one
// whose Open client was closed does too.
func TestUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now

	down := New(redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1}), "x:")
	closed, err := Open(testkit.Redis(t).URL(), testkit.Redis(t).Prefix(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := closed.Ping(t.Context()); err != nil {
		t.Fatalf("Ping before Close: %v", err)
	}
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	if err := closed.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	r := storetest.SampleRun("r1", "production", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	for name, s := range map[string]*Store{"nothing listening": down, "closed client": closed} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			calls := map[string]error{
				"Ping":  s.Ping(ctx),
				"Apply": s.Apply(ctx, storetest.Create(r, true)),
			}
			_, calls["Run"] = s.Run(ctx, "r1")
			_, calls["Claim"] = s.Claim(ctx, "step", time.Now(), time.Minute, 1)
			for call, err := range calls {
				if !errors.Is(err, deploy.ErrUnavailable) {
					t.Errorf("%s: %v, want ErrUnavailable", call, err)
				}
			}
		})
	}
}

// Errors Redis itself answers (a wrong type here) are not "unavailable".
func TestServerErrorIsNotUnavailable(t *testing.T) {
	ctx := t.Context()
	c := newClient(t)
	prefix := testkit.Redis(t).Prefix(t)
	if err := c.Set(ctx, keys{p: prefix}.run("r1"), "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := New(c, prefix).Run(ctx, "r1")
	if err == nil || errors.Is(err, deploy.ErrUnavailable) || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("Run on a corrupted key: %v, want a WRONGTYPE error that is not ErrUnavailable", err)
	}
}

func BenchmarkApply(b *testing.B) {
	ctx := b.Context()
	s := New(newClient(b), testkit.Redis(b).Prefix(b))
	r := storetest.SampleRun("r1", "production", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := s.Apply(ctx, storetest.Create(r, true)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		next := storetest.Next(r, nil)
		if err := s.Apply(ctx, storetest.Update(r, next, "step.done")); err != nil {
			b.Fatal(err)
		}
		r = next
	}
}

// BenchmarkAppendOrg: one audited freeze as the engine writes it
// (deploy.AppendOrgAudit: the head read, then the append script).
func BenchmarkAppendOrg(b *testing.B) {
	ctx := b.Context()
	s := New(newClient(b), testkit.Redis(b).Prefix(b))
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		_, err := deploy.AppendOrgAudit(ctx, s, func(context.Context) (deploy.OrgChange, error) {
			f := deploy.Freeze{Env: "production", Reason: "incident", At: at}
			return deploy.OrgChange{Entry: deploy.AuditEntry{At: at, Actor: deploy.Actor{ID: "U0ANA"}, Action: deploy.OrgFreeze, Reason: f.Reason}, SetFreeze: &f}, nil
		})
		if err != nil {
			b.Fatal(err)
		}
		at = at.Add(time.Second)
	}
}

func BenchmarkClaim(b *testing.B) {
	ctx := b.Context()
	s := New(newClient(b), testkit.Redis(b).Prefix(b))
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	// Refill the queue outside the timer whenever a batch is used up.
	const batch = 1000
	left, n := 0, 0
	for b.Loop() {
		if left == 0 {
			b.StopTimer()
			items := make([]deploy.DueItem, batch)
			for i := range items {
				items[i] = deploy.DueItem{ID: fmt.Sprintf("i%d", n), Kind: "step", Due: now, Payload: `{"run":"r1"}`}
				n++
			}
			if err := s.Schedule(ctx, items...); err != nil {
				b.Fatal(err)
			}
			left = batch
			b.StartTimer()
		}
		got, err := s.Claim(ctx, "step", now, time.Minute, 1)
		if err != nil || len(got) != 1 {
			b.Fatalf("Claim = %d items, %v", len(got), err)
		}
		left--
	}
}

// The scripts derive due-queue and run keys from prefixes; they must land on
// the keys keys.go names.
func TestScriptsUseTheKeyLayout(t *testing.T) {
	ctx := t.Context()
	c := newClient(t)
	prefix := testkit.Redis(t).Prefix(t)
	k := keys{p: prefix}
	s := New(c, prefix)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r := storetest.SampleRun("r1", "production", now)
	r.Service = "payments"
	ch := storetest.Create(r, true)
	ch.Schedule = []deploy.DueItem{{ID: "i1", Kind: "step", Due: now}}
	ch.SetCurrent = true
	if err := s.Apply(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFreeze(ctx, deploy.Freeze{Env: "staging", Service: "payments", Reason: "x"}); err != nil {
		t.Fatal(err)
	}
	check := func(what string, got any, err error, want any) {
		t.Helper()
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v (%v), want %v", what, got, err, want)
		}
	}
	score, err := c.ZScore(ctx, k.dueReady("step"), "i1").Result()
	check("ready score", score, err, float64(now.UnixMilli()))
	kind, err := c.HGet(ctx, k.dueItem("i1"), "kind").Result()
	check("item kind", kind, err, "step")
	holder, err := c.Get(ctx, k.serviceLock("payments", "production")).Result()
	check("lock", holder, err, "r1")
	current, err := c.Get(ctx, k.current("payments", "production")).Result()
	check("current version", current, err, "v1.4.0")
	n, err := c.Exists(ctx, k.serviceFreeze("payments", "staging")).Result()
	check("service freeze exists", n, err, 1)
	live, err := c.HGet(ctx, k.run("r1"), "live").Result()
	check("run live flag", live, err, "1")
	created, err := c.ZScore(ctx, k.liveRuns(), "r1").Result()
	check("live score", created, err, float64(now.UnixMilli()))

	if _, err := s.Claim(ctx, "step", now, time.Minute, 1); err != nil {
		t.Fatal(err)
	}
	score, err = c.ZScore(ctx, k.dueLeased("step"), "i1").Result()
	check("leased score", score, err, float64(now.Add(time.Minute).UnixMilli()))
	n, err = c.Exists(ctx, k.dueReady("step")).Result()
	check("ready set exists", n, err, 0)

	if err := s.Ack(ctx, "i1"); err != nil {
		t.Fatal(err)
	}
	n, err = c.Exists(ctx, k.dueItem("i1"), k.dueLeased("step")).Result()
	check("item and leased set exist after Ack", n, err, 0)
}

// keysHook records, for every script call, whether it declared a key.
type keysHook struct {
	mu       sync.Mutex
	keyless  []string
	scripted int
}

func (h *keysHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *keysHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *keysHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name == "evalsha" || name == "eval" {
			h.mu.Lock()
			h.scripted++
			if n, _ := cmd.Args()[2].(int); n == 0 {
				h.keyless = append(h.keyless, fmt.Sprint(cmd.Args()[3:]))
			}
			h.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}

// A Redis Cluster client routes a script by its first declared key, and a
// script without one goes to a random node that may not own the store's
// slot: every script call must declare at least one key of the store.
func TestEveryScriptDeclaresAKey(t *testing.T) {
	ctx := t.Context()
	c := newClient(t)
	h := &keysHook{}
	c.AddHook(h)
	s := New(c, testkit.Redis(t).Prefix(t))
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r := storetest.SampleRun("r1", "production", now)
	ch := storetest.Create(r, true)
	ch.Schedule = []deploy.DueItem{{ID: "i1", Kind: "step", Due: now}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Apply(ctx, ch))
	must(s.Schedule(ctx, deploy.DueItem{ID: "i2", Kind: "step", Due: now}))
	_, err := s.Claim(ctx, "step", now, time.Minute, 10)
	must(err)
	must(s.Extend(ctx, "i1", now.Add(2*time.Minute)))
	must(s.ExtendClaim(ctx, "i2", 1, now.Add(2*time.Minute)))
	must(s.Ack(ctx, "i1"))
	_, err = s.Pending(ctx, "step")
	must(err)
	_, err = s.Runs(ctx, deploy.RunFilter{Live: true})
	must(err)
	_, err = s.EnvHolder(ctx, "", "production")
	must(err)
	_, err = deploy.AppendOrgAudit(ctx, s, func(context.Context) (deploy.OrgChange, error) {
		return deploy.OrgChange{Entry: deploy.AuditEntry{At: now, Action: deploy.OrgUnfreeze}, DeleteFreeze: &deploy.FreezeScope{Env: "qa"}}, nil
	})
	if !errors.Is(err, deploy.ErrNotFound) {
		t.Fatalf("org append lifting no freeze: %v, want ErrNotFound", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.scripted < 10 {
		t.Fatalf("saw %d script calls, want at least 10", h.scripted)
	}
	if len(h.keyless) > 0 {
		t.Errorf("script calls without a key: %v", h.keyless)
	}
}

// lossyProxy forwards TCP to Redis; while armed, it lets the first command
// containing match reach Redis and run there, then drops its reply by
// closing the client's connection, as a network failure would.
type lossyProxy struct {
	ln    net.Listener
	to    string
	match []byte
	armed atomic.Bool
}

func newLossyProxy(t *testing.T, to, match string) *lossyProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{ln: ln, to: to, match: []byte(match)}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *lossyProxy) serve(client net.Conn) {
	server, err := net.Dial("tcp", p.to)
	if err != nil {
		_ = client.Close()
		return
	}
	var swallow atomic.Bool
	go func() { // replies
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if err != nil {
				_ = client.Close()
				return
			}
			if swallow.Load() {
				_ = client.Close()
				_ = server.Close()
				return
			}
			if _, err := client.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if err != nil {
			_ = server.Close()
			return
		}
		if bytes.Contains(buf[:n], p.match) && p.armed.CompareAndSwap(true, false) {
			swallow.Store(true)
		}
		if _, err := server.Write(buf[:n]); err != nil {
			return
		}
	}
}

// go-redis sends a command again after a lost reply, although Redis ran it
// (go-redis #2339). ClaimOnce must still answer true to the one caller that
// took the claim: otherwise nobody sends the reminder.
func TestClaimOnceSurvivesALostReply(t *testing.T) {
	ctx := t.Context()
	p := newLossyProxy(t, testkit.Redis(t).Addr(), "once:")
	c := redis.NewClient(&redis.Options{Addr: p.ln.Addr().String(), MaxRetries: 3})
	t.Cleanup(func() { _ = c.Close() })
	s := New(c, testkit.Redis(t).Prefix(t))

	p.armed.Store(true)
	first, err := s.ClaimOnce(ctx, "reminder:w1:1h", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if p.armed.Load() {
		t.Fatal("the proxy dropped no reply")
	}
	if !first {
		t.Error("ClaimOnce = false after its first reply was lost: the claim is taken and nobody holds it")
	}
	again, err := s.ClaimOnce(ctx, "reminder:w1:1h", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if again {
		t.Error("a second ClaimOnce = true, want false")
	}
}

// go-redis sends the org append again after a lost reply although Redis
// ran it: the replay finds its own entry at the head and answers ok, so
// the caller neither fails nor appends the entry a second time.
func TestOrgAppendSurvivesALostReply(t *testing.T) {
	ctx := t.Context()
	prefix := testkit.Redis(t).Prefix(t)
	direct := New(newClient(t), prefix)
	h, err := direct.OrgHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := deploy.Freeze{Env: "production", Reason: "incident", At: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	ch := deploy.OrgChange{Entry: deploy.AuditEntry{At: f.At, Actor: deploy.Actor{ID: "U0ANA"}, Action: deploy.OrgFreeze, Reason: f.Reason}, SetFreeze: &f}
	deploy.SealOrgAudit(h, &ch.Entry)

	p := newLossyProxy(t, testkit.Redis(t).Addr(), ch.Entry.Hash)
	c := redis.NewClient(&redis.Options{Addr: p.ln.Addr().String(), MaxRetries: 3})
	t.Cleanup(func() { _ = c.Close() })
	s := New(c, prefix)
	if err := s.sc.orgAppend.Load(ctx, c).Err(); err != nil { // so the first EVALSHA runs
		t.Fatal(err)
	}
	p.armed.Store(true)
	if err := s.AppendOrg(ctx, ch); err != nil {
		t.Fatalf("AppendOrg after its first reply was lost: %v", err)
	}
	if p.armed.Load() {
		t.Fatal("the proxy dropped no reply")
	}
	l, err := direct.OrgAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 1 || l.Head != ch.Entry.Hash {
		t.Fatalf("org audit = %+v, want the one entry", l)
	}
}

// A transition writes the run's own state only: the runbook snapshot is
// written once, when the run is created, and every read has it.
func TestRunbookSnapshotIsWrittenOnce(t *testing.T) {
	ctx := t.Context()
	c := newClient(t)
	prefix := testkit.Redis(t).Prefix(t)
	s := New(c, prefix)
	r := storetest.SampleRun("r1", "production", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := s.Apply(ctx, storetest.Create(r, true)); err != nil {
		t.Fatal(err)
	}
	next := storetest.Finish(r, deploy.StatusCompleted)
	if err := s.Apply(ctx, storetest.Update(r, next, "complete")); err != nil {
		t.Fatal(err)
	}
	doc, err := c.HGet(ctx, prefix+"run:r1", "doc").Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(doc, `"runbook"`) || strings.Contains(doc, r.Runbook.Phases[0].Title) {
		t.Errorf("the run document carries the runbook: %s", doc)
	}
	for _, read := range []func() (*deploy.Run, error){
		func() (*deploy.Run, error) { return s.Run(ctx, "r1") },
		func() (*deploy.Run, error) {
			rs, err := s.Runs(ctx, deploy.RunFilter{Limit: 5})
			if err != nil || len(rs) != 1 {
				return nil, fmt.Errorf("runs: %v, %d", err, len(rs))
			}
			return rs[0], nil
		},
	} {
		got, err := read()
		if err != nil {
			t.Fatal(err)
		}
		if got.Rev != next.Rev || got.Status != deploy.StatusCompleted || got.Runbook.Name != r.Runbook.Name ||
			len(got.Runbook.Phases) != len(r.Runbook.Phases) || got.Runbook.Phases[0].Title != r.Runbook.Phases[0].Title {
			t.Errorf("read back rev %d, status %s, runbook %q with %d phases", got.Rev, got.Status, got.Runbook.Name, len(got.Runbook.Phases))
		}
	}
}

// A run stored by an earlier version (the runbook inside its document)
// keeps its runbook through the next transition.
func TestRunStoredWithItsRunbookInsideKeepsIt(t *testing.T) {
	ctx := t.Context()
	c := newClient(t)
	prefix := testkit.Redis(t).Prefix(t)
	s := New(c, prefix)
	r := storetest.SampleRun("r1", "production", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := s.Apply(ctx, storetest.Create(r, true)); err != nil {
		t.Fatal(err)
	}
	old, err := json.Marshal(r) // the layout before the split: one document, no "rb"
	if err != nil {
		t.Fatal(err)
	}
	if err := c.HSet(ctx, prefix+"run:r1", "doc", old).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.HDel(ctx, prefix+"run:r1", "rb").Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Run(ctx, "r1"); err != nil || got.Runbook.Name != r.Runbook.Name || len(got.Runbook.Phases) == 0 {
		t.Fatalf("old document read back: %v, %+v", err, got)
	}
	next := storetest.Finish(r, deploy.StatusCompleted)
	if err := s.Apply(ctx, storetest.Update(r, next, "complete")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Run(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Rev != next.Rev || got.Runbook.Name != r.Runbook.Name || len(got.Runbook.Phases) != len(r.Runbook.Phases) {
		t.Errorf("after a transition: rev %d, runbook %q with %d phases", got.Rev, got.Runbook.Name, len(got.Runbook.Phases))
	}
}

// A lock written the way the store wrote it before services (lock:<env>
// holding the run id) still reads and is released by its run.
func TestOldLock(t *testing.T) {
	c := newClient(t)
	prefix := testkit.Redis(t).Prefix(t)
	s := New(c, prefix)
	storetest.RunOldLock(t, s, func(t *testing.T, env, runID string) {
		if err := c.Set(t.Context(), prefix+"lock:"+env, runID, 0).Err(); err != nil {
			t.Fatal(err)
		}
	})
}

// auditEditor edits the audit list of a run in Redis directly.
type auditEditor struct {
	c redis.UniversalClient
	k keys
}

// list returns the key of runID's audit list, or of the org chain's.
func (e auditEditor) list(runID string) string {
	if runID == deploy.OrgAuditID {
		return e.k.orgAudit()
	}
	return e.k.audit(runID)
}

func (e auditEditor) SetEntry(t *testing.T, runID string, i int, raw []byte) {
	t.Helper()
	if err := e.c.LSet(t.Context(), e.list(runID), int64(i), raw).Err(); err != nil {
		t.Fatalf("LSET audit %s %d: %v", runID, i, err)
	}
}

func (e auditEditor) RemoveEntry(t *testing.T, runID string, i int) {
	t.Helper()
	v, err := e.c.LIndex(t.Context(), e.list(runID), int64(i)).Result()
	if err != nil {
		t.Fatalf("LINDEX audit %s %d: %v", runID, i, err)
	}
	if n, err := e.c.LRem(t.Context(), e.list(runID), 1, v).Result(); err != nil || n != 1 {
		t.Fatalf("LREM audit %s %d: removed %d, %v", runID, i, n, err)
	}
}

func TestAuditChain(t *testing.T) {
	storetest.RunAuditChain(t, func(t *testing.T) (deploy.Store, storetest.AuditEditor) {
		c, prefix := newClient(t), testkit.Redis(t).Prefix(t)
		return New(c, prefix), auditEditor{c: c, k: keys{p: prefix}}
	})
}

func TestOrgAudit(t *testing.T) {
	storetest.RunOrgAudit(t, func(t *testing.T) (deploy.Store, deploy.Store, storetest.AuditEditor) {
		prefix := testkit.Redis(t).Prefix(t)
		c := newClient(t)
		return New(c, prefix), New(newClient(t), prefix), auditEditor{c: c, k: keys{p: prefix}}
	})
}

// An item stored before items had their payload in a field of its own
// ("pl") is compared by the payload in its JSON: it can still be held and
// acknowledged, and only in the version the caller has.
func TestItemWithoutPayloadFieldIsComparedByItsJSON(t *testing.T) {
	ctx := t.Context()
	c := newClient(t)
	prefix := testkit.Redis(t).Prefix(t)
	k := keys{p: prefix}
	s := New(c, prefix)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	items := []deploy.DueItem{
		{ID: "e1", Kind: deploy.DueKindEffect, Due: now, Payload: `{"rev":1}`},
		{ID: "e2", Kind: deploy.DueKindEffect, Due: now, Payload: `{"rev":2}`},
	}
	if err := s.Schedule(ctx, items...); err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if pl, err := c.HGet(ctx, k.dueItem(it.ID), "pl").Result(); err != nil || pl != it.Payload {
			t.Fatalf("%s: pl = %q (%v), want %q", it.ID, pl, err, it.Payload)
		}
		if err := c.HDel(ctx, k.dueItem(it.ID), "pl").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Hold(ctx, "e1", 0, `{"rev":0}`, now.Add(time.Minute)); !errors.Is(err, deploy.ErrNotFound) {
		t.Fatalf("hold of another version: %v, want ErrNotFound", err)
	}
	if err := s.Hold(ctx, "e1", 0, items[0].Payload, now.Add(time.Minute)); err != nil {
		t.Fatalf("hold: %v", err)
	}
	if n, err := c.ZScore(ctx, k.dueLeased(deploy.DueKindEffect), "e1").Result(); err != nil || n != float64(now.Add(time.Minute).UnixMilli()) {
		t.Fatalf("held item's lease: %v (%v)", n, err)
	}
	done, err := s.AckEach(ctx, deploy.DueItem{ID: "e1", Payload: items[0].Payload}, deploy.DueItem{ID: "e2", Payload: `{"rev":1}`})
	if err != nil || len(done) != 2 || !done[0] || done[1] {
		t.Fatalf("AckEach = %v (%v), want [true false]", done, err)
	}
	if n, err := s.AckIf(ctx, items[1]); err != nil || n != 1 {
		t.Fatalf("AckIf = %d (%v), want 1", n, err)
	}
	n, err := c.Exists(ctx, k.dueItem("e1"), k.dueItem("e2"), k.dueReady(deploy.DueKindEffect), k.dueLeased(deploy.DueKindEffect)).Result()
	if err != nil || n != 0 {
		t.Fatalf("%d keys left after acknowledging both (%v)", n, err)
	}
}
