// Package slackfake is a recording fake of the parts of Slack that deploybot
// talks to, for tests: the Web API methods the bot calls (chat.postMessage,
// chat.update, chat.postEphemeral, views.open, usergroups.list,
// usergroups.users.list, auth.test, apps.connections.open), response_url
// endpoints, and a Socket Mode websocket server. It records everything the
// bot sends, checks every message's blocks against Block Kit's limits (an
// invalid message is refused with invalid_blocks, as Slack does), shows
// messages as a person would see them, scripts rate limits and server errors,
// and builds signed slash-command and interaction requests.
//
// It is a test kit: it must not import deploybot's own packages, so that it
// tests the bot from the outside (its request signing is written
// independently of the bot's verification).
package slackfake
