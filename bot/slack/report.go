package slackfront

import (
	"strings"

	"github.com/slack-go/slack"

	"deploybot/deploy"
)

// RenderReport renders a run's report: the report's Markdown in Slack's
// style (deploy.StyleSlack), packed at line breaks into sections of at most
// maxSectionText characters. A report longer than a message's text budget
// is cut at a line and ends with where to read it whole.
func RenderReport(r deploy.RunReport) Rendered {
	lines := strings.Split(strings.TrimRight(r.Markdown(deploy.StyleSlack), "\n"), "\n")
	more := "… see /deploy report " + escaper.Replace(r.RunID)
	limit := maxBlockText - length(more) - 1
	var kept []string
	used := 0
	cut := false
	for _, l := range lines {
		l = clipEscaped(l, maxSectionText)
		if used+length(l)+1 > limit {
			cut = true
			break
		}
		kept = append(kept, l)
		used += length(l) + 1
	}
	if cut {
		kept = append(kept, more)
	}
	var blocks []slack.Block
	for _, s := range packLines(kept) {
		if len(blocks) == maxBlocks {
			break
		}
		blocks = append(blocks, section(s))
	}
	assignBlockIDs(blocks)
	d := r.Doc()
	return Rendered{Text: fallback(d.Title), Blocks: blocks}
}
