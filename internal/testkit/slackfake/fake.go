package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tokens the fake accepts unless told otherwise.
const (
	BotToken = "xoxb-fake-bot-token"
	AppToken = "xapp-fake-app-token"
)

// Message is a message the bot posted, in its latest version.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string
	// Text is the fallback text (notifications, screen readers).
	Text string
	// Blocks is the Block Kit JSON array as the bot sent it.
	Blocks json.RawMessage
	// Edits counts the chat.update calls applied to the message.
	Edits int
	// Metadata is the message metadata the bot posted it with (JSON:
	// {"event_type": ..., "event_payload": {...}}), or nil.
	Metadata json.RawMessage
	// Replies are the thread's replies, in order (set by Conversation only).
	Replies []Message
}

// Visible is the message as a person reads it (see Visible); the fallback
// text when there are no blocks.
func (m Message) Visible() string {
	if len(m.Blocks) == 0 {
		return m.Text
	}
	return Visible(m.Blocks)
}

// Actions returns the message's buttons and menus.
func (m Message) Actions() []Action { return Actions(m.Blocks) }

// Action returns the first button or menu whose label is label and whose
// action_id contains idPart ("" matches any).
func (m Message) Action(label, idPart string) (Action, bool) {
	for _, a := range m.Actions() {
		if a.Label == label && strings.Contains(a.ActionID, idPart) {
			return a, true
		}
	}
	return Action{}, false
}

// Labels returns the labels of the message's buttons and menus, in order.
func (m Message) Labels() []string {
	var out []string
	for _, a := range m.Actions() {
		out = append(out, a.Label)
	}
	return out
}

// Ephemeral is a message only one person sees: posted with chat.postEphemeral
// or through a response_url with response_type "ephemeral".
type Ephemeral struct {
	Channel string
	User    string
	Text    string
	// Via is "chat.postEphemeral" or "response_url".
	Via string
}

// Response is a JSON body posted to a response_url.
type Response struct {
	User, Channel   string
	ResponseType    string `json:"response_type"`
	Text            string `json:"text"`
	ReplaceOriginal bool   `json:"replace_original"`
	DeleteOriginal  bool   `json:"delete_original"`
	ThreadTS        string `json:"thread_ts"`
}

// View is a modal the bot opened with views.open.
type View struct {
	ID              string
	TriggerID       string
	Type            string          `json:"type"`
	CallbackID      string          `json:"callback_id"`
	PrivateMetadata string          `json:"private_metadata"`
	Title           map[string]any  `json:"title"`
	Submit          map[string]any  `json:"submit"`
	Close           map[string]any  `json:"close"`
	Blocks          json.RawMessage `json:"blocks"`
}

// TitleText returns the modal's title.
func (v View) TitleText() string { return str(v.Title, "text") }

// Call is one request to the fake Web API.
type Call struct {
	Method string
	// Params are the form fields, or the top-level fields of a JSON body.
	Params url.Values
	// Status is the HTTP status answered; Error the Slack error, if any.
	Status int
	Error  string
}

// Fault is a scripted failure of the next call(s) of a method.
type Fault struct {
	// Status is the HTTP status to answer (429, 500 …); 0 means 200 with
	// {"ok":false,"error":Error}.
	Status int
	// RetryAfter is the Retry-After header in seconds sent with a 429
	// (negative: no header).
	RetryAfter int
	// Error is the Slack error code of an ok:false answer.
	Error string
	// Delay holds the answer back this long (or until the client gives up).
	Delay time.Duration
	// Hold holds the call until the client hangs up (its process died, or
	// it gave up waiting), and then drops it: nothing is posted or edited.
	Hold bool
	// Channel, when set, keeps the fault for the next call to that channel
	// (its channel parameter); calls to other channels pass it by.
	Channel string
	// Apply makes the call (the message is posted or edited) before Status
	// is answered, as when Slack's answer is lost on the way back (a proxy's
	// 502, a gateway timeout).
	Apply bool
}

// UserGroup is a Slack user group the fake knows.
type UserGroup struct {
	ID, Handle, Name string
	Members          []string
}

// Server is the fake Slack. All its methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu          sync.Mutex // mu protects everything below
	botToken    string
	appToken    string
	msgs        map[string]*Message // by channel/ts
	order       []string            // channel/ts in posting order
	ephemerals  []Ephemeral
	responses   []Response
	views       []View
	calls       []Call
	faults      map[string][]Fault
	groups      []UserGroup
	chanErr     map[string]string
	nextTS      int64
	nextTrigger int
	nextView    int
	problems    []string
	socket      *socketState
	held        int // calls held now (Fault.Hold)
}

