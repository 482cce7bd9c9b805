// Package slackfront is deploybot's Slack front (directory bot/slack): it
// receives slash commands and interactions over HTTP (signed requests on
// /slack/commands and /slack/interactions) or Socket Mode, turns them into
// bot.Request and bot.Click, answers within Slack's 3 seconds (clicks and
// dialogs under the bot's acknowledgement discipline, bot.Handoff: the
// answer in the acknowledgement when it is ready within the budget, else an
// empty acknowledgement and the answer by response_url or an ephemeral
// message when it is ready), answers Slack's unsigned ssl_check, opens the
// reason dialog for Skip, Rollback and starting outside a window; and its
// Poster (bot.Poster) renders the neutral message model as Block Kit and
// posts and edits messages with slack-go.
//
// The front is built in two parts, in dependency order: NewPoster (the
// outgoing side, no bot needed) before the bot, which is given it; then New
// (the incoming side, which takes the bot and embeds the Poster).
//
// It owns the Slack wire formats and Block Kit limits. It must not import
// the stores (Redis, bbolt), the adapters or other fronts; it talks to the
// engine only through bot.Bot.
package slackfront
