package slackfront

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/slack-go/slack"

	"deploybot/bot"
	"deploybot/deploy"
)

// Block Kit limits the renderer enforces (Slack validates them and refuses a
// message that breaks one; slack-go checks almost none).
const (
	maxBlocks         = 50
	maxActionElements = 25
	maxSectionText    = 3000
	maxFields         = 10
	maxFieldText      = 2000
	maxHeaderText     = 150
	maxButtonText     = 75
	maxID             = 255
	maxConfirmTitle   = 100
	maxConfirmText    = 300
	maxConfirmButton  = 30
	maxSelectOptions  = 100
	maxOptionText     = 75
	maxOptionValue    = 150
	maxPlaceholder    = 150
	// maxFallbackText bounds a message's text (the notification and
	// screen-reader text); Slack advises at most 4000 characters.
	maxFallbackText = 3000
	// maxTitle and maxDetail bound one step's title and result on a card, so
	// one long line cannot crowd out the others.
	maxTitle  = 300
	maxDetail = 500
)

// Rendered is a message as Slack receives it: the blocks and the fallback
// text that notifications and screen readers use.
type Rendered struct {
	Text   string
	Blocks []slack.Block
	// raw is the JSON of each block without its id, when the poster's
	// cache assigned the ids (nil otherwise: the blocks are encoded when
	// sent); the id is spliced in when the message is encoded.
	raw [][]byte
}

// JSON returns the rendering as {"text":…, "blocks":[…]} (golden files, debugging).
func (r Rendered) JSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(struct {
		Text   string        `json:"text"`
		Blocks []slack.Block `json:"blocks"`
	}{r.Text, r.Blocks})
	return bytes.TrimSpace(b.Bytes()), err
}

// Render renders one message of the neutral model.
func Render(m bot.Message) Rendered { return render(m, nil) }

// render renders m; ids, when not nil, assigns the block ids and keeps
// their JSON (see blockCache.assign).
func render(m bot.Message, ids *blockCache) Rendered {
	switch {
	case m.Summary != nil:
		return renderSummary(*m.Summary, ids)
	case m.Card != nil:
		return renderCard(*m.Card, ids)
	case m.Notice != nil:
		return renderNotice(*m.Notice, ids)
	case m.Report != nil:
		return RenderReport(*m.Report)
	}
	return Rendered{Text: "deploybot"}
}

// length counts characters as Slack does (UTF-16 code units).
func length(s string) int {
	n := 0
	for _, r := range s {
		if k := utf16.RuneLen(r); k > 0 {
			n += k
		} else {
			n++
		}
	}
	return n
}

// clip shortens s to at most max characters, ending in "…" when cut.
func clip(s string, max int) string {
	if length(s) <= max {
		return s
	}
	n := 0
	for i, r := range s {
		k := max16(r)
		if n+k > max-1 {
			return s[:i] + "…"
		}
		n += k
	}
	return s
}

func max16(r rune) int {
	if k := utf16.RuneLen(r); k > 0 {
		return k
	}
	return 1
}

// escaper escapes the three characters Slack's mrkdwn gives meaning to, so
// text from people ("<!channel>", "<https://evil|docs>") shows as typed.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// esc escapes s for mrkdwn and clips it to max characters without cutting
// an escape in half.
func esc(s string, max int) string {
	out := escaper.Replace(s)
	if length(out) <= max {
		return out
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		piece := escaper.Replace(string(r))
		k := length(piece)
		if n+k > max-1 {
			b.WriteString("…")
			return b.String()
		}
		b.WriteString(piece)
		n += k
	}
	return b.String()
}

