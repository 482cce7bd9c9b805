package slackfront

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"deploybot/adapters"
	"deploybot/adapters/shell"
	"deploybot/bot"
	"deploybot/deploy/redisstore"
	appcore "deploybot/internal/app/core"
	"deploybot/internal/clock"
	"deploybot/internal/config"
	"deploybot/internal/testkit"
	"deploybot/internal/testkit/slackfake"
	"deploybot/runbook"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// The people of the end-to-end tests.
var (
	uAna = slackfake.User{ID: "U0ANA", Name: "ana"}
	uBob = slackfake.User{ID: "U0BOB", Name: "bob"}
	uCat = slackfake.User{ID: "U0CAT", Name: "cat"}
)

const (
	testSecret    = "test-signing-secret"
	deployChannel = "C0DEPLOY"
	noticeChannel = "C0NOTICE"
)

// e2eYAML is a small two-phase runbook: a manual step, then an automated
// shell step below it; a production phase; a one-step rollback.
const e2eYAML = `
name: payments-api
distinct_approver: true
phases:
  - id: prepare
    group: Pre-Deployment
    title: Prepare the release
    steps:
      - id: review
        title: Code review completed
      - id: build
        title: Build the release artifact
        run: shell
        with:
          command: ["echo", "built", "{{ .Version }}"]
  - id: rollout
    group: Deployment
    title: Roll out to production
    production: true
    steps:
      - id: deploy
        title: Deploy the new version
rollback:
  steps:
    - id: revert
      title: Revert to the previous version
`

// redisCounter counts round trips to Redis (a pipeline counts once); with
// delay set it holds each one back that long (or until its context ends),
// as a stalling Redis would.
type redisCounter struct{ n, delay atomic.Int64 }

// stall waits out the delay, or returns ctx's error when it ends first.
func (c *redisCounter) stall(ctx context.Context) error {
	d := time.Duration(c.delay.Load())
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *redisCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *redisCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		if err := c.stall(ctx); err != nil {
			return err
		}
		return next(ctx, cmd)
	}
}

func (c *redisCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		if err := c.stall(ctx); err != nil {
			return err
		}
		return next(ctx, cmds)
	}
}

// options of a harness.
type options struct {
	yaml string
	// also is a second service's runbook (YAML), deployed beside yaml's.
	also string
	// socket runs the front in Socket Mode (no signing secret).
	socket bool
	// noExecutor leaves the step executor stopped (no background Redis traffic).
	noExecutor bool
	// noPoster leaves the front out of the bot's posters (benchmarks).
	noPoster  bool
	ackBudget time.Duration
	// callTimeout bounds the poster's Web API calls (Config.CallTimeout).
	callTimeout time.Duration
	// effects tunes the effect publisher.
	effects bot.PublisherConfig
}

