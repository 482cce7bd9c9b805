package slackfront

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"deploybot/bot"
	"deploybot/internal/clock"
	"deploybot/internal/config"
	"deploybot/internal/workers"
)

// Platform is the platform name of the Slack front ("slack"), as actors,
// runs and message slots carry it.
const Platform = "slack"

// Defaults of Config.
const (
	// DefaultWorkers is how many workers send the replies that follow an
	// acknowledgement (ephemeral answers through response_url).
	DefaultWorkers = 4
	// DefaultAckBudget bounds everything done before a command or click is
	// acknowledged, well inside Slack's 3 seconds (bot.AckBudget).
	DefaultAckBudget = bot.AckBudget
	// DefaultMaxWork bounds the clicks being applied at once; past it a
	// click is refused at once ("busy; nothing was changed").
	DefaultMaxWork = 256
	// DefaultGroupsTTL is how long the user groups' members are cached.
	DefaultGroupsTTL = 5 * time.Minute
	// DefaultCallTimeout bounds one Web API call made after the
	// acknowledgement that posts no message of a run (a reply, Socket Mode).
	DefaultCallTimeout = 20 * time.Second
	// DefaultPostTimeout bounds one call that posts, edits or looks for a
	// message: with the user-group lookup it stays inside the publisher's
	// first-post budget (10 s, bot.PublisherConfig.FirstPost), so a first post is never
	// given up on while Slack may still make it, and the hold that keeps
	// other processes off it (and so the recovery after a crash) stays as
	// short. Slack answers these calls in well under a second.
	DefaultPostTimeout = 8 * time.Second
)

// Config configures a Front.
type Config struct {
	// BotToken is the bot token (xoxb-…): required.
	BotToken config.Secret
	// SigningSecret verifies requests over HTTP; required unless AppToken is set.
	SigningSecret config.Secret
	// AppToken is the app-level token (xapp-…) that turns on Socket Mode.
	AppToken config.Secret
	// APIURL is the Web API base URL (default Slack's own); a missing final "/" is added.
	APIURL string
	// Bot is the chat side that commands and clicks go to: required by New,
	// not used by NewPoster.
	Bot *bot.Bot
	// Poster is the outgoing side built beforehand with NewPoster (the bot
	// is built with it); nil makes New build one from this Config.
	Poster *Poster
	Clock  clock.Clock
	Logger *slog.Logger
	// HTTPClient makes the Web API, response_url and Socket Mode calls.
	HTTPClient *http.Client
	// Workers bounds the replies sent after acknowledgements (default DefaultWorkers).
	Workers int
	// AckBudget bounds the work before an acknowledgement (default DefaultAckBudget).
	AckBudget time.Duration
	// GroupsTTL is how long user-group members are cached (default DefaultGroupsTTL).
	GroupsTTL time.Duration
	// CallTimeout bounds one Web API call that posts, edits or looks for a
	// message (default DefaultPostTimeout). The publisher gives a first post
	// at least this long (PostTimeout), so it never gives up on a post Slack
	// may still make.
	CallTimeout time.Duration
}

// Poster is the Slack front's outgoing side: the bot.Poster that posts and
// edits messages through the Web API. It needs no bot, so it is built before
// the bot, which is given it at construction.
type Poster struct {
	api    *slack.Client
	log    *slog.Logger
	http   *http.Client
	apiURL string        // the Web API base URL, ending in "/"
	token  config.Secret // the bot token, for the calls made as JSON
	blocks *blockCache   // the JSON of blocks recently sent
	// groups caches user groups: who is in the approvers' groups (the
	// front's access checks) and their IDs (mentions in requests for approval).
	groups *groupCache
	// callTimeout bounds one chat.postMessage, chat.update or message search.
	callTimeout time.Duration
}

var (
	_ bot.Poster    = (*Poster)(nil)
	_ bot.PostBound = (*Poster)(nil)
)

// Front is deploybot's Slack front: the incoming side (HTTP handlers, the
// Socket Mode loop) that takes the bot, over its Poster.
type Front struct {
	*Poster
	cfg    Config
	bot    *bot.Bot
	clock  clock.Clock
	http   *http.Client
	pool   *pool
	envs   chan struct{} // bounds Socket Mode envelopes handled at once
	slots  chan struct{} // bounds the clicks being applied at once
	clicks *workers.Pool // applies clicks on reused goroutines

	workMu  sync.Mutex // workMu orders work.Add before Close's work.Wait
	closing bool
	work    sync.WaitGroup // clicks being applied
}

// NewPoster returns the outgoing side for cfg (Bot is not used). It makes
// no network call.
func NewPoster(cfg Config) (*Poster, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	return newPoster(cfg), nil
}

