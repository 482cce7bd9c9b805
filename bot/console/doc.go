// Package console is deploybot's web front: with no chat platform configured
// it is a working bot in a browser (a command box taking the same /deploy
// text, the run summary, phase cards with working buttons, and the notices,
// live over server-sent events); with a chat platform configured the same page
// is a read-only dashboard of runs, their timelines, audit logs and step
// outputs.
//
// The console owns its HTTP handlers, its HTML templates, stylesheet and
// script (embedded, no front-end build step), the in-memory copy of the
// messages the bot posts to it, and the live feed. It is built in two parts,
// in dependency order: the Page (NewPage: the bot.Poster and the
// deploy.Sink, no bot needed) before the bot and the engine, which are given
// it; then the Console (New: the handlers, which take the bot and embed the
// Page). Everything that came from outside is escaped
// by html/template; POSTs are checked for cross-origin requests; without a
// token the console answers only on localhost.
//
// The page is rendered for the person looking (viewer.go): buttons they
// cannot use are disabled with the reason, a gate they may approve is marked
// (and counted in the tab's title). A live change is rendered once per role
// a person may have on the run, not once per page; each stream sends its
// person's rendering. Each run has its own address, /runs/RUN; relative
// times, running steps and window countdowns are <time> elements the script
// keeps current, counting from the server's clock.
//
// It builds on bot and deploy and must not import the other platforms
// (bot/slack, bot/discord), the stores (Redis, bbolt) or the adapters.
package console
