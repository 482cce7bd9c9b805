package slackfront

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"deploybot/bot"
	"deploybot/deploy"
)

// The blocks sent are those Render makes, whatever the cache remembers: a
// card and a summary rendered again after each click through the poster's
// cache have the ids the plain renderer gives and encode as json.Marshal
// would, and a block whose content changed under the same key is not taken
// from the cache.
func TestBlockCacheEncodesAsMarshal(t *testing.T) {
	rb := bigRunbook(t, 20, "Check number %d")
	r := fixtureRun(rb)
	c := newBlockCache()
	for j := 0; j <= 20; j++ {
		if j > 0 {
			set(&r.Phases[0].Steps[j-1], deploy.StepDone, ana, time.Minute, "")
		}
		for _, m := range []bot.Message{{Card: new(bot.BuildCard(r, 0, t0))}, {Summary: new(bot.BuildSummary(r, t0))}} {
			want := Render(m)
			got := render(m, c)
			if len(got.raw) != len(got.Blocks) {
				t.Fatalf("after %d clicks: %d blocks, %d encoded", j, len(got.Blocks), len(got.raw))
			}
			sameJSON(t, fmt.Sprintf("after %d clicks", j), got, want)
			// Rendered again, every block comes from the cache.
			again := render(m, c)
			for i := range again.raw {
				if &again.raw[i][0] != &got.raw[i][0] {
					t.Fatalf("after %d clicks: block %d was encoded again", j, i)
				}
			}
		}
	}
	if len(c.cur) == 0 {
		t.Fatal("nothing was cached")
	}
	// The same key, other content (a hash collision, say): encoded afresh.
	var ids []string
	for _, expand := range []bool{false, true, false} {
		b := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "same", false, false), nil, nil)
		b.Expand = expand // a field the key does not hash
		want := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "same", false, false), nil, nil)
		want.Expand = expand
		assignBlockIDs([]slack.Block{want})
		k, _ := c.key(b)
		if k2, _ := c.key(want); k != k2 {
			t.Fatal("the blocks should share a key")
		}
		raw := c.assign([]slack.Block{b})
		sameJSON(t, fmt.Sprint("expand ", expand), Rendered{Blocks: []slack.Block{b}, raw: raw}, Rendered{Blocks: []slack.Block{want}})
		ids = append(ids, b.BlockID)
	}
	if ids[0] == ids[1] || ids[0] != ids[2] {
		t.Errorf("ids %q: want the first and last alike, the middle one different", ids)
	}
	if got, _ := encodeBlocks(Rendered{}); string(got) != "[]" {
		t.Errorf("no blocks: %s, want []", got)
	}
}

// sameJSON fails unless got's blocks have want's ids and got's encoding
// (from the cache's JSON) decodes to the same value as json.Marshal of
// want's blocks.
func sameJSON(t *testing.T, what string, got, want Rendered) {
	t.Helper()
	for i := range want.Blocks {
		if got.Blocks[i].ID() != want.Blocks[i].ID() {
			t.Fatalf("%s: block %d id %q, want %q", what, i, got.Blocks[i].ID(), want.Blocks[i].ID())
		}
	}
	g, err := encodeBlocks(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	var gv, wv any
	if err := json.Unmarshal(g, &gv); err != nil {
		t.Fatalf("%s: %s: %v", what, g, err)
	}
	if err := json.Unmarshal(w, &wv); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gv, wv) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// sameBlock compares the fields of slack-go's types it knows one by one: it
// must know every field they have (a field added by a new slack-go version
// would otherwise be ignored), and agree with reflect.DeepEqual.
func TestSameBlockKnowsEveryField(t *testing.T) {
	fields := []struct {
		v any
		n int
	}{
		{slack.SectionBlock{}, 6}, {slack.ActionBlock{}, 3}, {slack.BlockElements{}, 1}, {slack.ContextBlock{}, 3},
		{slack.ContextElements{}, 1}, {slack.HeaderBlock{}, 4}, {slack.DividerBlock{}, 2}, {slack.TextBlockObject{}, 4},
		{slack.ButtonBlockElement{}, 11}, {slack.ConfirmationBlockObject{}, 5},
	}
	for _, f := range fields {
		if got := reflect.TypeOf(f.v).NumField(); got != f.n {
			t.Errorf("%T has %d fields, sameBlock compares %d: compare the new ones", f.v, got, f.n)
		}
	}
	rb := bigRunbook(t, 12, "Check number %d")
	r := fixtureRun(rb)
	var blocks []slack.Block
	for j := 0; j <= 12; j += 3 {
		if j > 0 {
			set(&r.Phases[0].Steps[j-1], deploy.StepFailed, ana, time.Minute, "boom")
		}
		blocks = append(blocks, RenderCard(bot.BuildCard(r, 0, t0)).Blocks...)
		blocks = append(blocks, RenderSummary(bot.BuildSummary(r, t0)).Blocks...)
	}
	blocks = append(blocks, RenderNotice(askNotice(t)).Blocks...)
	yes := true
	emoji := slack.NewSectionBlock(&slack.TextBlockObject{Type: "plain_text", Text: "x", Emoji: &yes}, nil, nil)
	blocks = append(blocks, emoji, slack.NewSectionBlock(&slack.TextBlockObject{Type: "plain_text", Text: "x"}, nil, nil))
	same := 0
	for _, a := range blocks {
		for _, b := range blocks {
			want := reflect.DeepEqual(a, b)
			if got := sameBlock(a, b); got != want {
				t.Fatalf("sameBlock = %v, reflect.DeepEqual = %v:\n%#v\n%#v", got, want, a, b)
			}
			if want {
				same++
			}
		}
	}
	if same == len(blocks) {
		t.Fatal("no two distinct blocks were equal: the test compares nothing alike")
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
