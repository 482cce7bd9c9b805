package slackfront

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"deploybot/bot"
)

// Ref returns the message reference Post returns: "CHANNEL/TS".
func Ref(channel, ts string) string { return channel + "/" + ts }

// SplitRef splits a reference made by Ref.
func SplitRef(ref string) (channel, ts string, err error) {
	channel, ts, ok := strings.Cut(ref, "/")
	if !ok || channel == "" || ts == "" {
		return "", "", fmt.Errorf("slack: malformed message reference %q", ref)
	}
	return channel, ts, nil
}

func messageOptions(r Rendered) []slack.MsgOption {
	return []slack.MsgOption{
		slack.MsgOptionText(r.Text, false),
		slack.MsgOptionBlocks(r.Blocks...),
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
	}
}

// metadataType is the event type of the message metadata every message the
// bot posts for a run carries: its key finds it again after a crash.
const metadataType = "deploybot_message"

// findWindow bounds how far back Find looks: a redelivery follows a crash
// by seconds to minutes, not hours.
const findWindow = time.Hour

// Post implements bot.Poster with chat.postMessage; a reply goes into the
// thread of replyTo (the run summary's reference). It returns "CHANNEL/TS".
// A message with a Key carries it in its metadata (see Find).
func (f *Front) Post(ctx context.Context, channel, replyTo string, m bot.Message) (string, error) {
	m = f.resolveMentions(ctx, m)
	opts := messageOptions(Render(m))
	if m.Key != "" {
		opts = append(opts, slack.MsgOptionMetadata(slack.SlackMetadata{EventType: metadataType, EventPayload: map[string]any{"key": m.Key}}))
	}
	if replyTo != "" {
		if _, ts, err := SplitRef(replyTo); err == nil {
			opts = append(opts, slack.MsgOptionTS(ts))
		} else {
			f.log.Warn("posting outside the thread", "err", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultCallTimeout)
	defer cancel()
	ch, ts, err := f.api.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return "", classify("chat.postMessage", err)
	}
	if ch == "" {
		ch = channel
	}
	return Ref(ch, ts), nil
}

// Find implements bot.Finder: the reference of the message posted with key
// in channel (in the thread of replyTo when it is set) during the last hour,
// or "" when there is none. It reads conversations.history (or .replies)
// with the messages' metadata: a post Slack accepted just before the bot
// died, never recorded, is found instead of posted again.
func (f *Front) Find(ctx context.Context, channel, replyTo, key string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultCallTimeout)
	defer cancel()
	oldest := fmt.Sprintf("%d.000000", f.clock.Now().Add(-findWindow).Unix())
	var msgs []slack.Message
	if _, ts, err := SplitRef(replyTo); replyTo != "" && err == nil {
		got, _, _, err := f.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
			ChannelID: channel, Timestamp: ts, Limit: 200, Oldest: oldest, IncludeAllMetadata: true})
		if err != nil {
			return "", classify("conversations.replies", err)
		}
		msgs = got
	} else {
		got, err := f.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
			ChannelID: channel, Limit: 200, Oldest: oldest, IncludeAllMetadata: true})
		if err != nil {
			return "", classify("conversations.history", err)
		}
		msgs = got.Messages
	}
	for _, m := range msgs {
		if m.Metadata.EventType == metadataType && m.Metadata.EventPayload["key"] == key {
			return Ref(channel, m.Timestamp), nil
		}
	}
	return "", nil
}

// resolveMentions fills in the user-group IDs of the groups a notice
// mentions, so they render as <!subteam^ID> and notify the group.
func (f *Front) resolveMentions(ctx context.Context, m bot.Message) bot.Message {
	if m.Notice == nil || len(m.Notice.Mentions) == 0 || f.bot == nil || f.groups == nil {
		return m
	}
	rb := f.bot.Engine().Runbook()
	handles := approverHandles(append(slices.Clone(rb.Approvers), rb.Operators...))
	if len(handles) == 0 {
		return m
	}
	gctx, cancel := context.WithTimeout(ctx, groupsWait)
	defer cancel()
	ids := f.groups.groupIDs(gctx, handles)
	n := *m.Notice
	n.Mentions = slices.Clone(n.Mentions)
	for i := range n.Mentions {
		if h := n.Mentions[i].Handle; h != "" && ids[h] != "" {
			n.Mentions[i].ID = ids[h]
		}
	}
	m.Notice = &n
	return m
}

