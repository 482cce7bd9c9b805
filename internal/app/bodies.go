package app

import (
	"net/http"
	"time"

	slackfront "deploybot/bot/slack"
	"deploybot/internal/httpserver"
)

// discordInteractionsPath is where the Discord front takes interactions.
const discordInteractionsPath = "/discord/interactions"

// discordMaxSkew is how far Discord's signed timestamp may be from now (as the front checks).
const discordMaxSkew = 5 * time.Minute

// bodyChecks are the header checks run before a signed route's body is read:
// the signature headers must be there and the timestamp fresh, so an
// unsigned or replayed request is refused without reading its body (but
// for Slack's unsigned certificate check, below). The fronts verify the
// signature itself once the body is read.
func bodyChecks() map[string]httpserver.HeaderCheck {
	slack := httpserver.AllChecks(
		httpserver.RequireHeaders("X-Slack-Signature", "X-Slack-Request-Timestamp"),
		httpserver.FreshTimestamp("X-Slack-Request-Timestamp", slackfront.MaxSkew))
	discord := httpserver.AllChecks(
		httpserver.RequireHeaders("X-Signature-Ed25519", "X-Signature-Timestamp"),
		httpserver.FreshTimestamp("X-Signature-Timestamp", discordMaxSkew))
	// Slack's certificate check (ssl_check=1) comes unsigned to the command
	// URL: a request with neither header goes on to the front, which reads at
	// most 4 KiB of it and refuses anything but the check with 401.
	commands := func(h http.Header, now time.Time) error {
		if h.Get("X-Slack-Signature") == "" && h.Get("X-Slack-Request-Timestamp") == "" {
			return nil
		}
		return slack(h, now)
	}
	return map[string]httpserver.HeaderCheck{
		slackfront.CommandsPath:     commands,
		slackfront.InteractionsPath: slack,
		discordInteractionsPath:     discord,
	}
}

// bodies returns h (the mux) behind the body rules: only routed requests
// whose method carries a body read one, signed routes' headers are checked
// first, and the bodies in flight share one memory budget.
func (s *Server) bodies(h http.Handler) http.Handler {
	return httpserver.Bodies(h, httpserver.BodyConfig{Limit: maxBody, Routes: s.mux, Checks: bodyChecks(), Now: s.core.Engine.Clock().Now})
}
