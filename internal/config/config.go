package config

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// Defaults of PRODUCT.md section 2 and of the platforms' own API base URLs.
const (
	// DefaultAddrConsole is the listen address in console mode (no chat
	// platform configured): the console is for this machine only.
	DefaultAddrConsole = "127.0.0.1:8080"
	// DefaultAddr is the listen address with a chat platform configured.
	DefaultAddr = ":8080"
	// DefaultRedisPrefix is the key prefix in Redis.
	DefaultRedisPrefix = "deploybot:"
	// DefaultDataDir is the folder of the embedded store.
	DefaultDataDir = "./deploybot-data"
	// DefaultSlackAPIURL is Slack's own Web API base URL (slack-go's slack.APIURL).
	DefaultSlackAPIURL = "https://slack.com/api/"
	// DefaultDiscordAPIURL is Discord's own REST base URL (discordgo's EndpointAPI).
	DefaultDiscordAPIURL = "https://discord.com/api/v9/"
	// DefaultGitHubAPIURL is GitHub's own REST API base URL.
	DefaultGitHubAPIURL = "https://api.github.com/"
)

// LogText and LogJSON are the values of DEPLOYBOT_LOG_FORMAT.
const (
	LogText = "text"
	LogJSON = "json"
)

// minDashboardToken is the shortest DEPLOYBOT_DASHBOARD_TOKEN accepted.
const minDashboardToken = 16

// Config is deploybot's configuration, read from environment variables by Load.
// Every field is set (defaults applied) and valid once Load returned it.
// Secrets are of type Secret: printing, marshalling or logging a Config shows
// "***" in their place.
type Config struct {
	// Addr is the HTTP listen address (DEPLOYBOT_ADDR): DefaultAddrConsole in
	// console mode, else DefaultAddr.
	Addr string
	// RunbookPath is the runbook YAML file, or a directory of them, one
	// *.yaml (or *.yml) per service (DEPLOYBOT_RUNBOOK); "" means the
	// built-in runbook as the only service.
	RunbookPath string
	// RedisURL is the Redis URL (REDIS_URL): one server (redis:// or
	// rediss://), a Sentinel-managed master (the same with master_name=) or a
	// Redis Cluster (redis+cluster:// or rediss+cluster://); unset means the
	// embedded store. It is a Secret because it may carry a password; see
	// RedisURLRedacted for a printable form.
	RedisURL Secret
	// RedisPrefix is the Redis key prefix (DEPLOYBOT_REDIS_PREFIX).
	RedisPrefix string
	// DataDir is the folder of the embedded store (DEPLOYBOT_DATA).
	DataDir string
	// NoticeChannel is the channel ID for notices (DEPLOYBOT_NOTICE_CHANNEL);
	// "" means the channel where the run was started.
	NoticeChannel string

	// SlackBotToken is the Slack bot token, xoxb-… (SLACK_BOT_TOKEN).
	SlackBotToken Secret
	// SlackSigningSecret verifies Slack's HTTP requests (SLACK_SIGNING_SECRET).
	SlackSigningSecret Secret
	// SlackAppToken is the app-level token for Socket Mode, xapp-… (SLACK_APP_TOKEN).
	SlackAppToken Secret
	// SlackAPIURL is the Slack Web API base URL (SLACK_API_URL); it always
	// ends in "/", as slack.OptionAPIURL requires.
	SlackAPIURL string

	// DiscordBotToken is the Discord bot token (DISCORD_BOT_TOKEN).
	DiscordBotToken Secret
	// DiscordAppID is the Discord application ID, a snowflake (DISCORD_APP_ID).
	DiscordAppID string
	// DiscordPublicKey is the application's Ed25519 public key
	// (DISCORD_PUBLIC_KEY, 64 hex characters); nil means interactions come
	// over the Gateway instead of POST /discord/interactions.
	DiscordPublicKey ed25519.PublicKey
	// DiscordAPIURL is the Discord REST base URL (DISCORD_API_URL); it always
	// ends in "/".
	DiscordAPIURL string
	// DiscordGuildID registers the /deploy command in one guild instead of
	// globally (DISCORD_GUILD_ID); "" means globally.
	DiscordGuildID string
	// Workspaces, when set, is the allow-list of Slack team IDs (T…) and
	// Discord guild IDs the bot serves (DEPLOYBOT_WORKSPACES, comma
	// separated); commands and clicks from anywhere else are refused.
	Workspaces []string

	// LogFormat is LogText or LogJSON (DEPLOYBOT_LOG_FORMAT).
	LogFormat string
	// LogLevel is the lowest level logged (DEPLOYBOT_LOG_LEVEL).
	LogLevel slog.Level

	// DashboardToken guards the read-only dashboard when a chat platform is
	// configured (DEPLOYBOT_DASHBOARD_TOKEN); "" means no token is asked.
	DashboardToken Secret

	// GitHubAPIURL is the GitHub REST API base URL (GITHUB_API_URL); it
	// always ends in "/".
	GitHubAPIURL string
	// GitHubToken authenticates the github adapter (GITHUB_TOKEN).
	GitHubToken Secret
	// PrometheusURL is the Prometheus server's base URL (PROMETHEUS_URL); it
	// always ends in "/" when set. It is a Secret because it may carry basic
	// auth credentials.
	PrometheusURL Secret
}

