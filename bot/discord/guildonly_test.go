package discord

import (
	"testing"

	"github.com/bwmarrin/discordgo"
)

// A run belongs to a guild: /deploy is offered in guilds only, not in DMs,
// and a registered command without that context is re-registered.
func TestCommandIsGuildOnly(t *testing.T) {
	cmd := Command()
	if cmd.Contexts == nil || len(*cmd.Contexts) != 1 || (*cmd.Contexts)[0] != discordgo.InteractionContextGuild {
		t.Fatalf("contexts = %v, want guild only", cmd.Contexts)
	}
	old := Command()
	old.Contexts = nil
	if sameCommand(old, cmd) {
		t.Errorf("a command registered without the guild-only context counts as up to date")
	}
}
