// Package discordfake is a recording fake of the parts of Discord that
// deploybot talks to, for tests: the REST routes the bot calls (application
// commands GET and bulk-overwrite PUT, channel messages POST, PATCH and
// GET (the newest first, without nonces: Discord documents a message's
// nonce in the Message Create event only), the bot's own user, interaction
// callbacks, interaction webhooks for followups and edits of the
// original response, the Gateway URL) and a Gateway websocket that delivers
// INTERACTION_CREATE events.
//
// It records everything the bot sends, checks every message, response and
// modal against Discord's limits (5 action rows of 5 buttons, custom_id of
// 1–100 characters, label 80, embed limits, content 2000; a message over a
// limit is refused with 400 as Discord does and remembered as a problem that
// fails the test), enforces the interaction rules (one response, within 3
// seconds, followups only after it), and shows each channel as a person would
// see it: the public messages in order with their latest edits, plus the
// ephemeral messages only that person sees. Like Discord, a create with a
// nonce and enforce_nonce that the bot used within NonceWindow answers the
// message created then instead of creating another. It scripts rate limits (429 with
// retry_after) and other failures per route, and builds interactions
// (slash commands, clicks, select choices, modal submissions) signed with a
// generated Ed25519 key pair, delivered over HTTP or the Gateway.
//
// It is a test kit: it must not import deploybot's own packages, nor
// discordgo, so that it tests the bot from the outside — its JSON is written
// from Discord's documentation, not from the client library the bot uses.
package discordfake
