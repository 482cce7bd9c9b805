package discord

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"deploybot/bot"
	"deploybot/internal/clock"
)

// PlatformName is the platform name of the Discord front (Poster.Platform,
// Actor.Platform, the audit log).
const PlatformName = "discord"

// Config configures a Front.
type Config struct {
	// Token is the bot token (DISCORD_BOT_TOKEN), without the "Bot " prefix.
	Token string
	// AppID is the application id (DISCORD_APP_ID).
	AppID string
	// PublicKey is the application's public key (DISCORD_PUBLIC_KEY). When
	// set, interactions arrive on POST /discord/interactions; when nil, over
	// the Gateway.
	PublicKey ed25519.PublicKey
	// APIURL replaces Discord's REST base URL (scheme, host and an optional
	// path prefix), for a proxy or a test server (DISCORD_API_URL).
	APIURL string
	// GuildID registers the command on one guild (fast, for development)
	// instead of globally.
	GuildID string
	// Bot runs commands and clicks. Required by New, not used by NewPoster.
	Bot *bot.Bot
	// Poster is the outgoing side built beforehand with NewPoster (the bot
	// is built with it); nil makes New build one from this Config.
	Poster *Poster
	// Clock checks interaction timestamps and paces retries (default clock.Real).
	Clock  clock.Clock
	Logger *slog.Logger
	// HTTPClient makes the REST calls (default: a client with a 20 s timeout).
	HTTPClient *http.Client
	// AckBudget bounds everything done before an interaction is answered
	// (default DefaultAckBudget), well inside Discord's 3 seconds.
	AckBudget time.Duration
	// Workers bounds the interaction work that runs after acknowledgements
	// (default DefaultWorkers); a click beyond it is refused as busy.
	Workers int
}

// Defaults of Config.
const (
	// DefaultAckBudget bounds the work before an interaction's first response.
	DefaultAckBudget = 2500 * time.Millisecond
	// DefaultWorkers bounds the interaction work running after acknowledgements.
	DefaultWorkers = 32
)

// Front is the Discord front. It implements bot.Poster; Routes mounts the
// interactions endpoint and Run registers the command and, without a public
// key, receives interactions over the Gateway.
type Front struct {
	*Poster
	appID   string
	guildID string
	pub     ed25519.PublicKey
	cb      *discordgo.Session // interaction answers and followups (a rate limiter of their own)
	bot     *bot.Bot
	clock   clock.Clock
	budget  time.Duration // bounds the work before the first response

	work tasks         // interaction work still running after the acknowledgement
	slot chan struct{} // bounds the interaction work running at once
}

// Poster is the Discord front's outgoing side: the bot.Poster that posts and
// edits messages over REST. It needs no bot, so it is built before the bot,
// which is given it at construction.
type Poster struct {
	s   *discordgo.Session // REST: messages, commands, the Gateway
	log *slog.Logger
	me  self // the bot's own user, read once by Find (finder.go)
}

var _ bot.Poster = (*Poster)(nil)

// NewPoster returns the outgoing side for cfg (Bot is not used). It makes no
// network call.
func NewPoster(cfg Config) (*Poster, error) {
	cfg, session, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	s, err := session()
	if err != nil {
		return nil, err
	}
	return &Poster{s: s, log: cfg.Logger.With("component", "discord", "platform", PlatformName)}, nil
}

// New returns a Discord front for cfg, over cfg.Poster (or a new one). It
// makes no network call.
func New(cfg Config) (*Front, error) {
	if cfg.Bot == nil {
		return nil, errors.New("discord: a bot is required")
	}
	cfg, session, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	p := cfg.Poster
	if p == nil {
		s, err := session()
		if err != nil {
			return nil, err
		}
		p = &Poster{s: s, log: cfg.Logger.With("component", "discord", "platform", PlatformName)}
	}
	// Interaction answers get a session (and so a rate limiter) of their own:
	// Discord exempts them from the global limit, and a card edit waiting
	// out its bucket must never hold up an answer due within 3 seconds.
	cb, err := session()
	if err != nil {
		return nil, err
	}
	return &Front{
		Poster: p, appID: cfg.AppID, guildID: cfg.GuildID, pub: cfg.PublicKey, cb: cb, bot: cfg.Bot, clock: cfg.Clock, budget: cfg.AckBudget,
		slot: make(chan struct{}, cfg.Workers),
	}, nil
}