func mrkdwn(s string) *slack.TextBlockObject {
	if s == "" {
		s = " "
	}
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func plain(s string, max int) *slack.TextBlockObject {
	s = clip(strings.TrimSpace(s), max)
	if s == "" {
		s = "-"
	}
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

func section(text string) *slack.SectionBlock {
	return slack.NewSectionBlock(mrkdwn(text), nil, nil)
}

// button renders a model button; its action_id is Button.ID, which the
// interaction handler parses back.
func button(b bot.Button, a11y string) *slack.ButtonBlockElement {
	id := b.ID()
	e := slack.NewButtonBlockElement(id, id, plain(b.Label, maxButtonText))
	e.Style = slack.Style(b.Style)
	if a11y != "" {
		e.AccessibilityLabel = clip(a11y, maxButtonText)
	}
	e.Confirm = confirm(b.Confirm, b.Style)
	return e
}

func confirm(c *bot.Confirm, style bot.Style) *slack.ConfirmationBlockObject {
	if c == nil {
		return nil
	}
	cf := slack.NewConfirmationBlockObject(plain(c.Title, maxConfirmTitle), plain(c.Text, maxConfirmText),
		plain(c.OK, maxConfirmButton), plain(orDefault(c.Cancel, "Cancel"), maxConfirmButton))
	if style != bot.StyleDefault {
		cf.Style = slack.Style(style)
	}
	return cf
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// usable reports whether a button's id fits Slack's action_id limit.
func usable(b bot.Button) bool { return len(b.ID()) <= maxID }

// actionBlocks renders buttons as actions blocks of at most 25 elements.
func actionBlocks(bs []bot.Button, a11y func(bot.Button) string) []slack.Block {
	var els []slack.BlockElement
	for _, b := range bs {
		if !usable(b) {
			continue
		}
		label := ""
		if a11y != nil {
			label = a11y(b)
		}
		els = append(els, button(b, label))
	}
	var out []slack.Block
	for len(els) > 0 {
		n := min(len(els), maxActionElements)
		out = append(out, slack.NewActionBlock("", els[:n]...))
		els = els[n:]
	}
	return out
}

// packLines joins lines into section texts of at most maxSectionText
// characters each (a line longer than that is clipped).
func packLines(lines []string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range lines {
		l = clipEscaped(l, maxSectionText)
		if cur.Len() > 0 && length(cur.String())+1+length(l) > maxSectionText {
			out = append(out, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteString("\n")
		}
		cur.WriteString(l)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// clipEscaped clips already escaped mrkdwn text without cutting an entity.
func clipEscaped(s string, max int) string {
	if length(s) <= max {
		return s
	}
	cut := clip(s, max)
	if i := strings.LastIndexByte(cut, '&'); i >= 0 && !strings.Contains(cut[i:], ";") {
		cut = cut[:i] + "…"
	}
	return cut
}

// assignBlockIDs gives every block an id made of its kind, its position and
// a hash of its content: stable for the same content (golden files), new
// when the content changes, as Slack advises for updated messages. The
// poster's cache (blockCache.assign) gives the same ids without encoding
// the blocks it saw before.
func assignBlockIDs(blocks []slack.Block) {
	for i, b := range blocks {
		raw, _ := json.Marshal(b)
		setBlockID(b, blockID(i, b, raw))
	}
}

// blockID is the id of block b at position i whose JSON, without an id, is raw.
func blockID(i int, b slack.Block, raw []byte) string { return idOf(i, b, jsonSum(raw)) }

// jsonSum is the content hash in a block's id: FNV-1a of its JSON without an id.
func jsonSum(raw []byte) uint32 {
	h := fnv.New32a()
	_, _ = h.Write(raw)
	return h.Sum32()
}

// idOf is the id of block b at position i whose content hash is sum.
func idOf(i int, b slack.Block, sum uint32) string {
	var a [32]byte
	buf := append(a[:0], string(b.BlockType())[:1]...)
	buf = strconv.AppendInt(buf, int64(i), 10)
	buf = append(buf, '-')
	for shift := 28; shift >= 0; shift -= 4 { // %08x
		buf = append(buf, "0123456789abcdef"[sum>>shift&0xf])
	}
	return string(buf)
}

func setBlockID(b slack.Block, id string) {
	switch x := b.(type) {
	case *slack.SectionBlock:
		x.BlockID = id
	case *slack.ActionBlock:
		x.BlockID = id
	case *slack.ContextBlock:
		x.BlockID = id
	case *slack.HeaderBlock:
		x.BlockID = id
	case *slack.DividerBlock:
		x.BlockID = id
	}
}

func fallback(s string) string {
	s = clip(strings.TrimSpace(escaper.Replace(s)), maxFallbackText)
	if s == "" {
		return "deploybot"
	}
	return s
}

// ---- icons: every state's emoji, in one place ----

func statusIcon(s deploy.Status) string {
	switch s {
	case deploy.StatusActive:
		return "🟢"
	case deploy.StatusRollingBack:
		return "🟠"
	case deploy.StatusCompleted, deploy.StatusDeployed:
		return "✅"
	case deploy.StatusRolledBack:
		return "↩️"
	case deploy.StatusAborted:
		return "⏹️"
	}
	return "•"
}

func stepIcon(s deploy.StepState) string { return bot.StepText(s) }

func gateIcon(s bot.CardState) string {
	switch s {
	case bot.CardApproved, bot.CardPassed:
		return "✅"
	case bot.CardStopped:
		return "⏹️"
	case bot.CardWaiting:
		return "⏸️"
	case bot.CardNotStarted:
		return "⬜"
	}
	return "🚦"
}

// phaseLine is a phase's line on the summary ("✅ Build — approved by @bob").
func phaseLine(l bot.PhaseLine) string {
	switch l.State {
	case bot.PhaseApproved:
		return "✅ " + l.Title + " — approved by " + l.ApprovedBy
	case bot.PhasePassed:
		return "✅ " + l.Title + " — passed"
	case bot.PhaseInProgress:
		return "▶️ " + l.Title + " — in progress"
	case bot.PhaseStopped:
		return "⏹️ " + l.Title + " — stopped"
	}
	return "⬜ " + l.Title
}

func noticeIcon(i bot.Icon) string { return bot.IconText(i) }

// mentions writes a notice's mentions as Slack mentions that notify: a
// user <@U…>, a user group <!subteam^ID> (its handle as plain text when
// its ID is not known). Discord roles and IDs are left out.
func mentions(ms []bot.Mention) string {
	var out []string
	for _, m := range ms {
		switch {
		case m.Handle != "" && m.ID != "":
			out = append(out, "<!subteam^"+esc(m.ID, 40)+">")
		case m.Handle != "":
			out = append(out, "@"+esc(m.Handle, 80))
		case m.Role:
		case strings.HasPrefix(m.ID, "U") || strings.HasPrefix(m.ID, "W"):
			out = append(out, "<@"+esc(m.ID, 40)+">")
		}
	}
	return strings.Join(out, " ")
}

// ---- run summary ----

// progressBar draws settled/total as ten cells.
func progressBar(settled, total int) string {
	if total <= 0 {
		return ""
	}
	full := settled * 10 / total
	return strings.Repeat("▓", full) + strings.Repeat("░", 10-full)
}

// slackDate renders t in each reader's own time zone, with a UTC fallback.
func slackDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf("<!date^%d^{date_short_pretty} at {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// RenderSummary renders a run's summary message.
func RenderSummary(s bot.Summary) Rendered { return renderSummary(s, nil) }

func renderSummary(s bot.Summary, ids *blockCache) Rendered {
	var blocks []slack.Block
	blocks = append(blocks, slack.NewHeaderBlock(plain(fmt.Sprintf("🚀 %s → %s", s.What(), s.Env), maxHeaderText)))
	var b strings.Builder
	status := bot.RunStatusText(s.Run)
	fmt.Fprintf(&b, "%s *%s*\n", statusIcon(s.Run.Status), esc(status, 1000))
	fmt.Fprintf(&b, "*Run* `%s` · started by %s", esc(s.RunID, 100), esc(s.StartedBy, 200))
	if d := slackDate(s.Started); d != "" {
		b.WriteString(" · " + d)
	}
	if s.PhaseTitle != "" {
		fmt.Fprintf(&b, "\n*Current phase:* %s", esc(s.PhaseTitle, maxTitle))
	}
	if s.Total > 0 {
		fmt.Fprintf(&b, "\n*Progress:* %s %d/%d steps", progressBar(s.Settled, s.Total), s.Settled, s.Total)
	}
	blocks = append(blocks, section(b.String()))
	var lines []string
	for _, l := range s.Phases {
		lines = append(lines, esc(phaseLine(l), maxTitle+100))
	}
	packed := packLines(lines)
	room := maxBlocks - len(blocks) - 1
	if len(packed) > room {
		packed = packed[:room]
		packed[room-1] = clipEscaped(packed[room-1], maxSectionText-40) + "\n… more phases: /deploy status"
	}
	for _, p := range packed {
		blocks = append(blocks, section(p))
	}
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn("Each phase has its own message in this thread, updated as it goes.")))
	blocks = trimToBudget(blocks, "… more phases: /deploy status")
	raw := ids.assign(blocks)
	text := fmt.Sprintf("Deployment of %s to %s (run %s): %s", s.What(), s.Env, s.RunID, status)
	if s.Total > 0 {
		text += fmt.Sprintf(", %d/%d steps", s.Settled, s.Total)
	}
	return Rendered{Text: fallback(text), Blocks: blocks, raw: raw}
}

// ---- phase card ----

func stateWord(l bot.StepLine) string {
	switch {
	case l.EndedEarly:
		return "ended early"
	case l.State == deploy.StepStopped:
		return "stopped"
	}
	return string(l.State)
}

// stepMeta is the line under a step's title: state, who, when, result.
func stepMeta(l bot.StepLine) string {
	parts := []string{stateWord(l)}
	if l.By != nil {
		parts = append(parts, l.By.Who, l.By.Ago)
	}
	var d string
	switch {
	case l.State == deploy.StepSkipped, l.EndedEarly:
		d = "reason: " + l.Reason
	case l.State == deploy.StepRunning:
		d = bot.Human(l.Elapsed)
		if l.Progress != "" {
			d += " · " + l.Progress
		}
	case l.Result != "":
		d = l.Result
	case l.AwaitsWindow:
		d = "waiting for a maintenance window"
	case l.Blocked != "":
		d = "waits for " + l.Blocked
	}
	if d != "" {
		parts = append(parts, d)
	}
	if l.LastLine != "" {
		parts = append(parts, l.LastLine)
	}
	if l.Attempt > 1 {
		parts = append(parts, fmt.Sprintf("attempt %d", l.Attempt))
	}
	for i, p := range parts {
		limit := 200
		if i == len(parts)-1 || p == d || p == l.LastLine {
			limit = maxDetail
		}
		parts[i] = esc(p, limit)
	}
	return strings.Join(parts, " · ")
}

func stepTitle(l bot.StepLine) string {
	t := "*" + esc(l.Title, maxTitle) + "*"
	if l.Automated && l.Adapter != "" {
		t += "  `" + esc(l.Adapter, 40) + "`"
	}
	return stepIcon(l.State) + " " + t
}

// stepText is a step on its own: title, then state, who, when and result.
func stepText(l bot.StepLine) string { return stepTitle(l) + "\n" + stepMeta(l) }

// stepLine is a step in one line, for cards packed to fit Slack's limits.
func stepLine(l bot.StepLine) string { return stepTitle(l) + " — " + stepMeta(l) }

func stepA11y(title string) func(bot.Button) string {
	return func(b bot.Button) string { return b.Label + ": " + title }
}

func cardHeader(c bot.PhaseCard) string {
	if c.Rollback {
		return "↩️ " + c.Title
	}
	if c.Index > 0 && c.Total > 0 {
		return fmt.Sprintf("Phase %d/%d · %s", c.Index, c.Total, c.Title)
	}
	return c.Title
}

// maxBlockText is the budget of a message's block text: every text object
// and accessibility label in its blocks. Slack refuses a message whose
// blocks hold more than about 12,000 characters (msg_blocks_too_long, a
// limit it does not publish), and an edit that adds "· @who · when" to a
// line must not push a card over it.
const maxBlockText = 9000

// blockText counts the text of blocks as maxBlockText budgets it: every
// text object (headers, sections and their fields, context, buttons,
// menus and their options, confirmation dialogs) and accessibility label.
func blockText(blocks []slack.Block) int {
	n := 0
	for _, b := range blocks {
		switch x := b.(type) {
		case *slack.HeaderBlock:
			n += textOf(x.Text)
		case *slack.SectionBlock:
			n += textOf(x.Text)
			for _, f := range x.Fields {
				n += textOf(f)
			}
		case *slack.ContextBlock:
			for _, e := range x.ContextElements.Elements {
				if t, ok := e.(*slack.TextBlockObject); ok {
					n += textOf(t)
				}
			}
		case *slack.ActionBlock:
			for _, e := range x.Elements.ElementSet {
				switch el := e.(type) {
				case *slack.ButtonBlockElement:
					n += textOf(el.Text) + length(el.AccessibilityLabel) + confirmText(el.Confirm)
				case *slack.SelectBlockElement:
					n += textOf(el.Placeholder) + confirmText(el.Confirm)
					for _, o := range el.Options {
						n += textOf(o.Text)
					}
				}
			}
		}
	}
	return n
}

func textOf(t *slack.TextBlockObject) int {
	if t == nil {
		return 0
	}
	return length(t.Text)
}

func confirmText(c *slack.ConfirmationBlockObject) int {
	if c == nil {
		return 0
	}
	return textOf(c.Title) + textOf(c.Text) + textOf(c.Confirm) + textOf(c.Deny)
}

// trimToBudget is the last resort for a message whose text exceeds
// maxBlockText (a notice or summary with hundreds of long lines): it drops
// text sections from the end, never the first block, and says that
// something was left out. Buttons go only when the text alone cannot make
// it fit (dozens of buttons with confirmations): a message Slack refuses
// would show nothing at all.
func trimToBudget(blocks []slack.Block, more string) []slack.Block {
	if blockText(blocks) <= maxBlockText {
		return blocks
	}
	note := slack.NewContextBlock("", mrkdwn(more))
	for blockText(blocks)+blockText([]slack.Block{note}) > maxBlockText {
		drop := -1
		for i := len(blocks) - 1; i > 0; i-- {
			if blocks[i].BlockType() != slack.MBTAction {
				drop = i
				break
			}
		}
		if drop < 0 && len(blocks) > 1 {
			last := blocks[len(blocks)-1].(*slack.ActionBlock)
			if els := last.Elements.ElementSet; len(els) > 1 {
				last.Elements.ElementSet = els[:len(els)-1]
				continue
			}
			drop = len(blocks) - 1
		}
		if drop < 0 {
			break
		}
		blocks = append(blocks[:drop:drop], blocks[drop+1:]...)
	}
	// The note goes before the buttons at the end, if any.
	at := len(blocks)
	for at > 1 && blocks[at-1].BlockType() == slack.MBTAction {
		at--
	}
	if len(blocks) >= maxBlocks {
		return blocks
	}
	return append(append(append([]slack.Block{}, blocks[:at]...), note), blocks[at:]...)
}

// layout is how much a card's steps are condensed to fit Block Kit's 50
// blocks and the block text budget; each level condenses more.
type layout int

const (
	// layoutFull: every step in its own section, with its buttons.
	layoutFull layout = iota
	// layoutPacked: steps without buttons packed several to a section.
	layoutPacked
	// layoutCompact: settled steps as their title alone (no "· @who · when").
	layoutCompact
	// layoutFolded: runs of settled steps folded into one count line.
	layoutFolded
	// layoutTight: open steps' text shortened, buttons without
	// accessibility labels.
	layoutTight
)

// RenderCard renders a phase card. The steps are laid out at the first
// level that fits Block Kit's 50 blocks and the block text budget: each
// step in full with its buttons; then steps without buttons packed several
// to a section; then settled steps as compact lines, then folded into
// counts ("✅ 18 done"), the open steps always in full with their buttons;
// then the open steps shortened. If the buttons still do not fit, every
// step is packed and each kind of step button becomes one menu listing the
// steps it applies to.
func RenderCard(c bot.PhaseCard) Rendered { return renderCard(c, nil) }

func renderCard(c bot.PhaseCard, ids *blockCache) Rendered {
	head := []slack.Block{slack.NewHeaderBlock(plain(cardHeader(c), maxHeaderText))}
	var ctx []string
	if c.Group != "" {
		ctx = append(ctx, "*"+esc(c.Group, 200)+"*")
	}
	release := fmt.Sprintf("`%s` → *%s*", esc(c.Release, 100), esc(c.Env, 100))
	if c.Service != "" {
		release = "*" + esc(c.Service, 100) + "* " + release
	}
	ctx = append(ctx, release, fmt.Sprintf("run `%s`", esc(c.RunID, 100)))
	if c.Rollback {
		ctx = append(ctx, "↩️ "+esc(c.ReturnsTo(), 200))
	}
	if c.Production {
		ctx = append(ctx, "🔴 production phase")
	}
	head = append(head, slack.NewContextBlock("", mrkdwn(strings.Join(ctx, " · "))))

	tail := []slack.Block{section(gateIcon(c.State) + " " + esc(bot.GateText(c.Gate), 1000))}
	tail = append(tail, actionBlocks(c.Buttons, nil)...)

	room := maxBlocks - len(head) - len(tail)
	budget := maxBlockText - blockText(head) - blockText(tail)
	var steps []slack.Block
	fits := false
	for lv := layoutFull; lv <= layoutTight && !fits; lv++ {
		steps = layoutSteps(c, lv)
		fits = len(steps) <= room && blockText(steps) <= budget
	}
	if !fits {
		steps = menuSteps(c, room, budget)
	}
	blocks := append(append(head, steps...), tail...)
	raw := ids.assign(blocks)

	text := fmt.Sprintf("%s (%s → %s): %s", cardHeader(c), c.What(), c.Env, bot.GateText(c.Gate))
	return Rendered{Text: fallback(text), Blocks: blocks, raw: raw}
}

// compactLine is a settled step as its icon and title, with a skip's reason.
func compactLine(l bot.StepLine) string {
	line := stepIcon(l.State) + " *" + esc(l.Title, maxTitle) + "*"
	if l.State == deploy.StepSkipped && l.Reason != "" {
		line += " — reason: " + esc(l.Reason, 100)
	}
	return line
}

// foldLine sums up settled steps first..last (1-based) in one line.
func foldLine(steps []bot.StepLine, first, last int) string {
	done, skipped := 0, 0
	for _, l := range steps {
		if l.State == deploy.StepSkipped {
			skipped++
		} else {
			done++
		}
	}
	var parts []string
	if done > 0 {
		parts = append(parts, fmt.Sprintf("%s %d done", stepIcon(deploy.StepDone), done))
	}
	if skipped > 0 {
		parts = append(parts, fmt.Sprintf("%s %d skipped", stepIcon(deploy.StepSkipped), skipped))
	}
	return fmt.Sprintf("%s — steps %d–%d (/deploy status lists them)", strings.Join(parts, " · "), first, last)
}

// tightText is an open step shortened: a shorter title and result.
func tightText(l bot.StepLine) string {
	short := l
	short.Title = clip(l.Title, 120)
	short.Result, short.Progress, short.LastLine = clip(l.Result, 150), clip(l.Progress, 100), clip(l.LastLine, 100)
	return stepText(short)
}

// layoutSteps renders the steps at level lv.
func layoutSteps(c bot.PhaseCard, lv layout) []slack.Block {
	var out []slack.Block
	var run []string
	flush := func() {
		for _, p := range packLines(run) {
			out = append(out, section(p))
		}
		run = nil
	}
	settled := func(l bot.StepLine) bool { return len(l.Buttons) == 0 && l.State.Settled() }
	for i := 0; i < len(c.Steps); i++ {
		l := c.Steps[i]
		switch {
		case lv == layoutFull:
			out = append(out, section(stepText(l)))
			out = append(out, actionBlocks(l.Buttons, stepA11y(l.Title))...)
		case len(l.Buttons) > 0 && lv == layoutTight:
			flush()
			out = append(out, section(tightText(l)))
			out = append(out, actionBlocks(l.Buttons, nil)...)
		case len(l.Buttons) > 0:
			flush()
			out = append(out, section(stepText(l)))
			out = append(out, actionBlocks(l.Buttons, stepA11y(l.Title))...)
		case settled(l) && lv >= layoutFolded:
			j := i
			for j+1 < len(c.Steps) && settled(c.Steps[j+1]) {
				j++
			}
			if j > i {
				run = append(run, foldLine(c.Steps[i:j+1], i+1, j+1))
			} else {
				run = append(run, compactLine(l))
			}
			i = j
		case settled(l) && lv >= layoutCompact:
			run = append(run, compactLine(l))
		default:
			run = append(run, stepLine(l))
		}
	}
	flush()
	return out
}

// menuSteps packs every step into sections and turns the step buttons into
// one menu per label ("Done…", "Skip…"), whose options are the steps. The
// lines and the options' labels are condensed until the block text fits
// budget; as a last resort the list is cut, never a menu.
func menuSteps(c bot.PhaseCard, room, budget int) []slack.Block {
	levels := []layout{layoutPacked, layoutCompact, layoutFolded, layoutTight}
	lines := make([][]slack.Block, len(levels))
	var sections, menus []slack.Block
	for _, optMax := range []int{maxOptionText, 50, 36, 24} {
		menus = stepMenus(c, optMax)
		keep := room - len(menus)
		for i, lv := range levels {
			if lines[i] == nil {
				lines[i] = sectionsOf(stepLines(c, lv))
			}
			sections = cut(lines[i], keep)
			if blockText(sections)+blockText(menus) <= budget {
				return append(sections, menus...)
			}
		}
	}
	// Cut the list from the end, keeping the menus.
	more := section("… more steps: /deploy status lists them all")
	for len(sections) > 0 && blockText(sections)+blockText(menus)+blockText([]slack.Block{more}) > budget {
		sections = sections[:len(sections)-1]
	}
	return append(append(sections, more), menus...)
}

// sectionsOf packs lines into sections.
func sectionsOf(lines []string) []slack.Block {
	var out []slack.Block
	for _, p := range packLines(lines) {
		out = append(out, section(p))
	}
	return out
}

// cut keeps at most keep of sections, the last one saying there are more.
func cut(sections []slack.Block, keep int) []slack.Block {
	if len(sections) <= keep {
		return sections
	}
	out := append([]slack.Block{}, sections[:keep]...)
	last := out[keep-1].(*slack.SectionBlock)
	out[keep-1] = section(clipEscaped(last.Text.Text, maxSectionText-60) + "\n… more steps: /deploy status lists them all")
	return out
}

// stepLines is every step as a line at level lv, numbered as the menus'
// options are (the menus carry the buttons).
func stepLines(c bot.PhaseCard, lv layout) []string {
	var lines []string
	for i := 0; i < len(c.Steps); i++ {
		l := c.Steps[i]
		num := fmt.Sprintf("`%d` ", i+1)
		switch {
		case l.State.Settled() && lv >= layoutFolded:
			j := i
			for j+1 < len(c.Steps) && c.Steps[j+1].State.Settled() {
				j++
			}
			if j > i {
				lines = append(lines, foldLine(c.Steps[i:j+1], i+1, j+1))
			} else {
				lines = append(lines, num+compactLine(l))
			}
			i = j
		case l.State.Settled() && lv >= layoutCompact:
			lines = append(lines, num+compactLine(l))
		case lv >= layoutTight:
			lines = append(lines, num+stepIcon(l.State)+" *"+esc(l.Title, 80)+"*")
		default:
			lines = append(lines, num+stepLine(l))
		}
	}
	return lines
}

// stepMenus turns the step buttons into one menu per label, with option
// labels of at most optMax characters (nil when no step has a button).
func stepMenus(c bot.PhaseCard, optMax int) []slack.Block {
	type menu struct {
		label   string
		confirm *bot.Confirm
		style   bot.Style
		opts    []*slack.OptionBlockObject
	}
	var menus []*menu
	byLabel := map[string]*menu{}
	for n, l := range c.Steps {
		for _, b := range l.Buttons {
			id := b.ID()
			if len(id) > maxOptionValue {
				continue
			}
			m := byLabel[b.Label]
			if m == nil {
				m = &menu{label: b.Label, confirm: b.Confirm, style: b.Style}
				byLabel[b.Label] = m
				menus = append(menus, m)
			}
			if len(m.opts) < maxSelectOptions {
				// Options lead with the step's number, as the list does, so
				// that shortened ones still read apart.
				m.opts = append(m.opts, slack.NewOptionBlockObject(id, plain(fmt.Sprintf("%d. %s", n+1, l.Title), optMax), nil))
			}
		}
	}
	var els []slack.BlockElement
	for i, m := range menus {
		if i == maxActionElements {
			break
		}
		sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain(m.label+"…", maxPlaceholder),
			clip(fmt.Sprintf("menu:%s:%s:%s", strings.ToLower(strings.ReplaceAll(m.label, " ", "_")), c.RunID, c.PhaseID), maxID), m.opts...)
		if m.confirm != nil {
			cf := *m.confirm
			if len(m.opts) > 1 {
				cf.Text = "The step you chose: " + cf.Text
			}
			sel.Confirm = confirm(&cf, m.style)
		}
		els = append(els, sel)
	}
	if len(els) == 0 {
		return nil
	}
	return []slack.Block{slack.NewActionBlock("", els...)}
}

// ---- notices ----

// RenderNotice renders a notice: its title, fields, lines and buttons.
func RenderNotice(n bot.Notice) Rendered { return renderNotice(n, nil) }

func renderNotice(n bot.Notice, ids *blockCache) Rendered {
	var blocks []slack.Block
	head := n.Title
	if i := noticeIcon(n.Icon); i != "" {
		head = i + " " + head
	}
	title := esc(head, maxSectionText-4)
	if n.Kind != bot.NoticeText {
		title = "*" + esc(head, maxSectionText-4) + "*"
	}
	who := mentions(n.Mentions)
	if who != "" {
		title = clipEscaped(who, 1000) + "\n" + title
	}
	blocks = append(blocks, section(title))
	var fields []*slack.TextBlockObject
	flush := func() {
		if len(fields) > 0 {
			blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
			fields = nil
		}
	}
	for _, f := range n.Fields {
		if len(fields) == maxFields {
			flush()
		}
		label := esc(f.Label, 200)
		fields = append(fields, mrkdwn("*"+label+"*\n"+esc(f.Value, maxFieldText-length(label)-4)))
	}
	flush()
	var lines []string
	for _, l := range n.Lines {
		lines = append(lines, esc(l, maxSectionText))
	}
	acts := actionBlocks(n.Buttons, nil)
	if a := n.AuditLine(); a != "" { // the audit head ends the notice
		acts = append([]slack.Block{slack.NewContextBlock("", mrkdwn(esc(a, 100)))}, acts...)
	}
	room := maxBlocks - len(blocks) - len(acts)
	packed := packLines(lines)
	if len(packed) > room {
		packed = packed[:max(room, 0)]
		if room > 0 {
			packed[room-1] = clipEscaped(packed[room-1], maxSectionText-10) + "\n…"
		}
	}
	for _, p := range packed {
		blocks = append(blocks, section(p))
	}
	blocks = append(blocks, acts...)
	if len(blocks) > maxBlocks {
		blocks = blocks[:maxBlocks]
	}
	blocks = trimToBudget(blocks, "… (too long for one message; the rest is left out)")
	raw := ids.assign(blocks)
	text := []string{head}
	for _, f := range n.Fields {
		text = append(text, f.Label+": "+f.Value)
	}
	text = append(text, n.Lines...)
	if a := n.AuditLine(); a != "" {
		text = append(text, a)
	}
	fb := fallback(strings.Join(text, "\n"))
	if who != "" {
		// The mentions lead the notification text too, so they notify.
		fb = clipEscaped(who, 1000) + " " + fb
	}
	return Rendered{Text: fb, Blocks: blocks, raw: raw}
}
