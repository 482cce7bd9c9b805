package discord_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/bot/discord"
	"deploybot/deploy"
	"deploybot/internal/clock"
	"deploybot/internal/testkit/discordfake"
)

// posterOn returns a Poster on the fake Discord (whose clock is clk).
func posterOn(t *testing.T, fake *discordfake.Server) *discord.Poster {
	t.Helper()
	p, err := discord.NewPoster(discord.Config{Token: discordfake.BotToken, AppID: discordfake.AppID, APIURL: fake.URL(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// createBodies returns the nonce and enforce_nonce of every Create Message call.
func createBodies(t *testing.T, fake *discordfake.Server) []struct {
	Nonce   *string `json:"nonce"`
	Enforce bool    `json:"enforce_nonce"`
} {
	t.Helper()
	var out []struct {
		Nonce   *string `json:"nonce"`
		Enforce bool    `json:"enforce_nonce"`
	}
	for _, c := range fake.Calls() {
		if c.Route != discordfake.RouteCreateMessage {
			continue
		}
		var b struct {
			Nonce   *string `json:"nonce"`
			Enforce bool    `json:"enforce_nonce"`
		}
		if err := json.Unmarshal(c.Body, &b); err != nil {
			t.Fatalf("create body %s: %v", c.Body, err)
		}
		out = append(out, b)
	}
	return out
}

func noticeMsg(key, title string) bot.Message {
	return bot.Message{Notice: &bot.Notice{Kind: bot.NoticeText, Title: title}, Key: key}
}

// TestPostSendsTheKeysNonce: every first post of a message with a key goes
// with a nonce derived from the key (at most 25 characters, the same for
// the same key, another for another key) and enforce_nonce; posting the
// same key again within Discord's window answers the message already
// there, and nothing new shows. A message without a key has no nonce.
func TestPostSendsTheKeysNonce(t *testing.T) {
	clk := clock.NewFake(time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC))
	fake := discordfake.New(t, discordfake.WithClock(clk.Now))
	p := posterOn(t, fake)
	ctx := t.Context()

	first, err := p.Post(ctx, runChannel, "", noticeMsg("R1:discord:notice:announcement", "Deploying v1"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.Post(ctx, runChannel, "", noticeMsg("R1:discord:notice:announcement", "Deploying v1"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := p.Post(ctx, runChannel, "", noticeMsg("R1:discord:notice:completion", "Done"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Post(ctx, runChannel, "", noticeMsg("", "A window opens")); err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("the same key posted twice gave %q, then %q: want the same message", first, again)
	}
	if other == first {
		t.Errorf("another key got the same message %q", other)
	}
	if n := len(fake.Channel(runChannel, "")); n != 3 {
		t.Errorf("%d messages in the channel, want 3:\n%s", n, fake.Transcript(runChannel, ""))
	}
	bodies := createBodies(t, fake)
	if len(bodies) != 4 {
		t.Fatalf("%d Create Message calls, want 4", len(bodies))
	}
	for i, b := range bodies[:3] {
		if b.Nonce == nil || *b.Nonce == "" || len([]rune(*b.Nonce)) > discordfake.MaxNonce || !b.Enforce {
			t.Errorf("post %d: nonce %v, enforce_nonce %v: want a nonce of 1–25 characters, enforced", i+1, b.Nonce, b.Enforce)
		}
	}
	if *bodies[0].Nonce != *bodies[1].Nonce {
		t.Errorf("one key, two nonces: %q and %q", *bodies[0].Nonce, *bodies[1].Nonce)
	}
	if *bodies[0].Nonce == *bodies[2].Nonce {
		t.Errorf("two keys, one nonce %q", *bodies[0].Nonce)
	}
	if b := bodies[3]; b.Nonce != nil || b.Enforce {
		t.Errorf("a message without a key went with nonce %v, enforce_nonce %v", b.Nonce, b.Enforce)
	}

	// Another process (another Poster) derives the same nonce; past
	// Discord's window the nonce no longer holds a post back.
	p2 := posterOn(t, fake)
	if ref, err := p2.Post(ctx, runChannel, "", noticeMsg("R1:discord:notice:announcement", "Deploying v1")); err != nil || ref != first {
		t.Errorf("another poster within the window: %q, %v; want %q", ref, err, first)
	}
	clk.Advance(discordfake.NonceWindow + time.Second)
	if ref, err := p2.Post(ctx, runChannel, "", noticeMsg("R1:discord:notice:announcement", "Deploying v1")); err != nil || ref == first {
		t.Errorf("past the window: %q, %v; want a new message", ref, err)
	}
}

// TestARepeatedPostShowsTheNewerState: a first post repeated within the
// nonce window with a newer state (the run moved on while the first post's
// answer was lost) gets the message already there, edited to the newer
// state; one message shows.
func TestARepeatedPostShowsTheNewerState(t *testing.T) {
	clk := clock.NewFake(time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC))
	fake := discordfake.New(t, discordfake.WithClock(clk.Now))
	p := posterOn(t, fake)
	key := "R2:discord:notice:announcement"
	first, err := p.Post(t.Context(), runChannel, "", noticeMsg(key, "Deploying v1"))
	if err != nil {
		t.Fatal(err)
	}
	same, err := p.Post(t.Context(), runChannel, "", noticeMsg(key, "Deploying v1"))
	if err != nil || same != first {
		t.Fatalf("the same post again: %q, %v; want %q", same, err, first)
	}
	if n := fake.CallCount(discordfake.RouteEditMessage); n != 0 {
		t.Errorf("the same post again made %d edits, want none", n)
	}
	newer, err := p.Post(t.Context(), runChannel, "", noticeMsg(key, "Deploying v1 (now at step 2)"))
	if err != nil || newer != first {
		t.Fatalf("a newer post: %q, %v; want %q", newer, err, first)
	}
	msgs := fake.Channel(runChannel, "")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Visible(), "now at step 2") || msgs[0].Edits != 1 {
		t.Errorf("want one message showing the newer state, edited once:\n%s", fake.Transcript(runChannel, ""))
	}
}

// TestFindTellsTheBotsMessagesApart: past the nonce window, Find finds the
// summary, each phase card, the report and the run's notices by what they
// show, among the other messages of the same run and of another run, and
// only the bot's own; a request for approval by its phase and when it
// started, so a renewed request is not taken for the first. A slot whose
// message shows nothing to tell it by is not looked for (no call).
func TestFindTellsTheBotsMessagesApart(t *testing.T) {
	w := newCrashWorld(t)
	dead := w.process(false)
	run := w.start(dead, "")
	other := w.start(w.process(false), "start v1.5 to staging")
	p := posterOn(t, w.fake)
	ctx := t.Context()
	now := w.clk.Now()

	post := func(replyTo string, m bot.Message) string {
		t.Helper()
		ref, err := p.Post(ctx, runChannel, replyTo, m)
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	key := func(slot string) string { return run.ID + ":discord:" + slot }
	s := bot.BuildSummary(run, now)
	want := map[string]string{"summary": post("", bot.Message{Summary: &s, Key: key("summary")})}
	for i, ph := range run.Phases {
		c := bot.BuildCard(run, i, now)
		want["phase:"+ph.ID] = post(want["summary"], bot.Message{Card: &c, Key: key("phase:" + ph.ID)})
	}
	n := bot.Announcement(run)
	want["notice:announcement"] = post("", bot.Message{Notice: &n, Key: key("notice:announcement")})
	done := bot.Completion(run)
	want["notice:completion"] = post("", bot.Message{Notice: &done, Key: key("notice:completion")})
	rep := deploy.BuildRunReport(run, nil, now)
	want["report"] = post(want["summary"], bot.Message{Report: &rep, Key: key("report")})
	// Two requests for approval of one phase, the second renewed after the
	// first expired: each is its own message.
	ask := bot.AskApprovers(run, 0)
	for _, at := range []time.Time{now, now.Add(10*time.Minute + time.Millisecond)} {
		slot := fmt.Sprintf("ask:prepare:%d", at.UnixMilli())
		want[slot] = post(want["summary"], bot.Message{Notice: &ask, Key: key(slot)})
	}
	// The other run's summary and cards, newer: not this run's.
	os := bot.BuildSummary(other, now)
	osRef := post("", bot.Message{Summary: &os, Key: other.ID + ":discord:summary"})
	for i, ph := range other.Phases {
		c := bot.BuildCard(other, i, now)
		post(osRef, bot.Message{Card: &c, Key: other.ID + ":discord:phase:" + ph.ID})
	}
	if n := w.fake.CallCount(discordfake.RouteEditMessage); n != 0 {
		t.Errorf("first posts made %d edits, want none (a new message shows what was sent)", n)
	}
	// Someone else's messages that look like the summary and a card come
	// last (newest): they must never be taken for the bot's.
	w.fake.PostAs(ana.ID, runChannel, "", discordfake.Embed{Title: "look-alike", Footer: &discordfake.EmbedText{Text: "run " + run.ID},
		Fields: []discordfake.EmbedField{{Name: "Status", Value: "x"}}})
	w.fake.PostAs(ana.ID, runChannel, "", discordfake.Embed{Title: "look-alike", Footer: &discordfake.EmbedText{Text: "run " + run.ID + " · phase prepare · current"}})
	w.clk.Advance(discordfake.NonceWindow + time.Minute) // Discord no longer knows the nonces

	for slot, ref := range want {
		got, err := p.Find(ctx, runChannel, want["summary"], key(slot))
		if err != nil || got != ref {
			t.Errorf("Find(%s) = %q, %v; want %q\n%s", slot, got, err, ref, w.fake.Transcript(runChannel, ""))
		}
	}
	if got, err := p.Find(ctx, runChannel, "", key("phase:nope")); err != nil || got != "" {
		t.Errorf("Find of a card never posted = %q, %v; want nothing", got, err)
	}
	if got, err := p.Find(ctx, runChannel, "", key("notice:rollback")); err != nil || got != "" {
		t.Errorf("Find of a notice never posted = %q, %v; want nothing", got, err)
	}
	if got, err := p.Find(ctx, runChannel, "", key(fmt.Sprintf("ask:prepare:%d", now.Add(time.Millisecond).UnixMilli()))); err != nil || got != "" {
		t.Errorf("Find of a request never posted = %q, %v; want nothing", got, err)
	}
	lists := w.fake.CallCount(discordfake.RouteListMessages)
	for _, slot := range []string{"ask:prepare", "notice:unknown"} {
		if got, err := p.Find(ctx, runChannel, "", key(slot)); err != nil || got != "" {
			t.Errorf("Find(%s) = %q, %v; want nothing (nothing tells it apart)", slot, got, err)
		}
	}
	if w.fake.CallCount(discordfake.RouteListMessages) != lists {
		t.Error("Find listed messages for a message it cannot tell apart")
	}
	if n := w.fake.CallCount(discordfake.RouteGetMe); n != 1 {
		t.Errorf("the bot's user was read %d times, want once", n)
	}
}
