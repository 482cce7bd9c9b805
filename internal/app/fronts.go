package app

import (
	"context"

	"deploybot/bot"
	"deploybot/bot/console"
	"deploybot/bot/discord"
	slackfront "deploybot/bot/slack"
)

// posters builds the outgoing sides of the configured chat platforms; they
// need no bot.
func (s *Server) posters(opt Options, windows bot.Windows) ([]bot.Poster, error) {
	cfg := s.cfg
	var out []bot.Poster
	if cfg.SlackBotToken.IsSet() {
		p, err := slackfront.NewPoster(s.slackConfig(opt))
		if err != nil {
			return nil, &ConfigError{Msg: "SLACK_BOT_TOKEN: " + err.Error()}
		}
		s.slack = p
		out = append(out, p)
	}
	if cfg.Discord() {
		p, err := discord.NewPoster(s.discordConfig(opt))
		if err != nil {
			return nil, &ConfigError{Msg: err.Error()}
		}
		s.discord = p
		out = append(out, p)
	}
	page, err := console.NewPage(console.Config{Store: s.store, ReadOnly: !cfg.ConsoleMode(), Windows: windows, Clock: opt.Clock, Logger: opt.Logger})
	if err != nil {
		return nil, err
	}
	s.page = page
	if cfg.ConsoleMode() {
		out = append(out, page)
	}
	return out, nil
}

func (s *Server) slackConfig(opt Options) slackfront.Config {
	cfg := s.cfg
	return slackfront.Config{BotToken: cfg.SlackBotToken, SigningSecret: cfg.SlackSigningSecret,
		AppToken: cfg.SlackAppToken, APIURL: cfg.SlackAPIURL, Poster: s.slack, Clock: opt.Clock, Logger: opt.Logger,
		HTTPClient: opt.HTTPClient}
}

func (s *Server) discordConfig(opt Options) discord.Config {
	cfg := s.cfg
	return discord.Config{Token: cfg.DiscordBotToken.Reveal(), AppID: cfg.DiscordAppID, PublicKey: cfg.DiscordPublicKey,
		APIURL: cfg.DiscordAPIURL, GuildID: cfg.DiscordGuildID, Poster: s.discord, Clock: opt.Clock, Logger: opt.Logger,
		HTTPClient: opt.HTTPClient}
}

// wireFronts adds the chat platforms that are configured and the console:
// interactive when no platform is configured, a read-only dashboard otherwise.
func (s *Server) wireFronts(ctx context.Context, opt Options) error {
	cfg := s.cfg
	c, err := console.New(console.Config{Page: s.page, Bot: s.core.Bot, ReadOnly: !cfg.ConsoleMode(), Token: cfg.DashboardToken.Reveal(),
		Clock: opt.Clock, Logger: opt.Logger})
	if err != nil {
		return &ConfigError{Msg: "DEPLOYBOT_DASHBOARD_TOKEN: " + err.Error()}
	}
	c.Routes(s.mux)
	s.onShutdown = append(s.onShutdown, c.Close)
	return s.wireChat(ctx, opt)
}

// wireChat adds Slack and Discord when they are configured.
func (s *Server) wireChat(_ context.Context, opt Options) error {
	cfg := s.cfg
	if cfg.SlackBotToken.IsSet() {
		fc := s.slackConfig(opt)
		fc.Bot = s.core.Bot
		front, err := slackfront.New(fc)
		if err != nil {
			return &ConfigError{Msg: "SLACK_BOT_TOKEN: " + err.Error()}
		}
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
		fc := s.discordConfig(opt)
		fc.Bot = s.core.Bot
		front, err := discord.New(fc)
		if err != nil {
			return &ConfigError{Msg: err.Error()}
		}
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
