package discordfake

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Identifiers the fake uses unless told otherwise.
const (
	BotToken = "fake-discord-bot-token"
	AppID    = "100000000000000001"
	GuildID  = "200000000000000001"
	// CommandID is the id of every registered application command.
	CommandID = "300000000000000001"
)

// InteractionDeadline is how long the fake waits for an interaction's first
// response, as Discord does.
const InteractionDeadline = 3 * time.Second

// NonceWindow is how long the fake remembers a message's nonce for
// enforce_nonce: Discord documents "the past few minutes"; the fake takes
// the short end of that, so a test past it shows what happens without it.
const NonceWindow = 2 * time.Minute

// MaxNonce is the longest nonce Discord accepts (characters).
const MaxNonce = 25

// Fault is a scripted failure of the next call of a route.
type Fault struct {
	// Status is the HTTP status to answer (429, 403, 500 …).
	Status int
	// RetryAfter is the retry_after (seconds) of a 429; also sent, rounded up,
	// as the Retry-After header.
	RetryAfter float64
	// Delay holds the answer back this long (or until the client gives up).
	Delay time.Duration
	// Exhaust, with Status 0, answers normally but says the route's bucket
	// is used up for ResetAfter seconds (X-RateLimit-Remaining: 0), as
	// Discord does before a client would hit a 429.
	Exhaust    bool
	ResetAfter float64
}

// Option configures a Server.
type Option func(*Server)

// WithClock makes the fake sign interactions with timestamps from now
// (default time.Now), so a bot on an injected clock accepts them.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithToken changes the bot token the fake accepts.
func WithToken(token string) Option { return func(s *Server) { s.token = token } }

// Server is the fake Discord. All its methods are safe for concurrent use.
type Server struct {
	srv  *httptest.Server
	now  func() time.Time
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey

	mu        sync.Mutex // mu protects everything below
	token     string
	msgs      map[string]*Message // by message id
	order     []string            // message ids in creation order
	commands  map[string][]json.RawMessage
	inters    map[string]*interaction // by interaction id
	byToken   map[string]string       // interaction token → id
	modals    []Modal
	callbacks []Callback
	calls     []Call
	faults    map[string][]Fault
	chanErr   map[string]int
	nextID    int64
	problems  []string
	gw        *gateway
}

// interaction is the fake's record of an interaction it delivered.
type interaction struct {
	in      *Interaction
	user    User
	origin  string // id of the message whose component was used, or ""
	created time.Time
	acked   bool
	ackType int
	// settled is closed once the first response arrived, or the HTTP
	// delivery ended without one.
	settled  chan struct{}
	original string // id of the message the response created or concerns
}

// New starts a fake Discord on a loopback port; it stops when the test
// ends, and the test fails with the problems it found in the bot's calls.
func New(t testing.TB, opts ...Option) *Server {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("discordfake: generate key: %v", err)
	}
	s := &Server{
		now: time.Now, pub: pub, priv: priv, token: BotToken,
		msgs: map[string]*Message{}, commands: map[string][]json.RawMessage{}, inters: map[string]*interaction{},
		byToken: map[string]string{}, faults: map[string][]Fault{}, chanErr: map[string]int{},
		nextID: 1300000000000000000, gw: newGateway(),
	}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	api := func(pattern string, h func(w http.ResponseWriter, r *http.Request, raw []byte) (int, any)) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.HandleFunc(method+" /api/{version}"+path, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, pattern, h) })
	}
	api(RouteGateway, s.getGateway)
	api(RouteGatewayBot, s.getGateway)
	api(RouteGetCommands, s.getCommands)
	api(RoutePutCommands, s.putCommands)
	api(RouteGetGuildCmds, s.getCommands)
	api(RoutePutGuildCmds, s.putCommands)
	api(RouteCreateMessage, s.createMessage)
	api(RouteEditMessage, s.editMessage)
	api(RouteCallback, s.callback)
	api(RouteFollowup, s.followup)
	api(RouteEditWebhookMsg, s.editWebhookMessage)
	api(RouteListMessages, s.listMessages)
	api(RouteGetMe, s.getMe)
	mux.HandleFunc("GET /gateway", s.serveGateway)
	mux.HandleFunc("GET /gateway/", s.serveGateway)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.problem("unexpected request %s %s", r.Method, r.URL.Path)
		writeError(w, http.StatusNotFound, 0, "404: Not Found")
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		s.Close()
		for _, p := range s.Problems() {
			t.Errorf("discordfake: %s", p)
		}
	})
	return s
}

