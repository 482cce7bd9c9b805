package console_test

import (
	"context"
	"deploybot/deploy/schedule"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"deploybot/adapters"
	"deploybot/adapters/shell"
	"deploybot/bot"
	"deploybot/bot/console"
	"deploybot/deploy"
	"deploybot/deploy/boltstore"
	appcore "deploybot/internal/app/core"
	"deploybot/internal/clock"
	"deploybot/runbook"
)

// rehearsal is a small runbook: a manual step followed by a shell step, a
// production phase, and a rollback procedure. Anybody may approve, but not
// the person who started the run.
const rehearsal = `
name: rehearsal
title: Rehearsal
approvers: []
distinct_approver: true
phases:
  - id: verify
    group: Pre-Deployment
    title: Verify the release
    steps:
      - id: notes
        title: Release notes reviewed
      - id: build
        title: Build and smoke-test the artifact
        run: shell
        with:
          command: ["sh", "-c", "echo building \"$DEPLOY_VERSION\"; echo smoke test passed"]
      - id: changelog
        title: Changelog published
  - id: release
    group: Deployment
    title: Release to production
    production: true
    steps:
      - id: rollout
        title: Roll out to all regions
      - id: verify-health
        title: Verify health checks
rollback:
  steps:
    - id: revert
      title: Revert to the previous release
`

// t0 is the fake clock's start: a Tuesday evening, just before a window.
var t0 = time.Date(2030, time.March, 5, 21, 58, 0, 0, time.UTC)

// fixture is the console wired to a real core: a bbolt store in a temporary
// directory, the shell adapter, the executor running in the background, and
// an httptest server with the console's routes.
type fixture struct {
	URL     string
	Core    *appcore.Core
	Console *console.Console
	Clock   *clock.Fake
	Store   deploy.Store
}

type options struct {
	runbook  string
	readOnly bool
	token    string
	// windows wires the real maintenance-window scheduler.
	windows bool
	// web adds a second service, web, beside the runbook's (then named api).
	web bool
}

// webRunbook is the runbook of the second service of options.web.
const webRunbook = `
name: web
phases:
  - id: ship
    title: Ship the web app
    steps:
      - id: go
        title: Upload the bundle
rollback:
  steps:
    - id: revert
      title: Restore the previous bundle
`

func newFixture(t *testing.T, o options) *fixture {
	t.Helper()
	if o.runbook == "" {
		o.runbook = rehearsal
	}
	clk := clock.NewFake(t0)
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "deploybot.db"), boltstore.WithClock(clk))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	reg, err := adapters.NewRegistry(shell.New(shell.Config{}))
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	if o.web {
		o.runbook = strings.Replace(o.runbook, "name: rehearsal", "name: api", 1)
	}
	rb, err := runbook.Parse("rehearsal.yaml", []byte(o.runbook), reg)
	if err != nil {
		t.Fatalf("runbook: %v", err)
	}
	services := runbook.Single(rb)
	if o.web {
		web, err := runbook.Parse("web.yaml", []byte(webRunbook), reg)
		if err != nil {
			t.Fatalf("runbook: %v", err)
		}
		if services, err = runbook.NewCatalog(rb, web); err != nil {
			t.Fatal(err)
		}
	}
	logw := &testWriter{t: t}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The same parts in the same order as the binary: the page, then the
	// core (internal/app/core), then the console's handlers.
	cal := schedule.NewCalendar(schedule.CalendarConfig{Store: st, Runbook: rb, Clock: clk, Logger: log})
	var windows bot.Windows
	if o.windows {
		windows = cal
	}
	page, err := console.NewPage(console.Config{Store: st, ReadOnly: o.readOnly, Windows: windows, Clock: clk, Logger: log})
	if err != nil {
		t.Fatalf("console.NewPage: %v", err)
	}
	var posters []bot.Poster
	if !o.readOnly {
		posters = append(posters, page)
	}
	core, err := appcore.Build(appcore.Config{Store: st, Services: services, Runbook: rb, Steps: reg, Posters: posters, Views: []deploy.Sink{page}, Calendar: cal, Clock: clk, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	c, err := console.New(console.Config{
		Page: page, Bot: core.Bot, ReadOnly: o.readOnly, Token: o.token, Clock: clk, Logger: log,
	})
	if err != nil {
		t.Fatalf("console.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = core.Run(ctx)
	}()
	mux := http.NewServeMux()
	c.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		c.Close()
		srv.Close()
		cancel()
		<-done
		core.Close()
		_ = st.Close()
		logw.stop()
	})
	return &fixture{URL: srv.URL, Core: core, Console: c, Clock: clk, Store: st}
}

// start starts a run as someone on a platform, as a chat front would.
func (f *fixture) start(t *testing.T, release, platform, channel string, who deploy.Actor) *deploy.Run {
	t.Helper()
	out, err := f.Core.Engine.Start(context.Background(), deploy.StartRequest{Release: release, Env: "production", Channel: channel, Platform: platform, Actor: who})
	if err != nil {
		t.Fatalf("start %s: %v", release, err)
	}
	return out.Run
}

// waitRun polls the stored run until ok accepts it.
func (f *fixture) waitRun(t *testing.T, id, what string, ok func(*deploy.Run) bool) *deploy.Run {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := f.Store.Run(context.Background(), id)
		if err == nil && ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s: timed out waiting until %s (last err %v)", id, what, err)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline for an asynchronous result
	}
}

// testWriter sends log lines to the test log until the test is over.
type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
}

var _ io.Writer = (*testWriter)(nil)

// httptestServer serves h until the test ends and returns its URL.
func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
