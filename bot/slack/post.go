package slackfront

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
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
	blocks, err := encodeBlocks(r) // "[]" when none: an edit without blocks clears them
	if err != nil {
		return message{}, &bot.PermanentError{Err: fmt.Errorf("slack: encode blocks: %w", err)}
	}
	return message{Channel: channel, Text: r.Text, Blocks: blocks}, nil
}

// encodeBlocks returns the JSON array of r's blocks, from the JSON the
// cache kept when it has it.
func encodeBlocks(r Rendered) (json.RawMessage, error) {
	if len(r.raw) != len(r.Blocks) || slices.ContainsFunc(r.raw, func(b []byte) bool { return len(b) < 2 || b[0] != '{' }) {
		if len(r.Blocks) == 0 {
			return json.RawMessage("[]"), nil
		}
		return json.Marshal(r.Blocks)
	}
	n := 2
	for i, b := range r.raw {
		n += len(b) + len(r.Blocks[i].ID()) + 16
	}
	out := make([]byte, 0, n)
	out = append(out, '[')
	for i, b := range r.raw {
		if i > 0 {
			out = append(out, ',')
		}
		if id := r.Blocks[i].ID(); id != "" {
			// The same object with its id as the first member (the id is
			// letters, digits and a dash: nothing to escape).
			out = append(out, `{"block_id":"`...)
			out = append(out, id...)
			out = append(out, '"')
			if len(b) > 2 {
				out = append(out, ',')
			}
			b = b[1:]
		}
		out = append(out, b...)
	}
	return append(out, ']'), nil
}

// blockCache gives blocks their ids and JSON without encoding those it saw
// before. Successive renders of a card or a summary repeat most of their
// blocks (a click changes one step's line, and the blocks below it may move
// up one place), and slack-go's blocks are slow to encode (nested
// MarshalJSON methods whose output encoding/json checks again), where the
// id (assignBlockIDs) is the block's kind, position and a hash of its JSON.
// A block is looked up by a hash of its main fields, and taken from the
// cache only when it is equal to the one remembered: the ids and the JSON
// are those assignBlockIDs and json.Marshal give.
type blockCache struct {
	seed maphash.Seed
	mu   sync.Mutex // mu protects cur and old
	// cur holds the blocks used lately; when it is full it becomes old, and
	// a block found in old moves back to cur.
	cur, old map[uint64]cachedBlock
	bytes    int // the JSON held in cur
}

type cachedBlock struct {
	block slack.Block // as first rendered (its id is that of its first place)
	raw   []byte      // its JSON without an id
	sum   uint32      // jsonSum(raw)
}

// maxCachedBlocks and maxCachedBlockBytes (their JSON) bound each
// generation of the cache: the two hold at most twice that, and as much
// again in the blocks themselves.
const (
	maxCachedBlocks     = 8192
	maxCachedBlockBytes = 8 << 20
)

func newBlockCache() *blockCache {
	return &blockCache{seed: maphash.MakeSeed(), cur: map[uint64]cachedBlock{}}
}

// assign gives every block its id, as assignBlockIDs does, and returns the
// JSON of each without its id (see Rendered); a nil cache only assigns the
// ids and returns nil.
func (c *blockCache) assign(blocks []slack.Block) [][]byte {
	if c == nil {
		assignBlockIDs(blocks)
		return nil
	}
	raws := make([][]byte, len(blocks))
	for i, b := range blocks {
		raws[i] = c.block(i, b)
	}
	return raws
}

// block assigns the id of b at position i and returns its JSON without the
// id (nil if it does not encode: the message is then encoded whole, which
// reports it). A kind of block the cache does not know is encoded whole.
func (c *blockCache) block(i int, b slack.Block) []byte {
	key, ok := c.key(b)
	if !ok {
		raw, _ := json.Marshal(b)
		setBlockID(b, blockID(i, b, raw))
		if b.ID() == "" {
			return raw
		}
		return nil
	}
	if hit, found := c.get(key); found {
		setBlockID(b, hit.block.ID())
		// Blocks are not changed once rendered: an equal block (but for
		// its place) encodes to the same JSON.
		if sameBlock(hit.block, b) {
			setBlockID(b, idOf(i, b, hit.sum))
			return hit.raw
		}
		setBlockID(b, "")
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return nil
	}
	sum := jsonSum(raw)
	setBlockID(b, idOf(i, b, sum))
	c.put(key, cachedBlock{block: b, raw: raw, sum: sum})
	return raw
}

