// Package commands owns the `/deploy …` grammar: it turns what a person typed
// after /deploy (Slack's slash-command text, the console's input line) or the
// named options of a Discord subcommand into a typed, validated Command, and it
// generates the help text from the same declarative Definitions.
//
// Which words name a service depends on the services a bot deploys, so the
// grammar is a value, Grammar, built from their names (NewGrammar with the
// runbook catalog's names): its Parse, FromOptions, Definitions (whose
// SERVICE arguments offer the services as Discord choices) and Help all read
// them from there. The package-level functions are those of the zero
// Grammar, which knows no service names.
//
// Everything chat-supplied is checked here before it goes anywhere else:
// versions, environments, run and window ids against allow-lists, reasons for
// length and control characters, start times and durations for shape and range.
// A refusal is an *Error whose text is safe to show to the person who typed it.
//
// The package knows nothing about chat platforms, the engine or storage: it must
// not import slack-go, discordgo, deploy, bot, adapters or any store package,
// and holds no state. Time comes in as an argument (now), never from the clock.
package commands
