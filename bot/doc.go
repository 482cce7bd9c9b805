// Package bot is the chat side of deploybot, independent of any platform: the
// neutral message model (run summary, phase card, notice) built from a run;
// the Publisher (publish.go), which delivers the effects transitions owe
// (render, post or edit, acknowledge; and a poller for effects whose writer
// died), records notify steps' texts and window notices as effects, and
// needs no engine, so it is built before the engine and given to it as its
// effect sink; the Bot, which turns commands and clicks into engine calls
// and embeds its Publisher; and the Outbox that sends outgoing chat calls
// per channel within rate limits.
//
// The platforms live in bot/slack, bot/discord and bot/console; each renders
// the model its own way and implements Poster. This package must not import
// them, nor Redis or bbolt.
package bot