func (c *blockCache) get(key uint64) (cachedBlock, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if hit, ok := c.cur[key]; ok {
		return hit, true
	}
	hit, ok := c.old[key]
	if ok {
		c.putLocked(key, hit)
	}
	return hit, ok
}

func (c *blockCache) put(key uint64, b cachedBlock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(key, b)
}

func (c *blockCache) putLocked(key uint64, b cachedBlock) {
	if len(c.cur) >= maxCachedBlocks || c.bytes+len(b.raw) > maxCachedBlockBytes {
		c.old, c.cur, c.bytes = c.cur, make(map[uint64]cachedBlock, len(c.cur)), 0
	}
	c.cur[key] = b
	c.bytes += len(b.raw)
}

// sameBlock tells whether two blocks are deeply equal, as reflect.DeepEqual
// would, field by field for the kinds of block and element this renderer
// makes (TestSameBlockKnowsEveryField checks it knows every field of them)
// and with reflect.DeepEqual for any other.
func sameBlock(a, b slack.Block) bool {
	switch x := a.(type) {
	case *slack.SectionBlock:
		y, ok := b.(*slack.SectionBlock)
		if !ok || x.Accessory != nil || y.Accessory != nil {
			break
		}
		return x.Type == y.Type && x.BlockID == y.BlockID && x.Expand == y.Expand && sameText(x.Text, y.Text) &&
			slices.EqualFunc(x.Fields, y.Fields, sameText)
	case *slack.ActionBlock:
		y, ok := b.(*slack.ActionBlock)
		if !ok || x.Elements == nil || y.Elements == nil {
			break
		}
		return x.Type == y.Type && x.BlockID == y.BlockID && slices.EqualFunc(x.Elements.ElementSet, y.Elements.ElementSet, sameElement)
	case *slack.ContextBlock:
		y, ok := b.(*slack.ContextBlock)
		if !ok {
			break
		}
		return x.Type == y.Type && x.BlockID == y.BlockID && slices.EqualFunc(x.ContextElements.Elements, y.ContextElements.Elements,
			func(a, b slack.MixedElement) bool {
				ta, okA := a.(*slack.TextBlockObject)
				tb, okB := b.(*slack.TextBlockObject)
				if okA && okB {
					return sameText(ta, tb)
				}
				return reflect.DeepEqual(a, b)
			})
	case *slack.HeaderBlock:
		y, ok := b.(*slack.HeaderBlock)
		return ok && x.Type == y.Type && x.BlockID == y.BlockID && x.Level == y.Level && sameText(x.Text, y.Text)
	case *slack.DividerBlock:
		y, ok := b.(*slack.DividerBlock)
		return ok && *x == *y
	}
	return reflect.DeepEqual(a, b)
}

func sameElement(a, b slack.BlockElement) bool {
	x, okA := a.(*slack.ButtonBlockElement)
	y, okB := b.(*slack.ButtonBlockElement)
	if !okA || !okB {
		return reflect.DeepEqual(a, b)
	}
	if x == nil || y == nil {
		return x == y
	}
	return x.Type == y.Type && sameText(x.Text, y.Text) && x.ActionID == y.ActionID && x.URL == y.URL && x.Value == y.Value &&
		sameConfirm(x.Confirm, y.Confirm) && x.Style == y.Style && x.AccessibilityLabel == y.AccessibilityLabel &&
		x.AgentPrompt == y.AgentPrompt && x.AgentPromptDisplay == y.AgentPromptDisplay && slices.Equal(x.VisibleToUserIDs, y.VisibleToUserIDs)
}