// prepare checks cfg, fills in its defaults and returns a maker of sessions.
func prepare(cfg Config) (Config, func() (*discordgo.Session, error), error) {
	switch {
	case strings.TrimSpace(cfg.Token) == "":
		return cfg, nil, errors.New("discord: DISCORD_BOT_TOKEN is required")
	case strings.TrimSpace(cfg.AppID) == "":
		return cfg, nil, errors.New("discord: DISCORD_APP_ID is required")
	case cfg.PublicKey != nil && len(cfg.PublicKey) != ed25519.PublicKeySize:
		return cfg, nil, fmt.Errorf("discord: DISCORD_PUBLIC_KEY must be %d bytes (64 hex digits), got %d", ed25519.PublicKeySize, len(cfg.PublicKey))
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AckBudget <= 0 {
		cfg.AckBudget = DefaultAckBudget
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	client := &http.Client{Timeout: 20 * time.Second}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		client = &c
	}
	if cfg.APIURL != "" {
		rt, err := newRewrite(cfg.APIURL, client.Transport)
		if err != nil {
			return cfg, nil, err
		}
		client.Transport = rt
	}
	session := func() (*discordgo.Session, error) {
		s, err := discordgo.New("Bot " + cfg.Token)
		if err != nil {
			return nil, fmt.Errorf("discord: session: %w", err)
		}
		s.Client = client
		// The outbox waits out rate limits (it is told how long by the 429);
		// discordgo would otherwise sleep and retry without a bound.
		s.ShouldRetryOnRateLimit = false
		s.MaxRestRetries = 1
		s.StateEnabled = false
		// Interactions arrive without any intent; the bot reads no other event.
		s.Identify.Intents = discordgo.IntentsNone
		return s, nil
	}
	return cfg, session, nil
}

// Platform returns "discord".
func (f *Poster) Platform() string { return PlatformName }

// Post posts m in channel, as a reply to the message replyTo when it is set,
// and returns the new message's reference ("channel/message").
func (f *Poster) Post(ctx context.Context, channel, replyTo string, m bot.Message) (string, error) {
	r := render(m)
	send := &discordgo.MessageSend{Content: r.Content, Embeds: r.Embeds, Components: r.Components, AllowedMentions: noMentions()}
	if r.Allowed != nil {
		send.AllowedMentions = r.Allowed // a request for approval notifies the approvers it names
	}
	if ch, id, ok := splitRef(replyTo); ok {
		no := false
		send.Reference = &discordgo.MessageReference{MessageID: id, ChannelID: ch, FailIfNotExists: &no}
	}
	if err := f.preflight(discordgo.EndpointChannelMessages(channel)); err != nil {
		return "", err
	}
	msg, err := f.send(ctx, channel, send, m.Key) // with the key's nonce: see post.go
	if err != nil {
		return "", platformError("post message", err)
	}
	return channel + "/" + msg.ID, nil
}

// Update replaces the message ref ("channel/message") with m.
func (f *Poster) Update(ctx context.Context, ref string, m bot.Message) error {
	ch, id, ok := splitRef(ref)
	if !ok {
		return &bot.PermanentError{Err: fmt.Errorf("discord: update: malformed message reference %q", ref)}
	}
	r := render(m)
	edit := &discordgo.MessageEdit{ID: id, Channel: ch, Content: &r.Content, Embeds: &r.Embeds, Components: &r.Components, AllowedMentions: noMentions()}
	if err := f.preflight(discordgo.EndpointChannelMessage(ch, "")); err != nil {
		return err
	}
	if _, err := f.s.ChannelMessageEditComplex(edit, discordgo.WithContext(ctx)); err != nil {
		return platformError("edit message", err)
	}
	return nil
}

// preflight answers a RateLimitError when discordgo would sleep before
// sending on the bucket (its own wait ignores the context and has no cap):
// the outbox then waits on its clock, can be stopped, and sends the latest
// state afterwards. A bucket in use by another call is left to discordgo.
func (f *Poster) preflight(bucket string) error {
	b := f.s.Ratelimiter.GetBucket(bucket)
	if !b.TryLock() {
		return nil
	}
	wait := f.s.Ratelimiter.GetWaitTime(b, 1)
	b.Unlock()
	if wait > 0 {
		return &bot.RateLimitError{After: wait, Err: fmt.Errorf("discord: bucket %s used up", bucket)}
	}
	return nil
}

// splitRef splits a message reference "channel/message".
func splitRef(ref string) (channel, id string, ok bool) {
	channel, id, ok = strings.Cut(ref, "/")
	return channel, id, ok && channel != "" && id != ""
}

// noMentions stops every mention in the bot's messages from notifying anyone:
// chat-supplied text (reasons, versions) must not ping @everyone.
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

// Routes mounts POST /discord/interactions when the front has a public key
// (without one, interactions come over the Gateway and nothing is mounted).
func (f *Front) Routes(mux *http.ServeMux) {
	if f.pub == nil {
		return
	}
	mux.HandleFunc("POST /discord/interactions", f.serveInteractions)
}

// Run registers the /deploy command (only when its definition changed) and,
// without a public key, receives interactions over the Gateway. It returns
// when ctx ends, after the interaction work in progress finished, or with an
// error when Discord refuses the bot's credentials.
func (f *Front) Run(parent context.Context) error {
	defer f.work.close()
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := f.retry(ctx, "register the /deploy command", func() error {
			_, err := f.Register(ctx)
			return err
		})
		switch {
		case err == nil:
		case strings.Contains(err.Error(), "HTTP 401"):
			errs <- err // a wrong token: nothing else will work either
		default:
			// The command may already be registered (or be registered by
			// hand): keep serving interactions and say what went wrong.
			f.log.Error("the /deploy command could not be registered; interactions are still served", "err", err)
		}
	}()
	if f.pub == nil {
		remove := f.s.AddHandler(func(_ *discordgo.Session, ic *discordgo.InteractionCreate) {
			f.onGateway(ctx, ic.Interaction)
		})
		defer remove()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.retry(ctx, "connect to the Gateway", func() error {
				if err := f.s.Open(); err != nil {
					return platformError("open gateway", err)
				}
				return nil
			}); err != nil {
				errs <- err
			}
		}()
		defer func() {
			if err := f.s.Close(); err != nil {
				f.log.Debug("closing the Gateway session", "err", err)
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	cancel()
	wg.Wait()
	return err
}

// retry calls fn until it succeeds, fails for good (a PermanentError, which
// it returns) or ctx ends, waiting longer after each transient failure.
func (f *Front) retry(ctx context.Context, what string, fn func() error) error {
	backoff := time.Second
	for {
		err := fn()
		if err == nil || ctx.Err() != nil {
			return nil
		}
		var pe *bot.PermanentError
		if errors.As(err, &pe) {
			return fmt.Errorf("discord: %s: %w", what, err)
		}
		wait := backoff
		var rl *bot.RateLimitError
		if errors.As(err, &rl) && rl.After > 0 {
			wait = rl.After
		}
		f.log.Warn("discord call failed; retrying", "op", what, "err", err, "backoff", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-f.clock.After(wait):
		}
		backoff = min(backoff*2, time.Minute)
	}
}

// tasks tracks work that outlives the request that started it.
type tasks struct {
	mu     sync.Mutex // mu protects closed and the Add calls on wg
	closed bool
	wg     sync.WaitGroup
}

// start runs fn in a goroutine unless the tracker is closed.
func (t *tasks) start(fn func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		fn()
	}()
	return true
}

// close refuses new work and waits for the work running.
func (t *tasks) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
}