// New starts a fake Slack on a loopback port; it stops when the test ends.
func New(t testing.TB) *Server {
	s := &Server{
		botToken: BotToken, appToken: AppToken,
		msgs: map[string]*Message{}, faults: map[string][]Fault{}, chanErr: map[string]string{},
		socket: newSocketState(),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.api)
	mux.HandleFunc("/response/", s.responseURL)
	mux.HandleFunc("/socket", s.serveSocket)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		s.Close()
		for _, p := range s.Problems() {
			t.Errorf("slackfake: %s", p)
		}
	})
	return s
}

// TakeProblems returns the problems found so far and forgets them, for a
// test that provokes them on purpose.
func (s *Server) TakeProblems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.problems
	s.problems = nil
	return p
}

// Problems returns what the fake found wrong with the bot's calls (invalid
// blocks); the test fails with them when it ends.
func (s *Server) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.problems)
}

// Close closes the Socket Mode connections and stops the server.
func (s *Server) Close() {
	s.socket.closeAll()
	s.srv.Close()
}

// URL is the server's base URL.
func (s *Server) URL() string { return s.srv.URL }

// APIURL is the Web API base URL to give slack.OptionAPIURL (it ends in "/").
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// ResponseURL returns a fresh response_url for an interaction or command
// of user in channel; what is posted to it is recorded.
func (s *Server) ResponseURL(user, channel string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextTrigger++
	return fmt.Sprintf("%s/response/%s/%s/%d", s.srv.URL, url.PathEscape(user), url.PathEscape(channel), s.nextTrigger)
}

// TriggerID returns a fresh trigger_id.
func (s *Server) TriggerID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextTrigger++
	return fmt.Sprintf("%d.4744562912.%08x", 1000+s.nextTrigger, s.nextTrigger)
}

// SetTokens changes the bot and app-level tokens the fake accepts.
func (s *Server) SetTokens(bot, app string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.botToken, s.appToken = bot, app
}

// Script queues faults for the next calls of method ("chat.update"): the
// first call gets faults[0], and so on (a fault with a Channel waits for a
// call to its channel); later calls succeed.
func (s *Server) Script(method string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], faults...)
}

// Held returns how many calls are being held now (Fault.Hold).
func (s *Server) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// RateLimit makes the next n calls of each method answer HTTP 429 with
// Retry-After: retryAfter seconds.
func (s *Server) RateLimit(n, retryAfter int, methods ...string) {
	for _, m := range methods {
		for range n {
			s.Script(m, Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter})
		}
	}
}

// SetChannelError makes every post to channel fail with the Slack error
// code (channel_not_found, not_in_channel, is_archived); "" clears it.
func (s *Server) SetChannelError(channel, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == "" {
		delete(s.chanErr, channel)
		return
	}
	s.chanErr[channel] = code
}

// AddUserGroup adds a user group with its members.
func (s *Server) AddUserGroup(g UserGroup) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups = append(s.groups, g)
}

// Calls returns every Web API call so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallCount returns how many calls of method were made (failed ones too).
func (s *Server) CallCount(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

// Messages returns every message (latest versions), in posting order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, *s.msgs[k])
	}
	return out
}

// Conversation returns the messages in channel as a person sees them: the
// latest version of each top-level message, in order, with its thread
// replies under it.
func (s *Server) Conversation(channel string) []Message {
	all := s.Messages()
	var top []Message
	idx := map[string]int{}
	for _, m := range all {
		if m.Channel != channel || m.ThreadTS != "" {
			continue
		}
		idx[m.TS] = len(top)
		top = append(top, m)
	}
	for _, m := range all {
		if m.Channel != channel || m.ThreadTS == "" {
			continue
		}
		if i, ok := idx[m.ThreadTS]; ok {
			top[i].Replies = append(top[i].Replies, m)
		}
	}
	return top
}

