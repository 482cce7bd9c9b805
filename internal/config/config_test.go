package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// env turns a map into a getenv function.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// pubKey is a valid DISCORD_PUBLIC_KEY (any 32 bytes are accepted as a key).
var pubKey = strings.Repeat("0a", 32)

// slackHTTP and discordGW are the smallest complete platform configurations.
var (
	slackHTTP = map[string]string{"SLACK_BOT_TOKEN": "xoxb-1-abc", "SLACK_SIGNING_SECRET": "s3cr3t"}
	discordGW = map[string]string{"DISCORD_BOT_TOKEN": "tok", "DISCORD_APP_ID": "1234567890123456789"}
)

// with merges maps, later ones winning.
func with(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestLoadGood(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{"defaults in console mode", nil, func(t *testing.T, c *Config) {
			want := Config{
				Addr: "127.0.0.1:8080", RedisPrefix: "deploybot:", DataDir: "./deploybot-data",
				SlackAPIURL: "https://slack.com/api/", DiscordAPIURL: "https://discord.com/api/v9/",
				GitHubAPIURL: "https://api.github.com/", LogFormat: "text", LogLevel: slog.LevelInfo,
			}
			if fmt.Sprintf("%#v", *c) != fmt.Sprintf("%#v", want) {
				t.Errorf("got  %#v\nwant %#v", *c, want)
			}
			if !c.ConsoleMode() || c.SlackHTTP() || c.SlackSocket() || c.Discord() || c.DiscordHTTP() {
				t.Errorf("modes: console=%v slackHTTP=%v slackSocket=%v discord=%v discordHTTP=%v",
					c.ConsoleMode(), c.SlackHTTP(), c.SlackSocket(), c.Discord(), c.DiscordHTTP())
			}
		}},
		{"DEPLOYBOT_ADDR default with Slack", slackHTTP, wantField(func(c *Config) any { return c.Addr }, ":8080")},
		{"DEPLOYBOT_ADDR default with Discord", discordGW, wantField(func(c *Config) any { return c.Addr }, ":8080")},
		{"DEPLOYBOT_ADDR port only", map[string]string{"DEPLOYBOT_ADDR": ":9090"}, wantField(func(c *Config) any { return c.Addr }, ":9090")},
		{"DEPLOYBOT_ADDR all interfaces in console mode", map[string]string{"DEPLOYBOT_ADDR": "0.0.0.0:80"}, wantField(func(c *Config) any { return c.Addr }, "0.0.0.0:80")},
		{"DEPLOYBOT_ADDR IPv6", map[string]string{"DEPLOYBOT_ADDR": "[::1]:8080"}, wantField(func(c *Config) any { return c.Addr }, "[::1]:8080")},
		{"DEPLOYBOT_ADDR any free port", map[string]string{"DEPLOYBOT_ADDR": "localhost:0"}, wantField(func(c *Config) any { return c.Addr }, "localhost:0")},
		{"DEPLOYBOT_ADDR trimmed", map[string]string{"DEPLOYBOT_ADDR": "  :8081\n"}, wantField(func(c *Config) any { return c.Addr }, ":8081")},
		{"DEPLOYBOT_RUNBOOK", map[string]string{"DEPLOYBOT_RUNBOOK": "/etc/deploybot/runbook.yaml"}, wantField(func(c *Config) any { return c.RunbookPath }, "/etc/deploybot/runbook.yaml")},
		{"REDIS_URL plain", map[string]string{"REDIS_URL": "redis://localhost:6379/0"}, wantField(func(c *Config) any { return c.RedisURL.Reveal() }, "redis://localhost:6379/0")},
		{"REDIS_URL TLS with password", map[string]string{"REDIS_URL": "rediss://:pw@cache.internal:6380"}, wantField(func(c *Config) any { return c.RedisURLRedacted() }, "rediss://:xxxxx@cache.internal:6380")},
		{"REDIS_URL with user and options", map[string]string{"REDIS_URL": "redis://default:pw@[fdaa::3]:6379/2?dial_timeout=3s"}, wantField(func(c *Config) any { return c.RedisURL.Reveal() }, "redis://default:pw@[fdaa::3]:6379/2?dial_timeout=3s")},
		{"REDIS_URL Sentinel", map[string]string{"REDIS_URL": "redis://sentinel-a:26379?master_name=deploybot&addr=sentinel-b:26379&addr=sentinel-c:26379"}, wantField(func(c *Config) any { return c.RedisURL.Reveal() }, "redis://sentinel-a:26379?master_name=deploybot&addr=sentinel-b:26379&addr=sentinel-c:26379")},
		{"REDIS_URL Sentinel passwords redacted", map[string]string{"REDIS_URL": "rediss://:spw@sentinel-a:26379/1?master_name=deploybot&password=mpw"}, wantField(func(c *Config) any { return c.RedisURLRedacted() }, "rediss://:xxxxx@sentinel-a:26379/1?master_name=deploybot&password=xxxxx")},
		{"REDIS_URL Cluster", map[string]string{"REDIS_URL": "redis+cluster://node-a:6379?addr=node-b:6379"}, wantField(func(c *Config) any { return c.RedisURL.Reveal() }, "redis+cluster://node-a:6379?addr=node-b:6379")},
		{"REDIS_URL Cluster TLS", map[string]string{"REDIS_URL": "rediss+cluster://:pw@node-a:6380/0"}, wantField(func(c *Config) any { return c.RedisURLRedacted() }, "rediss+cluster://:xxxxx@node-a:6380/0")},
		{"DEPLOYBOT_REDIS_PREFIX", map[string]string{"DEPLOYBOT_REDIS_PREFIX": "team-a:"}, wantField(func(c *Config) any { return c.RedisPrefix }, "team-a:")},
		{"DEPLOYBOT_DATA", map[string]string{"DEPLOYBOT_DATA": "/var/lib/deploy bot"}, wantField(func(c *Config) any { return c.DataDir }, "/var/lib/deploy bot")},
		{"DEPLOYBOT_NOTICE_CHANNEL", map[string]string{"DEPLOYBOT_NOTICE_CHANNEL": "C0123456789"}, wantField(func(c *Config) any { return c.NoticeChannel }, "C0123456789")},
		{"Slack over HTTP", slackHTTP, func(t *testing.T, c *Config) {
			if !c.SlackHTTP() || c.SlackSocket() || c.ConsoleMode() || c.Discord() {
				t.Errorf("modes: slackHTTP=%v slackSocket=%v console=%v discord=%v", c.SlackHTTP(), c.SlackSocket(), c.ConsoleMode(), c.Discord())
			}
			if c.SlackBotToken.Reveal() != "xoxb-1-abc" || c.SlackSigningSecret.Reveal() != "s3cr3t" {
				t.Errorf("tokens not kept")
			}
		}},
		{"Slack Socket Mode", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1-A"}, func(t *testing.T, c *Config) {
			if c.SlackHTTP() || !c.SlackSocket() || c.ConsoleMode() {
				t.Errorf("modes: slackHTTP=%v slackSocket=%v console=%v", c.SlackHTTP(), c.SlackSocket(), c.ConsoleMode())
			}
			if c.SlackAppToken.Reveal() != "xapp-1-A" {
				t.Errorf("app token not kept")
			}
		}},
		{"Slack HTTP and Socket Mode", with(slackHTTP, map[string]string{"SLACK_APP_TOKEN": "xapp-1"}), func(t *testing.T, c *Config) {
			if !c.SlackHTTP() || !c.SlackSocket() {
				t.Errorf("modes: slackHTTP=%v slackSocket=%v", c.SlackHTTP(), c.SlackSocket())
			}
		}},
		{"SLACK_BOT_TOKEN rotating", map[string]string{"SLACK_BOT_TOKEN": "xoxe.xoxb-1-abc", "SLACK_SIGNING_SECRET": "s"}, wantField(func(c *Config) any { return c.SlackHTTP() }, true)},
		{"SLACK_BOT_TOKEN trimmed", map[string]string{"SLACK_BOT_TOKEN": " xoxb-1\n", "SLACK_SIGNING_SECRET": "s"}, wantField(func(c *Config) any { return c.SlackBotToken.Reveal() }, "xoxb-1")},
		{"SLACK_API_URL gets its slash", map[string]string{"SLACK_API_URL": "http://127.0.0.1:9999/api"}, wantField(func(c *Config) any { return c.SlackAPIURL }, "http://127.0.0.1:9999/api/")},
		{"SLACK_API_URL keeps its slash", map[string]string{"SLACK_API_URL": "https://proxy.example.com/slack/"}, wantField(func(c *Config) any { return c.SlackAPIURL }, "https://proxy.example.com/slack/")},
		{"Discord over the Gateway", discordGW, func(t *testing.T, c *Config) {
			if !c.Discord() || c.DiscordHTTP() || c.ConsoleMode() || c.SlackHTTP() {
				t.Errorf("modes: discord=%v discordHTTP=%v console=%v slackHTTP=%v", c.Discord(), c.DiscordHTTP(), c.ConsoleMode(), c.SlackHTTP())
			}
			if c.DiscordAppID != "1234567890123456789" || c.DiscordBotToken.Reveal() != "tok" {
				t.Errorf("discord values not kept")
			}
		}},
		{"Discord over HTTP", with(discordGW, map[string]string{"DISCORD_PUBLIC_KEY": pubKey}), func(t *testing.T, c *Config) {
			if !c.DiscordHTTP() || len(c.DiscordPublicKey) != 32 || c.DiscordPublicKey[0] != 0x0a {
				t.Errorf("discordHTTP=%v key=%x", c.DiscordHTTP(), c.DiscordPublicKey)
			}
		}},
		{"DISCORD_PUBLIC_KEY upper case", with(discordGW, map[string]string{"DISCORD_PUBLIC_KEY": strings.ToUpper(strings.Repeat("ab", 32))}), wantField(func(c *Config) any { return c.DiscordPublicKey[31] }, byte(0xab))},
		{"DISCORD_GUILD_ID", with(discordGW, map[string]string{"DISCORD_GUILD_ID": "987654321098765432"}), wantField(func(c *Config) any { return c.DiscordGuildID }, "987654321098765432")},
		{"DEPLOYBOT_WORKSPACES", map[string]string{"DEPLOYBOT_WORKSPACES": "T012AB, 987654321098765432,"}, wantField(func(c *Config) any { return strings.Join(c.Workspaces, "|") }, "T012AB|987654321098765432")},
		{"DISCORD_API_URL gets its slash", map[string]string{"DISCORD_API_URL": "http://127.0.0.1:1234/api/v9"}, wantField(func(c *Config) any { return c.DiscordAPIURL }, "http://127.0.0.1:1234/api/v9/")},
		{"DEPLOYBOT_LOG_FORMAT json", map[string]string{"DEPLOYBOT_LOG_FORMAT": "json"}, wantField(func(c *Config) any { return c.LogFormat }, "json")},
		{"DEPLOYBOT_LOG_FORMAT JSON", map[string]string{"DEPLOYBOT_LOG_FORMAT": "JSON"}, wantField(func(c *Config) any { return c.LogFormat }, "json")},
		{"DEPLOYBOT_LOG_FORMAT text", map[string]string{"DEPLOYBOT_LOG_FORMAT": "text"}, wantField(func(c *Config) any { return c.LogFormat }, "text")},
		{"DEPLOYBOT_LOG_LEVEL debug", map[string]string{"DEPLOYBOT_LOG_LEVEL": "debug"}, wantField(func(c *Config) any { return c.LogLevel }, slog.LevelDebug)},
		{"DEPLOYBOT_LOG_LEVEL INFO", map[string]string{"DEPLOYBOT_LOG_LEVEL": "INFO"}, wantField(func(c *Config) any { return c.LogLevel }, slog.LevelInfo)},
		{"DEPLOYBOT_LOG_LEVEL warn", map[string]string{"DEPLOYBOT_LOG_LEVEL": "warn"}, wantField(func(c *Config) any { return c.LogLevel }, slog.LevelWarn)},
		{"DEPLOYBOT_LOG_LEVEL error", map[string]string{"DEPLOYBOT_LOG_LEVEL": "error"}, wantField(func(c *Config) any { return c.LogLevel }, slog.LevelError)},
		{"DEPLOYBOT_DASHBOARD_TOKEN", map[string]string{"DEPLOYBOT_DASHBOARD_TOKEN": "0123456789abcdef"}, wantField(func(c *Config) any { return c.DashboardToken.Reveal() }, "0123456789abcdef")},
		{"GITHUB_API_URL enterprise", map[string]string{"GITHUB_API_URL": "https://ghe.example.com/api/v3"}, wantField(func(c *Config) any { return c.GitHubAPIURL }, "https://ghe.example.com/api/v3/")},
		{"GITHUB_TOKEN", map[string]string{"GITHUB_TOKEN": "ghp_abc"}, wantField(func(c *Config) any { return c.GitHubToken.Reveal() }, "ghp_abc")},
		{"PROMETHEUS_URL", map[string]string{"PROMETHEUS_URL": "http://prometheus:9090"}, wantField(func(c *Config) any { return c.PrometheusURL.Reveal() }, "http://prometheus:9090/")},
		{"PROMETHEUS_URL with basic auth", map[string]string{"PROMETHEUS_URL": "https://u:pw@prom.example.com/prom/"}, wantField(func(c *Config) any { return c.PrometheusURL.Reveal() }, "https://u:pw@prom.example.com/prom/")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

// wantField checks one value derived from the Config.
func wantField(get func(*Config) any, want any) func(*testing.T, *Config) {
	return func(t *testing.T, c *Config) {
		t.Helper()
		if got := get(c); got != want {
			t.Errorf("got %#v, want %#v", got, want)
		}
	}
}

func TestLoadBad(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // the whole error text
	}{
		{"DEPLOYBOT_ADDR without port", map[string]string{"DEPLOYBOT_ADDR": "8080"},
			`DEPLOYBOT_ADDR: invalid address "8080": want host:port, e.g. :8080 or 127.0.0.1:8080`},
		{"DEPLOYBOT_ADDR empty port", map[string]string{"DEPLOYBOT_ADDR": "localhost:"},
			`DEPLOYBOT_ADDR: invalid port "" in "localhost:": want host:port, e.g. :8080 or 127.0.0.1:8080`},
		{"DEPLOYBOT_ADDR named port", map[string]string{"DEPLOYBOT_ADDR": ":http"},
			`DEPLOYBOT_ADDR: invalid port "http" in ":http": want host:port, e.g. :8080 or 127.0.0.1:8080`},
		{"DEPLOYBOT_ADDR port out of range", map[string]string{"DEPLOYBOT_ADDR": ":70000"},
			`DEPLOYBOT_ADDR: invalid port "70000" in ":70000": want host:port, e.g. :8080 or 127.0.0.1:8080`},
		{"REDIS_URL not a URL", map[string]string{"REDIS_URL": "foo"},
			`REDIS_URL: invalid URL "foo": scheme must be redis:// or rediss:// (redis+cluster:// or rediss+cluster:// for a Redis Cluster)`},
		{"REDIS_URL http scheme, password hidden", map[string]string{"REDIS_URL": "http://u:hunter2@cache:6379"},
			`REDIS_URL: invalid URL "http://u:xxxxx@cache:6379": scheme must be redis:// or rediss:// (redis+cluster:// or rediss+cluster:// for a Redis Cluster)`},
		{"REDIS_URL host:port without scheme", map[string]string{"REDIS_URL": "localhost:6379"},
			`REDIS_URL: invalid URL "localhost:6379": scheme must be redis:// or rediss:// (redis+cluster:// or rediss+cluster:// for a Redis Cluster)`},
		{"REDIS_URL no host", map[string]string{"REDIS_URL": "redis:///0"},
			`REDIS_URL: invalid URL "redis:///0": no host`},
		{"REDIS_URL bad database", map[string]string{"REDIS_URL": "redis://cache/main"},
			`REDIS_URL: invalid URL "redis://cache/main": path must be a database number such as /0`},
		{"REDIS_URL addr without master_name", map[string]string{"REDIS_URL": "redis://s-a:26379?addr=s-b:26379"},
			`REDIS_URL: invalid URL "redis://s-a:26379?addr=s-b:26379": addr lists more Sentinels and needs master_name (a Redis Cluster URL starts with redis+cluster://)`},
		{"REDIS_URL empty master_name", map[string]string{"REDIS_URL": "redis://s-a:26379?master_name="},
			`REDIS_URL: invalid URL "redis://s-a:26379?master_name=": master_name is empty`},
		{"REDIS_URL Sentinel addr without port, password hidden", map[string]string{"REDIS_URL": "redis://s-a:26379?master_name=m&addr=s-b&password=hunter2"},
			`REDIS_URL: invalid URL "redis://s-a:26379?addr=s-b&master_name=m&password=xxxxx": addr "s-b" must be host:port`},
		{"REDIS_URL cluster with a database", map[string]string{"REDIS_URL": "redis+cluster://node-a:6379/2"},
			`REDIS_URL: invalid URL "redis+cluster://node-a:6379/2": a Redis Cluster has only database 0`},
		{"REDIS_URL cluster with master_name", map[string]string{"REDIS_URL": "rediss+cluster://node-a:6379?master_name=m"},
			`REDIS_URL: invalid URL "rediss+cluster://node-a:6379?master_name=m": master_name is for Sentinel; a Redis Cluster URL takes none`},
		{"REDIS_URL unparsable is not echoed", map[string]string{"REDIS_URL": "redis://:hunter2%zz@cache"},
			`REDIS_URL: invalid URL: invalid URL escape "%zz"`},
		{"DEPLOYBOT_REDIS_PREFIX with a space", map[string]string{"DEPLOYBOT_REDIS_PREFIX": "team a:"},
			`DEPLOYBOT_REDIS_PREFIX: must not contain spaces or control characters`},
		{"DEPLOYBOT_DATA with a control character", map[string]string{"DEPLOYBOT_DATA": "data\x00dir"},
			`DEPLOYBOT_DATA: must not contain control characters`},
		{"DEPLOYBOT_NOTICE_CHANNEL a name", map[string]string{"DEPLOYBOT_NOTICE_CHANNEL": "#deploys"},
			`DEPLOYBOT_NOTICE_CHANNEL: want a channel ID such as C0123456789, not a channel name`},
		{"DEPLOYBOT_NOTICE_CHANNEL with a space", map[string]string{"DEPLOYBOT_NOTICE_CHANNEL": "C01 23"},
			`DEPLOYBOT_NOTICE_CHANNEL: want a channel ID such as C0123456789, not a channel name`},
		{"SLACK_BOT_TOKEN alone", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1"},
			`SLACK_SIGNING_SECRET: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET together (or SLACK_APP_TOKEN for Socket Mode)`},
		{"SLACK_SIGNING_SECRET alone", map[string]string{"SLACK_SIGNING_SECRET": "s"},
			`SLACK_BOT_TOKEN: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET together`},
		{"SLACK_APP_TOKEN alone", map[string]string{"SLACK_APP_TOKEN": "xapp-1"},
			`SLACK_BOT_TOKEN: SLACK_APP_TOKEN (Socket Mode) also needs SLACK_BOT_TOKEN`},
		{"SLACK_BOT_TOKEN not a bot token", map[string]string{"SLACK_BOT_TOKEN": "xapp-HUNTER2", "SLACK_SIGNING_SECRET": "s"},
			`SLACK_BOT_TOKEN: must be a bot token (xoxb-…)`},
		{"SLACK_APP_TOKEN not an app token", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-HUNTER2"},
			`SLACK_APP_TOKEN: must be an app-level token (xapp-…)`},
		{"SLACK_API_URL without scheme", map[string]string{"SLACK_API_URL": "slack.internal/api/"},
			`SLACK_API_URL: invalid URL "slack.internal/api/": scheme must be http:// or https://`},
		{"SLACK_API_URL ftp", map[string]string{"SLACK_API_URL": "ftp://slack.internal/"},
			`SLACK_API_URL: invalid URL "ftp://slack.internal/": scheme must be http:// or https://`},
		{"SLACK_API_URL credentials not echoed", map[string]string{"SLACK_API_URL": "https://xoxb-HUNTER2@proxy/"},
			`SLACK_API_URL: invalid URL "https://proxy/": must not contain credentials (the token variables carry them)`},
		{"SLACK_API_URL with query", map[string]string{"SLACK_API_URL": "https://proxy/api/?x=1"},
			`SLACK_API_URL: invalid URL "https://proxy/api/?x=1": a base URL takes no query or fragment`},
		{"DISCORD_BOT_TOKEN without app ID", map[string]string{"DISCORD_BOT_TOKEN": "tok"},
			`DISCORD_APP_ID: required with DISCORD_BOT_TOKEN`},
		{"DISCORD_APP_ID without token", map[string]string{"DISCORD_APP_ID": "123"},
			`DISCORD_BOT_TOKEN: required with DISCORD_APP_ID`},
		{"DISCORD_PUBLIC_KEY and guild without token", map[string]string{"DISCORD_PUBLIC_KEY": pubKey, "DISCORD_GUILD_ID": "1"},
			`DISCORD_BOT_TOKEN: required with DISCORD_PUBLIC_KEY and DISCORD_GUILD_ID`},
		{"DISCORD_APP_ID not numeric", with(discordGW, map[string]string{"DISCORD_APP_ID": "deploybot"}),
			`DISCORD_APP_ID: must be the numeric application ID`},
		{"DISCORD_PUBLIC_KEY too short", with(discordGW, map[string]string{"DISCORD_PUBLIC_KEY": "abcd"}),
			`DISCORD_PUBLIC_KEY: must be the application's public key, 64 hex characters (got 4 characters)`},
		{"DISCORD_PUBLIC_KEY not hex, not echoed", with(discordGW, map[string]string{"DISCORD_PUBLIC_KEY": "HUNTER2" + pubKey[7:]}),
			`DISCORD_PUBLIC_KEY: must be the application's public key, 64 hex characters (got 64 characters)`},
		{"DISCORD_GUILD_ID not numeric", with(discordGW, map[string]string{"DISCORD_GUILD_ID": "my-server"}),
			`DISCORD_GUILD_ID: must be the numeric guild (server) ID`},
		{"DEPLOYBOT_WORKSPACES with a channel id", map[string]string{"DEPLOYBOT_WORKSPACES": "T012AB,C0123"},
			`DEPLOYBOT_WORKSPACES: "C0123" is neither a Slack team ID (T…) nor a Discord guild ID (digits)`},
		{"DISCORD_API_URL no host", map[string]string{"DISCORD_API_URL": "https:///api/"},
			`DISCORD_API_URL: invalid URL "https:///api/": no host`},
		{"DEPLOYBOT_LOG_FORMAT xml", map[string]string{"DEPLOYBOT_LOG_FORMAT": "xml"},
			`DEPLOYBOT_LOG_FORMAT: invalid value "xml": want json or text`},
		{"DEPLOYBOT_LOG_LEVEL verbose", map[string]string{"DEPLOYBOT_LOG_LEVEL": "verbose"},
			`DEPLOYBOT_LOG_LEVEL: invalid value "verbose": want debug, info, warn or error`},
		{"DEPLOYBOT_LOG_LEVEL warning", map[string]string{"DEPLOYBOT_LOG_LEVEL": "warning"},
			`DEPLOYBOT_LOG_LEVEL: invalid value "warning": want debug, info, warn or error`},
		{"DEPLOYBOT_DASHBOARD_TOKEN too short", map[string]string{"DEPLOYBOT_DASHBOARD_TOKEN": "HUNTER2"},
			`DEPLOYBOT_DASHBOARD_TOKEN: too short: use at least 16 characters`},
		{"GITHUB_API_URL without scheme", map[string]string{"GITHUB_API_URL": "api.github.com"},
			`GITHUB_API_URL: invalid URL "api.github.com": scheme must be http:// or https://`},
		{"PROMETHEUS_URL without scheme", map[string]string{"PROMETHEUS_URL": "prometheus:9090"},
			`PROMETHEUS_URL: invalid URL "prometheus:9090": scheme must be http:// or https://`},
		{"PROMETHEUS_URL with fragment, password hidden", map[string]string{"PROMETHEUS_URL": "http://u:HUNTER2@prom/#x"},
			`PROMETHEUS_URL: invalid URL "http://prom/#x": a base URL takes no query or fragment`},
		{"several problems, one line each in table order", map[string]string{
			"DEPLOYBOT_LOG_LEVEL": "loud", "REDIS_URL": "foo", "SLACK_BOT_TOKEN": "xoxb-1", "DEPLOYBOT_ADDR": "x",
		}, strings.Join([]string{
			`DEPLOYBOT_ADDR: invalid address "x": want host:port, e.g. :8080 or 127.0.0.1:8080`,
			`REDIS_URL: invalid URL "foo": scheme must be redis:// or rediss:// (redis+cluster:// or rediss+cluster:// for a Redis Cluster)`,
			`SLACK_SIGNING_SECRET: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET together (or SLACK_APP_TOKEN for Socket Mode)`,
			`DEPLOYBOT_LOG_LEVEL: invalid value "loud": want debug, info, warn or error`,
		}, "\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if err == nil {
				t.Fatalf("Load succeeded: %+v", c)
			}
			if c != nil {
				t.Errorf("Load returned a Config with its error")
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tt.want)
			}
			for _, s := range []string{"HUNTER2", "hunter2"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error shows a secret value: %s", err)
				}
			}
			var ve *VarError
			if !errors.As(err, &ve) || !strings.HasPrefix(tt.want, ve.Var+": ") {
				t.Errorf("errors.As(*VarError) = %v", ve)
			}
		})
	}
}

