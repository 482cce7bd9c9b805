// Package config reads deploybot's configuration from environment variables
// (PRODUCT.md section 2), applies the defaults, and validates it, so that a bad
// configuration stops the bot at start with one clear line per problem, each
// naming the variable.
//
// It owns the Config type, the Secret type (a string whose printed, marshalled
// and logged forms are "***"), the derived modes (console, Slack over HTTP or
// Socket Mode, Discord over HTTP or the Gateway) and the construction of the
// slog logger from DEPLOYBOT_LOG_FORMAT and DEPLOYBOT_LOG_LEVEL.
//
// It reads nothing but the getenv function it is given: no files, no network,
// no process environment of its own. It must not import any other deploybot
// package, nor go-redis, slack-go or discordgo: it is a leaf that main reads
// once and hands on as plain values.
package config
