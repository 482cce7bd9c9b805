package slackfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"deploybot/internal/testkit/slackfake"
)

func client(s *slackfake.Server) *slack.Client {
	return slack.New(slackfake.BotToken, slack.OptionAPIURL(s.APIURL()), slack.OptionAppLevelToken(slackfake.AppToken))
}

func section(text string) slack.Block {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)
}

// TestConversation: posts, thread replies and edits read back as a person sees them.
func TestConversation(t *testing.T) {
	s := slackfake.New(t)
	api := client(s)
	ctx := context.Background()
	_, top, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("summary", false), slack.MsgOptionBlocks(section("*Summary* v1")))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^1700000000\.\d{6}$`).MatchString(top) {
		t.Errorf("ts %q is not like Slack's", top)
	}
	_, reply, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("card", false), slack.MsgOptionTS(top),
		slack.MsgOptionBlocks(slack.NewActionBlock("a", slack.NewButtonBlockElement("done:r1:p:s", "v", slack.NewTextBlockObject(slack.PlainTextType, "Done", false, false)))))
	if err != nil {
		t.Fatal(err)
	}
	if reply <= top {
		t.Errorf("ts %s not after %s", reply, top)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, "C1", top, slack.MsgOptionText("summary", false), slack.MsgOptionBlocks(section("*Summary* v2 &lt;ok&gt;"))); err != nil {
		t.Fatal(err)
	}
	conv := s.Conversation("C1")
	if len(conv) != 1 || len(conv[0].Replies) != 1 {
		t.Fatalf("conversation:\n%s", s.Transcript("C1"))
	}
	if got := conv[0].Visible(); got != "Summary v2 <ok>" || conv[0].Edits != 1 {
		t.Errorf("summary reads %q after %d edits", got, conv[0].Edits)
	}
	if a, ok := conv[0].Replies[0].Action("Done", ":s"); !ok || a.ActionID != "done:r1:p:s" {
		t.Errorf("reply actions %+v", conv[0].Replies[0].Actions())
	}
}

// TestRefusals: the fake refuses what Slack refuses.
func TestRefusals(t *testing.T) {
	s := slackfake.New(t)
	api := client(s)
	ctx := context.Background()
	tooMany := make([]slack.Block, 51)
	for i := range tooMany {
		tooMany[i] = section("x")
	}
	cases := []struct {
		name string
		do   func() error
		want string
	}{
		{"51 blocks", func() error {
			_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("t", false), slack.MsgOptionBlocks(tooMany...))
			return err
		}, "invalid_blocks"},
		{"no fallback text", func() error {
			_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionBlocks(section("x")))
			return err
		}, "no_text"},
		{"unknown thread", func() error {
			_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("t", false), slack.MsgOptionTS("1.1"))
			return err
		}, "thread_not_found"},
		{"edit of a missing message", func() error {
			_, _, _, err := api.UpdateMessageContext(ctx, "C1", "1.1", slack.MsgOptionText("t", false))
			return err
		}, "message_not_found"},
		{"wrong token", func() error {
			_, _, err := slack.New("xoxb-wrong", slack.OptionAPIURL(s.APIURL())).PostMessageContext(ctx, "C1", slack.MsgOptionText("t", false))
			return err
		}, "invalid_auth"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if err == nil || err.Error() != tc.want {
				t.Errorf("err = %v, want %s", err, tc.want)
			}
		})
	}
	// The refused blocks are reported (and would fail the test at its end).
	if p := s.TakeProblems(); len(p) != 1 || !strings.Contains(p[0], "51 blocks") {
		t.Errorf("problems %v", p)
	}
}

// TestScript: scripted 429s carry Retry-After as slack-go reads it.
func TestScript(t *testing.T) {
	s := slackfake.New(t)
	api := client(s)
	s.RateLimit(2, 1, "chat.postMessage")
	for i := range 2 {
		_, _, err := api.PostMessageContext(context.Background(), "C1", slack.MsgOptionText("t", false))
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) || rl.RetryAfter != time.Second {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if _, _, err := api.PostMessageContext(context.Background(), "C1", slack.MsgOptionText("t", false)); err != nil {
		t.Fatalf("third call: %v", err)
	}
	if n := s.CallCount("chat.postMessage"); n != 3 {
		t.Errorf("%d calls recorded", n)
	}
}

// TestSocketMode: a slack-go Socket Mode client connects (it sends an
// https Origin), gets envelopes and its acknowledgements are recorded.
func TestSocketMode(t *testing.T) {
	s := slackfake.New(t)
	sm := socketmode.New(client(s))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sm.RunContext(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	go func() {
		for evt := range sm.Events {
			if evt.Type == socketmode.EventTypeSlashCommand {
				cmd := evt.Data.(slack.SlashCommand)
				_ = sm.Ack(*evt.Request, map[string]string{"text": "got " + cmd.Text})
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for s.SocketConnections() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
	env, err := s.SendCommand(s.Command(slackfake.User{ID: "U1", Name: "ana"}, "C1", "status"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if a, _, ok := s.AckFor(env); ok {
			var p map[string]string
			_ = json.Unmarshal(a.Payload, &p)
			if p["text"] != "got status" {
				t.Errorf("ack payload %s", a.Payload)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no acknowledgement")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCheckBlocks(t *testing.T) {
	cases := []struct {
		name, blocks string
		want         string // a substring of the problem, "" for valid
	}{
		{"valid", `[{"type":"section","text":{"type":"mrkdwn","text":"hi"}}]`, ""},
		{"header too long", `[{"type":"header","text":{"type":"plain_text","text":"` + strings.Repeat("x", 151) + `"}}]`, "at most 150"},
		{"mrkdwn header", `[{"type":"header","text":{"type":"mrkdwn","text":"x"}}]`, "not allowed"},
		{"empty text", `[{"type":"section","text":{"type":"mrkdwn","text":""}}]`, "empty"},
		{"26 buttons", `[{"type":"actions","elements":[` + strings.TrimSuffix(strings.Repeat(`{"type":"button","text":{"type":"plain_text","text":"b"}},`, 26), ",") + `]}]`, "26 elements"},
		{"duplicate action id", `[{"type":"actions","elements":[{"type":"button","action_id":"a","text":{"type":"plain_text","text":"b"}},{"type":"button","action_id":"a","text":{"type":"plain_text","text":"c"}}]}]`, "duplicate action_id"},
		{"emoji counts twice", `[{"type":"header","text":{"type":"plain_text","text":"` + strings.Repeat("🚀", 76) + `"}}]`, "152 characters"},
		{"long confirm", `[{"type":"actions","elements":[{"type":"button","text":{"type":"plain_text","text":"b"},"confirm":{"title":{"type":"plain_text","text":"t"},"text":{"type":"plain_text","text":"` + strings.Repeat("x", 301) + `"},"confirm":{"type":"plain_text","text":"ok"},"deny":{"type":"plain_text","text":"no"}}}]}]`, "at most 300"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := slackfake.CheckBlocks([]byte(tc.blocks))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("valid blocks refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// A held post waits until the client hangs up and is then dropped.
func TestHoldDropsThePostWhenTheClientHangsUp(t *testing.T) {
	s := slackfake.New(t)
	s.Script("chat.postMessage", slackfake.Fault{Hold: true})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, _, err := client(s).PostMessageContext(ctx, "C1", slack.MsgOptionText("held", false))
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for s.Held() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the post was never held")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a held post answered")
	}
	for s.Held() != 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if m := s.Messages(); len(m) != 0 {
		t.Errorf("the held post was kept: %+v", m)
	}
	if _, _, err := client(s).PostMessageContext(t.Context(), "C1", slack.MsgOptionText("next", false)); err != nil {
		t.Fatal(err)
	}
	if m := s.Messages(); len(m) != 1 || m[0].Text != "next" {
		t.Errorf("messages %+v, want the next post only", m)
	}
}

// TestHistoryWithMetadata: conversations.history lists a channel's top-level
// messages newest first and conversations.replies a thread; metadata comes
// back only when asked for, as in Slack.
func TestHistoryWithMetadata(t *testing.T) {
	s := slackfake.New(t)
	api := client(s)
	ctx := context.Background()
	md := slack.MsgOptionMetadata(slack.SlackMetadata{EventType: "deploybot_message", EventPayload: map[string]any{"key": "r1:slack:summary"}})
	_, top, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("summary", false), md)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("card", false), slack.MsgOptionTS(top)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("later", false)); err != nil {
		t.Fatal(err)
	}
	h, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "C1", IncludeAllMetadata: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 2 || h.Messages[0].Text != "later" || h.Messages[1].Metadata.EventPayload["key"] != "r1:slack:summary" {
		t.Errorf("history = %+v", h.Messages)
	}
	h, err = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "C1"})
	if err != nil || h.Messages[1].Metadata.EventType != "" {
		t.Errorf("metadata without include_all_metadata: %+v, %v", h.Messages, err)
	}
	r, _, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: "C1", Timestamp: top})
	if err != nil || len(r) != 2 || r[1].Text != "card" {
		t.Errorf("replies = %+v, %v", r, err)
	}
}

// TestFaultForAChannelAndApplied: a fault with a Channel waits for a call to
// that channel; one with Apply posts the message before answering its status.
func TestFaultForAChannelAndApplied(t *testing.T) {
	s := slackfake.New(t)
	api := client(s)
	ctx := context.Background()
	s.Script("chat.postMessage", slackfake.Fault{Status: 502, Apply: true, Channel: "C2"})
	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("one", false)); err != nil {
		t.Fatalf("a call to another channel took the fault: %v", err)
	}
	var sc slack.StatusCodeError
	if _, _, err := api.PostMessageContext(ctx, "C2", slack.MsgOptionText("two", false)); !errors.As(err, &sc) || sc.Code != 502 {
		t.Fatalf("err = %v, want a 502", err)
	}
	if _, ok := s.Find("C2", "two"); !ok {
		t.Error("the applied call posted nothing")
	}
	if _, _, err := api.PostMessageContext(ctx, "C2", slack.MsgOptionText("three", false)); err != nil {
		t.Fatalf("the fault was used twice: %v", err)
	}
}