func sameConfirm(a, b *slack.ConfirmationBlockObject) bool {
	if a == nil || b == nil {
		return a == b
	}
	return sameText(a.Title, b.Title) && sameText(a.Text, b.Text) && sameText(a.Confirm, b.Confirm) && sameText(a.Deny, b.Deny) && a.Style == b.Style
}

func sameText(a, b *slack.TextBlockObject) bool {
	if a == nil || b == nil {
		return a == b
	}
	if (a.Emoji == nil) != (b.Emoji == nil) || a.Emoji != nil && *a.Emoji != *b.Emoji {
		return false
	}
	return a.Type == b.Type && a.Text == b.Text && a.Verbatim == b.Verbatim
}

// key hashes the block kind and the fields that tell this
// renderer's blocks apart (texts, action ids, values); false for a kind of
// block it does not know. Two blocks with one key are told apart by
// comparing them.
func (c *blockCache) key(b slack.Block) (uint64, bool) {
	var h maphash.Hash
	h.SetSeed(c.seed)
	text := func(t *slack.TextBlockObject) {
		if t != nil {
			h.WriteString(t.Type)
			h.WriteString(t.Text)
		}
		h.WriteByte(0)
	}
	switch x := b.(type) {
	case *slack.SectionBlock:
		h.WriteByte('s')
		text(x.Text)
		for _, f := range x.Fields {
			text(f)
		}
	case *slack.ActionBlock:
		h.WriteByte('a')
		if x.Elements == nil {
			break
		}
		for _, e := range x.Elements.ElementSet {
			switch e := e.(type) {
			case *slack.ButtonBlockElement:
				h.WriteString(e.ActionID)
				h.WriteString(e.Value)
				text(e.Text)
			case *slack.SelectBlockElement:
				h.WriteString(e.ActionID)
				for _, o := range e.Options {
					h.WriteString(o.Value)
					text(o.Text)
				}
			}
		}
	case *slack.ContextBlock:
		h.WriteByte('c')
		for _, e := range x.ContextElements.Elements {
			if t, ok := e.(*slack.TextBlockObject); ok {
				text(t)
			}
		}
	case *slack.HeaderBlock:
		h.WriteByte('h')
		text(x.Text)
	case *slack.DividerBlock:
		h.WriteByte('d')
	default:
		return 0, false
	}
	return h.Sum64(), true
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
	msg, err := f.newMessage(channel, f.render(m))
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
	ctx, cancel := context.WithTimeout(ctx, f.callTimeout)
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

// PostTimeout implements bot.PostBound: Post gives up after the user
// groups' lookup (for a request for approval's mentions) and one
// chat.postMessage call at most.
func (f *Poster) PostTimeout() time.Duration { return groupsWait + f.callTimeout }

// Find implements bot.Finder: the reference of the message posted with key
// in channel (in the thread of replyTo when it is set) among the newest
// findLimit messages, or "" when there is none. It reads conversations.history (or .replies)
// with the messages' metadata: a post Slack accepted just before the bot
// died, never recorded, is found instead of posted again.
func (f *Poster) Find(ctx context.Context, channel, replyTo, key string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, f.callTimeout)
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
	msg, err := f.newMessage(ch, f.render(m))
	if err != nil {
		return err
	}
	msg.TS = ts
	ctx, cancel := context.WithTimeout(ctx, f.callTimeout)
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
// (wait and retry; shared, as Slack limits each method per workspace, so
// the other channels' calls wait too), a permanent failure (log and move on: a missing channel
// or permission, an invalid token, a refused message), or a plain error that
// the outbox retries with backoff (5xx, network).
func classify(op string, err error) error {
	wrapped := fmt.Errorf("%s: %w", op, err)
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return &bot.RateLimitError{After: rl.RetryAfter, Err: wrapped, Shared: true}
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		switch {
		case sc.Code == http.StatusTooManyRequests:
			return &bot.RateLimitError{After: time.Second, Err: wrapped, Shared: true}
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
			return &bot.RateLimitError{After: time.Second, Err: wrapped, Shared: true}
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

// render renders m (see Render) with the poster's block cache.
func (f *Poster) render(m bot.Message) Rendered { return render(m, f.blocks) }
