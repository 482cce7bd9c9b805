package discord_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"deploybot/adapters"
	"deploybot/adapters/shell"
	"deploybot/bot"
	"deploybot/bot/discord"
	"deploybot/deploy/redisstore"
	appcore "deploybot/internal/app/core"
	"deploybot/internal/clock"
	"deploybot/internal/testkit"
	"deploybot/internal/testkit/discordfake"
	"deploybot/runbook"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// The channels and people of the fake guild.
const (
	runChannel    = "500000000000000001"
	noticeChannel = "500000000000000002"
	approverRole  = "600000000000000001"
)

var (
	ana  = discordfake.User{ID: "400000000000000001", Username: "ana", GlobalName: "Ana", Roles: []string{approverRole}}
	bob  = discordfake.User{ID: "400000000000000002", Username: "bob", Roles: []string{approverRole}}
	carl = discordfake.User{ID: "400000000000000003", Username: "carl"}
)

// e2eRunbook has a manual step, a shell step below it and another manual
// step in its first phase; a production phase; a rollback procedure. Only
// members of approverRole approve, and not the person who started the run.
const e2eRunbook = `
name: discord-e2e
approvers: ["600000000000000001"]
distinct_approver: true
phases:
  - id: build
    group: Pre-Deployment
    title: Build
    steps:
      - id: review
        title: Code review completed
      - id: check
        title: CI check passes
        run: shell
        with:
          command: ["sh", "-c", "echo checked \"$1\"", "sh", "{{ .Version }}"]
      - id: notes
        title: Release notes drafted
  - id: ship
    group: Deployment
    title: Ship
    production: true
    steps:
      - id: rollout
        title: Roll out the new version
rollback:
  steps:
    - id: revert
      title: Revert the release
`

// harness is deploybot's core on a real Redis with the Discord front, its
// HTTP handler served by httptest, and the fake Discord.
type harness struct {
	t       *testing.T
	fake    *discordfake.Server
	clock   *clock.Fake
	core    *appcore.Core
	front   *discord.Front
	url     string // the interactions endpoint
	gateway bool
	redis   *atomic.Int64 // Redis commands sent so far
	// delay, when set, holds every Redis command back (a store that stalls).
	delay *atomic.Int64
}

type harnessConfig struct {
	runbook string
	// also is a second service's runbook (YAML), deployed beside runbook's.
	also    string
	gateway bool // receive over the Gateway instead of HTTP
	guild   string
	noRun   bool // do not start Front.Run (tests that call Register themselves)
	// noExecutor leaves automated steps unrun, and Redis quiet between requests.
	noExecutor bool
	// ackBudget is the front's AckBudget (zero: the default).
	ackBudget time.Duration
	// workers is the front's Workers (zero: the default).
	workers int
}

