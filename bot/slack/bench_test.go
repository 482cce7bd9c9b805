package slackfront

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/internal/testkit/slackfake"
)

// clickBodies starts n runs (each in its own environment) and returns, for
// each, the signed form body of a click on its first step's Done button.
func clickBodies(b *testing.B, h *harness, n int) [][]byte {
	b.Helper()
	bodies := make([][]byte, n)
	for i := range n {
		out, err := h.core.Engine.Start(context.Background(), deploy.StartRequest{
			Release: "v1.4", Env: fmt.Sprintf("e%d", i), Channel: deployChannel, Platform: Platform,
			Actor: deploy.Actor{ID: uAna.ID, Name: uAna.Name, Platform: Platform},
		})
		if err != nil {
			b.Fatal(err)
		}
		id := bot.Button{Action: deploy.ActDone, RunID: out.Run.ID, Phase: "prepare", Step: "review"}.ID()
		m := slackfake.Message{Channel: deployChannel, TS: "1700000000.000100"}
		a := slackfake.Action{Type: "button", ActionID: id, Value: id, Label: "Done", BlockID: "a1"}
		payload := h.fake.Click(uBob, m, a, "").Payload()
		bodies[i] = []byte(url.Values{"payload": {string(payload)}}.Encode())
	}
	return bodies
}

func signed(path string, body []byte, at time.Time) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", fmt.Sprint(at.Unix()))
	req.Header.Set("X-Slack-Signature", slackfake.Sign(testSecret, at.Unix(), body))
	return req
}

// BenchmarkClick measures the click path: a signed block_actions request
// through the real handler (verify, parse, engine transition on a real
// Redis, acknowledge). Message rendering and posting happen after the
// acknowledgement, off this path, and are left out (no poster).
func BenchmarkClick(b *testing.B) {
	h := newHarness(b, options{noExecutor: true, noPoster: true})
	mux := http.NewServeMux()
	h.front.Routes(mux)
	bodies := clickBodies(b, h, b.N)
	now := time.Now()
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		reqs[i] = signed(InteractionsPath, bodies[i], now)
	}
	h.count.n.Store(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, reqs[i])
		if rec.Code != http.StatusOK {
			b.Fatalf("HTTP %d", rec.Code)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(h.count.n.Load())/float64(b.N), "redis-rt/op")
	h.front.Close()
	if e := h.fake.Ephemerals(""); len(e) > 0 {
		b.Fatalf("clicks were refused: %+v", e[0])
	}
}

// BenchmarkClickBaseline is the floor under BenchmarkClick: the same signed
// request through a handler that verifies it, makes one Redis call and
// answers 200.
func BenchmarkClickBaseline(b *testing.B) {
	h := newHarness(b, options{noExecutor: true, noPoster: true})
	key := h.prefix + "baseline"
	if err := h.rdb.Set(context.Background(), key, "1", 0).Err(); err != nil {
		b.Fatal(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		if err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := Verify(testSecret, r.Header, body, time.Now()); err != nil {
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		if err := h.rdb.Get(r.Context(), key).Err(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	bodies := clickBodies(b, h, 1)
	now := time.Now()
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		reqs[i] = signed(InteractionsPath, bodies[0], now)
	}
	h.count.n.Store(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, reqs[i])
		if rec.Code != http.StatusOK {
			b.Fatalf("HTTP %d", rec.Code)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(h.count.n.Load())/float64(b.N), "redis-rt/op")
}

// BenchmarkClickBot is BenchmarkClick without the front: the same clicks
// handed to bot.Click directly, so the difference is the front's own cost
// (verification, form and payload parsing, the HTTP response).
func BenchmarkClickBot(b *testing.B) {
	h := newHarness(b, options{noExecutor: true, noPoster: true})
	ids := make([]string, b.N)
	for i := range ids {
		out, err := h.core.Engine.Start(context.Background(), deploy.StartRequest{
			Release: "v1.4", Env: fmt.Sprintf("e%d", i), Channel: deployChannel, Platform: Platform,
			Actor: deploy.Actor{ID: uAna.ID, Name: uAna.Name, Platform: Platform},
		})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = bot.Button{Action: deploy.ActDone, RunID: out.Run.ID, Phase: "prepare", Step: "review"}.ID()
	}
	actor := deploy.Actor{ID: uBob.ID, Name: uBob.Name, Platform: Platform}
	h.count.n.Store(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if r := h.core.Bot.Click(context.Background(), bot.Click{Platform: Platform, Channel: deployChannel, Actor: actor, ButtonID: ids[i], RequestID: fmt.Sprint(i)}); r.Text != "" {
			b.Fatalf("refused: %s", r.Text)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(h.count.n.Load())/float64(b.N), "redis-rt/op")
}