// harness is deploybot's core and Slack front on a real Redis, served by a
// real HTTP server, talking to a fake Slack.
type harness struct {
	t      testing.TB
	opt    options
	fake   *slackfake.Server
	redis  *testkit.RedisServer
	prefix string
	rb     *runbook.Runbook
	reg    *adapters.Registry
	rdb    *redis.Client
	count  *redisCounter

	core   *appcore.Core
	front  *Front
	srv    *httptest.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func quietLogger() *slog.Logger {
	if os.Getenv("DEPLOYBOT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newHarness(t testing.TB, opt options) *harness {
	t.Helper()
	if opt.yaml == "" {
		opt.yaml = e2eYAML
	}
	h := &harness{t: t, opt: opt, fake: slackfake.New(t), redis: testkit.Redis(t)}
	h.prefix = h.redis.Prefix(t)
	reg, err := adapters.NewRegistry(shell.New(shell.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	h.reg = reg
	h.rb, err = runbook.Parse("e2e.yaml", []byte(opt.yaml), reg)
	if err != nil {
		t.Fatalf("runbook: %v", err)
	}
	h.start()
	t.Cleanup(h.stop)
	return h
}

// start builds a fresh core and front on the harness's Redis prefix: the
// same state a restarted bot process finds.
func (h *harness) start() {
	t := h.t
	h.count = &redisCounter{}
	h.rdb = redis.NewClient(&redis.Options{Addr: h.redis.Addr()})
	h.rdb.AddHook(h.count)
	store := redisstore.New(h.rdb, h.prefix)
	log := quietLogger()
	cfg := Config{
		BotToken: config.Secret(slackfake.BotToken), APIURL: h.fake.APIURL(), Logger: log,
		AckBudget: h.opt.ackBudget, CallTimeout: h.opt.callTimeout,
	}
	if h.opt.socket {
		cfg.AppToken = config.Secret(slackfake.AppToken)
	} else {
		cfg.SigningSecret = config.Secret(testSecret)
	}
	// The same parts in the same order as the binary: the poster, then the
	// core (internal/app/core), then the front's incoming side.
	poster, err := NewPoster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var posters []bot.Poster
	if !h.opt.noPoster {
		posters = append(posters, poster)
	}
	services := runbook.Single(h.rb)
	if h.opt.also != "" {
		other, err := runbook.Parse("also.yaml", []byte(h.opt.also), h.reg)
		if err != nil {
			t.Fatalf("runbook: %v", err)
		}
		if services, err = runbook.NewCatalog(h.rb, other); err != nil {
			t.Fatal(err)
		}
	}
	h.core, err = appcore.Build(appcore.Config{
		Store: store, Services: services, Runbook: h.rb, Steps: h.reg, Posters: posters, Clock: clock.Real{}, Logger: log,
		NoticeChannel: noticeChannel, Poll: 50 * time.Millisecond, Effects: h.opt.effects,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Poster, cfg.Bot = poster, h.core.Bot
	front, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.front = front
	mux := http.NewServeMux()
	front.Routes(mux)
	h.srv = httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	if !h.opt.noExecutor {
		h.wg.Go(func() { _ = h.core.Run(ctx) })
	}
	h.wg.Go(func() {
		if err := front.Run(ctx); err != nil {
			t.Errorf("front.Run: %v", err)
		}
	})
}

// stop stops the bot as a process exit would (queued chat calls are dropped).
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.wg.Wait()
	h.core.Close()
	h.srv.Close()
	_ = h.rdb.Close()
	h.cancel = nil
}

// restart stops the bot and starts a new one on the same Redis prefix.
func (h *harness) restart() {
	h.stop()
	h.start()
}

// flush waits until every queued chat call was made.
func (h *harness) flush() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.core.Outbox.Flush(ctx); err != nil {
		h.t.Fatalf("outbox did not drain: %v", err)
	}
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) do(req *http.Request) (int, []byte, time.Duration) {
	h.t.Helper()
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("request: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, body, time.Since(start)
}

// command types /deploy text as user in the deploy channel and returns the
// HTTP status and the reply.
func (h *harness) command(u slackfake.User, text string) (int, CommandResponse) {
	h.t.Helper()
	c := h.fake.Command(u, deployChannel, text)
	status, body, took := h.do(slackfake.CommandRequest(h.srv.URL+CommandsPath, testSecret, time.Now(), c))
	if took > 3*time.Second {
		h.t.Errorf("/deploy %s answered after %s (Slack gives up at 3 s)", text, took)
	}
	var r CommandResponse
	if status == http.StatusOK {
		if err := json.Unmarshal(body, &r); err != nil {
			h.t.Fatalf("reply is not JSON: %q", body)
		}
	}
	return status, r
}

// interact posts an interaction payload and returns the status and body.
func (h *harness) interact(payload []byte) (int, []byte) {
	h.t.Helper()
	status, body, took := h.do(slackfake.InteractionRequest(h.srv.URL+InteractionsPath, testSecret, time.Now(), payload))
	if took > 3*time.Second {
		h.t.Errorf("interaction answered after %s (Slack gives up at 3 s)", took)
	}
	return status, body
}

// click clicks the button labelled label whose action id contains idPart
// on message m, as u.
func (h *harness) click(u slackfake.User, m slackfake.Message, label, idPart string) int {
	h.t.Helper()
	a, ok := m.Action(label, idPart)
	if !ok {
		h.t.Fatalf("no %q button (%q) on the message:\n%s", label, idPart, m.Visible())
	}
	status, _ := h.interact(h.fake.Click(u, m, a, "").Payload())
	return status
}

// message waits for a message in channel showing all parts and returns it.
func (h *harness) message(channel string, parts ...string) slackfake.Message {
	h.t.Helper()
	var m slackfake.Message
	waitFor(h.t, "a message showing "+strings.Join(parts, " / ")+" in "+channel+"; have:\n"+h.fake.Transcript(channel), func() bool {
		var ok bool
		m, ok = h.fake.Find(channel, parts...)
		return ok
	})
	return m
}

// ephemeral waits for an ephemeral message to u containing text.
func (h *harness) ephemeral(u slackfake.User, text string) slackfake.Ephemeral {
	h.t.Helper()
	var e slackfake.Ephemeral
	waitFor(h.t, "an ephemeral to "+u.Name+" saying "+text, func() bool {
		for _, x := range h.fake.Ephemerals(u.ID) {
			if strings.Contains(x.Text, text) {
				e = x
				return true
			}
		}
		return false
	})
	return e
}

// freePort reports a loopback port nothing listens on (for network-error tests).
func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
