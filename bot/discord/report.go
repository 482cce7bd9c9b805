package discord

import (
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"deploybot/deploy"
)

// renderReport renders a run's report as one embed: the report's title,
// and its Markdown (deploy.StyleMarkdown) as the description, cut at a
// line to maxDescription with where to read it whole.
func renderReport(r deploy.RunReport) rendered {
	d := r.Doc()
	title := d.Title
	d.Title = ""
	e := &discordgo.MessageEmbed{
		Title:       truncate(title, maxTitle),
		Description: fitLines(strings.TrimRight(d.Markdown(deploy.StyleMarkdown), "\n"), maxDescription, "… see /deploy report "+r.RunID),
		Color:       reportColor(r.Status),
		Footer:      &discordgo.MessageEmbedFooter{Text: "run " + r.RunID},
	}
	return rendered{Embeds: []*discordgo.MessageEmbed{e}}
}

// fitLines keeps the whole lines of text that fit in max characters with
// more after them; all of text when it fits.
func fitLines(text string, max int, more string) string {
	if utf8.RuneCountInString(text) <= max {
		return text
	}
	limit := max - utf8.RuneCountInString(more) - 1
	var b strings.Builder
	n := 0
	for _, l := range strings.Split(text, "\n") {
		k := utf8.RuneCountInString(l) + 1
		if n+k > limit {
			break
		}
		b.WriteString(l + "\n")
		n += k
	}
	b.WriteString(more)
	return truncate(b.String(), max)
}

func reportColor(s deploy.Status) int {
	switch s {
	case deploy.StatusCompleted:
		return colorGreen
	case deploy.StatusRolledBack:
		return colorOrange
	case deploy.StatusAborted:
		return colorGrey
	}
	return colorBlurple
}