// Transcript renders channel's conversation as text, replies indented, for
// test failure messages.
func (s *Server) Transcript(channel string) string {
	var b strings.Builder
	for _, m := range s.Conversation(channel) {
		fmt.Fprintf(&b, "── %s (edits %d)\n%s\n", m.TS, m.Edits, m.Visible())
		for _, r := range m.Replies {
			fmt.Fprintf(&b, "    ↳ %s (edits %d)\n", r.TS, r.Edits)
			for _, l := range strings.Split(r.Visible(), "\n") {
				b.WriteString("      " + l + "\n")
			}
		}
	}
	return b.String()
}

// Find returns the latest version of the first message in channel (top
// level or reply) whose visible text contains all the given parts.
func (s *Server) Find(channel string, parts ...string) (Message, bool) {
	for _, m := range s.Messages() {
		if m.Channel != channel {
			continue
		}
		v := m.Visible()
		ok := true
		for _, p := range parts {
			if !strings.Contains(v, p) {
				ok = false
				break
			}
		}
		if ok {
			return m, true
		}
	}
	return Message{}, false
}

// Message returns the latest version of the message channel/ts.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.msgs[channel+"/"+ts]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Ephemerals returns the ephemeral messages shown to user (every user when
// user is ""), in order.
func (s *Server) Ephemerals(user string) []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Ephemeral
	for _, e := range s.ephemerals {
		if user == "" || e.User == user {
			out = append(out, e)
		}
	}
	return out
}

// Responses returns everything posted to response_urls, in order.
func (s *Server) Responses() []Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.responses)
}

// Views returns the modals opened, in order.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.views)
}

// api serves POST /api/<method>.
func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	params, token, err := readParams(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	call := Call{Method: method, Params: params, Status: http.StatusOK}
	s.mu.Lock()
	var fault *Fault
	for i, f := range s.faults[method] {
		if f.Channel == "" || f.Channel == params.Get("channel") {
			fault = &f
			s.faults[method] = slices.Delete(slices.Clone(s.faults[method]), i, i+1)
			break
		}
	}
	s.mu.Unlock()
	if fault != nil && fault.Hold {
		s.mu.Lock()
		s.held++
		s.mu.Unlock()
		<-r.Context().Done()
		call.Status, call.Error = 0, "dropped: the client hung up"
		s.mu.Lock()
		s.held--
		s.calls = append(s.calls, call)
		s.mu.Unlock()
		return
	}
	if fault != nil && fault.Delay > 0 {
		select {
		case <-time.After(fault.Delay):
		case <-r.Context().Done():
		}
	}
	record := func() {
		s.mu.Lock()
		s.calls = append(s.calls, call)
		s.mu.Unlock()
	}
	if fault != nil && fault.Status != 0 {
		call.Status = fault.Status
		if fault.Apply {
			_, call.Error = s.method(method, params, token)
		}
		record()
		if fault.Status == http.StatusTooManyRequests && fault.RetryAfter >= 0 {
			w.Header().Set("Retry-After", strconv.Itoa(fault.RetryAfter))
		}
		http.Error(w, http.StatusText(fault.Status), fault.Status)
		return
	}
	var res map[string]any
	var code string
	if fault != nil && fault.Error != "" {
		code = fault.Error
	} else {
		res, code = s.method(method, params, token)
	}
	call.Error = code
	record()
	if code != "" {
		res = map[string]any{"ok": false, "error": code}
	} else {
		res["ok"] = true
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// readParams reads a form or JSON body into values, and the token from the
// form or the Authorization header.
func readParams(r *http.Request) (url.Values, string, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return nil, "", err
	}
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		vals := url.Values{}
		if len(body) > 0 {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(body, &m); err != nil {
				return nil, "", fmt.Errorf("bad JSON body: %w", err)
			}
			for k, v := range m {
				var s string
				if json.Unmarshal(v, &s) == nil {
					vals.Set(k, s)
				} else {
					vals.Set(k, string(v))
				}
			}
		}
		return vals, token, nil
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, "", fmt.Errorf("bad form body: %w", err)
	}
	for k, v := range r.URL.Query() {
		vals[k] = v
	}
	if t := vals.Get("token"); t != "" {
		token = t
	}
	return vals, token, nil
}

