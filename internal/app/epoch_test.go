package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"deploybot/bot"
	"deploybot/bot/console"
	"deploybot/deploy"
	"deploybot/internal/clock"
	"deploybot/internal/config"
	"deploybot/internal/testkit"
)

// epochServer builds the bot (console mode) on Redis under prefix.
func epochServer(t *testing.T, url, prefix string, clk clock.Clock) *Server {
	t.Helper()
	env := map[string]string{"REDIS_URL": url, "DEPLOYBOT_REDIS_PREFIX": prefix, "DEPLOYBOT_DATA": t.TempDir()}
	getenv := func(k string) string { return env[k] }
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Build(t.Context(), cfg, Options{Getenv: getenv, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func readyz(t *testing.T, s *Server) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func startCmd(s *Server, version string) string {
	r := s.core.Bot.Command(context.Background(), bot.Request{Platform: console.PlatformName, Channel: console.Channel,
		Actor: deploy.Actor{ID: "ana", Name: "ana", Platform: console.PlatformName}, Text: "start " + version})
	return r.Text
}

// The store loses its data while the bot runs (Redis restarted without
// persistence, FLUSHALL): /readyz says so with 503, a start is refused in
// words until the process restarts, and a new process accepts the store as
// it is and starts again.
func TestStoreLostItsData(t *testing.T) {
	srv := testkit.Redis(t)
	prefix := srv.Prefix(t)
	clk := clock.NewFake(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	s := epochServer(t, srv.URL(), prefix, clk)

	if code, body := readyz(t, s); code != http.StatusOK {
		t.Fatalf("/readyz before: %d %q", code, body)
	}
	if got := startCmd(s, "v1.0"); !strings.Contains(got, "Started run") {
		t.Fatalf("start: %q", got)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	marker, err := c.Get(t.Context(), prefix+"epoch").Result()
	if err != nil || marker == "" {
		t.Fatalf("no epoch marker under the prefix: %q %v", marker, err)
	}
	// A second process on the same store keeps the marker.
	other := epochServer(t, srv.URL(), prefix, clk)
	if code, _ := readyz(t, other); code != http.StatusOK {
		t.Fatalf("/readyz of a second process: %d", code)
	}
	if again, _ := c.Get(t.Context(), prefix+"epoch").Result(); again != marker {
		t.Fatalf("a second process replaced the marker: %q, was %q", again, marker)
	}

	// The store loses its data: every key under the prefix.
	keys, err := c.Keys(t.Context(), prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	if err := c.Del(t.Context(), keys...).Err(); err != nil {
		t.Fatal(err)
	}

	code, body := readyz(t, s)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "state store lost its data at 2026-03-02 10:00:00 UTC") {
		t.Fatalf("/readyz after the loss: %d %q", code, body)
	}
	for _, p := range []*Server{s, other} {
		got := startCmd(p, "v2.0")
		for _, want := range []string{"the state store lost its data at 2026-03-02 10:00:00 UTC", "runs in flight are unknown",
			"check the environments before starting again", "an operator restarts the bot to accept the store as it is now"} {
			if !strings.Contains(got, want) {
				t.Fatalf("start after the loss: %q, want %q in it", got, want)
			}
		}
	}
	// The running process never writes the marker again.
	if n, _ := c.Exists(t.Context(), prefix+"epoch").Result(); n != 0 {
		t.Fatal("the running process recreated the epoch marker")
	}
	if code, _ := readyz(t, s); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz again: %d", code)
	}

	// A restart accepts the store as it is now and records a new epoch.
	s.Close()
	other.Close()
	next := epochServer(t, srv.URL(), prefix, clk)
	if code, body := readyz(t, next); code != http.StatusOK {
		t.Fatalf("/readyz after a restart: %d %q", code, body)
	}
	if got, _ := c.Get(t.Context(), prefix+"epoch").Result(); got == "" || got == marker {
		t.Fatalf("epoch after a restart: %q (was %q)", got, marker)
	}
	if got := startCmd(next, "v2.0"); !strings.Contains(got, "Started run") {
		t.Fatalf("start after a restart: %q", got)
	}
}