// Update implements bot.Poster with chat.update.
func (f *Front) Update(ctx context.Context, ref string, m bot.Message) error {
	ch, ts, err := SplitRef(ref)
	if err != nil {
		return &bot.PermanentError{Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultCallTimeout)
	defer cancel()
	if _, _, _, err := f.api.UpdateMessageContext(ctx, ch, ts, messageOptions(Render(m))...); err != nil {
		return classify("chat.update", err)
	}
	return nil
}

// transientCodes are Slack error codes that a later try may not get.
var transientCodes = map[string]bool{
	"internal_error": true, "fatal_error": true, "service_unavailable": true, "request_timeout": true,
	"team_added_to_org": true,
}

// classify maps a slack-go error onto the outbox's error kinds: a rate limit
// (wait and retry), a permanent failure (log and move on: a missing channel
// or permission, an invalid token, a refused message), or a plain error that
// the outbox retries with backoff (5xx, network).
func classify(op string, err error) error {
	wrapped := fmt.Errorf("%s: %w", op, err)
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return &bot.RateLimitError{After: rl.RetryAfter, Err: wrapped}
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		switch {
		case sc.Code == http.StatusTooManyRequests:
			return &bot.RateLimitError{After: time.Second, Err: wrapped}
		case sc.Code >= 500 || sc.Code == http.StatusRequestTimeout:
			return wrapped
		default:
			return &bot.PermanentError{Err: wrapped}
		}
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch {
		case se.Err == "ratelimited":
			return &bot.RateLimitError{After: time.Second, Err: wrapped}
		case transientCodes[se.Err]:
			return wrapped
		default:
			// channel_not_found, not_in_channel, is_archived, invalid_auth,
			// token_revoked, missing_scope, msg_too_long, invalid_blocks,
			// message_not_found, cant_update_message …: retrying cannot help.
			return &bot.PermanentError{Err: wrapped}
		}
	}
	return wrapped // network errors, timeouts: worth another try
}

// respond shows text to one person: through the interaction's response_url
// when there is one, else with chat.postEphemeral. Failures are logged.
func (f *Front) respond(ctx context.Context, responseURL, channel, user, text string) {
	ctx, cancel := context.WithTimeout(ctx, DefaultCallTimeout)
	defer cancel()
	text = replyText(text)
	if responseURL != "" {
		err := f.postResponse(ctx, responseURL, map[string]any{"response_type": "ephemeral", "replace_original": false, "text": text})
		if err == nil {
			return
		}
		f.log.Warn("response_url failed; trying chat.postEphemeral", "user", user, "err", err)
	}
	if channel == "" || user == "" {
		return
	}
	if _, err := f.api.PostEphemeralContext(ctx, channel, user, slack.MsgOptionText(text, false)); err != nil {
		f.log.Warn("ephemeral reply failed", "user", user, "err", err)
	}
}

// postResponse posts a JSON message to a response_url.
func (f *Front) postResponse(ctx context.Context, responseURL string, msg any) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("response_url: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("response_url: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := f.http.Do(req)
	if err != nil {
		return fmt.Errorf("response_url: %w", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("response_url: HTTP %d", res.StatusCode)
	}
	return nil
}

// maxReplyText bounds a reply's text (Slack truncates messages at 40,000).
const maxReplyText = 39000

// replyText escapes a reply for mrkdwn (so "<!channel>" in a reason pings
// nobody) and bounds its length.
func replyText(s string) string {
	s = esc(s, maxReplyText)
	if strings.TrimSpace(s) == "" {
		return "OK"
	}
	return s
}