// VarError is one problem with one environment variable. Its text is one
// line, "VAR: problem", and never contains the value of a secret.
type VarError struct {
	// Var is the environment variable's name.
	Var string
	// Problem says what is wrong and what is wanted.
	Problem string
}

// Error returns "VAR: problem".
func (e *VarError) Error() string { return e.Var + ": " + e.Problem }

// Load reads the configuration through getenv (os.Getenv in main, a map in
// tests), applies the defaults and validates it. Surrounding white space is
// trimmed from every value. On a bad configuration it returns a nil Config
// and an error whose text is one line per problem, each naming the variable
// (errors.Join of *VarError, in the order of PRODUCT.md's table).
func Load(getenv func(string) string) (*Config, error) {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, &VarError{Var: name, Problem: fmt.Sprintf(format, args...)})
	}

	c := &Config{
		RunbookPath:        get("DEPLOYBOT_RUNBOOK"),
		RedisURL:           Secret(get("REDIS_URL")),
		RedisPrefix:        orDefault(get("DEPLOYBOT_REDIS_PREFIX"), DefaultRedisPrefix),
		DataDir:            orDefault(get("DEPLOYBOT_DATA"), DefaultDataDir),
		NoticeChannel:      get("DEPLOYBOT_NOTICE_CHANNEL"),
		SlackBotToken:      Secret(get("SLACK_BOT_TOKEN")),
		SlackSigningSecret: Secret(get("SLACK_SIGNING_SECRET")),
		SlackAppToken:      Secret(get("SLACK_APP_TOKEN")),
		DiscordBotToken:    Secret(get("DISCORD_BOT_TOKEN")),
		DiscordAppID:       get("DISCORD_APP_ID"),
		DiscordGuildID:     get("DISCORD_GUILD_ID"),
		DashboardToken:     Secret(get("DEPLOYBOT_DASHBOARD_TOKEN")),
		GitHubToken:        Secret(get("GITHUB_TOKEN")),
	}

	// DEPLOYBOT_ADDR; its default depends on the mode, decided below.
	addr := get("DEPLOYBOT_ADDR")
	if addr != "" {
		if p := checkAddr(addr); p != "" {
			bad("DEPLOYBOT_ADDR", "%s", p)
		}
	}

	// REDIS_URL, DEPLOYBOT_REDIS_PREFIX, DEPLOYBOT_DATA, DEPLOYBOT_NOTICE_CHANNEL.
	if c.RedisURL != "" {
		if p := checkRedisURL(c.RedisURL.Reveal()); p != "" {
			bad("REDIS_URL", "%s", p)
		}
	}
	if strings.IndexFunc(c.RedisPrefix, notPrintable) >= 0 {
		bad("DEPLOYBOT_REDIS_PREFIX", "must not contain spaces or control characters")
	}
	if strings.IndexFunc(c.DataDir, unicode.IsControl) >= 0 {
		bad("DEPLOYBOT_DATA", "must not contain control characters")
	}
	if ch := c.NoticeChannel; ch != "" && (strings.HasPrefix(ch, "#") || strings.IndexFunc(ch, notPrintable) >= 0) {
		bad("DEPLOYBOT_NOTICE_CHANNEL", "want a channel ID such as C0123456789, not a channel name")
	}

	// Slack.
	if s := c.SlackBotToken.Reveal(); s != "" && !strings.HasPrefix(s, "xoxb-") && !strings.HasPrefix(s, "xoxe.xoxb-") {
		bad("SLACK_BOT_TOKEN", "must be a bot token (xoxb-…)")
	}
	if s := c.SlackAppToken.Reveal(); s != "" && !strings.HasPrefix(s, "xapp-") {
		bad("SLACK_APP_TOKEN", "must be an app-level token (xapp-…)")
	}
	switch {
	case c.SlackBotToken == "" && c.SlackSigningSecret != "":
		bad("SLACK_BOT_TOKEN", "set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET together")
	case c.SlackBotToken == "" && c.SlackAppToken != "":
		bad("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN (Socket Mode) also needs SLACK_BOT_TOKEN")
	case c.SlackBotToken != "" && c.SlackSigningSecret == "" && c.SlackAppToken == "":
		bad("SLACK_SIGNING_SECRET", "set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET together (or SLACK_APP_TOKEN for Socket Mode)")
	}
	var p string
	if c.SlackAPIURL, p = baseURL(get("SLACK_API_URL"), DefaultSlackAPIURL, false); p != "" {
		bad("SLACK_API_URL", "%s", p)
	}

	// Discord.
	if c.DiscordBotToken == "" {
		var with []string
		for _, v := range []struct{ name, val string }{
			{"DISCORD_APP_ID", c.DiscordAppID},
			{"DISCORD_PUBLIC_KEY", get("DISCORD_PUBLIC_KEY")},
			{"DISCORD_GUILD_ID", c.DiscordGuildID},
		} {
			if v.val != "" {
				with = append(with, v.name)
			}
		}
		if len(with) > 0 {
			bad("DISCORD_BOT_TOKEN", "required with %s", strings.Join(with, " and "))
		}
	} else if c.DiscordAppID == "" {
		bad("DISCORD_APP_ID", "required with DISCORD_BOT_TOKEN")
	}
	if c.DiscordAppID != "" && !isSnowflake(c.DiscordAppID) {
		bad("DISCORD_APP_ID", "must be the numeric application ID")
	}
	if key := get("DISCORD_PUBLIC_KEY"); key != "" {
		// The value is not echoed: a token pasted here by mistake stays unseen.
		b, err := hex.DecodeString(key)
		if err != nil || len(b) != ed25519.PublicKeySize {
			bad("DISCORD_PUBLIC_KEY", "must be the application's public key, 64 hex characters (got %d characters)", len(key))
		} else {
			c.DiscordPublicKey = ed25519.PublicKey(b)
		}
	}
	if c.DiscordAPIURL, p = baseURL(get("DISCORD_API_URL"), DefaultDiscordAPIURL, false); p != "" {
		bad("DISCORD_API_URL", "%s", p)
	}
	if c.DiscordGuildID != "" && !isSnowflake(c.DiscordGuildID) {
		bad("DISCORD_GUILD_ID", "must be the numeric guild (server) ID")
	}

	for _, w := range strings.Split(get("DEPLOYBOT_WORKSPACES"), ",") {
		w = strings.TrimSpace(w)
		switch {
		case w == "":
		case !isSnowflake(w) && !isSlackTeam(w):
			bad("DEPLOYBOT_WORKSPACES", "%q is neither a Slack team ID (T…) nor a Discord guild ID (digits)", w)
		default:
			c.Workspaces = append(c.Workspaces, w)
		}
	}

	// Logging.
	switch f := strings.ToLower(get("DEPLOYBOT_LOG_FORMAT")); f {
	case "", LogText:
		c.LogFormat = LogText
	case LogJSON:
		c.LogFormat = LogJSON
	default:
		bad("DEPLOYBOT_LOG_FORMAT", "invalid value %q: want json or text", f)
	}
	switch l := strings.ToLower(get("DEPLOYBOT_LOG_LEVEL")); l {
	case "", "info":
		c.LogLevel = slog.LevelInfo
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		bad("DEPLOYBOT_LOG_LEVEL", "invalid value %q: want debug, info, warn or error", l)
	}

	// Dashboard, GitHub, Prometheus.
	if n := len(c.DashboardToken); n > 0 && n < minDashboardToken {
		bad("DEPLOYBOT_DASHBOARD_TOKEN", "too short: use at least %d characters", minDashboardToken)
	}
	if c.GitHubAPIURL, p = baseURL(get("GITHUB_API_URL"), DefaultGitHubAPIURL, false); p != "" {
		bad("GITHUB_API_URL", "%s", p)
	}
	prom, p := baseURL(get("PROMETHEUS_URL"), "", true)
	if p != "" {
		bad("PROMETHEUS_URL", "%s", p)
	}
	c.PrometheusURL = Secret(prom)

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.Addr = addr
	if c.Addr == "" {
		c.Addr = DefaultAddr
		if c.ConsoleMode() {
			c.Addr = DefaultAddrConsole
		}
	}
	return c, nil
}

