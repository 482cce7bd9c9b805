package schedule

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"deploybot/deploy"
	"deploybot/deploy/redisstore"
	"deploybot/internal/clock"
	"deploybot/internal/testkit"
	"deploybot/runbook"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// quiet is a logger for tests that discards everything.
func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newStore opens a store on the test Redis under prefix ("" for a fresh one).
func newStore(t testing.TB, prefix string) deploy.Store {
	t.Helper()
	srv := testkit.Redis(t)
	if prefix == "" {
		prefix = srv.Prefix(t)
	}
	s, err := redisstore.Open(srv.URL(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// recorder is a Notices that records what it is given.
type recorder struct {
	mu      sync.Mutex // mu protects notices
	notices []Notice
}

func (r *recorder) PostWindowNotice(_ context.Context, n Notice) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notices = append(r.notices, n)
	return nil
}

func (r *recorder) all() []Notice {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Notice(nil), r.notices...)
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notices = nil
}

// of returns the notices of a kind.
func (r *recorder) of(kind NoticeKind) []Notice {
	var out []Notice
	for _, n := range r.all() {
		if n.Kind == kind {
			out = append(out, n)
		}
	}
	return out
}

// noticeKey names a notice by what must be unique: kind, window occurrence, offset.
func noticeKey(n Notice) string {
	id := n.Window.ID
	if n.Window.Recurring {
		id = "recurring"
	}
	return fmt.Sprintf("%s/%s@%s/%s", n.Kind, id, n.Window.Start.UTC().Format(time.RFC3339), n.Offset)
}

// fixture is a scheduler over a real store with a fake clock and a recorder.
type fixture struct {
	s      *Scheduler
	prefix string // the store's key prefix (another process opens the same)
	store  deploy.Store
	clk    *clock.Fake
	rec    *recorder
	reg    *prometheus.Registry
}

func newFixture(t testing.TB, rb *runbook.Runbook, now time.Time) *fixture {
	t.Helper()
	f := &fixture{prefix: testkit.Redis(t).Prefix(t), clk: clock.NewFake(now), rec: &recorder{}, reg: prometheus.NewRegistry()}
	f.store = newStore(t, f.prefix)
	f.s = New(Config{Store: f.store, Runbook: rb, Notices: f.rec, Clock: f.clk, Logger: quiet(), Metrics: f.reg, NoticeChannel: "C-notices"})
	return f
}

// rebuild replaces the fixture's reminder loop with one over the same
// calendar that moves e's runs on and posts to n, the way main builds the
// loop after the engine.
func (f *fixture) rebuild(e Engine, n Notices) {
	f.s = New(Config{Calendar: f.s.Calendar, Store: f.store, Engine: e, Notices: n, Clock: f.clk, Logger: quiet(), Metrics: f.reg, NoticeChannel: "C-notices"})
}

func (f *fixture) tick(t testing.TB) {
	t.Helper()
	if err := f.s.Tick(t.Context()); err != nil {
		t.Fatalf("tick at %s: %v", f.clk.Now().UTC().Format(time.RFC3339), err)
	}
}

// runUntil ticks every step from now until (inclusive).
func (f *fixture) runUntil(t testing.TB, until time.Time, step time.Duration) {
	t.Helper()
	for !f.clk.Now().After(until) {
		f.tick(t)
		f.clk.Advance(step)
	}
}

// counter returns the value of a counter in reg with the given labels (0 when absent).
func counter(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metric
				}
			}
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

// book puts a scheduled window in the store directly.
func book(t testing.TB, st deploy.Store, w deploy.Window) deploy.Window {
	t.Helper()
	if w.Length == 0 {
		w.Length = 2 * time.Hour
	}
	if w.By.ID == "" {
		w.By = ana
	}
	if err := st.PutWindow(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	return w
}

var (
	ana   = deploy.Actor{ID: "U0ANA", Name: "ana", Platform: "slack"}
	bob   = deploy.Actor{ID: "U0BOB", Name: "bob", Platform: "slack"}
	carol = deploy.Actor{ID: "U0CAROL", Name: "carol", Platform: "slack", Groups: []string{"release-managers"}}
)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func dur(ds ...time.Duration) []runbook.Duration {
	out := make([]runbook.Duration, len(ds))
	for i, d := range ds {
		out[i] = runbook.Duration(d)
	}
	return out
}