// URL is the base URL to point the bot's REST client at (DISCORD_API_URL);
// requests arrive as /api/v9/….
func (s *Server) URL() string { return s.srv.URL }

// PublicKey is the application's public key (DISCORD_PUBLIC_KEY) matching
// the key the fake signs interactions with.
func (s *Server) PublicKey() ed25519.PublicKey { return s.pub }

// Close closes the Gateway connections and stops the server.
func (s *Server) Close() {
	s.gw.closeAll()
	s.srv.Close()
}

// Problems returns what the fake found wrong with the bot's calls.
func (s *Server) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.problems)
}

func (s *Server) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

// problemLocked records a problem; s.mu is held.
func (s *Server) problemLocked(format string, args ...any) {
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

// Script queues faults for the next calls of route (RouteCreateMessage …):
// the first call gets faults[0], and so on; later calls succeed.
func (s *Server) Script(route string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[route] = append(s.faults[route], faults...)
}

// SetChannelStatus makes every post to and edit in channel fail with status
// (403 Missing Permissions, 404 Unknown Channel); 0 clears it.
func (s *Server) SetChannelStatus(channel string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 0 {
		delete(s.chanErr, channel)
		return
	}
	s.chanErr[channel] = status
}

// Calls returns every REST call so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallCount returns how many calls of route were made (failed ones too).
func (s *Server) CallCount(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Route == route {
			n++
		}
	}
	return n
}

// Callbacks returns the first responses to interactions, in order.
func (s *Server) Callbacks() []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.callbacks)
}

// CallbackFor returns the first response to the interaction id.
func (s *Server) CallbackFor(id string) (Callback, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.callbacks {
		if c.Interaction == id {
			return c, true
		}
	}
	return Callback{}, false
}

// Commands returns the application commands registered for guild ("" for
// the global ones), as JSON objects.
func (s *Server) Commands(guild string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commands[guild])
}

// SetCommands sets the registered commands of guild ("" global) without a
// call, as if registered earlier.
func (s *Server) SetCommands(guild string, cmds []json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands[guild] = s.withIDs(guild, cmds)
}

// Messages returns every message (latest versions, ephemeral ones too), in
// creation order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, *s.msgs[id])
	}
	return out
}

// Channel returns channel as user sees it: the public messages and the
// ephemeral messages shown to user, in order, each in its latest version.
func (s *Server) Channel(channel, user string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		if m.ChannelID == channel && (!m.Ephemeral || m.User == user) {
			out = append(out, m)
		}
	}
	return out
}

// Ephemerals returns the ephemeral messages shown to user, in order.
func (s *Server) Ephemerals(user string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		if m.Ephemeral && m.User == user {
			out = append(out, m)
		}
	}
	return out
}

