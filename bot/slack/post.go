package slackfront

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// message is the JSON body of chat.postMessage and chat.update. The Web API
// takes JSON with the token as a bearer header: the blocks are encoded once,
// where a form (slack-go's way) encodes them and then escapes them again.
type message struct {
	Channel     string          `json:"channel"`
	TS          string          `json:"ts,omitempty"`        // chat.update: the message
	ThreadTS    string          `json:"thread_ts,omitempty"` // chat.postMessage: the thread
	Text        string          `json:"text"`
	Blocks      json.RawMessage `json:"-"` // spliced in by MarshalJSON
	UnfurlLinks bool            `json:"unfurl_links"`
	UnfurlMedia bool            `json:"unfurl_media"`
	// Metadata is the message metadata (chat.postMessage; see Find).
	Metadata *slack.SlackMetadata `json:"metadata,omitempty"`
}

// MarshalJSON encodes the message with its blocks' JSON as it is:
// encoding/json would check and compact a json.RawMessage byte by byte.
func (m message) MarshalJSON() ([]byte, error) {
	type plain message // without this method
	head, err := json.Marshal(plain(m))
	if err != nil {
		return nil, err
	}
	blocks := m.Blocks
	if len(blocks) == 0 {
		blocks = json.RawMessage("[]")
	}
	out := make([]byte, 0, len(head)+len(blocks)+12)
	out = append(out, head[:len(head)-1]...) // without the closing brace
	out = append(out, `,"blocks":`...)
	out = append(out, blocks...)
	return append(out, '}'), nil
}

func (f *Poster) newMessage(channel string, r Rendered) (message, error) {
	blocks, err := f.blocks.encode(r.Blocks) // "[]" when none: an edit without blocks clears them
	if err != nil {
		return message{}, &bot.PermanentError{Err: fmt.Errorf("slack: encode blocks: %w", err)}
	}
	return message{Channel: channel, Text: r.Text, Blocks: blocks}, nil
}

// blockCache remembers the JSON of the blocks recently sent, by block id.
// Successive renders of a card or a summary repeat most of their blocks (a
// click changes one step's line), and slack-go's blocks are slow to encode
// (nested MarshalJSON methods whose output encoding/json checks again), so
// a block equal to the one remembered under its id reuses its JSON.
type blockCache struct {
	mu sync.Mutex // mu protects m
	m  map[string]cachedBlock
}

type cachedBlock struct {
	block slack.Block
	raw   []byte
}

// maxCachedBlocks bounds the cache; when full it starts again empty.
const maxCachedBlocks = 8192

func newBlockCache() *blockCache { return &blockCache{m: map[string]cachedBlock{}} }

// encode returns the JSON array of blocks.
func (c *blockCache) encode(blocks []slack.Block) (json.RawMessage, error) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, b := range blocks {
		if i > 0 {
			buf.WriteByte(',')
		}
		raw, err := c.block(b)
		if err != nil {
			return nil, err
		}
		buf.Write(raw)
	}
	buf.WriteByte(']')
	return buf.Bytes(), nil
}

func (c *blockCache) block(b slack.Block) ([]byte, error) {
	id := b.ID()
	if id != "" {
		c.mu.Lock()
		hit, ok := c.m[id]
		c.mu.Unlock()
		// Blocks are not changed once rendered: an equal block encodes
		// to the same JSON.
		if ok && reflect.DeepEqual(hit.block, b) {
			return hit.raw, nil
		}
	}
	raw, err := json.Marshal(b)
	if err != nil || id == "" {
		return raw, err
	}
	c.mu.Lock()
	if len(c.m) >= maxCachedBlocks {
		clear(c.m)
	}
	c.m[id] = cachedBlock{block: b, raw: raw}
	c.mu.Unlock()
	return raw, nil
}

// metadataType is the event type of the message metadata every message the
// bot posts for a run carries: its key finds it again after a crash.
const metadataType = "deploybot_message"

// findLimit bounds how far back Find looks: a redelivery follows a crash by
// seconds to minutes, so the message is among the channel's newest.
const findLimit = 200

