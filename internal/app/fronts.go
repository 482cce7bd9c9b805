package app

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"deploybot/bot/console"
	"deploybot/bot/discord"
	slackfront "deploybot/bot/slack"
	"deploybot/deploy/schedule"
	"deploybot/runbook"
)

// wireSchedule builds the maintenance-window scheduler: the engine's gate,
// the window adapter's source, the bot's /deploy schedule, and the reminder
// loop every replica runs (each notice is claimed once in the store).
func (s *Server) wireSchedule(rb *runbook.Runbook, opt Options, reg prometheus.Registerer, windows *lateWindows) error {
	sched := schedule.New(schedule.Config{Store: s.store, Runbook: rb, Clock: opt.Clock, Logger: opt.Logger,
		Metrics: reg, NoticeChannel: s.cfg.NoticeChannel})
	sched.SetEngine(s.core.Engine)
	sched.SetNotices(s.core.Bot)
	s.core.Bot.SetWindows(sched)
	windows.set(sched)
	s.sched = sched
	s.runners = append(s.runners, sched.Run)
	return nil
}

// wireFronts adds the chat platforms that are configured and the console:
// interactive when no platform is configured, a read-only dashboard otherwise.
func (s *Server) wireFronts(ctx context.Context, opt Options) error {
	cfg := s.cfg
	c, err := console.New(console.Config{Bot: s.core.Bot, ReadOnly: !cfg.ConsoleMode(), Token: cfg.DashboardToken.Reveal(),
		Windows: s.sched, Clock: opt.Clock, Logger: opt.Logger})
	if err != nil {
		return &ConfigError{Msg: "DEPLOYBOT_DASHBOARD_TOKEN: " + err.Error()}
	}
	if cfg.ConsoleMode() {
		s.core.Bot.AddPoster(c)
	}
	s.core.Subscribe(c)
	c.Routes(s.mux)
	s.onShutdown = append(s.onShutdown, c.Close)
	return s.wireChat(ctx, opt)
}

// wireChat adds Slack and Discord when they are configured.
func (s *Server) wireChat(_ context.Context, opt Options) error {
	cfg := s.cfg
	if cfg.SlackBotToken.IsSet() {
		front, err := slackfront.New(slackfront.Config{BotToken: cfg.SlackBotToken, SigningSecret: cfg.SlackSigningSecret,
			AppToken: cfg.SlackAppToken, APIURL: cfg.SlackAPIURL, Bot: s.core.Bot, Clock: opt.Clock, Logger: opt.Logger,
			HTTPClient: opt.HTTPClient})
		if err != nil {
			return &ConfigError{Msg: "SLACK_BOT_TOKEN: " + err.Error()}
		}
		s.core.Bot.AddPoster(front)
		front.Routes(s.mux)
		s.runners = append(s.runners, front.Run)
		if cfg.SlackHTTP() {
			s.serves = append(s.serves, "Slack (HTTP: /slack/commands, /slack/interactions)")
		}
		if cfg.SlackSocket() {
			s.serves = append(s.serves, "Slack (Socket Mode)")
		}
	}
	if cfg.Discord() {
		front, err := discord.New(discord.Config{Token: cfg.DiscordBotToken.Reveal(), AppID: cfg.DiscordAppID, PublicKey: cfg.DiscordPublicKey,
			APIURL: cfg.DiscordAPIURL, GuildID: cfg.DiscordGuildID, Bot: s.core.Bot, Clock: opt.Clock, Logger: opt.Logger,
			HTTPClient: opt.HTTPClient})
		if err != nil {
			return &ConfigError{Msg: err.Error()}
		}
		s.core.Bot.AddPoster(front)
		front.Routes(s.mux)
		s.runners = append(s.runners, front.Run)
		if cfg.DiscordHTTP() {
			s.serves = append(s.serves, "Discord (HTTP: /discord/interactions)")
		} else {
			s.serves = append(s.serves, "Discord (Gateway)")
		}
	}
	return nil
}
