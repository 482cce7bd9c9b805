package discord

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/bwmarrin/discordgo"
)

// maxNonce is the longest nonce Discord accepts on Create Message.
const maxNonce = 25

// nonceOf returns the nonce of the first post of the message with key
// (bot.Message.Key, RUN:platform:slot): "db" and 22 hex digits of the key's
// SHA-256, so always the same for one key and never only digits (Discord
// takes a nonce as a string or an integer). A message without a key has
// none.
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
// accepted, its reference never recorded) shows once. It goes through the
// session's request machinery, the same bucket and rate limiter as
// ChannelMessageSendComplex.
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
	return &msg, nil
}
