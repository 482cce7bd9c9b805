package discord

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"deploybot/bot"
	"deploybot/deploy"
)

// Discord's limits that the renderer keeps (PLATFORMS.md).
const (
	maxContent     = 2000
	maxTitle       = 256
	maxDescription = 4096
	maxFieldName   = 256
	maxFieldValue  = 1024
	maxFooter      = 2048
	maxFields      = 25
	maxEmbedTotal  = 6000
	maxRows        = 5
	maxRowButtons  = 5
	maxCustomID    = 100
	maxLabel       = 80
	maxOptions     = 25
	maxOptionText  = 100
	maxPlaceholder = 150
	maxModalTitle  = 45
)

// Embed colours.
const (
	colorBlurple = 0x5865F2
	colorGreen   = 0x57F287
	colorYellow  = 0xFEE75C
	colorOrange  = 0xE67E22
	colorRed     = 0xED4245
	colorGrey    = 0x95A5A6
)

// rendered is a message as the bot sends it to Discord.
type rendered struct {
	Content    string                       `json:"content"`
	Embeds     []*discordgo.MessageEmbed    `json:"embeds"`
	Components []discordgo.MessageComponent `json:"components"`
	// Allowed lists the mentions that notify (a request for approval);
	// nil means none does.
	Allowed *discordgo.MessageAllowedMentions `json:"allowed_mentions,omitempty"`
}

// render renders a neutral message for Discord. It is a pure function of m.
func render(m bot.Message) rendered {
	var r rendered
	switch {
	case m.Summary != nil:
		r = renderSummary(*m.Summary)
	case m.Card != nil:
		r = renderCard(*m.Card)
	case m.Notice != nil:
		r = renderNotice(*m.Notice, m.Key)
	case m.Report != nil:
		r = renderReport(*m.Report)
	default:
		r = rendered{Content: "(empty message)"}
	}
	if r.Embeds == nil {
		r.Embeds = []*discordgo.MessageEmbed{}
	}
	if r.Components == nil {
		r.Components = []discordgo.MessageComponent{}
	}
	return r
}

// truncate shortens s to at most n characters, marking the cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return string([]rune(s)[:n])
	}
	return string([]rune(s)[:n-1]) + "…"
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "—"
	}
	return s
}

func field(name, value string, inline bool) *discordgo.MessageEmbedField {
	return &discordgo.MessageEmbedField{Name: truncate(orDash(name), maxFieldName), Value: truncate(orDash(value), maxFieldValue), Inline: inline}
}

func renderSummary(s bot.Summary) rendered {
	e := &discordgo.MessageEmbed{
		Title:       truncate(fmt.Sprintf("Deployment of %s to %s", s.What(), s.Env), maxTitle),
		Description: truncate(strings.Join(phaseLines(s.Phases), "\n"), maxDescription),
		Color:       statusColor(s.Run.Status),
		Footer:      &discordgo.MessageEmbedFooter{Text: "run " + s.RunID},
	}
	if !s.Started.IsZero() {
		e.Timestamp = s.Started.UTC().Format(time.RFC3339)
	}
	e.Fields = append(e.Fields, field("Status", bot.RunStatusText(s.Run), true), field("Started by", s.StartedBy, true))
	if s.PhaseTitle != "" {
		e.Fields = append(e.Fields, field("Current phase", s.PhaseTitle, true))
	}
	e.Fields = append(e.Fields, field("Progress", fmt.Sprintf("%s %d/%d steps", progressBar(s.Settled, s.Total), s.Settled, s.Total), false))
	return rendered{Embeds: []*discordgo.MessageEmbed{e}}
}

// progressBar draws settled/total in ten cells.
func progressBar(settled, total int) string {
	const cells = 10
	n := 0
	if total > 0 {
		n = settled * cells / total
	}
	return strings.Repeat("▰", n) + strings.Repeat("▱", cells-n)
}

func statusColor(s deploy.Status) int {
	switch s {
	case deploy.StatusActive:
		return colorBlurple
	case deploy.StatusRollingBack:
		return colorRed
	case deploy.StatusCompleted, deploy.StatusDeployed:
		return colorGreen
	case deploy.StatusRolledBack:
		return colorOrange
	}
	return colorGrey
}

