package discord_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"deploybot/bot/discord"
	"deploybot/commands"
)

// webRunbook is a second service beside the harness's discord-e2e.
const webRunbook = `
name: web
phases:
  - id: ship
    title: Ship the web app
    steps:
      - {id: upload, title: Upload the bundle}
rollback:
  steps:
    - {id: revert, title: Restore the previous bundle}
`

// TestServiceOptionOffersTheServices registers /deploy for a bot with two
// services: every subcommand that takes a service has a service option
// whose choices are the services, and Discord's limits hold (the fake
// checks the registration).
func TestServiceOptionOffersTheServices(t *testing.T) {
	h := newHarness(t, harnessConfig{noRun: true, noExecutor: true, also: webRunbook})
	if _, err := h.front.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	cmds := h.fake.Commands("")
	if len(cmds) != 1 {
		t.Fatalf("registered %d commands, want 1", len(cmds))
	}
	var cmd registeredCommand
	if err := json.Unmarshal(cmds[0], &cmd); err != nil {
		t.Fatal(err)
	}
	checkCommand(t, cmd, commands.NewGrammar([]string{"discord-e2e", "web"}))
	with := map[string]bool{}
	for _, sub := range cmd.Options {
		for _, o := range sub.Options {
			if o.Name != "service" {
				continue
			}
			with[sub.Name] = true
			if o.Required || len(o.Choices) != 2 || o.Choices[0].Name != "discord-e2e" || o.Choices[1].Name != "web" {
				t.Errorf("%s: service option %+v, want optional with the choices discord-e2e, web", sub.Name, o)
			}
		}
	}
	for _, sub := range []string{"start", "plan", "runbook", "schedule", "lock", "unlock", "stats"} {
		if !with[sub] {
			t.Errorf("%s has no service option", sub)
		}
	}
}

// TestStartWithoutAServiceAsksWhichOne: with two services, a start
// without the service option is answered, privately, with the services
// and an example, and nothing runs; a service that is not one of them is
// refused.
func TestStartWithoutAServiceAsksWhichOne(t *testing.T) {
	h := newHarness(t, harnessConfig{noExecutor: true, also: webRunbook})
	got := h.command(ana, "start", map[string]string{"version": "v1.4.2"})
	if !got.Ephemeral || got.Content != "Which service? discord-e2e, web — e.g. /deploy start discord-e2e v1.4.2" {
		t.Errorf("start without a service answered %q (ephemeral %v), want the services and an example, privately", got.Content, got.Ephemeral)
	}
	got = h.command(ana, "start", map[string]string{"version": "v1.4.2", "service": "db"})
	if !got.Ephemeral || !strings.Contains(got.Content, `unknown service "db": the services are discord-e2e, web`) {
		t.Errorf("start of an unknown service answered %q, want it refused with the services", got.Content)
	}
	live, err := h.core.Bot.Live(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 0 {
		t.Fatalf("%d runs started, want none", len(live))
	}
	got = h.command(ana, "runbook", map[string]string{"service": "web"})
	if !strings.Contains(got.Content, "Upload the bundle") {
		t.Errorf("runbook web answered %q, want web's runbook", got.Content)
	}
}

// TestRegisterWritesWhenTheServicesChange: a command registered for other
// services (one service, no choices beyond it) is overwritten.
func TestRegisterWritesWhenTheServicesChange(t *testing.T) {
	h := newHarness(t, harnessConfig{noRun: true, noExecutor: true, also: webRunbook})
	old, err := json.Marshal(discord.CommandFor(commands.NewGrammar([]string{"discord-e2e"})))
	if err != nil {
		t.Fatal(err)
	}
	h.fake.SetCommands("", []json.RawMessage{old})
	if changed, err := h.front.Register(context.Background()); err != nil || !changed {
		t.Fatalf("Register over the command of one service = %v, %v; want a write", changed, err)
	}
	if changed, err := h.front.Register(context.Background()); err != nil || changed {
		t.Fatalf("second Register = %v, %v; want no write", changed, err)
	}
}
