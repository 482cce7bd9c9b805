package discord

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bwmarrin/discordgo"

	"deploybot/bot"
	"deploybot/commands"
	"deploybot/deploy"
)

// The custom_id prefixes (see the package documentation).
const (
	prefixConfirm = "c:"
	prefixReason  = "r:"
	prefixOK      = "ok:"
	prefixCancel  = "no:"
	prefixModal   = "m:"
	prefixPick    = "p:"
)

// reasonInput is the custom_id of the reason text input in modals.
const reasonInput = "reason"

// maxReason is the longest reason a modal takes.
const maxReason = commands.MaxReasonLength

// customID returns the custom_id of a button: what clicking it does first.
func customID(b bot.Button) string {
	switch {
	case b.Confirm != nil:
		return prefixConfirm + b.ID()
	case b.NeedsReason || bot.NeedsReason(b.Action):
		return prefixReason + b.ID()
	}
	return b.ID()
}

func buttonStyle(s bot.Style) discordgo.ButtonStyle {
	switch s {
	case bot.StylePrimary:
		return discordgo.PrimaryButton
	case bot.StyleDanger:
		return discordgo.DangerButton
	}
	return discordgo.SecondaryButton
}

// stepButton renders a step's button: its plain label ("Done") with the
// step's number as a keycap emoji (1️⃣ … 🔟), so the card's list and its
// buttons match up; past ten steps the number goes in the label ("Done 11").
func stepButton(b bot.Button, n int) discordgo.Button {
	if n < 1 || n > 10 {
		return button(b, fmt.Sprintf("%s %d", b.Label, n))
	}
	out := button(b, b.Label)
	key := "🔟"
	if n < 10 {
		key = string(rune('0'+n)) + "\uFE0F\u20E3"
	}
	out.Emoji = &discordgo.ComponentEmoji{Name: key}
	return out
}

// button renders b with label.
func button(b bot.Button, label string) discordgo.Button {
	return discordgo.Button{Label: truncate(label, maxLabel), Style: buttonStyle(b.Style), CustomID: customID(b)}
}

// fits reports whether b's custom_id fits Discord's 100 characters, with
// room for the ok:/no: prefixes of its confirmation. A button that does not
// fit is left off the message (Discord would refuse the whole message).
func fits(b bot.Button) bool { return len(prefixOK+b.ID()) <= maxCustomID }

// fitting returns the buttons that fit.
func fitting(bs []bot.Button) []bot.Button {
	var out []bot.Button
	for _, b := range bs {
		if fits(b) {
			out = append(out, b)
		}
	}
	return out
}

// buttonRows lays buttons out in at most rows action rows of five, labelled
// as they are; buttons that do not fit are left out.
func buttonRows(bs []bot.Button, rows int) []discordgo.MessageComponent {
	var out []discordgo.MessageComponent
	var row discordgo.ActionsRow
	for _, b := range fitting(bs) {
		if len(row.Components) == maxRowButtons {
			out = append(out, row)
			row = discordgo.ActionsRow{}
		}
		if len(out) == rows {
			break
		}
		row.Components = append(row.Components, button(b, b.Label))
	}
	if len(row.Components) > 0 && len(out) < rows {
		out = append(out, row)
	}
	return out
}

// stepGroup is one step's buttons on a card.
type stepGroup struct {
	n    int // 1-based step number
	step bot.StepLine
}

// cardComponents lays out a phase card's buttons. The phase's own buttons
// (Start outside window, Approve, Rollback) take the last row. The step
// buttons come first, labelled by action ("Done", "Skip") with the step number as a keycap emoji,
// each step's buttons kept on one row. When they do not fit the rows left,
// the open steps are listed instead in "Tick a step…" select menus of up to
// 25 steps each; choosing one answers with its buttons.
func cardComponents(c bot.PhaseCard) []discordgo.MessageComponent {
	var groups []stepGroup
	for i, s := range c.Steps {
		s.Buttons = fitting(s.Buttons)
		if len(s.Buttons) > 0 && len(pickID(c.RunID, c.PhaseID, maxRows)) <= maxCustomID && len(s.ID) <= maxOptionText {
			groups = append(groups, stepGroup{n: i + 1, step: s})
		}
	}
	phase := fitting(c.Buttons)
	if len(phase) > maxRowButtons {
		phase = phase[:maxRowButtons]
	}
	avail := maxRows
	if len(phase) > 0 {
		avail--
	}
	var out []discordgo.MessageComponent
	if rows, ok := stepButtonRows(groups, avail); ok {
		out = rows
	} else {
		out = pickMenus(c, groups, avail)
	}
	if len(phase) > 0 {
		row := discordgo.ActionsRow{}
		for _, b := range phase {
			row.Components = append(row.Components, button(b, b.Label))
		}
		out = append(out, row)
	}
	return out
}

// stepButtonRows packs the step groups into at most avail rows, or reports
// that they do not fit.
func stepButtonRows(groups []stepGroup, avail int) ([]discordgo.MessageComponent, bool) {
	var out []discordgo.MessageComponent
	var row discordgo.ActionsRow
	for _, g := range groups {
		if len(row.Components)+len(g.step.Buttons) > maxRowButtons {
			out = append(out, row)
			row = discordgo.ActionsRow{}
		}
		for _, b := range g.step.Buttons {
			row.Components = append(row.Components, stepButton(b, g.n))
		}
	}
	if len(row.Components) > 0 {
		out = append(out, row)
	}
	return out, len(out) <= avail
}