// ConsoleMode reports whether no chat platform is configured: the bot then
// serves the local console on DefaultAddrConsole (PRODUCT.md section 7).
func (c *Config) ConsoleMode() bool { return c.SlackBotToken == "" && c.DiscordBotToken == "" }

// SlackHTTP reports whether Slack is configured over HTTP (bot token and
// signing secret): the bot takes POST /slack/commands and /slack/interactions.
func (c *Config) SlackHTTP() bool { return c.SlackBotToken != "" && c.SlackSigningSecret != "" }

// SlackSocket reports whether Slack is configured for Socket Mode (bot token
// and app-level token). It may be true together with SlackHTTP.
func (c *Config) SlackSocket() bool { return c.SlackBotToken != "" && c.SlackAppToken != "" }

// Discord reports whether Discord is configured (bot token and application ID).
func (c *Config) Discord() bool { return c.DiscordBotToken != "" && c.DiscordAppID != "" }

// DiscordHTTP reports whether Discord interactions come over HTTP (public key
// set) to POST /discord/interactions; when false but Discord is true, they
// come over the Gateway.
func (c *Config) DiscordHTTP() bool { return c.Discord() && len(c.DiscordPublicKey) != 0 }

// RedisURLRedacted returns REDIS_URL with its passwords (the user info's and
// a password parameter's) replaced by "xxxxx", fit for a log line; "" when
// unset.
func (c *Config) RedisURLRedacted() string { return redactURL(c.RedisURL.Reveal()) }