// method runs a Web API method and returns its result fields or a Slack error code.
func (s *Server) method(method string, p url.Values, token string) (map[string]any, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if method == "apps.connections.open" {
		if token != s.appToken {
			return nil, "invalid_auth"
		}
		return map[string]any{"url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/socket"}, ""
	}
	if token != s.botToken {
		return nil, "invalid_auth"
	}
	switch method {
	case "auth.test":
		return map[string]any{"url": "https://fake.slack.com/", "team": "Fake", "user": "deploybot", "team_id": "T0FAKE", "user_id": "U0BOT", "bot_id": "B0BOT"}, ""
	case "chat.postMessage":
		return s.post(p)
	case "chat.update":
		return s.update(p)
	case "conversations.history":
		return s.history(p)
	case "conversations.replies":
		return s.replies(p)
	case "chat.postEphemeral":
		ch := p.Get("channel")
		if code := s.chanErr[ch]; code != "" {
			return nil, code
		}
		if p.Get("user") == "" {
			return nil, "user_not_found"
		}
		s.ephemerals = append(s.ephemerals, Ephemeral{Channel: ch, User: p.Get("user"), Text: p.Get("text"), Via: "chat.postEphemeral"})
		return map[string]any{"message_ts": s.newTS()}, ""
	case "views.open":
		return s.openView(p)
	case "usergroups.list":
		var gs []map[string]any
		for _, g := range s.groups {
			gs = append(gs, map[string]any{"id": g.ID, "handle": g.Handle, "name": g.Name, "is_usergroup": true})
		}
		return map[string]any{"usergroups": gs}, ""
	case "usergroups.users.list":
		for _, g := range s.groups {
			if g.ID == p.Get("usergroup") {
				return map[string]any{"users": append([]string{}, g.Members...)}, ""
			}
		}
		return nil, "no_such_subteam"
	}
	return nil, "unknown_method"
}

// newTS returns an increasing message timestamp with microseconds, as Slack's are.
func (s *Server) newTS() string {
	s.nextTS += 100
	return fmt.Sprintf("%d.%06d", 1700000000+s.nextTS/1_000_000, s.nextTS%1_000_000)
}

func checkMessage(p url.Values) string {
	blocks := p.Get("blocks")
	if p.Get("text") == "" {
		// Slack accepts blocks without text with a warning; deploybot must always
		// give a fallback, so the fake is stricter.
		return "no_text"
	}
	if blocks != "" {
		if err := CheckBlocks([]byte(blocks)); err != nil {
			return "invalid_blocks"
		}
	}
	return ""
}

func (s *Server) post(p url.Values) (map[string]any, string) {
	ch := p.Get("channel")
	if ch == "" {
		return nil, "channel_not_found"
	}
	if code := s.chanErr[ch]; code != "" {
		return nil, code
	}
	if code := checkMessage(p); code != "" {
		if code == "invalid_blocks" {
			s.problems = append(s.problems, fmt.Sprintf("chat.postMessage with invalid blocks: %v\n%s", CheckBlocks([]byte(p.Get("blocks"))), p.Get("blocks")))
		}
		return nil, code
	}
	thread := p.Get("thread_ts")
	if thread != "" {
		if _, ok := s.msgs[ch+"/"+thread]; !ok {
			return nil, "thread_not_found"
		}
	}
	m := &Message{Channel: ch, TS: s.newTS(), ThreadTS: thread, Text: p.Get("text"), Blocks: json.RawMessage(p.Get("blocks"))}
	if md := p.Get("metadata"); md != "" {
		if !json.Valid([]byte(md)) {
			return nil, "invalid_metadata_format"
		}
		m.Metadata = json.RawMessage(md)
	}
	s.msgs[ch+"/"+m.TS] = m
	s.order = append(s.order, ch+"/"+m.TS)
	return map[string]any{"channel": ch, "ts": m.TS, "message": map[string]any{"text": m.Text, "ts": m.TS, "thread_ts": thread}}, ""
}

// history serves conversations.history: the channel's top-level messages,
// newest first, at most limit (default 100), with their metadata only when
// include_all_metadata is set, as Slack does.
func (s *Server) history(p url.Values) (map[string]any, string) {
	ch := p.Get("channel")
	if code := s.chanErr[ch]; code != "" {
		return nil, code
	}
	var out []map[string]any
	for i := len(s.order) - 1; i >= 0; i-- {
		m := s.msgs[s.order[i]]
		if m.Channel != ch || (m.ThreadTS != "" && m.ThreadTS != m.TS) {
			continue
		}
		out = append(out, s.wire(m, truthy(p.Get("include_all_metadata"))))
	}
	return page(out, p), ""
}

