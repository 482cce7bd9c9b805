// Package discord is deploybot's Discord front: the /deploy application
// command (one subcommand per row of the product's command table, registered
// by bulk overwrite only when its definition changed), interactions received
// over the Gateway or on POST /discord/interactions (Ed25519-verified,
// timestamps older than five minutes and bodies over 1 MiB refused), and the
// rendering of the neutral message model (run summary, phase cards, notices)
// as Discord messages with embeds and components by its Poster
// (bot.Poster). NewPoster builds the outgoing side before the bot, which is
// given it; New builds the incoming side, which takes the bot and embeds the
// Poster. A post Discord accepted just before the bot died is not repeated:
// every first post carries a nonce derived from the message's key with
// enforce_nonce (post.go), and past Discord's nonce window the Poster, a
// bot.Finder, finds the bot's own message by what it shows (finder.go).
//
// The interaction rules it keeps: slash commands are answered with a message
// (type 4, ephemeral unless the reply is public); button clicks follow the
// bot's acknowledgement discipline (bot.Handoff): the action starts at once
// and the front waits for it within the acknowledgement budget. A refusal
// ready in time is the answer itself (an ephemeral message, type 4); a
// success is a deferred update (type 6), the card's edit showing it. When
// the action outlasts the budget, the deferred update goes out at the
// budget, the action goes on, and a refusal follows as an ephemeral
// followup through the interaction webhook. Discord has no confirmation dialogs, so a button with a
// confirmation answers with an ephemeral Confirm/Cancel message whose
// custom_ids carry the original action; a button that needs a reason opens a
// modal (type 9) whose submission carries it. A phase whose step buttons do
// not fit Discord's 5 rows of 5 buttons lists its open steps in string select
// menus instead ("Tick a step…"); choosing a step answers with that step's
// buttons, ephemerally.
//
// Custom ids (at most 100 characters; bot.Button.ID is at most 94):
//
//	<id>             the action itself (done, skip, retry, approve, …)
//	c:<id>           ask to confirm, then act (or ask for a reason)
//	r:<id>           ask for a reason in a modal, then act
//	ok:<id>, no:<id> the Confirm and Cancel buttons of a confirmation
//	m:<id>           the reason modal
//	p:<run>:<phase>:<page>  a "Tick a step…" menu; its values are step ids
//
// Phase cards are posted as replies (message references) to the run's
// summary message, not in a thread: a reply needs only the Send Messages
// permission and stays visible in the channel, where threads need two more
// permissions and archive themselves when idle.
//
// It builds on bot, commands and deploy; it must not import the other
// platforms (bot/slack, bot/console), the stores or the adapters, and the
// engine holds no Discord-specific logic.
package discord