func newPoster(cfg Config) *Poster {
	opts := []slack.Option{slack.OptionAPIURL(cfg.APIURL), slack.OptionHTTPClient(cfg.HTTPClient)}
	if cfg.AppToken.IsSet() {
		opts = append(opts, slack.OptionAppLevelToken(cfg.AppToken.Reveal()))
	}
	api := slack.New(cfg.BotToken.Reveal(), opts...)
	log := cfg.Logger.With("component", "slack", "platform", Platform)
	return &Poster{api: api, log: log, http: cfg.HTTPClient, apiURL: cfg.APIURL, token: cfg.BotToken, blocks: newBlockCache(),
		groups: newGroupCache(api, cfg.Clock, cfg.GroupsTTL, log), callTimeout: cfg.CallTimeout}
}

// New returns a Slack front for cfg, over cfg.Poster (or a new one). It
// starts nothing: Run runs Socket Mode (when an app token is set) and Routes
// adds the HTTP handlers.
func New(cfg Config) (*Front, error) {
	if cfg.Bot == nil {
		return nil, errors.New("slack front: no bot")
	}
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	p := cfg.Poster
	if p == nil {
		p = newPoster(cfg)
	}
	f := &Front{
		Poster: p, cfg: cfg, bot: cfg.Bot, clock: cfg.Clock, http: cfg.HTTPClient,
		pool:   newPool(cfg.Workers, p.log),
		envs:   make(chan struct{}, 64),
		slots:  make(chan struct{}, DefaultMaxWork),
		clicks: workers.New(time.Minute),
	}
	return f, nil
}

// withDefaults checks cfg and fills in its defaults.
func withDefaults(cfg Config) (Config, error) {
	if !cfg.BotToken.IsSet() {
		return cfg, errors.New("slack front: SLACK_BOT_TOKEN is not set")
	}
	if !cfg.SigningSecret.IsSet() && !cfg.AppToken.IsSet() {
		return cfg, errors.New("slack front: set SLACK_SIGNING_SECRET (HTTP) or SLACK_APP_TOKEN (Socket Mode)")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = config.DefaultSlackAPIURL
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	if u, err := url.Parse(cfg.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cfg, fmt.Errorf("slack front: SLACK_API_URL %q is not an http(s) URL", cfg.APIURL)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = defaultHTTPClient()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.AckBudget <= 0 {
		cfg.AckBudget = DefaultAckBudget
	}
	if cfg.GroupsTTL <= 0 {
		cfg.GroupsTTL = DefaultGroupsTTL
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultPostTimeout
	}
	return cfg, nil
}

// Platform returns "slack".
func (p *Poster) Platform() string { return Platform }

// Run serves Socket Mode until ctx ends when an app token is configured;
// otherwise it waits for ctx (the HTTP handlers serve meanwhile). Either way
// it closes the front when it returns. It returns an error only when Socket
// Mode cannot go on (the app token is refused).
func (f *Front) Run(ctx context.Context) error {
	defer f.Close()
	if !f.cfg.AppToken.IsSet() {
		<-ctx.Done()
		return nil
	}
	return f.runSocket(ctx)
}

// Close waits a few seconds at most for the clicks being applied, then
// stops the reply workers after the replies already queued (waiting a few
// seconds at most). Requests that arrive later are still answered, but
// their follow-up replies are dropped.
func (f *Front) Close() {
	f.workMu.Lock()
	f.closing = true
	f.workMu.Unlock()
	done := make(chan struct{})
	go func() {
		f.work.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(poolGrace):
	}
	f.pool.close()
}

// pool is the bounded worker pool for work after an acknowledgement.
type pool struct {
	log     *slog.Logger
	workers int
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu      sync.Mutex // mu protects jobs, started and closed
	jobs    chan func(context.Context)
	started bool
	closed  bool
}

// poolBacklog is how many jobs wait per worker before new ones are dropped.
const poolBacklog = 64

// poolGrace is how long close waits for queued jobs before cancelling them.
const poolGrace = 5 * time.Second

func newPool(workers int, log *slog.Logger) *pool {
	ctx, cancel := context.WithCancel(context.Background())
	return &pool{log: log, workers: workers, ctx: ctx, cancel: cancel, jobs: make(chan func(context.Context), workers*poolBacklog)}
}

// submit queues job without blocking; it reports false (and logs) when the
// pool is closed or its backlog is full.
func (p *pool) submit(job func(context.Context)) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.log.Warn("reply dropped: front is closed")
		return false
	}
	if !p.started {
		p.started = true
		for range p.workers {
			p.wg.Go(func() {
				for j := range p.jobs {
					j(p.ctx)
				}
			})
		}
	}
	select {
	case p.jobs <- job:
		return true
	default:
		p.log.Warn("reply dropped: too many replies waiting")
		return false
	}
}

func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.jobs)
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(poolGrace):
		p.cancel()
		<-done
	}
	p.cancel()
}