func TestSecretFormsHideValue(t *testing.T) {
	s := Secret("hunter2")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "s", s)
	js, _ := json.Marshal(s)
	txt, _ := s.MarshalText()
	forms := map[string]string{
		"String":      s.String(),
		"GoString":    s.GoString(),
		"%s":          fmt.Sprintf("%s", s),
		"%v":          fmt.Sprintf("%v", s),
		"%+v":         fmt.Sprintf("%+v", s),
		"%#v":         fmt.Sprintf("%#v", s),
		"%q":          fmt.Sprintf("%q", s),
		"%x":          fmt.Sprintf("%x", s),
		"%10s":        fmt.Sprintf("%10s", s),
		"%d":          fmt.Sprintf("%d", s),
		"Sprint":      fmt.Sprint(s),
		"Errorf %v":   fmt.Errorf("token %v", s).Error(),
		"MarshalJSON": string(js),
		"MarshalText": string(txt),
		"slog":        buf.String(),
	}
	for name, got := range forms {
		if strings.Contains(got, "hunter2") || !strings.Contains(got, "***") {
			t.Errorf("%s: %q", name, got)
		}
	}
	if s.Reveal() != "hunter2" || !s.IsSet() {
		t.Errorf("Reveal = %q, IsSet = %v", s.Reveal(), s.IsSet())
	}
	if Secret("").String() != "" || Secret("").IsSet() {
		t.Errorf("an unset secret prints %q", Secret("").String())
	}
}

