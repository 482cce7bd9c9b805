package app

import (
	"context"
	"deploybot/adapters/shell"
	"deploybot/deploy/schedule"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"deploybot/bot"
	"deploybot/bot/console"
	"deploybot/bot/discord"
	slackfront "deploybot/bot/slack"
	"deploybot/deploy"
	"deploybot/deploy/boltstore"
	"deploybot/deploy/redisstore"
	"deploybot/internal/app/core"
	"deploybot/internal/clock"
	"deploybot/internal/config"
	"deploybot/internal/httpserver"
	"deploybot/runbook"
)

// outboxFlushTimeout bounds how long shutdown waits for queued chat calls.
const outboxFlushTimeout = 5 * time.Second

// maxBody is the largest request body any endpoint accepts.
const maxBody = 1 << 20

func serveMain(ctx context.Context, env Env) int {
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		fmt.Fprintln(env.Stderr, "deploybot:", err)
		return exitUsage
	}
	log := cfg.Logger(env.Stderr)
	srv, err := Build(ctx, cfg, Options{Logger: log, Getenv: env.Getenv, Version: env.Version, ShellSupervisor: env.ShellSupervisor})
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			fmt.Fprintln(env.Stderr, "deploybot:", err)
			return exitUsage
		}
		fmt.Fprintln(env.Stderr, "deploybot:", err)
		return exitFailed
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		fmt.Fprintf(env.Stderr, "deploybot: DEPLOYBOT_ADDR: cannot listen on %s: %v\n", cfg.Addr, err)
		return exitUsage
	}
	fmt.Fprintln(env.Stdout, srv.Describe(ln.Addr().String()))
	if err := srv.Serve(ctx, ln); err != nil {
		fmt.Fprintln(env.Stderr, "deploybot:", err)
		return exitFailed
	}
	return exitOK
}

// ConfigError is a configuration problem found while building the app; its
// text names the variable.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

// Options are the parts of the wiring tests replace.
type Options struct {
	Logger  *slog.Logger
	Getenv  func(string) string
	Version string
	Clock   clock.Clock
	// HTTPClient is used for outgoing calls to chat platforms (tests point it at fakes).
	HTTPClient *http.Client
	// ShellSupervisor runs shell steps under a supervisor that ends them
	// when the process dies: what main's shell.Supervise returned.
	ShellSupervisor *shell.Supervisor
}

// Server is a wired deploybot: the store, the core, the fronts and the HTTP handler.
type Server struct {
	cfg     *config.Config
	log     *slog.Logger
	store   deploy.Store
	storeAt string
	core    *core.Core
	slack   *slackfront.Poster
	discord *discord.Poster
	page    *console.Page
	mux     *http.ServeMux
	runners []func(context.Context) error
	closers []func()
	// onShutdown runs when the HTTP server starts shutting down (ends live streams).
	onShutdown []func()
	serves     []string
}

// Handler returns the HTTP handler with every endpoint.
func (s *Server) Handler() http.Handler {
	return httpserver.Recover(s.log, s.bodies(s.mux))
}

// Core returns the wired core.
func (s *Server) Core() *core.Core { return s.core }

