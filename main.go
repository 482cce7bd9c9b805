// Command deploybot is a ChatOps bot that runs production deployments from
// Slack, Discord or a local web console. main only reads the arguments and
// hands over to internal/app, where the wiring lives.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"deploybot/adapters/shell"
	"deploybot/internal/app"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// A shell step's supervisor is this binary too, started as
	// "deploybot __shell-supervisor …": shell.Supervise runs it and exits.
	supervisor := shell.Supervise()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, app.Env{
		Args: os.Args[1:], Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr, Version: version, ShellSupervisor: supervisor,
	})
	stop()
	os.Exit(code)
}