// Message returns the latest version of the message id.
func (s *Server) Message(id string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.msgs[id]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Find returns the latest version of the first public message in channel
// whose visible text contains all the given parts.
func (s *Server) Find(channel string, parts ...string) (Message, bool) {
	for _, m := range s.Messages() {
		if m.ChannelID != channel || m.Ephemeral {
			continue
		}
		if containsAll(m.Visible(), parts) {
			return m, true
		}
	}
	return Message{}, false
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// Transcript renders channel as user sees it, for test failure messages.
func (s *Server) Transcript(channel, user string) string {
	var b strings.Builder
	for _, m := range s.Channel(channel, user) {
		tag := ""
		if m.Ephemeral {
			tag = " (only you can see this)"
		}
		if m.ReplyTo != "" {
			tag += " (reply to " + m.ReplyTo + ")"
		}
		fmt.Fprintf(&b, "── %s edits %d%s\n%s\n", m.ID, m.Edits, tag, m.Visible())
	}
	return b.String()
}

// Modals returns the modals opened for user, in order.
func (s *Server) Modals(user string) []Modal {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Modal
	for _, md := range s.modals {
		if md.User == user {
			out = append(out, md)
		}
	}
	return out
}

func (s *Server) newID() string {
	s.nextID++
	return strconv.FormatInt(s.nextID, 10)
}

// serve runs one REST route: it reads the body, checks the token, applies
// scripted faults, calls h and records the call.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, route string, h func(w http.ResponseWriter, r *http.Request, raw []byte) (int, any)) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, 0, err.Error())
		return
	}
	call := Call{Route: route, Path: r.URL.Path, Body: json.RawMessage(slices.Clone(raw))}
	record := func(status int) {
		call.Status = status
		s.mu.Lock()
		s.calls = append(s.calls, call)
		s.mu.Unlock()
	}
	if v := r.PathValue("version"); v != "v9" && v != "v10" {
		s.problem("%s %s: unexpected API version", r.Method, r.URL.Path)
	}
	webhook := route == RouteCallback || route == RouteFollowup || route == RouteEditWebhookMsg
	s.mu.Lock()
	token := s.token
	var fault *Fault
	if q := s.faults[route]; len(q) > 0 {
		fault = &q[0]
		s.faults[route] = q[1:]
	}
	s.mu.Unlock()
	if !webhook && r.Header.Get("Authorization") != "Bot "+token {
		record(http.StatusUnauthorized)
		writeError(w, http.StatusUnauthorized, 0, "401: Unauthorized")
		return
	}
	if fault != nil && fault.Delay > 0 {
		select {
		case <-time.After(fault.Delay):
		case <-r.Context().Done():
		}
	}
	if fault != nil && fault.Status != 0 {
		record(fault.Status)
		if fault.Status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(fault.RetryAfter))))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_ = json.NewEncoder(w).Encode(map[string]any{"message": "You are being rate limited.", "retry_after": fault.RetryAfter, "global": false})
			return
		}
		writeError(w, fault.Status, 0, http.StatusText(fault.Status))
		return
	}
	if fault != nil && fault.Exhaust {
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset-After", strconv.FormatFloat(fault.ResetAfter, 'f', 3, 64))
	}
	status, res := h(w, r, raw)
	record(status)
	if status == 0 {
		return // h wrote the answer
	}
	if e, ok := res.(apiError); ok {
		writeError(w, status, e.Code, e.Message)
		return
	}
	if status == http.StatusNoContent || res == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(res)
}

// apiError is a Discord JSON error answer.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(apiError{Code: code, Message: msg})
}