// Build wires deploybot for cfg. It opens the store and loads the runbook;
// nothing runs until Serve.
func Build(ctx context.Context, cfg *config.Config, opt Options) (*Server, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.Getenv == nil {
		opt.Getenv = os.Getenv
	}
	s := &Server{cfg: cfg, log: opt.Logger, mux: http.NewServeMux()}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()

	// The composition order (docs/architecture.md): each part is built once,
	// after everything it needs; nothing is set later.
	// 1. The store.
	if err := s.openStore(ctx); err != nil {
		return nil, err
	}
	// 2. Metrics (the clock came with opt).
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := deploy.NewMetrics(reg)

	// 3. The services' runbooks (DEPLOYBOT_RUNBOOK: a directory of them, a
	// file, or the built-in one), validated against the adapters' schemas:
	// parsing a step's `with:` needs neither the window calendar nor the
	// notifier, which the registry that runs steps gets from the core.
	regCfg := RegistryConfig{Getenv: opt.Getenv, Clock: opt.Clock, ShellSupervisor: opt.ShellSupervisor,
		GitHubURL: cfg.GitHubAPIURL, GitHubToken: cfg.GitHubToken.Reveal(), PrometheusURL: cfg.PrometheusURL.Reveal()}
	kinds, err := Registry(regCfg)
	if err != nil {
		return nil, err
	}
	services, err := runbook.LoadCatalog(cfg.RunbookPath, kinds)
	if err != nil {
		var ps *runbook.Problems
		if errors.As(err, &ps) {
			return nil, &ConfigError{Msg: "DEPLOYBOT_RUNBOOK: the runbook has problems:\n" + ps.Error()}
		}
		return nil, &ConfigError{Msg: "DEPLOYBOT_RUNBOOK: " + err.Error()}
	}

	// 4. The window calendar (store and runbook; no engine): the engine's
	// gate, the window adapter's source and what the console's page shows.
	calendar := schedule.NewCalendar(schedule.CalendarConfig{Store: s.store, Services: services, Clock: opt.Clock, Logger: opt.Logger})
	// 5. The outgoing sides: the chat platforms' posters and the console's
	// page need no bot; the bot and the engine are given them.
	posters, err := s.posters(opt, calendar)
	if err != nil {
		return nil, err
	}
	// 6. The core, in its order (internal/app/core): outbox, run cache and
	// wake signal, effect publisher, window calendar, adapter registry,
	// engine, executor, bot, reminder loop.
	notice := cfg.NoticeChannel
	if cfg.ConsoleMode() && notice == "" {
		notice = console.Channel
	}
	s.core, err = core.Build(core.Config{Store: s.store, Services: services, Posters: posters, Views: []deploy.Sink{s.page}, Calendar: calendar,
		Registry: func(src core.Sources) (deploy.StepParser, error) {
			rc := regCfg
			rc.Windows, rc.Notifier = src.Windows, src.Notifier
			return Registry(rc)
		},
		// Slack and Discord rate-limit edits: a message is edited at most
		// once a second there (the console's page takes every edit).
		Effects: bot.PublisherConfig{EditEvery: map[string]time.Duration{
			slackfront.Platform: bot.DefaultEditInterval, discord.PlatformName: bot.DefaultEditInterval}},
		Clock: opt.Clock, Logger: opt.Logger, NoticeChannel: notice, WindowNoticeChannel: cfg.NoticeChannel,
		Metrics: metrics, Registerer: reg, Exclusive: s.cfg.RedisURL.Reveal() == "", Workspaces: s.cfg.Workspaces})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.core.Close)
	s.runners = append(s.runners, s.core.Run)

	// 7. The incoming sides, which take the bot; 8. the HTTP routes.
	if err := s.wireFronts(ctx, opt); err != nil {
		return nil, err
	}

	s.mux.Handle("GET /healthz", httpserver.Health())
	s.mux.Handle("GET /readyz", httpserver.Ready(s.ready))
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ok = true
	return s, nil
}

// ready is the readiness check: the store answers and has not lost its
// data since this process first saw it (its epoch marker, core.Core.Epoch).
func (s *Server) ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return err
	}
	return s.core.Epoch.Check(ctx)
}

func (s *Server) openStore(ctx context.Context) error {
	if url := s.cfg.RedisURL.Reveal(); url != "" {
		st, err := redisstore.Open(url, s.cfg.RedisPrefix)
		if err != nil {
			return &ConfigError{Msg: "REDIS_URL: " + err.Error()}
		}
		s.store, s.storeAt = st, "Redis "+s.cfg.RedisURLRedacted()+" (prefix "+st.Prefix()+")"
		s.closers = append(s.closers, func() { st.Close() })
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if err := st.Ping(pctx); err != nil {
			// Serve anyway: /readyz says not ready and people get a clear
			// "try again" until Redis answers.
			s.log.Warn("redis is not answering yet", "err", err)
		}
		return nil
	}
	path := filepath.Join(s.cfg.DataDir, "deploybot.db")
	st, err := boltstore.Open(path)
	if err != nil {
		return &ConfigError{Msg: "DEPLOYBOT_DATA: " + err.Error()}
	}
	s.store, s.storeAt = st, "the embedded store "+path
	s.closers = append(s.closers, func() { st.Close() })
	return nil
}

// Describe returns the one line said at start: what is served where.
func (s *Server) Describe(addr string) string {
	what := strings.Join(s.serves, " and ")
	url := openURL(addr)
	if s.cfg.ConsoleMode() {
		return fmt.Sprintf("deploybot: serving the console on %s with %s", url, s.storeAt)
	}
	return fmt.Sprintf("deploybot: serving %s on %s (dashboard at %s) with %s", what, addr, url, s.storeAt)
}

// openURL is the address a person opens to reach the server listening on
// addr: an unspecified host (every interface: 0.0.0.0, [::], none) is
// localhost, which reaches it from this machine.
func openURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + "/"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// Serve runs the HTTP server and the background loops until ctx ends, then
// shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(s.runners)+1)
	for _, run := range s.runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && ctx.Err() == nil {
				errs <- err
				cancel()
			}
		}()
	}
	srv := httpserver.New(ln.Addr().String(), s.Handler(), s.log)
	for _, f := range s.onShutdown {
		srv.RegisterOnShutdown(f)
	}
	err := httpserver.Serve(ctx, srv, ln)
	cancel()
	wg.Wait()
	// Let the last renders (steps shown interrupted, say) reach the chat.
	fctx, fcancel := context.WithTimeout(context.Background(), outboxFlushTimeout)
	if ferr := s.core.Outbox.Flush(fctx); ferr != nil {
		s.log.Warn("some chat updates were not sent before shutdown; the next render heals them", "err", ferr)
	}
	fcancel()
	close(errs)
	for e := range errs {
		err = errors.Join(err, e)
	}
	return err
}

// Close releases the store and stops the outbox.
func (s *Server) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}