// rewrite is a transport that sends Discord REST calls to another base URL:
// discordgo's endpoints are package variables fixed to discord.com, and
// paths arrive as /api/v9/….
type rewrite struct {
	host string   // Discord's host, as discordgo's endpoints name it
	base *url.URL // where to send them instead
	// versioned: base ends in "/api/vN", which stands in for the request's own.
	versioned bool
	next      http.RoundTripper
}

func newRewrite(base string, next http.RoundTripper) (*rewrite, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("discord: DISCORD_API_URL %q must be an http or https URL", base)
	}
	d, err := url.Parse(discordgo.EndpointDiscord)
	if err != nil {
		return nil, fmt.Errorf("discord: endpoint: %w", err)
	}
	if next == nil {
		next = http.DefaultTransport
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	// A base that names the API version ("…/api/v9", like Discord's own
	// address and DISCORD_API_URL's default) replaces the version prefix of
	// discordgo's paths instead of being put in front of it.
	versioned := apiVersion.MatchString(u.Path)
	return &rewrite{host: d.Host, base: u, versioned: versioned, next: next}, nil
}

// apiVersion matches a path ending in Discord's API version segment.
var apiVersion = regexp.MustCompile(`/api/v[0-9]+$`)

// stripVersion removes a leading "/api/vN" from a path.
func stripVersion(p string) string {
	if loc := leadingVersion.FindStringIndex(p); loc != nil {
		return p[loc[1]:]
	}
	return p
}

var leadingVersion = regexp.MustCompile(`^/api/v[0-9]+`)

// RoundTrip rewrites the scheme, host and path prefix of calls to Discord.
func (t *rewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != t.host {
		return t.next.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	r2.URL.Scheme = t.base.Scheme
	r2.URL.Host = t.base.Host
	r2.Host = t.base.Host
	path, raw := r.URL.Path, r.URL.RawPath
	if t.versioned {
		path = stripVersion(path)
		if raw != "" {
			raw = stripVersion(raw)
		}
	}
	r2.URL.Path = t.base.Path + path
	if raw != "" {
		r2.URL.RawPath = t.base.Path + raw
	}
	return t.next.RoundTrip(r2)
}
