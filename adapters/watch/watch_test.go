package watch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"deploybot/adapters"
	"deploybot/adapters/httpcheck"
	"deploybot/adapters/watch"
	"deploybot/internal/clock"
)

var (
	t0   = time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	vars = adapters.Vars{Version: "v1.4", Env: "production", RunID: "r42"}
)

func newWatch(t *testing.T, fake *clock.Fake) *watch.Adapter {
	t.Helper()
	reg, err := adapters.NewRegistry(httpcheck.New(httpcheck.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	w := watch.New(reg, fake)
	if err := reg.Register(w); err != nil {
		t.Fatal(err)
	}
	return w
}

// drive runs s in the background and advances the fake clock by each timer the
// step arms, until the step returns. It returns the result and the progress lines.
func drive(t *testing.T, fake *clock.Fake, s adapters.Step, ctx context.Context) (adapters.Result, []string) {
	t.Helper()
	var mu sync.Mutex
	var lines []string
	done := make(chan adapters.Result, 1)
	go func() {
		done <- s.Run(ctx, vars, func(l string) {
			mu.Lock()
			lines = append(lines, l)
			mu.Unlock()
		})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case res := <-done:
			mu.Lock()
			defer mu.Unlock()
			return res, lines
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the watch did not finish")
		}
		if fake.Waiters() > 0 {
			fake.Advance(time.Minute)
		}
	}
}

// healthServer answers 200 until the fake clock reaches breakAt, then 500.
func healthServer(t *testing.T, fake *clock.Fake, breakAt time.Time) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !breakAt.IsZero() && !fake.Now().Before(breakAt) {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTimedWatchPassesWhenTimeIsUp(t *testing.T) {
	fake := clock.NewFake(t0)
	s, err := newWatch(t, fake).Parse(map[string]any{"for": "3m"})
	if err != nil {
		t.Fatal(err)
	}
	res, lines := drive(t, fake, s, context.Background())
	if !res.OK || res.Summary != "waited 3m" {
		t.Fatalf("Run = %+v", res)
	}
	want := []string{"0s of 3m elapsed", "1m of 3m elapsed", "2m of 3m elapsed"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("progress = %q, want %q", lines, want)
	}
	if got := fake.Now().Sub(t0); got != 3*time.Minute {
		t.Errorf("finished after %v", got)
	}
}

func TestWatchWithCheck(t *testing.T) {
	tests := []struct {
		name      string
		breakAt   time.Duration // 0: never
		healAt    time.Duration
		failures  int
		ok        bool
		summary   string
		lastLine  string
		wantLines int
	}{
		{name: "healthy for the whole watch", ok: true, summary: "watched for 5m: 5 checks, 0 failed",
			lastLine: "4m of 5m elapsed, last check ok (HTTP 200 from {url})", wantLines: 5},
		{name: "fails after three consecutive failures", breakAt: 2 * time.Minute, failures: 3,
			summary: "3 consecutive checks failed after 4m: {url}: HTTP 500 (want 200)", lastLine: "3m of 5m elapsed, last check failed ({url}: HTTP 500 (want 200))", wantLines: 4},
		{name: "one failure", breakAt: 4 * time.Minute, failures: 2, ok: true, summary: "watched for 5m: 5 checks, 1 failed",
			lastLine: "4m of 5m elapsed, last check failed ({url}: HTTP 500 (want 200))", wantLines: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := clock.NewFake(t0)
			var breakAt time.Time
			if tc.breakAt > 0 {
				breakAt = t0.Add(tc.breakAt)
			}
			srv := healthServer(t, fake, breakAt)
			with := map[string]any{"for": "5m", "every": "1m", "check": map[string]any{"run": "http", "with": map[string]any{"url": srv.URL + "/healthz"}}}
			if tc.failures > 0 {
				with["failures"] = tc.failures
			}
			s, err := newWatch(t, fake).Parse(with)
			if err != nil {
				t.Fatal(err)
			}
			res, lines := drive(t, fake, s, context.Background())
			url := srv.URL + "/healthz"
			if res.OK != tc.ok || res.Summary != strings.ReplaceAll(tc.summary, "{url}", url) {
				t.Fatalf("Run = ok %v %q, want ok %v %q\n%s", res.OK, res.Summary, tc.ok, tc.summary, res.Output)
			}
			if len(lines) != tc.wantLines || lines[len(lines)-1] != strings.ReplaceAll(tc.lastLine, "{url}", url) {
				t.Errorf("progress = %q", lines)
			}
			if lines[0] != "0s of 5m elapsed, last check ok (HTTP 200 from "+url+")" {
				t.Errorf("first progress line = %q", lines[0])
			}
		})
	}
}

func TestCancelledWatch(t *testing.T) {
	fake := clock.NewFake(t0)
	s, err := newWatch(t, fake).Parse(map[string]any{"for": "30m"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan adapters.Result, 1)
	go func() { done <- s.Run(ctx, vars, nil) }()
	for fake.Waiters() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if res := <-done; res.OK || res.Summary != "cancelled" {
		t.Errorf("Run = %+v", res)
	}
}

func TestPlan(t *testing.T) {
	fake := clock.NewFake(t0)
	w := newWatch(t, fake)
	s, err := w.Parse(map[string]any{"for": "30m", "check": map[string]any{"run": "http", "with": map[string]any{"url": "https://shop.example/healthz"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := "for 30m, every 1m: GET https://shop.example/healthz; pass on HTTP 200; each request times out after 10s; fail after 3 consecutive failed checks"
	if got := s.Plan(vars); got != want {
		t.Errorf("Plan =\n%s\nwant\n%s", got, want)
	}
	s, _ = w.Parse(map[string]any{"for": "15m"})
	if got := s.Plan(vars); got != "wait 15m (no check)" {
		t.Errorf("Plan = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	w := newWatch(t, clock.NewFake(t0))
	tests := []struct {
		name string
		with map[string]any
		want string
	}{
		{"unknown field", map[string]any{"for": "5m", "interval": "1m"}, `watch: unknown parameter "interval"`},
		{"missing for", map[string]any{"every": "1m"}, `watch: parameter "for" is required`},
		{"for not a duration", map[string]any{"for": 30}, `watch: parameter "for": want a duration such as "30s" or "15m", got 30`},
		{"zero failures", map[string]any{"for": "5m", "failures": 0}, `watch: parameter "failures" must be at least 1`},
		{"check without run", map[string]any{"for": "5m", "check": map[string]any{"with": map[string]any{}}}, `watch: parameter "check": "run" is required`},
		{"check field typo", map[string]any{"for": "5m", "check": map[string]any{"run": "http", "wth": map[string]any{}}}, `watch: parameter "check": unknown field "wth"`},
		{"unwatchable adapter", map[string]any{"for": "5m", "check": map[string]any{"run": "watch", "with": map[string]any{"for": "1m"}}}, `watch: parameter "check": run "watch" cannot be watched (use one of http, prometheus, shell)`},
		{"nested error", map[string]any{"for": "5m", "check": map[string]any{"run": "http", "with": map[string]any{"url": "/healthz"}}}, `watch: check: http: parameter "url": "/healthz" is not an absolute http(s) URL`},
		{"check adapter not registered", map[string]any{"for": "5m", "check": map[string]any{"run": "shell", "with": map[string]any{"command": []any{"true"}}}}, `watch: check: unknown adapter "shell"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.Parse(tc.with)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