func renderCard(c bot.PhaseCard) rendered {
	title := fmt.Sprintf("Phase %d/%d · %s", c.Index, c.Total, c.Title)
	if c.Rollback {
		title = "↩️ " + c.Title
	}
	if c.Production {
		title += " ⚠️ production"
	}
	author := fmt.Sprintf("%s → %s", c.What(), c.Env)
	if c.Group != "" {
		author = c.Group + " · " + author
	}
	e := &discordgo.MessageEmbed{
		Author: &discordgo.MessageEmbedAuthor{Name: truncate(author, maxTitle)},
		Title:  truncate(title, maxTitle),
		Color:  cardColor(c),
		Fields: []*discordgo.MessageEmbedField{field("Gate", bot.GateText(c.Gate), false)},
		Footer: &discordgo.MessageEmbedFooter{Text: fmt.Sprintf("run %s · phase %s · %s", c.RunID, c.PhaseID, cardStateWord(c.State))},
	}
	if c.Rollback {
		e.Fields = append(e.Fields, field("Rollback", c.ReturnsTo(), false))
	}
	budget := maxEmbedTotal - 200 - utf8.RuneCountInString(e.Title) - utf8.RuneCountInString(e.Author.Name) - utf8.RuneCountInString(e.Footer.Text)
	for _, f := range e.Fields {
		budget -= utf8.RuneCountInString(f.Value)
	}
	e.Description = stepList(c.Steps, min(maxDescription, budget))
	return rendered{Embeds: []*discordgo.MessageEmbed{e}, Components: cardComponents(c)}
}

func cardColor(c bot.PhaseCard) int {
	switch {
	case c.Rollback && c.State == bot.CardCurrent:
		return colorRed
	case c.State.Settled():
		return colorGreen
	case c.State == bot.CardStopped || c.State == bot.CardNotStarted:
		return colorGrey
	case c.State == bot.CardCurrent:
		return colorBlurple
	}
	return colorYellow
}

// ---- words and icons: every state's, in one place ----

// cardStateWord names a card's state in its footer.
func cardStateWord(s bot.CardState) string {
	switch s {
	case bot.CardWaiting:
		return "waiting for a maintenance window"
	case bot.CardNotStarted:
		return "not started"
	}
	return string(s)
}

func stepIcon(s deploy.StepState) string { return bot.StepText(s) }

// phaseLines are the summary's lines, one a phase ("✅ Build — approved by @bob").
func phaseLines(ps []bot.PhaseLine) []string {
	out := make([]string, 0, len(ps))
	for _, l := range ps {
		line := "⬜ " + l.Title
		switch l.State {
		case bot.PhaseApproved:
			line = "✅ " + l.Title + " — approved by " + l.ApprovedBy
		case bot.PhasePassed:
			line = "✅ " + l.Title + " — passed"
		case bot.PhaseInProgress:
			line = "▶️ " + l.Title + " — in progress"
		case bot.PhaseStopped:
			line = "⏹️ " + l.Title + " — stopped"
		}
		out = append(out, line)
	}
	return out
}

func noticeIcon(i bot.Icon) string { return bot.IconText(i) }

// mentions writes a notice's mentions as Discord mentions (<@id>, <@&role>)
// and the allowed mentions that let exactly those notify. Slack user groups
// and IDs are left out.
func mentions(ms []bot.Mention) (string, *discordgo.MessageAllowedMentions) {
	var out []string
	allowed := &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
	for _, m := range ms {
		if m.Handle != "" || !isSnowflake(m.ID) {
			continue
		}
		if m.Role {
			out = append(out, "<@&"+m.ID+">")
			allowed.Roles = append(allowed.Roles, m.ID)
			continue
		}
		out = append(out, "<@"+m.ID+">")
		allowed.Users = append(allowed.Users, m.ID)
	}
	if len(out) == 0 {
		return "", nil
	}
	return strings.Join(out, " "), allowed
}

