package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"deploybot/bot"
	"deploybot/deploy"
)

var _ bot.Finder = (*Poster)(nil)

// findLimit bounds how far back Find looks (Get Channel Messages takes at
// most 100): a redelivery follows a crash by seconds to minutes, so the
// message is among the channel's newest.
const findLimit = 100

// Find implements bot.Finder: the reference of the message the bot posted
// in channel for key, among the channel's newest findLimit messages, or ""
// when there is none. The publisher asks before a first post that follows
// a crash.
//
// Within Discord's nonce window (a few minutes) the post itself cannot
// repeat a message: every first post carries the key's nonce with
// enforce_nonce (post.go). Find covers the time after that. Discord
// documents the nonce in the Message Create event only, not on the messages
// Get Channel Messages returns, so Find matches what the bot's messages
// show, in their embed: the summary's footer "run RUN" (an embed with
// fields, no content), a phase card's "run RUN · phase PHASE · …", the
// report's "run RUN" (an embed with a title and no fields), a run notice's
// "run RUN[ · audit …]" under its text, with the colour of its kind (a run
// has one notice of each kind), a request for approval's "run RUN ·
// approval of phase PHASE · requested …" (askFooter: the one footer
// rendered from the key, so a renewed request is never taken for an
// earlier one). Only messages whose author is the bot itself count. For a slot whose message shows nothing to tell
// it by, Find answers "" without a call. replyTo is not needed: on Discord
// replies are messages of the channel.
func (f *Poster) Find(ctx context.Context, channel, _, key string) (string, error) {
	match := matcher(key)
	if match == nil {
		return "", nil
	}
	endpoint := discordgo.EndpointChannelMessages(channel)
	if err := f.preflight(endpoint); err != nil {
		return "", err
	}
	me, err := f.me.id(ctx, f.s)
	if err != nil {
		return "", err
	}
	res, err := f.s.RequestWithBucketID(http.MethodGet, endpoint+"?limit="+strconv.Itoa(findLimit), nil, endpoint, discordgo.WithContext(ctx))
	if err != nil {
		return "", platformError("list messages", err)
	}
	var msgs []listed
	if err := json.Unmarshal(res, &msgs); err != nil {
		return "", fmt.Errorf("discord list messages: %w", err)
	}
	want := nonceOf(key)
	for _, m := range msgs { // newest first
		if m.ID == "" || m.Author.ID != me {
			continue
		}
		if (want != "" && m.nonce() == want) || match(m) {
			return channel + "/" + m.ID, nil
		}
	}
	return "", nil
}

// self is the bot's own user id, read from Discord once (Get Current
// User) and kept: it never changes for a token.
type self struct {
	mu   sync.Mutex // mu protects user
	user string
}

// id returns the bot's user id, reading it the first time.
func (s *self) id(ctx context.Context, sess *discordgo.Session) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.user != "" {
		return s.user, nil
	}
	u, err := sess.User("@me", discordgo.WithContext(ctx))
	if err != nil {
		return "", platformError("get the bot's user", err)
	}
	if u.ID == "" {
		return "", fmt.Errorf("discord get the bot's user: no id")
	}
	s.user = u.ID
	return s.user, nil
}

// listed is what Find reads of a message from Get Channel Messages.
type listed struct {
	ID     string `json:"id"`
	Author struct {
		ID string `json:"id"`
	} `json:"author"`
	Content string `json:"content"`
	// Nonce is present, if at all, only shortly after the post (a string
	// or an integer).
	Nonce  json.RawMessage `json:"nonce"`
	Embeds []struct {
		Title  string `json:"title"`
		Color  int    `json:"color"`
		Footer *struct {
			Text string `json:"text"`
		} `json:"footer"`
		Fields []json.RawMessage `json:"fields"`
	} `json:"embeds"`
}

// nonce returns the message's nonce as a string ("" when it has none).
func (m listed) nonce() string {
	var s string
	if json.Unmarshal(m.Nonce, &s) == nil {
		return s
	}
	return ""
}