func TestConfigNeverShowsSecrets(t *testing.T) {
	c, err := Load(env(map[string]string{
		"REDIS_URL":                 "rediss://default:HUNTER2redis@cache:6380/1",
		"SLACK_BOT_TOKEN":           "xoxb-HUNTER2bot",
		"SLACK_SIGNING_SECRET":      "HUNTER2signing",
		"SLACK_APP_TOKEN":           "xapp-HUNTER2app",
		"DISCORD_BOT_TOKEN":         "HUNTER2discord",
		"DISCORD_APP_ID":            "42",
		"DISCORD_PUBLIC_KEY":        pubKey,
		"DEPLOYBOT_DASHBOARD_TOKEN": "HUNTER2dashboard-0123456789",
		"GITHUB_TOKEN":              "ghp_HUNTER2github",
		"PROMETHEUS_URL":            "https://user:HUNTER2prom@prom.example.com",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("config", "cfg", c, "value", *c)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("config", "cfg", c, "value", *c)
	marshalled, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	c.Logger(&logged).Info("config", "cfg", c)
	outputs := map[string]string{
		"fmt pointer": fmt.Sprintf("%v %+v %#v", c, c, c),
		"fmt value":   fmt.Sprintf("%v %+v %#v %s", *c, *c, *c, *c),
		"json":        string(marshalled),
		"slog text":   text.String(),
		"slog json":   js.String(),
		"Logger":      logged.String(),
		"redis shown": c.RedisURLRedacted(),
	}
	for name, out := range outputs {
		if strings.Contains(out, "HUNTER2") {
			t.Errorf("%s shows a secret:\n%s", name, out)
		}
	}
	// The log line still tells an operator what is configured.
	for _, want := range []string{"cfg.store=redis", "cfg.redis_url=rediss://default:xxxxx@cache:6380/1", "cfg.slack_bot_token=***",
		"cfg.discord_http=true", "cfg.prometheus_url=https://user:xxxxx@prom.example.com/"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("slog text lacks %q:\n%s", want, text.String())
		}
	}
}

func TestLogger(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		wantDebug bool
		wantInfo  bool
		json      bool
	}{
		{"default text at info", nil, false, true, false},
		{"json at debug", map[string]string{"DEPLOYBOT_LOG_FORMAT": "json", "DEPLOYBOT_LOG_LEVEL": "debug"}, true, true, true},
		{"text at warn", map[string]string{"DEPLOYBOT_LOG_LEVEL": "warn"}, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			log := c.Logger(&buf)
			log.Debug("dbg-line")
			log.Info("info-line")
			log.Warn("warn-line", "run_id", "r1")
			out := buf.String()
			if got := strings.Contains(out, "dbg-line"); got != tt.wantDebug {
				t.Errorf("debug logged = %v:\n%s", got, out)
			}
			if got := strings.Contains(out, "info-line"); got != tt.wantInfo {
				t.Errorf("info logged = %v:\n%s", got, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := lines[len(lines)-1]
			var m map[string]any
			isJSON := json.Unmarshal([]byte(last), &m) == nil
			if isJSON != tt.json {
				t.Errorf("JSON = %v: %s", isJSON, last)
			}
			if !strings.Contains(last, "warn-line") || !strings.Contains(last, "r1") {
				t.Errorf("warn line: %s", last)
			}
		})
	}
}