// replies serves conversations.replies: the thread's parent, then its
// replies oldest first, at most limit (default 100).
func (s *Server) replies(p url.Values) (map[string]any, string) {
	ch, ts := p.Get("channel"), p.Get("ts")
	if code := s.chanErr[ch]; code != "" {
		return nil, code
	}
	if _, ok := s.msgs[ch+"/"+ts]; !ok {
		return nil, "thread_not_found"
	}
	var out []map[string]any
	for _, k := range s.order {
		m := s.msgs[k]
		if m.Channel == ch && (m.TS == ts || m.ThreadTS == ts) {
			out = append(out, s.wire(m, truthy(p.Get("include_all_metadata"))))
		}
	}
	return page(out, p), ""
}

// truthy reads a Slack boolean parameter ("1", "true").
func truthy(v string) bool { return v == "1" || v == "true" }

func (s *Server) wire(m *Message, metadata bool) map[string]any {
	w := map[string]any{"type": "message", "ts": m.TS, "text": m.Text, "user": "U0BOT", "bot_id": "B0BOT"}
	if m.ThreadTS != "" {
		w["thread_ts"] = m.ThreadTS
	}
	if metadata && len(m.Metadata) > 0 {
		w["metadata"] = m.Metadata
	}
	return w
}

func page(msgs []map[string]any, p url.Values) map[string]any {
	limit := 100
	if n, err := strconv.Atoi(p.Get("limit")); err == nil && n > 0 && n < limit {
		limit = n
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	if msgs == nil {
		msgs = []map[string]any{}
	}
	return map[string]any{"messages": msgs, "has_more": more}
}

func (s *Server) update(p url.Values) (map[string]any, string) {
	ch, ts := p.Get("channel"), p.Get("ts")
	if code := s.chanErr[ch]; code != "" {
		return nil, code
	}
	m, ok := s.msgs[ch+"/"+ts]
	if !ok {
		return nil, "message_not_found"
	}
	if code := checkMessage(p); code != "" {
		if code == "invalid_blocks" {
			s.problems = append(s.problems, fmt.Sprintf("chat.update with invalid blocks: %v\n%s", CheckBlocks([]byte(p.Get("blocks"))), p.Get("blocks")))
		}
		return nil, code
	}
	m.Text = p.Get("text")
	// chat.update with text but no blocks removes the blocks.
	m.Blocks = json.RawMessage(p.Get("blocks"))
	m.Edits++
	return map[string]any{"channel": ch, "ts": ts, "text": m.Text}, ""
}

func (s *Server) openView(p url.Values) (map[string]any, string) {
	trigger := p.Get("trigger_id")
	if trigger == "" {
		return nil, "invalid_trigger_id"
	}
	for _, v := range s.views {
		if v.TriggerID == trigger {
			return nil, "trigger_exchanged" // a trigger is valid once
		}
	}
	var v View
	if err := json.Unmarshal([]byte(p.Get("view")), &v); err != nil {
		return nil, "invalid_arguments"
	}
	if v.Type != "modal" || Length(v.TitleText()) == 0 || Length(v.TitleText()) > 24 || Length(v.PrivateMetadata) > 3000 ||
		Length(str(v.Submit, "text")) > 24 || Length(str(v.Close, "text")) > 24 {
		return nil, "invalid_arguments"
	}
	s.nextView++
	v.ID = fmt.Sprintf("V%05d", s.nextView)
	v.TriggerID = trigger
	s.views = append(s.views, v)
	return map[string]any{"view": map[string]any{"id": v.ID, "type": "modal", "callback_id": v.CallbackID, "private_metadata": v.PrivateMetadata}}, ""
}

// responseURL serves the response_urls made by ResponseURL.
func (s *Server) responseURL(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/response/"), "/")
	if r.Method != http.MethodPost || len(parts) != 3 {
		http.NotFound(w, r)
		return
	}
	user, _ := url.PathUnescape(parts[0])
	channel, _ := url.PathUnescape(parts[1])
	var res Response
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&res); err != nil {
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	res.User, res.Channel = user, channel
	s.mu.Lock()
	s.responses = append(s.responses, res)
	if res.ResponseType == "" || res.ResponseType == "ephemeral" {
		if !res.ReplaceOriginal && !res.DeleteOriginal {
			s.ephemerals = append(s.ephemerals, Ephemeral{Channel: channel, User: user, Text: res.Text, Via: "response_url"})
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"ok":true}`))
}
