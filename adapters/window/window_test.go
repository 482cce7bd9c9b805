package window_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"deploybot/adapters"
	"deploybot/adapters/window"
	"deploybot/internal/clock"
)

var (
	t0   = time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)
	vars = adapters.Vars{Version: "v1.4", Env: "production", RunID: "r42"}
)

// schedule is the test's Windows: fixed windows per environment.
type schedule struct {
	mu      sync.Mutex // mu protects failing
	windows map[string][2]time.Time
	failing int // how many calls fail before answering
}

func (s *schedule) describe(w [2]time.Time) string {
	return "w3k9x " + w[0].Format("2006-01-02 15:04") + "–" + w[1].Format("15:04") + " UTC"
}

func (s *schedule) fail() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing > 0 {
		s.failing--
		return errors.New("store unavailable")
	}
	return nil
}

func (s *schedule) Scheduled(_ context.Context, _, env, _ string, now time.Time) (string, bool, error) {
	if err := s.fail(); err != nil {
		return "", false, err
	}
	w, ok := s.windows[env]
	if !ok || !now.Before(w[1]) {
		return "", false, nil
	}
	return s.describe(w), true, nil
}

func (s *schedule) Open(_ context.Context, _, env, _ string, now time.Time) (string, bool, error) {
	if err := s.fail(); err != nil {
		return "", false, err
	}
	w, ok := s.windows[env]
	if !ok || !now.Before(w[1]) {
		return "", false, nil
	}
	return s.describe(w), !now.Before(w[0]), nil
}

func newSchedule() *schedule {
	return &schedule{windows: map[string][2]time.Time{"production": {t0.Add(time.Hour), t0.Add(3 * time.Hour)}}}
}

func TestScheduled(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		at      time.Time
		failing int
		ok      bool
		summary string
	}{
		{"booked ahead", "production", t0, 0, true, "window scheduled: w3k9x 2026-12-01 22:00–00:00 UTC"},
		{"open now", "production", t0.Add(90 * time.Minute), 0, true, "window scheduled: w3k9x 2026-12-01 22:00–00:00 UTC"},
		{"already over", "production", t0.Add(4 * time.Hour), 0, false, "no maintenance window scheduled: use /deploy schedule v1.4 START"},
		{"other environment", "staging", t0, 0, false, "no maintenance window scheduled: use /deploy schedule v1.4 START"},
		{"store error", "production", t0, 1, false, "cannot read maintenance windows: store unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sch := newSchedule()
			sch.failing = tc.failing
			s, err := window.New(sch, clock.NewFake(tc.at)).Parse(map[string]any{"mode": "scheduled"})
			if err != nil {
				t.Fatal(err)
			}
			v := vars
			v.Env = tc.env
			res := s.Run(context.Background(), v, nil)
			if res.OK != tc.ok || res.Summary != tc.summary {
				t.Fatalf("Run = ok %v %q, want ok %v %q", res.OK, res.Summary, tc.ok, tc.summary)
			}
		})
	}
}

func TestOpenWaitsForTheWindow(t *testing.T) {
	fake := clock.NewFake(t0.Add(59 * time.Minute))
	sch := newSchedule()
	sch.failing = 1
	s, err := window.New(sch, fake).Parse(map[string]any{"mode": "open"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	done := make(chan adapters.Result, 1)
	go func() {
		done <- s.Run(context.Background(), vars, func(l string) {
			mu.Lock()
			lines = append(lines, l)
			mu.Unlock()
		})
	}()
	var res adapters.Result
	deadline := time.Now().Add(10 * time.Second)
	for finished := false; !finished; {
		select {
		case res = <-done:
			finished = true
		case <-time.After(time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("still waiting")
			}
			if fake.Waiters() > 0 {
				fake.Advance(window.DefaultEvery)
			}
		}
	}
	if !res.OK || res.Summary != "window open: w3k9x 2026-12-01 22:00–00:00 UTC" {
		t.Fatalf("Run = %+v", res)
	}
	if got := fake.Now(); got != t0.Add(time.Hour) {
		t.Errorf("passed at %v, want when the window opened", got)
	}
	want := []string{
		"cannot read maintenance windows (store unavailable); asking again in 30s",
		"waiting for the window w3k9x 2026-12-01 22:00–00:00 UTC",
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("progress = %q, want %q", lines, want)
	}
}

func TestOpenCancelled(t *testing.T) {
	fake := clock.NewFake(t0)
	s, err := window.New(&schedule{}, fake).Parse(map[string]any{"mode": "open", "every": "1m"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan adapters.Result, 1)
	var line string
	go func() { done <- s.Run(ctx, vars, func(l string) { line = l }) }()
	for fake.Waiters() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if res := <-done; res.OK || res.Summary != "cancelled" {
		t.Errorf("Run = %+v", res)
	}
	if line != "waiting for a maintenance window to open" {
		t.Errorf("progress = %q", line)
	}
	if got := s.Plan(vars); got != "wait until a maintenance window for production is open (asking every 1m)" {
		t.Errorf("Plan = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	a := window.New(nil, nil)
	tests := []struct {
		name string
		with map[string]any
		want string
	}{
		{"unknown field", map[string]any{"mode": "open", "env": "x"}, `window: unknown parameter "env" (known: every, mode)`},
		{"missing mode", map[string]any{}, `window: parameter "mode" is required`},
		{"bad mode", map[string]any{"mode": "booked"}, `window: parameter "mode": "booked" is not "scheduled" or "open"`},
		{"every with scheduled", map[string]any{"mode": "scheduled", "every": "1m"}, `only used by mode open`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Parse(tc.with)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestOpenPassesInAPhaseStartedOutsideAWindow(t *testing.T) {
	s, err := window.New(&schedule{}, clock.NewFake(t0)).Parse(map[string]any{"mode": "open"})
	if err != nil {
		t.Fatal(err)
	}
	v := vars
	v.WindowOverride = "by @bob: hotfix for INC-7"
	res := s.Run(context.Background(), v, nil)
	if !res.OK || res.Summary != "started outside a maintenance window by @bob: hotfix for INC-7" {
		t.Fatalf("Run = %+v", res)
	}
}
