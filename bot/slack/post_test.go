package slackfront

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"deploybot/bot"
	"deploybot/deploy"
)

// The blocks sent are those Render made, whatever the cache remembers: a
// card rendered again after each click encodes as json.Marshal would, and a
// block whose content changed under the same id is not taken from the cache.
func TestBlockCacheEncodesAsMarshal(t *testing.T) {
	rb := bigRunbook(t, 20, "Check number %d")
	r := fixtureRun(rb)
	c := newBlockCache()
	for j := 0; j <= 20; j++ {
		if j > 0 {
			set(&r.Phases[0].Steps[j-1], deploy.StepDone, ana, time.Minute, "")
		}
		for _, out := range []Rendered{RenderCard(bot.BuildCard(r, 0, t0)), RenderSummary(bot.BuildSummary(r, t0))} {
			want, err := json.Marshal(out.Blocks)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.encode(out.Blocks)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("after %d clicks:\n got %s\nwant %s", j, got, want)
			}
		}
	}
	if len(c.m) == 0 {
		t.Fatal("nothing was cached")
	}
	// Same id, other content (a hash collision, say): encoded afresh.
	a := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "one", false, false), nil, nil)
	a.BlockID = "s1-00000000"
	b := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "two", false, false), nil, nil)
	b.BlockID = a.BlockID
	for _, blk := range []*slack.SectionBlock{a, b} {
		want, _ := json.Marshal([]slack.Block{blk})
		got, err := c.encode([]slack.Block{blk})
		if err != nil || string(got) != string(want) {
			t.Errorf("got %s (%v), want %s", got, err, want)
		}
	}
	if got, _ := c.encode(nil); string(got) != "[]" {
		t.Errorf("no blocks: %s, want []", got)
	}
}

func TestMessageJSON(t *testing.T) {
	m := message{Channel: "C1", TS: "1.2", Text: "hi \"there\"", Blocks: json.RawMessage(`[{"type":"divider"}]`)}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want := map[string]any{"channel": "C1", "ts": "1.2", "text": "hi \"there\"", "blocks": []any{map[string]any{"type": "divider"}},
		"unfurl_links": false, "unfurl_media": false}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %s", b)
	}
	b, _ = json.Marshal(message{Channel: "C1"})
	if err := json.Unmarshal(b, &got); err != nil || fmt.Sprint(got["blocks"]) != "[]" {
		t.Errorf("no blocks: %s", b)
	}
}
