package slackfake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Sign returns the X-Slack-Signature Slack sends with body at the Unix time
// ts: "v0=" and the hex HMAC-SHA256, keyed with secret, of "v0:ts:body".
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + strconv.FormatInt(ts, 10) + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// SignedRequest builds a POST of the form-encoded body to target, signed
// with secret as Slack signs it at time at.
func SignedRequest(target, secret string, at time.Time, body []byte) *http.Request {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		panic("slackfake: " + err.Error()) // a test's own URL is malformed
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("X-Slack-Signature", Sign(secret, at.Unix(), body))
	return req
}

// User is the person behind a command or a click.
type User struct {
	ID   string
	Name string
}

// Command is a slash command as Slack sends it.
type Command struct {
	User    User
	Channel string
	// Command defaults to "/deploy".
	Command     string
	Text        string
	ResponseURL string
	TriggerID   string
}

// Fields returns the command's fields as Slack names them.
func (c Command) Fields() map[string]string {
	cmd := c.Command
	if cmd == "" {
		cmd = "/deploy"
	}
	return map[string]string{
		"token": "legacy-verification-token", "team_id": "T0FAKE", "team_domain": "fake", "channel_id": c.Channel, "channel_name": "deploys",
		"user_id": c.User.ID, "user_name": c.User.Name, "command": cmd, "text": c.Text, "api_app_id": "A0FAKE",
		"response_url": c.ResponseURL, "trigger_id": c.TriggerID,
	}
}

// Form returns the command as the form body of an HTTP request.
func (c Command) Form() url.Values {
	v := url.Values{}
	for k, f := range c.Fields() {
		v.Set(k, f)
	}
	return v
}

// CommandRequest builds a signed slash-command request to target.
func CommandRequest(target, secret string, at time.Time, c Command) *http.Request {
	return SignedRequest(target, secret, at, []byte(c.Form().Encode()))
}

// InteractionRequest builds a signed interaction request (one form field,
// payload) to target.
func InteractionRequest(target, secret string, at time.Time, payload []byte) *http.Request {
	return SignedRequest(target, secret, at, []byte(url.Values{"payload": {string(payload)}}.Encode()))
}

// Command returns a slash command by user in channel with a fresh
// response_url and trigger_id.
func (s *Server) Command(u User, channel, text string) Command {
	return Command{User: u, Channel: channel, Text: text, ResponseURL: s.ResponseURL(u.ID, channel), TriggerID: s.TriggerID()}
}

// BlockAction is a click on a button (or a choice in a menu) of a message.
type BlockAction struct {
	User      User
	Channel   string
	MessageTS string
	ThreadTS  string
	Action    Action
	// Option is the value chosen in a menu (ignored for buttons).
	Option      string
	ResponseURL string
	TriggerID   string
}

// Click returns the block action of user clicking a on message m, with a
// fresh response_url and trigger_id. For a menu, option is the chosen value.
func (s *Server) Click(u User, m Message, a Action, option string) BlockAction {
	return BlockAction{User: u, Channel: m.Channel, MessageTS: m.TS, ThreadTS: m.ThreadTS, Action: a, Option: option,
		ResponseURL: s.ResponseURL(u.ID, m.Channel), TriggerID: s.TriggerID()}
}

// Payload returns the interaction payload JSON Slack sends for the click.
func (b BlockAction) Payload() []byte {
	act := map[string]any{
		"type": b.Action.Type, "action_id": b.Action.ActionID, "block_id": b.Action.BlockID,
		"action_ts": "1700000000.123456",
	}
	switch b.Action.Type {
	case "button":
		act["value"] = b.Action.Value
		act["text"] = map[string]any{"type": "plain_text", "text": b.Action.Label}
	case "static_select", "overflow":
		text := b.Option
		for _, o := range b.Action.Options {
			if o.Value == b.Option {
				text = o.Text
			}
		}
		act["selected_option"] = map[string]any{"value": b.Option, "text": map[string]any{"type": "plain_text", "text": text}}
	}
	p := map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": b.User.ID, "username": b.User.Name, "name": b.User.Name, "team_id": "T0FAKE"},
		"api_app_id":   "A0FAKE",
		"token":        "legacy-verification-token",
		"container":    map[string]any{"type": "message", "message_ts": b.MessageTS, "thread_ts": b.ThreadTS, "channel_id": b.Channel, "is_ephemeral": false},
		"trigger_id":   b.TriggerID,
		"team":         map[string]any{"id": "T0FAKE", "domain": "fake"},
		"channel":      map[string]any{"id": b.Channel, "name": "deploys"},
		"message":      map[string]any{"type": "message", "ts": b.MessageTS, "thread_ts": b.ThreadTS},
		"response_url": b.ResponseURL,
		"actions":      []any{act},
	}
	out, _ := json.Marshal(p)
	return out
}

// ViewSubmission is a person submitting a modal the bot opened.
type ViewSubmission struct {
	User User
	View View
	// Values are the inputs' values by block_id.
	Values    map[string]string
	TriggerID string
}

// Payload returns the interaction payload JSON Slack sends for the submission.
func (v ViewSubmission) Payload() []byte {
	var blocks []map[string]any
	_ = json.Unmarshal(v.View.Blocks, &blocks)
	values := map[string]any{}
	for _, b := range blocks {
		if str(b, "type") != "input" {
			continue
		}
		el := obj(b, "element")
		val, ok := v.Values[str(b, "block_id")]
		if !ok {
			continue
		}
		values[str(b, "block_id")] = map[string]any{str(el, "action_id"): map[string]any{"type": str(el, "type"), "value": val}}
	}
	p := map[string]any{
		"type":       "view_submission",
		"user":       map[string]any{"id": v.User.ID, "username": v.User.Name, "name": v.User.Name, "team_id": "T0FAKE"},
		"api_app_id": "A0FAKE",
		"token":      "legacy-verification-token",
		"trigger_id": v.TriggerID,
		"team":       map[string]any{"id": "T0FAKE", "domain": "fake"},
		"view": map[string]any{
			"id": v.View.ID, "type": "modal", "callback_id": v.View.CallbackID, "private_metadata": v.View.PrivateMetadata,
			"title": v.View.Title, "state": map[string]any{"values": values},
		},
	}
	out, _ := json.Marshal(p)
	return out
}

// Submit returns user's submission of view with the given input values.
func (s *Server) Submit(u User, view View, values map[string]string) ViewSubmission {
	return ViewSubmission{User: u, View: view, Values: values, TriggerID: s.TriggerID()}
}