// Logger returns the slog logger DEPLOYBOT_LOG_FORMAT and DEPLOYBOT_LOG_LEVEL
// ask for, writing to w.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// LogValue shows the configuration in a log line: modes, addresses and
// redacted URLs, with every secret as "***" (or "" when unset).
func (c *Config) LogValue() slog.Value {
	store := "embedded"
	if c.RedisURL != "" {
		store = "redis"
	}
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("runbook", c.RunbookPath),
		slog.String("store", store),
		slog.String("redis_url", c.RedisURLRedacted()),
		slog.String("redis_prefix", c.RedisPrefix),
		slog.String("data_dir", c.DataDir),
		slog.String("notice_channel", c.NoticeChannel),
		slog.Bool("console", c.ConsoleMode()),
		slog.Bool("slack_http", c.SlackHTTP()),
		slog.Bool("slack_socket", c.SlackSocket()),
		slog.Any("slack_bot_token", c.SlackBotToken),
		slog.Any("slack_signing_secret", c.SlackSigningSecret),
		slog.Any("slack_app_token", c.SlackAppToken),
		slog.String("slack_api_url", c.SlackAPIURL),
		slog.Bool("discord", c.Discord()),
		slog.Bool("discord_http", c.DiscordHTTP()),
		slog.Any("discord_bot_token", c.DiscordBotToken),
		slog.String("discord_app_id", c.DiscordAppID),
		slog.String("discord_guild_id", c.DiscordGuildID),
		slog.Any("workspaces", c.Workspaces),
		slog.String("discord_api_url", c.DiscordAPIURL),
		slog.String("log_format", c.LogFormat),
		slog.String("log_level", c.LogLevel.String()),
		slog.Any("dashboard_token", c.DashboardToken),
		slog.String("github_api_url", c.GitHubAPIURL),
		slog.Any("github_token", c.GitHubToken),
		slog.String("prometheus_url", redactURL(c.PrometheusURL.Reveal())),
	)
}