func (s *Server) getGateway(_ http.ResponseWriter, _ *http.Request, _ []byte) (int, any) {
	u := "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/gateway"
	return http.StatusOK, map[string]any{"url": u, "shards": 1,
		"session_start_limit": map[string]int{"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}}
}

func (s *Server) getCommands(_ http.ResponseWriter, r *http.Request, _ []byte) (int, any) {
	if r.PathValue("app") != AppID {
		return http.StatusNotFound, apiError{10002, "Unknown Application"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cmds := s.commands[r.PathValue("guild")]
	if cmds == nil {
		cmds = []json.RawMessage{}
	}
	return http.StatusOK, cmds
}

func (s *Server) putCommands(_ http.ResponseWriter, r *http.Request, raw []byte) (int, any) {
	if r.PathValue("app") != AppID {
		return http.StatusNotFound, apiError{10002, "Unknown Application"}
	}
	var cmds []json.RawMessage
	if err := json.Unmarshal(raw, &cmds); err != nil {
		s.problem("PUT commands: body is not a JSON array: %v", err)
		return http.StatusBadRequest, apiError{50035, "Invalid Form Body"}
	}
	if err := CheckCommands(cmds); err != nil {
		s.problem("PUT commands: %v", err)
		return http.StatusBadRequest, apiError{50035, "Invalid Form Body: " + err.Error()}
	}
	guild := r.PathValue("guild")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands[guild] = s.withIDs(guild, cmds)
	return http.StatusOK, s.commands[guild]
}

// withIDs returns the commands with the fields Discord adds (id,
// application_id, version, guild_id); s.mu is held.
func (s *Server) withIDs(guild string, cmds []json.RawMessage) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(cmds))
	for i, c := range cmds {
		var m map[string]any
		if json.Unmarshal(c, &m) != nil {
			continue
		}
		m["id"] = strconv.Itoa(300000000000000001 + i)
		m["application_id"] = AppID
		m["version"] = s.newID()
		if _, ok := m["type"]; !ok {
			m["type"] = 1
		}
		if guild != "" {
			m["guild_id"] = guild
		}
		b, _ := json.Marshal(m)
		out = append(out, b)
	}
	return out
}

func (s *Server) createMessage(_ http.ResponseWriter, r *http.Request, raw []byte) (int, any) {
	ch := r.PathValue("channel")
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.chanErr[ch]; st != 0 {
		return st, channelError(st)
	}
	if err := CheckMessage(raw, true); err != nil {
		s.problemLocked("POST message in %s: %v", ch, err)
		return http.StatusBadRequest, apiError{50035, "Invalid Form Body: " + err.Error()}
	}
	var b body
	_ = json.Unmarshal(raw, &b)
	nonce, enforce, err := nonceOf(raw)
	if err != nil {
		s.problemLocked("POST message in %s: %v", ch, err)
		return http.StatusBadRequest, apiError{50035, "Invalid Form Body: " + err.Error()}
	}
	if enforce && nonce != "" {
		// Discord returns the message the same author created with this
		// nonce in the past few minutes instead of creating another.
		if old := s.byNonceLocked(AppID, nonce); old != nil {
			return http.StatusOK, messageJSON(old, true)
		}
	}
	m := &Message{ID: s.newID(), ChannelID: ch, Author: AppID, Nonce: nonce, Created: s.now()}
	fill(m, raw)
	if b.Reference != nil {
		var ref struct {
			MessageID string `json:"message_id"`
		}
		_ = json.Unmarshal(*b.Reference, &ref)
		m.ReplyTo = ref.MessageID
		if _, ok := s.msgs[ref.MessageID]; !ok {
			s.problemLocked("POST message in %s: replies to unknown message %s", ch, ref.MessageID)
		}
	}
	s.add(m)
	return http.StatusOK, messageJSON(m, true)
}

// nonceOf reads a create body's nonce (a string or an integer) and
// enforce_nonce, refusing a nonce over MaxNonce characters as Discord does.
func nonceOf(raw []byte) (nonce string, enforce bool, err error) {
	var f struct {
		Nonce   json.RawMessage `json:"nonce"`
		Enforce bool            `json:"enforce_nonce"`
	}
	if json.Unmarshal(raw, &f) != nil || len(f.Nonce) == 0 || string(f.Nonce) == "null" {
		return "", f.Enforce, nil
	}
	if err := json.Unmarshal(f.Nonce, &nonce); err != nil {
		var n json.Number
		if json.Unmarshal(f.Nonce, &n) != nil {
			return "", false, fmt.Errorf("nonce %s is neither a string nor an integer", f.Nonce)
		}
		nonce = n.String()
	}
	if length(nonce) > MaxNonce {
		return "", false, fmt.Errorf("nonce has %d characters (at most %d)", length(nonce), MaxNonce)
	}
	return nonce, f.Enforce, nil
}

// byNonceLocked returns the newest message author created with nonce
// within NonceWindow, or nil; s.mu is held.
func (s *Server) byNonceLocked(author, nonce string) *Message {
	now := s.now()
	for i := len(s.order) - 1; i >= 0; i-- {
		m := s.msgs[s.order[i]]
		if m.Nonce == nonce && m.Author == author && !m.Ephemeral && now.Sub(m.Created) <= NonceWindow {
			return m
		}
	}
	return nil
}

// listMessages answers Get Channel Messages: the channel's newest public
// messages, newest first, at most limit (1–100, default 50). The messages
// carry no nonce: Discord documents it in the Message Create event only.
func (s *Server) listMessages(_ http.ResponseWriter, r *http.Request, _ []byte) (int, any) {
	ch := r.PathValue("channel")
	q := r.URL.Query()
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			s.problem("GET messages in %s: limit %q is not 1–100", ch, v)
			return http.StatusBadRequest, apiError{50035, "Invalid Form Body: limit"}
		}
		limit = n
	}
	for _, p := range []string{"before", "after", "around"} {
		if q.Has(p) {
			s.problem("GET messages in %s: the fake does not page (%s)", ch, p)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.chanErr[ch]; st != 0 {
		return st, channelError(st)
	}
	out := []map[string]any{}
	for i := len(s.order) - 1; i >= 0 && len(out) < limit; i-- {
		m := s.msgs[s.order[i]]
		if m.ChannelID == ch && !m.Ephemeral {
			out = append(out, messageJSON(m, false))
		}
	}
	return http.StatusOK, out
}

// getMe answers Get Current User: the bot's user, whose id is AppID.
func (s *Server) getMe(_ http.ResponseWriter, _ *http.Request, _ []byte) (int, any) {
	return http.StatusOK, map[string]any{"id": AppID, "username": "deploybot", "discriminator": "0", "bot": true}
}

// PostAs adds a message to channel as if the user with id author posted
// it (content and embeds), without a call; it returns the message.
func (s *Server) PostAs(author, channel, content string, embeds ...Embed) Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &Message{ID: s.newID(), ChannelID: channel, Author: author, Content: content, Embeds: embeds, Created: s.now()}
	s.add(m)
	return *m
}

func channelError(status int) apiError {
	if status == http.StatusForbidden {
		return apiError{50013, "Missing Permissions"}
	}
	if status == http.StatusNotFound {
		return apiError{10003, "Unknown Channel"}
	}
	return apiError{0, http.StatusText(status)}
}

func (s *Server) editMessage(_ http.ResponseWriter, r *http.Request, raw []byte) (int, any) {
	ch, id := r.PathValue("channel"), r.PathValue("message")
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.chanErr[ch]; st != 0 {
		return st, channelError(st)
	}
	m, ok := s.msgs[id]
	if !ok || m.ChannelID != ch || m.Ephemeral {
		return http.StatusNotFound, apiError{10008, "Unknown Message"}
	}
	if m.Author != "" && m.Author != AppID {
		return http.StatusForbidden, apiError{50005, "Cannot edit a message authored by another user"}
	}
	if err := CheckMessage(raw, false); err != nil {
		s.problemLocked("PATCH message %s: %v", id, err)
		return http.StatusBadRequest, apiError{50035, "Invalid Form Body: " + err.Error()}
	}
	fill(m, raw)
	m.Edits++
	return http.StatusOK, messageJSON(m, false)
}

// add stores a new message; s.mu is held.
func (s *Server) add(m *Message) {
	s.msgs[m.ID] = m
	s.order = append(s.order, m.ID)
}

// fill applies the fields present in a message body to m.
func fill(m *Message, raw []byte) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return
	}
	if v, ok := fields["content"]; ok {
		var c string
		_ = json.Unmarshal(v, &c)
		m.Content = c
	}
	if v, ok := fields["embeds"]; ok {
		m.Embeds = nil
		_ = json.Unmarshal(v, &m.Embeds)
	}
	if v, ok := fields["components"]; ok {
		m.Components = nil
		_ = json.Unmarshal(v, &m.Components)
	}
	if v, ok := fields["flags"]; ok {
		_ = json.Unmarshal(v, &m.Flags)
	}
	if v, ok := fields["allowed_mentions"]; ok {
		m.AllowedMentions = slices.Clone(v)
	}
}