// Post implements bot.Poster with chat.postMessage; a reply goes into the
// thread of replyTo (the run summary's reference). It returns "CHANNEL/TS".
// A message with a Key carries it in its metadata (see Find).
func (f *Poster) Post(ctx context.Context, channel, replyTo string, m bot.Message) (string, error) {
	m = f.resolveMentions(ctx, m)
	msg, err := f.newMessage(channel, Render(m))
	if err != nil {
		return "", err
	}
	if m.Key != "" {
		msg.Metadata = &slack.SlackMetadata{EventType: metadataType, EventPayload: map[string]any{"key": m.Key}}
	}
	if replyTo != "" {
		if _, ts, err := SplitRef(replyTo); err == nil {
			msg.ThreadTS = ts
		} else {
			f.log.Warn("posting outside the thread", "err", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultCallTimeout)
	defer cancel()
	res, err := f.callJSON(ctx, "chat.postMessage", msg)
	if err != nil {
		return "", classify("chat.postMessage", err)
	}
	ch := res.Channel
	if ch == "" {
		ch = channel
	}
	return Ref(ch, res.TS), nil
}

// Find implements bot.Finder: the reference of the message posted with key
// in channel (in the thread of replyTo when it is set) among the newest
// findLimit messages, or "" when there is none. It reads conversations.history (or .replies)
// with the messages' metadata: a post Slack accepted just before the bot
// died, never recorded, is found instead of posted again.
func (f *Poster) Find(ctx context.Context, channel, replyTo, key string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultCallTimeout)
	defer cancel()
	var msgs []slack.Message
	if _, ts, err := SplitRef(replyTo); replyTo != "" && err == nil {
		got, _, _, err := f.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
			ChannelID: channel, Timestamp: ts, Limit: findLimit, IncludeAllMetadata: true})
		if err != nil {
			return "", classify("conversations.replies", err)
		}
		msgs = got
	} else {
		got, err := f.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
			ChannelID: channel, Limit: findLimit, IncludeAllMetadata: true})
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
func (f *Poster) resolveMentions(ctx context.Context, m bot.Message) bot.Message {
	if m.Notice == nil || len(m.Notice.Mentions) == 0 || f.groups == nil {
		return m
	}
	var handles []string
	for _, mn := range m.Notice.Mentions {
		if h := mn.Handle; h != "" && !slices.Contains(handles, h) {
			handles = append(handles, h)
		}
	}
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
func (f *Poster) Update(ctx context.Context, ref string, m bot.Message) error {
	ch, ts, err := SplitRef(ref)
	if err != nil {
		return &bot.PermanentError{Err: err}
	}
	msg, err := f.newMessage(ch, Render(m))
	if err != nil {
		return err
	}
	msg.TS = ts
	ctx, cancel := context.WithTimeout(ctx, DefaultCallTimeout)
	defer cancel()
	if _, err := f.callJSON(ctx, "chat.update", msg); err != nil {
		return classify("chat.update", err)
	}
	return nil
}

// apiResult is the part of a chat method's answer the front reads.
type apiResult struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// maxAPIAnswer bounds the answer of a Web API call that is read.
const maxAPIAnswer = 1 << 20

// callJSON calls a Web API method with a JSON body. Its errors are
// slack-go's, as classify reads them: *slack.RateLimitedError for a 429
// with Retry-After, slack.StatusCodeError for another status, and
// slack.SlackErrorResponse for an answer with ok false.
func (f *Poster) callJSON(ctx context.Context, method string, body json.Marshaler) (apiResult, error) {
	b, err := body.MarshalJSON()
	if err != nil {
		return apiResult{}, fmt.Errorf("encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.apiURL+method, bytes.NewReader(b))
	if err != nil {
		return apiResult{}, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+f.token.Reveal())
	res, err := f.http.Do(req)
	if err != nil {
		return apiResult{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxAPIAnswer))
		if ra := res.Header.Get("Retry-After"); res.StatusCode == http.StatusTooManyRequests && ra != "" {
			if n, err := strconv.ParseInt(ra, 10, 64); err == nil {
				return apiResult{}, &slack.RateLimitedError{RetryAfter: time.Duration(n) * time.Second}
			}
		}
		return apiResult{}, slack.StatusCodeError{Code: res.StatusCode, Status: res.Status}
	}
	var r apiResult
	if err := json.NewDecoder(io.LimitReader(res.Body, maxAPIAnswer)).Decode(&r); err != nil {
		return apiResult{}, fmt.Errorf("decode the answer: %w", err)
	}
	if !r.OK {
		return apiResult{}, slack.SlackErrorResponse{Err: r.Error}
	}
	return r, nil
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
