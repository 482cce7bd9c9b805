package discord

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/bwmarrin/discordgo"
)

// nonceOf returns the nonce of the first post of the message with key
// (bot.Message.Key, RUN:platform:slot): "db" and 22 hex digits of the key's
// SHA-256 (24 characters; Discord takes at most 25), so always the same for
// one key and never only digits (Discord takes a nonce as a string or an
// integer). A message without a key has none.
func nonceOf(key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return "db" + hex.EncodeToString(sum[:11])
}

// createMessage is the body of Create Message: discordgo's MessageSend,
// which has no nonce, with the nonce and enforce_nonce beside its fields.
type createMessage struct {
	*discordgo.MessageSend
	Nonce        string `json:"nonce,omitempty"`
	EnforceNonce bool   `json:"enforce_nonce,omitempty"`
}

// send creates a message in channel. A message with a key goes with its
// nonce and enforce_nonce: Discord then answers with the message the bot
// already created with that nonce in the past few minutes instead of
// creating a second one, so a first post repeated after a crash (the post
// accepted, its reference never recorded) or after a lost answer shows
// once; when that message shows an older state, it is edited to show data.
// It goes through the session's request machinery, the same bucket and
// rate limiter as ChannelMessageSendComplex.
func (f *Poster) send(ctx context.Context, channel string, data *discordgo.MessageSend, key string) (*discordgo.Message, error) {
	for _, e := range data.Embeds {
		if e.Type == "" {
			e.Type = discordgo.EmbedTypeRich
		}
	}
	body := createMessage{MessageSend: data}
	if n := nonceOf(key); n != "" {
		body.Nonce, body.EnforceNonce = n, true
	}
	endpoint := discordgo.EndpointChannelMessages(channel)
	res, err := f.s.RequestWithBucketID(http.MethodPost, endpoint, body, endpoint, discordgo.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	var msg discordgo.Message
	if err := json.Unmarshal(res, &msg); err != nil {
		return nil, fmt.Errorf("decode the created message: %w", err)
	}
	if msg.ID == "" {
		return nil, fmt.Errorf("the created message has no id")
	}
	if body.EnforceNonce && !shows(&msg, data) {
		// Discord answered with the message posted earlier with this nonce
		// (before a crash, or a post whose answer was lost), which shows
		// an older state: bring it up to what this post shows.
		if err := f.preflight(discordgo.EndpointChannelMessage(channel, "")); err != nil {
			return nil, err
		}
		edit := &discordgo.MessageEdit{ID: msg.ID, Channel: channel, Content: &data.Content, Embeds: &data.Embeds,
			Components: &data.Components, AllowedMentions: data.AllowedMentions}
		if _, err := f.s.ChannelMessageEditComplex(edit, discordgo.WithContext(ctx)); err != nil {
			return nil, err
		}
	}
	return &msg, nil
}

// shows reports whether msg, as Discord returned it, shows the text data
// sends: its content and its embeds' texts. A message just created does;
// one Discord returned for a nonce it already knew may show an older state.
func shows(msg *discordgo.Message, data *discordgo.MessageSend) bool {
	if strings.TrimSpace(msg.Content) != strings.TrimSpace(data.Content) || len(msg.Embeds) != len(data.Embeds) {
		return false
	}
	for i, e := range data.Embeds {
		if embedText(msg.Embeds[i]) != embedText(e) {
			return false
		}
	}
	return true
}

// embedText is the text an embed shows, for comparing two embeds; each
// part is trimmed, as Discord may trim what it stores.
func embedText(e *discordgo.MessageEmbed) string {
	if e == nil {
		return ""
	}
	parts := []string{e.Title, e.Description, "", ""}
	if e.Author != nil {
		parts[2] = e.Author.Name
	}
	if e.Footer != nil {
		parts[3] = e.Footer.Text
	}
	for _, f := range e.Fields {
		if f != nil {
			parts = append(parts, f.Name, f.Value)
		}
	}
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return strings.Join(parts, "\x00")
}
