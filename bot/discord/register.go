package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/bwmarrin/discordgo"

	"deploybot/commands"
)

// CommandName is the name of the application command.
const CommandName = "deploy"

// commandDescription describes /deploy in Discord's command picker (at most 100 characters).
const commandDescription = "Run deployments from the runbook: start, approve, roll back, schedule windows"

// Command returns the /deploy application command of a bot that knows no
// service names (CommandFor the zero commands.Grammar).
func Command() *discordgo.ApplicationCommand { return CommandFor(commands.Grammar{}) }

// CommandFor returns the /deploy application command of grammar g: one
// subcommand per g.Definitions entry, each argument a string option named
// after it, the service option with the services as choices (when there
// are at most 25 of them).
func CommandFor(g commands.Grammar) *discordgo.ApplicationCommand {
	// Guild-only: a run belongs to a guild, so /deploy is not offered in DMs.
	guildOnly := []discordgo.InteractionContextType{discordgo.InteractionContextGuild}
	cmd := &discordgo.ApplicationCommand{Name: CommandName, Type: discordgo.ChatApplicationCommand, Description: commandDescription, Contexts: &guildOnly}
	for _, d := range g.Definitions() {
		sub := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionSubCommand, Name: string(d.Kind), Description: d.Summary}
		for _, a := range d.Args {
			o := &discordgo.ApplicationCommandOption{
				Type: discordgo.ApplicationCommandOptionString, Name: a.Name, Description: a.Description,
				Required: a.Required, MaxLength: a.MaxLength,
			}
			for _, c := range a.Choices {
				o.Choices = append(o.Choices, &discordgo.ApplicationCommandOptionChoice{Name: c, Value: c})
			}
			sub.Options = append(sub.Options, o)
		}
		cmd.Options = append(cmd.Options, sub)
	}
	return cmd
}

// Register makes sure the /deploy command is registered as Command defines
// it, globally or on the configured guild. It reads the registered commands
// first and overwrites them (one bulk overwrite) only when they differ, so
// restarts do not re-register. It reports whether it wrote.
func (f *Front) Register(ctx context.Context) (changed bool, err error) {
	want := CommandFor(f.bot.Grammar())
	have, err := f.s.ApplicationCommands(f.appID, f.guildID, discordgo.WithContext(ctx))
	if err != nil {
		return false, platformError("list application commands", err)
	}
	if len(have) == 1 && sameCommand(have[0], want) {
		f.log.Debug("the /deploy command is up to date")
		return false, nil
	}
	if _, err := f.s.ApplicationCommandBulkOverwrite(f.appID, f.guildID, []*discordgo.ApplicationCommand{want}, discordgo.WithContext(ctx)); err != nil {
		return false, platformError("register application commands", err)
	}
	scope := "globally"
	if f.guildID != "" {
		scope = "on guild " + f.guildID
	}
	f.log.Info("registered the /deploy command", "scope", scope, "subcommands", len(want.Options))
	return true, nil
}

// canonCommand is the part of a command that deploybot defines, in a form
// that compares equal whatever Discord adds (ids, versions, defaults).
type canonCommand struct {
	Name        string        `json:"name"`
	Type        int           `json:"type"`
	Description string        `json:"description"`
	Contexts    []int         `json:"contexts"`
	Options     []canonOption `json:"options"`
}

type canonOption struct {
	Type        int           `json:"type"`
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Required    bool          `json:"required"`
	MaxLength   int           `json:"max_length"`
	Options     []canonOption `json:"options"`
	Choices     []string      `json:"choices,omitempty"`
}

func canon(c *discordgo.ApplicationCommand) canonCommand {
	t := int(c.Type)
	if t == 0 {
		t = int(discordgo.ChatApplicationCommand)
	}
	var contexts []int
	if c.Contexts != nil {
		for _, x := range *c.Contexts {
			contexts = append(contexts, int(x))
		}
	}
	return canonCommand{Name: c.Name, Type: t, Description: c.Description, Contexts: contexts, Options: canonOptions(c.Options)}
}

func canonOptions(opts []*discordgo.ApplicationCommandOption) []canonOption {
	out := []canonOption{}
	for _, o := range opts {
		co := canonOption{Type: int(o.Type), Name: o.Name, Description: o.Description, Required: o.Required,
			MaxLength: o.MaxLength, Options: canonOptions(o.Options)}
		for _, c := range o.Choices {
			co.Choices = append(co.Choices, c.Name+"="+fmt.Sprint(c.Value))
		}
		out = append(out, co)
	}
	return out
}

// sameCommand reports whether the registered command have is the command want.
func sameCommand(have, want *discordgo.ApplicationCommand) bool {
	a, _ := json.Marshal(canon(have))
	b, _ := json.Marshal(canon(want))
	return slices.Equal(a, b)
}