// pickMenus lists the steps of groups in select menus of up to 25 options,
// at most avail menus; steps beyond them show up as earlier ones settle.
func pickMenus(c bot.PhaseCard, groups []stepGroup, avail int) []discordgo.MessageComponent {
	var out []discordgo.MessageComponent
	for page := 0; page < avail && page*maxOptions < len(groups); page++ {
		chunk := groups[page*maxOptions : min(len(groups), (page+1)*maxOptions)]
		placeholder := "Tick a step…"
		if len(groups) > maxOptions {
			placeholder = fmt.Sprintf("Tick a step (%d–%d of %d open)…", chunk[0].n, chunk[len(chunk)-1].n, len(groups))
		}
		one := 1
		menu := discordgo.SelectMenu{
			MenuType: discordgo.StringSelectMenu, CustomID: pickID(c.RunID, c.PhaseID, page),
			Placeholder: truncate(placeholder, maxPlaceholder), MinValues: &one, MaxValues: 1,
		}
		for _, g := range chunk {
			menu.Options = append(menu.Options, discordgo.SelectMenuOption{
				Label:       truncate(fmt.Sprintf("%d. %s", g.n, g.step.Title), maxOptionText),
				Value:       g.step.ID,
				Description: truncate(optionDescription(g.step), maxOptionText),
			})
		}
		out = append(out, discordgo.ActionsRow{Components: []discordgo.MessageComponent{menu}})
	}
	return out
}

// optionDescription says a step's state and what can be done ("pending · Done or Skip").
func optionDescription(s bot.StepLine) string {
	var labels []string
	for _, b := range s.Buttons {
		labels = append(labels, b.Label)
	}
	return fmt.Sprintf("%s · %s", s.State, strings.Join(labels, " or "))
}

func pickID(run, phase string, page int) string {
	return prefixPick + run + ":" + phase + ":" + strconv.Itoa(page)
}

// parsePick decodes a pickID.
func parsePick(id string) (run, phase string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(id, prefixPick), ":")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// stepPicker is the ephemeral answer to choosing step n in a menu: the step's
// line and its buttons.
func stepPicker(n int, s bot.StepLine) *discordgo.InteractionResponseData {
	d := ephemeral(stepLine(n, s, 200, 200))
	if len(s.Buttons) == 0 {
		d.Content += "\nNothing to do on this step now."
		return d
	}
	d.Components = buttonRows(s.Buttons, 1)
	return d
}

// confirmPrompt is the ephemeral confirmation asked before b takes effect.
func confirmPrompt(b bot.Button, c *bot.Confirm) *discordgo.InteractionResponseData {
	okStyle := discordgo.PrimaryButton
	if b.Action == deploy.ActRollback || b.Style == bot.StyleDanger {
		okStyle = discordgo.DangerButton
	}
	d := ephemeral(fmt.Sprintf("**%s**\n%s", c.Title, c.Text))
	d.Components = []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		discordgo.Button{Label: truncate(orDefault(c.OK, "Confirm"), maxLabel), Style: okStyle, CustomID: prefixOK + b.ID()},
		discordgo.Button{Label: truncate(orDefault(c.Cancel, "Cancel"), maxLabel), Style: discordgo.SecondaryButton, CustomID: prefixCancel + b.ID()},
	}}}
	return d
}

// genericConfirm is the confirmation of a button whose own wording is not at
// hand (a button on a notice, or one no longer on its card): it names the
// button (label) and the message it was on (context).
func genericConfirm(kind deploy.ActionKind, label, context string) *bot.Confirm {
	switch kind {
	case deploy.ActRollback:
		return &bot.Confirm{Title: "Roll back?", Text: "This starts the rollback procedure.", OK: "Roll back", Cancel: "Cancel"}
	case deploy.ActOverrideWindow:
		return &bot.Confirm{Title: "Start outside a window?", Text: "The phase will start now, outside any maintenance window.", OK: "Start now", Cancel: "Wait"}
	}
	label = orDefault(label, "Confirm")
	text := "Please confirm."
	if context != "" {
		text = truncate(context, 300)
	}
	return &bot.Confirm{Title: label + "?", Text: text, OK: label, Cancel: "Cancel"}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// reasonModal is the modal that asks for the reason of the action id.
func reasonModal(kind deploy.ActionKind, id string) *discordgo.InteractionResponseData {
	title, placeholder := "Why?", "Your reason goes in the audit log."
	switch kind {
	case deploy.ActSkip:
		title, placeholder = "Why skip this step?", "e.g. checked by hand on the dashboard. Kept in the audit log."
	case deploy.ActRollback:
		title, placeholder = "Why roll back?", "e.g. error rate above 2% after the canary. Shown in the rollback notice."
	case deploy.ActOverrideWindow:
		title, placeholder = "Why start outside the window?", "e.g. hotfix for an outage. Kept in the audit log."
	}
	return &discordgo.InteractionResponseData{
		CustomID: prefixModal + id,
		Title:    truncate(title, maxModalTitle),
		Components: []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
			discordgo.TextInput{CustomID: reasonInput, Label: "Reason", Style: discordgo.TextInputParagraph, Placeholder: placeholder,
				Required: true, MinLength: 1, MaxLength: maxReason},
		}}},
	}
}

// ephemeral is a message only the person who acted sees.
func ephemeral(text string) *discordgo.InteractionResponseData {
	return &discordgo.InteractionResponseData{
		Content: truncate(orDefault(text, "Done."), maxContent), Flags: discordgo.MessageFlagsEphemeral,
		AllowedMentions: noMentions(), Components: []discordgo.MessageComponent{}, Embeds: []*discordgo.MessageEmbed{},
	}
}
