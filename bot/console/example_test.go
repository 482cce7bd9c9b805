package console_test

import (
	"log"
	"net/http"

	"deploybot/bot"
	"deploybot/bot/console"
	"deploybot/deploy"
	"deploybot/deploy/boltstore"
	appcore "deploybot/internal/app/core"
	"deploybot/runbook"
)

// ExampleNew wires the console as `go run .` does with no chat platform: the
// console is the bot's platform, sees every transition, and serves on localhost.
func ExampleNew() {
	store, err := boltstore.Open("deploybot-data/deploybot.db")
	if err != nil {
		log.Fatal(err)
	}
	rb, err := runbook.Builtin(nil)
	if err != nil {
		log.Fatal(err)
	}
	// The page is built first: the bot posts summaries, cards and notices
	// to it, and every transition updates its run list live.
	page, err := console.NewPage(console.Config{Store: store})
	if err != nil {
		log.Fatal(err)
	}
	core, err := appcore.Build(appcore.Config{Store: store, Runbook: rb, NoticeChannel: console.Channel,
		Posters: []bot.Poster{page}, Views: []deploy.Sink{page}})
	if err != nil {
		log.Fatal(err)
	}
	// Then its handlers, which take the bot.
	c, err := console.New(console.Config{Page: page, Bot: core.Bot})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	c.Routes(mux)
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: mux}
	srv.RegisterOnShutdown(c.Close) // ends the live streams so Shutdown does not wait for them
	log.Fatal(srv.ListenAndServe())
}