// messageJSON is a message as Discord's API returns it; created says
// whether it answers the message's creation (which echoes the nonce).
func messageJSON(m *Message, created bool) map[string]any {
	embeds := m.Embeds
	if embeds == nil {
		embeds = []Embed{}
	}
	comps := m.Components
	if comps == nil {
		comps = []Component{}
	}
	out := map[string]any{
		"id": m.ID, "channel_id": m.ChannelID, "type": 0, "content": m.Content, "embeds": embeds, "components": comps,
		"flags": m.Flags, "author": author(m.Author),
		"timestamp": "2026-01-01T00:00:00+00:00",
	}
	if created && m.Nonce != "" {
		out["nonce"] = m.Nonce
	}
	if m.ReplyTo != "" {
		out["type"] = 19
		out["message_reference"] = map[string]any{"message_id": m.ReplyTo, "channel_id": m.ChannelID}
	}
	return out
}

// author is a message's author object: the bot for AppID (or unset).
func author(id string) map[string]any {
	if id == "" || id == AppID {
		return map[string]any{"id": AppID, "username": "deploybot", "bot": true}
	}
	return map[string]any{"id": id, "username": "user" + id}
}

// ResponseMessage returns the latest version of the message created by the
// first response (type 4) to the interaction id.
func (s *Server) ResponseMessage(id string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.inters[id]
	if st == nil || st.ackType != 4 {
		return Message{}, false
	}
	m, ok := s.msgs[st.original]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Followups returns the followup messages sent for the interaction id, in order.
func (s *Server) Followups(id string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, mid := range s.order {
		m := s.msgs[mid]
		if m.Interaction == id {
			if st := s.inters[id]; st != nil && st.original == mid {
				continue
			}
			out = append(out, *m)
		}
	}
	return out
}

// LastModal returns the last modal opened for user.
func (s *Server) LastModal(user string) (Modal, bool) {
	ms := s.Modals(user)
	if len(ms) == 0 {
		return Modal{}, false
	}
	return ms[len(ms)-1], true
}