// footer returns the text of the message's only embed's footer, and
// whether it has one embed.
func (m listed) footer() (string, bool) {
	if len(m.Embeds) != 1 || m.Embeds[0].Footer == nil {
		return "", false
	}
	return m.Embeds[0].Footer.Text, true
}

// runNoticeColor returns the embed colour of a run's notice of kind k:
// each kind has its own, and a run has at most one notice of each kind.
func runNoticeColor(k deploy.RunNotice) (int, bool) {
	switch k {
	case deploy.NoticeAnnouncement:
		return noticeColor(bot.NoticeAnnouncement), true
	case deploy.NoticeRollback:
		return noticeColor(bot.NoticeRollback), true
	case deploy.NoticeCompletion:
		return noticeColor(bot.NoticeCompletion), true
	case deploy.NoticeRolledBack:
		return noticeColor(bot.NoticeRolledBack), true
	case deploy.NoticeAborted:
		return noticeColor(bot.NoticeAborted), true
	}
	return 0, false
}

// matcher returns the test that tells the message of key (RUN:discord:SLOT)
// by what it shows, or nil for a slot whose message cannot be told apart.
func matcher(key string) func(listed) bool {
	run, slot, ok := strings.Cut(key, ":"+PlatformName+":")
	if !ok || run == "" {
		return nil
	}
	runFooter := "run " + run
	switch {
	case slot == "summary":
		return func(m listed) bool {
			text, ok := m.footer()
			return ok && m.Content == "" && text == runFooter && len(m.Embeds[0].Fields) > 0
		}
	case slot == "report":
		return func(m listed) bool {
			text, ok := m.footer()
			return ok && m.Content == "" && text == runFooter && len(m.Embeds[0].Fields) == 0 && m.Embeds[0].Title != ""
		}
	case strings.HasPrefix(slot, "notice:"):
		color, ok := runNoticeColor(deploy.RunNotice(strings.TrimPrefix(slot, "notice:")))
		if !ok {
			return nil
		}
		return func(m listed) bool {
			text, ok := m.footer()
			return ok && m.Content != "" && (text == runFooter || strings.HasPrefix(text, runFooter+" · ")) && m.Embeds[0].Color == color
		}
	case strings.HasPrefix(slot, "ask:"):
		_, want, ok := askFooter(key)
		if !ok {
			return nil
		}
		return func(m listed) bool {
			text, ok := m.footer()
			return ok && m.Content != "" && (text == want || strings.HasPrefix(text, want+" · "))
		}
	case strings.HasPrefix(slot, "phase:") && len(slot) > len("phase:"):
		prefix := runFooter + " · phase " + strings.TrimPrefix(slot, "phase:") + " · "
		return func(m listed) bool {
			text, ok := m.footer()
			return ok && strings.HasPrefix(text, prefix)
		}
	}
	return nil
}

// askFooter returns the run of the request for approval whose message key
// is key (RUN:discord:ask:PHASE:MS, MS the Unix milliseconds at which the
// request started) and the footer that tells it apart, "run RUN · approval
// of phase PHASE · requested 2006-01-02 15:04:05.000 UTC": the renderer
// shows it and Find matches it. No two requests of a run share both phase
// and start (a renewed request starts later). ok is false
// for any other key, and for a footer longer than Discord keeps.
func askFooter(key string) (run, footer string, ok bool) {
	run, slot, ok := strings.Cut(key, ":"+PlatformName+":")
	rest, isAsk := strings.CutPrefix(slot, "ask:")
	i := strings.LastIndexByte(rest, ':')
	if !ok || !isAsk || run == "" || i <= 0 {
		return "", "", false
	}
	ms, err := strconv.ParseInt(rest[i+1:], 10, 64)
	if err != nil || ms <= 0 {
		return "", "", false
	}
	at := time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000 UTC")
	footer = "run " + run + " · approval of phase " + rest[:i] + " · requested " + at
	if utf8.RuneCountInString(footer) > maxFooter {
		return "", "", false
	}
	return run, footer, true
}