func newHarness(t *testing.T, hc harnessConfig) *harness {
	t.Helper()
	if hc.runbook == "" {
		hc.runbook = e2eRunbook
	}
	srv := testkit.Redis(t)
	clk := clock.NewFake(time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC))
	fake := discordfake.New(t, discordfake.WithClock(clk.Now))
	var count, delay atomic.Int64
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	rc.AddHook(counter{n: &count, delay: &delay})
	store := redisstore.New(rc, srv.Prefix(t))
	reg, err := adapters.NewRegistry(shell.New(shell.Config{Grace: 200 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := runbook.Parse("e2e.yaml", []byte(hc.runbook), reg)
	if err != nil {
		t.Fatalf("runbook: %v", err)
	}
	services := runbook.Single(rb)
	if hc.also != "" {
		other, err := runbook.Parse("also.yaml", []byte(hc.also), reg)
		if err != nil {
			t.Fatalf("runbook: %v", err)
		}
		if services, err = runbook.NewCatalog(rb, other); err != nil {
			t.Fatal(err)
		}
	}
	log := testLogger()
	cfg := discord.Config{Token: discordfake.BotToken, AppID: discordfake.AppID, APIURL: fake.URL(), GuildID: hc.guild,
		Clock: clk, Logger: log, AckBudget: hc.ackBudget, Workers: hc.workers}
	if !hc.gateway {
		cfg.PublicKey = fake.PublicKey()
	}
	// The same parts in the same order as the binary: the poster, then the
	// core (internal/app/core), then the front's incoming side.
	poster, err := discord.NewPoster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	core, err := appcore.Build(appcore.Config{Store: store, Services: services, Runbook: rb, Steps: reg, Posters: []bot.Poster{poster}, Clock: clk, Logger: log, NoticeChannel: noticeChannel})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Poster, cfg.Bot = poster, core.Bot
	front, err := discord.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	front.Routes(mux)
	hs := httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	runs := 0
	if !hc.noExecutor {
		runs++
		go func() {
			_ = core.Run(ctx)
			done <- struct{}{}
		}()
	}
	if !hc.noRun {
		runs++
		go func() {
			if err := front.Run(ctx); err != nil {
				t.Errorf("front.Run: %v", err)
			}
			done <- struct{}{}
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range runs {
			<-done
		}
		hs.Close()
		core.Close()
		_ = rc.Close()
	})
	h := &harness{t: t, fake: fake, clock: clk, core: core, front: front, url: hs.URL + "/discord/interactions", gateway: hc.gateway, redis: &count, delay: &delay}
	if hc.gateway {
		if err := fake.WaitGateway(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// testLogger logs to stderr when DEPLOYBOT_TEST_LOG is set, else nowhere.
func testLogger() *slog.Logger {
	if os.Getenv("DEPLOYBOT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// counter is a go-redis hook counting the commands sent to Redis; with
// delay set it holds each command back that long (or until its context ends),
// as a stalling Redis would.
type counter struct {
	n     *atomic.Int64
	delay *atomic.Int64
}

// stall waits out the delay, or returns ctx's error when it ends first.
func (c counter) stall(ctx context.Context) error {
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

func (c counter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (c counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if os.Getenv("DEBUG_REDIS") != "" {
			println("redis:", cmd.FullName())
		}
		c.n.Add(1)
		if err := c.stall(ctx); err != nil {
			return err
		}
		return next(ctx, cmd)
	}
}

func (c counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		if err := c.stall(ctx); err != nil {
			return err
		}
		return next(ctx, cmds)
	}
}

// deliver sends an interaction the way the harness receives them (HTTP or
// Gateway) and returns the first response the bot gave.
func (h *harness) deliver(in *discordfake.Interaction) discordfake.Callback {
	h.t.Helper()
	if h.gateway {
		if err := h.fake.Dispatch(in); err != nil {
			h.t.Fatal(err)
		}
		var cb discordfake.Callback
		h.eventually("the answer to interaction "+in.ID, func() bool {
			var ok bool
			cb, ok = h.fake.CallbackFor(in.ID)
			return ok
		})
		return cb
	}
	res, err := h.fake.Post(h.url, in)
	if err != nil {
		h.t.Fatal(err)
	}
	if res.Status != http.StatusOK || res.Callback == nil {
		h.t.Fatalf("interaction %s: HTTP %d %s", in.ID, res.Status, res.Body)
	}
	return *res.Callback
}

// command runs /deploy sub with options as u in the run channel and
// returns the message u sees in answer.
func (h *harness) command(u discordfake.User, sub string, opts map[string]string) discordfake.Message {
	h.t.Helper()
	in := h.fake.Command(u, runChannel, sub, opts)
	cb := h.deliver(in)
	if cb.Type != 4 {
		h.t.Fatalf("/deploy %s answered with type %d, want 4 (a message)", sub, cb.Type)
	}
	m, ok := h.fake.ResponseMessage(in.ID)
	if !ok {
		h.t.Fatalf("/deploy %s: no response message", sub)
	}
	return m
}

// eventually polls cond until it holds or ten seconds pass, then fails
// with the run channel as ana sees it.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; the run channel:\n%s\nthe notice channel:\n%s",
				what, h.fake.Transcript(runChannel, ana.ID), h.fake.Transcript(noticeChannel, ana.ID))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// card waits for the card of phase (by id) to satisfy cond and returns it.
func (h *harness) card(phase string, cond func(discordfake.Message) bool) discordfake.Message {
	h.t.Helper()
	var m discordfake.Message
	h.eventually("the card of phase "+phase, func() bool {
		var ok bool
		m, ok = h.fake.Find(runChannel, "· phase "+phase+" ·")
		return ok && cond(m)
	})
	return m
}

// has reports whether the message's visible text contains every part.
func has(parts ...string) func(discordfake.Message) bool {
	return func(m discordfake.Message) bool {
		v := m.Visible()
		for _, p := range parts {
			if !strings.Contains(v, p) {
				return false
			}
		}
		return true
	}
}

// button returns the enabled button of m labelled label (and custom_id
// containing idPart), failing the test when there is none.
func (h *harness) button(m discordfake.Message, label, idPart string) discordfake.Component {
	h.t.Helper()
	b, ok := m.Button(label, idPart)
	if !ok {
		h.t.Fatalf("no button %q (%s) on the message:\n%s", label, idPart, m.Visible())
	}
	return b
}

// click clicks the button of m and returns the bot's first response.
func (h *harness) click(u discordfake.User, m discordfake.Message, b discordfake.Component) (*discordfake.Interaction, discordfake.Callback) {
	h.t.Helper()
	in := h.fake.Click(u, m, b.CustomID)
	return in, h.deliver(in)
}

// submitReason fills in the last modal opened for u with reason and submits it.
func (h *harness) submitReason(u discordfake.User, reason string) (*discordfake.Interaction, discordfake.Callback) {
	h.t.Helper()
	md, ok := h.fake.LastModal(u.ID)
	if !ok {
		h.t.Fatalf("no modal was opened for %s", u.Username)
	}
	in := h.fake.Submit(u, md, map[string]string{"reason": reason})
	return in, h.deliver(in)
}

// told returns what the person behind in was told about its outcome: the
// interaction's own answer when the reply was ready within the
// acknowledgement budget (an ephemeral message, or the ephemeral message
// the click was on, updated), else the followup that came later.
func (h *harness) told(in *discordfake.Interaction) discordfake.Message {
	h.t.Helper()
	var m discordfake.Message
	h.eventually("an answer to interaction "+in.ID, func() bool {
		var ok bool
		m, ok = told(h.fake, in)
		return ok
	})
	return m
}

// told is harness.told without waiting.
func told(fake *discordfake.Server, in *discordfake.Interaction) (discordfake.Message, bool) {
	cb, _ := fake.CallbackFor(in.ID)
	switch cb.Type {
	case 4:
		return fake.ResponseMessage(in.ID)
	case 7:
		id, _ := in.Message["id"].(string)
		return fake.Message(id)
	}
	if fs := fake.Followups(in.ID); len(fs) > 0 {
		return fs[0], true
	}
	return discordfake.Message{}, false
}

// read returns the whole body of r.
func read(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