var _ slog.LogValuer = (*Config)(nil)

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func notPrintable(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// isSnowflake reports whether s looks like a Discord ID: 1 to 20 digits.
func isSnowflake(s string) bool {
	if len(s) == 0 || len(s) > 20 {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

// checkAddr returns what is wrong with a listen address, or "".
func checkAddr(addr string) string {
	const want = "want host:port, e.g. :8080 or 127.0.0.1:8080"
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("invalid address %q: %s", addr, want)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Sprintf("invalid port %q in %q: %s", port, addr, want)
	}
	return ""
}

// parseURL parses raw for validation. Its problem text never shows a
// password: a URL that does not parse is not echoed at all, one that parses
// is shown redacted.
func parseURL(raw string) (*url.URL, string) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Sprintf("invalid URL: %v", err)
	}
	return u, ""
}

// checkRedisURL returns what is wrong with a REDIS_URL, or "". Three forms
// are accepted (README, "Redis"): one server (redis:// or rediss://), a
// Sentinel-managed master (the same schemes, naming the Sentinels, with
// master_name=), and a Redis Cluster (redis+cluster:// or rediss+cluster://).
// go-redis checks the remaining options when the store is opened.
func checkRedisURL(raw string) string {
	u, p := parseURL(raw)
	if p != "" {
		return p
	}
	shown := redactParsed(u)
	bad := func(format string, args ...any) string {
		return fmt.Sprintf("invalid URL %q: ", shown) + fmt.Sprintf(format, args...)
	}
	cluster := u.Scheme == "redis+cluster" || u.Scheme == "rediss+cluster"
	q := u.Query()
	switch {
	case u.Scheme != "redis" && u.Scheme != "rediss" && !cluster:
		return bad("scheme must be redis:// or rediss:// (redis+cluster:// or rediss+cluster:// for a Redis Cluster)")
	case u.Hostname() == "":
		return bad("no host")
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if _, err := strconv.ParseUint(db, 10, 16); err != nil {
			return bad("path must be a database number such as /0")
		}
		if cluster && db != "0" {
			return bad("a Redis Cluster has only database 0")
		}
	}
	for _, a := range q["addr"] {
		if h, port, err := net.SplitHostPort(a); err != nil || h == "" || port == "" {
			return bad("addr %q must be host:port", a)
		}
	}
	switch {
	case cluster && q.Has("master_name"):
		return bad("master_name is for Sentinel; a Redis Cluster URL takes none")
	case q.Has("master_name") && q.Get("master_name") == "":
		return bad("master_name is empty")
	case !cluster && q.Has("addr") && !q.Has("master_name"):
		return bad("addr lists more Sentinels and needs master_name (a Redis Cluster URL starts with redis+cluster://)")
	}
	return ""
}

// secretParams are the query parameters of a URL that carry a password
// (go-redis's Sentinel form sets the master's password with password=).
var secretParams = []string{"password", "sentinel_password"}

// redactParsed returns u with the password of its user info and of its
// password parameters replaced by "xxxxx".
func redactParsed(u *url.URL) string {
	v := *u
	if q := v.Query(); len(q) > 0 {
		changed := false
		for _, name := range secretParams {
			if vals, ok := q[name]; ok {
				for i := range vals {
					vals[i] = "xxxxx"
				}
				changed = true
			}
		}
		if changed {
			v.RawQuery = q.Encode()
		}
	}
	return v.Redacted()
}

// baseURL validates an http(s) base URL and makes it end in "/". An empty
// raw gives def. Credentials in the URL are refused unless allowUser.
func baseURL(raw, def string, allowUser bool) (string, string) {
	if raw == "" {
		return def, ""
	}
	u, p := parseURL(raw)
	if p != "" {
		return "", p
	}
	// The shown form drops the user info altogether: it may be a token.
	v := *u
	v.User = nil
	shown := v.String()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Sprintf("invalid URL %q: scheme must be http:// or https://", shown)
	case u.Host == "":
		return "", fmt.Sprintf("invalid URL %q: no host", shown)
	case u.User != nil && !allowUser:
		return "", fmt.Sprintf("invalid URL %q: must not contain credentials (the token variables carry them)", shown)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Sprintf("invalid URL %q: a base URL takes no query or fragment", shown)
	}
	if !strings.HasSuffix(raw, "/") {
		raw += "/"
	}
	return raw, ""
}

// redactURL returns raw with its password hidden; "" for "".
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return redacted
	}
	return redactParsed(u)
}

// isSlackTeam reports whether s looks like a Slack team ID (T or E, then
// capitals and digits).
func isSlackTeam(s string) bool {
	if len(s) < 3 || (s[0] != 'T' && s[0] != 'E') {
		return false
	}
	for _, r := range s[1:] {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}