func isSnowflake(s string) bool {
	if s == "" || len(s) > 25 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// stepLine renders step n (1-based) on one line: state icon, number, title,
// who and when, and the short result, each shortened to the given lengths
// (detail 0 leaves the result out).
func stepLine(n int, s bot.StepLine, titleMax, detailMax int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s `%d` %s", stepIcon(s.State), n, truncate(s.Title, titleMax))
	switch {
	case s.State == deploy.StepRunning || s.State == deploy.StepFailed || s.State == deploy.StepInterrupted:
		b.WriteString(" — *" + string(s.State) + "*")
	case s.EndedEarly:
		b.WriteString(" — *ended early*")
	}
	if s.By != nil {
		fmt.Fprintf(&b, " · %s %s", s.By.Who, s.By.Ago)
	}
	if d := bot.StepDetail(s); d != "" && detailMax > 0 {
		b.WriteString(" · " + truncate(strings.ReplaceAll(d, "\n", " "), detailMax))
	}
	if s.LastLine != "" && detailMax > 0 {
		b.WriteString(" · `" + truncate(strings.ReplaceAll(s.LastLine, "`", "'"), detailMax) + "`")
	}
	return b.String()
}

// stepList renders the steps within budget characters, shortening titles
// and results step by step, and as a last resort listing only the first
// steps with a count of the others.
func stepList(steps []bot.StepLine, budget int) string {
	levels := []struct{ title, detail int }{{200, 200}, {120, 100}, {90, 50}, {70, 0}, {45, 0}}
	for _, l := range levels {
		lines := make([]string, len(steps))
		total := 0
		for i, s := range steps {
			lines[i] = stepLine(i+1, s, l.title, l.detail)
			total += utf8.RuneCountInString(lines[i]) + 1
		}
		if total <= budget {
			return strings.Join(lines, "\n")
		}
	}
	var b strings.Builder
	used := 0
	for i, s := range steps {
		line := stepLine(i+1, s, 45, 0)
		rest := fmt.Sprintf("… and %d more steps (/deploy status shows them all)", len(steps)-i)
		if used+utf8.RuneCountInString(line)+1+utf8.RuneCountInString(rest) > budget {
			b.WriteString(rest)
			break
		}
		b.WriteString(line + "\n")
		used += utf8.RuneCountInString(line) + 1
	}
	return strings.TrimRight(b.String(), "\n")
}

// renderNotice renders a notice; key is its message's key (bot.Message.Key),
// which a request for approval shows in its footer (askFooter).
func renderNotice(n bot.Notice, key string) rendered {
	head := n.Title
	if i := noticeIcon(n.Icon); i != "" {
		head = i + " " + head
	}
	r := rendered{Content: truncate(head, maxContent)}
	if who, allowed := mentions(n.Mentions); who != "" {
		r.Content, r.Allowed = truncate(who+"\n"+head, maxContent), allowed
	}
	if len(n.Fields) == 0 && len(n.Lines) == 0 {
		return r
	}
	e := &discordgo.MessageEmbed{Color: noticeColor(n.Kind)}
	for _, f := range n.Fields {
		if len(e.Fields) == maxFields {
			break
		}
		e.Fields = append(e.Fields, field(f.Label, f.Value, utf8.RuneCountInString(f.Value) <= 40))
	}
	e.Description = truncate(strings.Join(n.Lines, "\n"), maxDescription)
	if n.RunID != "" {
		e.Footer = &discordgo.MessageEmbedFooter{Text: "run " + n.RunID}
		if run, text, ok := askFooter(key); ok && n.Kind == bot.NoticeAsk && run == n.RunID {
			e.Footer.Text = text // which request it is, for Find
		}
		// The audit head ends the notice, cut short when the footer is full
		// (a request for approval's footer, which Find matches, stays whole).
		if a, room := n.AuditLine(), maxFooter-utf8.RuneCountInString(e.Footer.Text)-utf8.RuneCountInString(" · "); a != "" && room > 0 {
			e.Footer.Text += " · " + truncate(a, room)
		}
	}
	r.Embeds = []*discordgo.MessageEmbed{e}
	r.Components = buttonRows(n.Buttons, maxRows)
	return r
}

func noticeColor(k bot.NoticeKind) int {
	switch k {
	case bot.NoticeAnnouncement:
		return colorBlurple
	case bot.NoticeCompletion:
		return colorGreen
	case bot.NoticeRollback:
		return colorRed
	case bot.NoticeRolledBack:
		return colorOrange
	case bot.NoticeAborted:
		return colorGrey
	case bot.NoticeReminder, bot.NoticeWindowOpen, bot.NoticeWindowClose:
		return colorYellow
	}
	return 0
}
