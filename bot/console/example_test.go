package console_test

import (
	"log"
	"net/http"

	"deploybot/bot/console"
	"deploybot/deploy/boltstore"
	"deploybot/internal/botcore"
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
	core := botcore.NewCore(botcore.CoreConfig{Store: store, Runbook: rb, NoticeChannel: console.Channel})
	c, err := console.New(console.Config{Bot: core.Bot})
	if err != nil {
		log.Fatal(err)
	}
	core.Bot.AddPoster(c) // the bot posts summaries, cards and notices to the page
	core.Subscribe(c)     // every transition updates the run list live

	mux := http.NewServeMux()
	c.Routes(mux)
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: mux}
	srv.RegisterOnShutdown(c.Close) // ends the live streams so Shutdown does not wait for them
	log.Fatal(srv.ListenAndServe())
}
