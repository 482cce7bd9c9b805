package console_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"deploybot/adapters"
	"deploybot/bot/console"
	"deploybot/deploy"
	"deploybot/deploy/boltstore"
	appcore "deploybot/internal/app/core"
	"deploybot/runbook"
)

// stallingStore is a store whose reads, once stalled, wait until their
// context ends, as a paused Redis does for a client that honours deadlines.
type stallingStore struct {
	deploy.Store
	stalled atomic.Bool
}

func (s *stallingStore) wait(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func (s *stallingStore) Run(ctx context.Context, id string) (*deploy.Run, error) {
	if s.stalled.Load() {
		return nil, s.wait(ctx)
	}
	return s.Store.Run(ctx, id)
}

func (s *stallingStore) Runs(ctx context.Context, f deploy.RunFilter) ([]*deploy.Run, error) {
	if s.stalled.Load() {
		return nil, s.wait(ctx)
	}
	return s.Store.Runs(ctx, f)
}

func (s *stallingStore) Audit(ctx context.Context, id string) ([]deploy.AuditEntry, error) {
	if s.stalled.Load() {
		return nil, s.wait(ctx)
	}
	return s.Store.Audit(ctx, id)
}

// With the store stalled, the dashboard still answers within one read
// budget, saying the store is not answering: its reads share one deadline
// instead of waiting the engine's 1.5 s each (a run's page makes three or
// four of them: live runs, recent runs, the run and its audit).
func TestStalledStorePageAnswersWithinOneBudget(t *testing.T) {
	bolt, err := boltstore.Open(filepath.Join(t.TempDir(), "deploybot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	st := &stallingStore{Store: bolt}
	reg, err := adapters.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	rb, err := runbook.Parse("stall.yaml", []byte("name: stall\nphases:\n  - id: build\n    title: Build\n    steps:\n      - id: notes\n        title: Notes\n"), reg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	core, err := appcore.Build(appcore.Config{Store: st, Runbook: rb, Steps: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	c, err := console.New(console.Config{Bot: core.Bot, ReadOnly: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mux := http.NewServeMux()
	c.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	out, err := core.Engine.Start(t.Context(), deploy.StartRequest{Release: "v1", Env: "production", Channel: "C1", Platform: "slack",
		Actor: deploy.Actor{Platform: "slack", ID: "U1", Name: "ana"}})
	if err != nil {
		t.Fatal(err)
	}

	st.stalled.Store(true)
	type answer struct {
		code int
		body string
	}
	began := time.Now()
	defer func() { t.Logf("page answered after %s", time.Since(began)) }()
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/console/runs/" + out.Run.ID)
		if err != nil {
			got <- answer{}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- answer{resp.StatusCode, string(b)}
	}()
	// Generous (the budget is 1.5 s), and still short of three reads' 4.5 s.
	select {
	case a := <-got:
		if a.code == 0 || !strings.Contains(a.body, "the state store is not answering right now") {
			t.Fatalf("the page answered %d:\n%s", a.code, a.body)
		}
	case <-time.After(3500 * time.Millisecond):
		t.Fatal("the page was still loading 3.5 s into a store stall")
	}
}
