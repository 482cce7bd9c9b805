package discordfake

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"
)

// Interaction types.
const (
	InteractionPing      = 1
	InteractionCommand   = 2
	InteractionComponent = 3
	InteractionModal     = 5
)

// User is a person in the fake guild.
type User struct {
	ID         string
	Username   string
	GlobalName string
	// Roles are the member's role IDs in the guild.
	Roles []string
}

// Interaction is an interaction as Discord sends it to the bot. Build one
// with Command, Click, Choose, Submit or Ping, then deliver it with Post
// (HTTP) or Dispatch (Gateway).
type Interaction struct {
	ID            string         `json:"id"`
	ApplicationID string         `json:"application_id"`
	Type          int            `json:"type"`
	Token         string         `json:"token"`
	Version       int            `json:"version"`
	GuildID       string         `json:"guild_id,omitempty"`
	ChannelID     string         `json:"channel_id,omitempty"`
	Member        *memberJSON    `json:"member,omitempty"`
	User          *userJSON      `json:"user,omitempty"`
	Data          any            `json:"data,omitempty"`
	Message       map[string]any `json:"message,omitempty"`
	Locale        string         `json:"locale,omitempty"`

	person User
	origin string
}

type userJSON struct {
	ID         string `json:"id"`
	Username   string `json:"username"`
	GlobalName string `json:"global_name,omitempty"`
}

type memberJSON struct {
	User  userJSON `json:"user"`
	Roles []string `json:"roles"`
	Nick  string   `json:"nick,omitempty"`
}

// JSON returns the interaction's JSON body.
func (in *Interaction) JSON() []byte {
	b, err := json.Marshal(in)
	if err != nil {
		panic(fmt.Sprintf("discordfake: marshal interaction: %v", err))
	}
	return b
}

func (s *Server) newInteraction(kind int, u User, channel string) *Interaction {
	s.mu.Lock()
	id := s.newID()
	s.mu.Unlock()
	in := &Interaction{ID: id, ApplicationID: AppID, Type: kind, Token: "tok-" + id, Version: 1, GuildID: GuildID,
		ChannelID: channel, Locale: "en-US", person: u}
	if kind != InteractionPing {
		roles := u.Roles
		if roles == nil {
			roles = []string{}
		}
		in.Member = &memberJSON{User: userJSON{ID: u.ID, Username: u.Username, GlobalName: u.GlobalName}, Roles: roles}
	}
	return in
}

// Ping builds a PING interaction.
func (s *Server) Ping() *Interaction {
	in := s.newInteraction(InteractionPing, User{}, "")
	in.GuildID = ""
	return in
}

// Command builds the /deploy slash command with the subcommand sub and its
// string options, typed by u in channel.
func (s *Server) Command(u User, channel, sub string, opts map[string]string) *Interaction {
	return s.CommandNamed("deploy", u, channel, sub, opts)
}

// CommandNamed builds a slash command name with the subcommand sub.
func (s *Server) CommandNamed(name string, u User, channel, sub string, opts map[string]string) *Interaction {
	in := s.newInteraction(InteractionCommand, u, channel)
	names := make([]string, 0, len(opts))
	for k := range opts {
		names = append(names, k)
	}
	sort.Strings(names)
	options := []map[string]any{}
	for _, k := range names {
		options = append(options, map[string]any{"name": k, "type": 3, "value": opts[k]})
	}
	in.Data = map[string]any{"id": CommandID, "name": name, "type": 1,
		"options": []map[string]any{{"name": sub, "type": 1, "options": options}}}
	return in
}

// Click builds a button click by u on message m.
func (s *Server) Click(u User, m Message, customID string) *Interaction {
	in := s.newInteraction(InteractionComponent, u, m.ChannelID)
	in.Data = map[string]any{"custom_id": customID, "component_type": TypeButton}
	in.Message = messageJSON(&m, false)
	in.origin = m.ID
	return in
}

// Choose builds a choice of values in the select menu customID of message m.
func (s *Server) Choose(u User, m Message, customID string, values ...string) *Interaction {
	in := s.newInteraction(InteractionComponent, u, m.ChannelID)
	in.Data = map[string]any{"custom_id": customID, "component_type": TypeSelect, "values": values}
	in.Message = messageJSON(&m, false)
	in.origin = m.ID
	return in
}

// Submit builds the submission of modal md by u, with values by text input
// custom_id.
func (s *Server) Submit(u User, md Modal, values map[string]string) *Interaction {
	in := s.newInteraction(InteractionModal, u, md.ChannelID)
	var rows []map[string]any
	for _, c := range md.Inputs() {
		rows = append(rows, map[string]any{"type": TypeActionRow, "components": []map[string]any{
			{"type": TypeTextInput, "custom_id": c.CustomID, "value": values[c.CustomID]}}})
	}
	in.Data = map[string]any{"custom_id": md.CustomID, "components": rows}
	if md.Message != nil {
		if cur, ok := s.Message(md.Message.ID); ok {
			in.Message = messageJSON(&cur, false)
		} else {
			in.Message = messageJSON(md.Message, false)
		}
		in.origin = md.Message.ID
	}
	return in
}

// Sign returns the hex Ed25519 signature of timestamp + body, as Discord
// sends it in X-Signature-Ed25519.
func (s *Server) Sign(timestamp string, body []byte) string {
	msg := append([]byte(timestamp), body...)
	return hex.EncodeToString(ed25519.Sign(s.priv, msg))
}

// NewRequest returns a POST of body to url signed as Discord signs it, with
// the timestamp at.
func (s *Server) NewRequest(url string, body []byte, at time.Time) *http.Request {
	ts := strconv.FormatInt(at.Unix(), 10)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		panic(fmt.Sprintf("discordfake: new request: %v", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Discord-Interactions/1.0 (+https://discord.com)")
	req.Header.Set("X-Signature-Timestamp", ts)
	req.Header.Set("X-Signature-Ed25519", s.Sign(ts, body))
	return req
}

// Result is the bot's answer to an interaction delivered over HTTP.
type Result struct {
	Status int
	Body   []byte
	// Callback is the answer read as the interaction's first response (nil
	// when the status is not 200).
	Callback *Callback
}

// Post delivers in to the bot's interactions endpoint url, signed with the
// fake's key and clock, and records the answer as the interaction's first
// response, as Discord does.
func (s *Server) Post(url string, in *Interaction) (Result, error) {
	st := s.track(in)
	defer s.settle(st)
	res, err := http.DefaultClient.Do(s.NewRequest(url, in.JSON(), s.now()))
	if err != nil {
		return Result{}, fmt.Errorf("discordfake: post interaction: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return Result{}, fmt.Errorf("discordfake: read answer: %w", err)
	}
	out := Result{Status: res.StatusCode, Body: body}
	if res.StatusCode != http.StatusOK {
		return out, nil
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		s.problem("interaction %s: answer has Content-Type %q, want application/json", in.ID, ct)
	}
	if status, msg := s.respond(in.ID, in.Token, body, "http"); status >= 300 {
		return out, fmt.Errorf("discordfake: interaction %s: answer refused: %s", in.ID, msg)
	}
	if cb, ok := s.CallbackFor(in.ID); ok {
		out.Callback = &cb
	}
	return out, nil
}

// Dispatch delivers in over the Gateway (INTERACTION_CREATE) to the bot's
// connected session; the bot answers on the callback route.
func (s *Server) Dispatch(in *Interaction) error {
	s.track(in)
	return s.gw.dispatch("INTERACTION_CREATE", in.JSON())
}

// track records a delivered interaction.
func (s *Server) track(in *Interaction) *interaction {
	st := &interaction{in: in, user: in.person, origin: in.origin, created: time.Now(), settled: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inters[in.ID] = st
	s.byToken[in.Token] = in.ID
	return st
}

// settle marks an HTTP delivery as over: followups waiting for the first
// response stop waiting.
func (s *Server) settle(st *interaction) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-st.settled:
	default:
		close(st.settled)
	}
}

// respond applies an interaction's first response and returns the status to answer.
func (s *Server) respond(id, token string, raw []byte, via string) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.inters[id]
	if st == nil || st.in.Token != token {
		s.problemLocked("response to unknown interaction %s", id)
		return http.StatusNotFound, "Unknown interaction"
	}
	if st.acked {
		s.problemLocked("interaction %s answered twice", id)
		return http.StatusBadRequest, "Interaction has already been acknowledged."
	}
	if d := time.Since(st.created); d > InteractionDeadline {
		s.problemLocked("interaction %s answered after %s (Discord allows %s)", id, d.Round(time.Millisecond), InteractionDeadline)
		return http.StatusNotFound, "Unknown interaction"
	}
	var resp struct {
		Type int             `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		s.problemLocked("interaction %s: response is not JSON: %v", id, err)
		return http.StatusBadRequest, "Invalid Form Body"
	}
	if !allowed(st.in.Type, resp.Type, st.origin != "") {
		s.problemLocked("interaction %s of type %d answered with response type %d", id, st.in.Type, resp.Type)
		return http.StatusBadRequest, "Invalid Form Body"
	}
	switch resp.Type {
	case 4:
		if err := CheckMessage(resp.Data, true); err != nil {
			s.problemLocked("interaction %s: response message: %v", id, err)
			return http.StatusBadRequest, "Invalid Form Body"
		}
		m := &Message{ID: s.newID(), ChannelID: st.in.ChannelID, Interaction: id}
		fill(m, resp.Data)
		if m.Flags&FlagEphemeral != 0 {
			m.Ephemeral, m.User = true, st.user.ID
		}
		s.add(m)
		st.original = m.ID
	case 6:
		st.original = st.origin
	case 7:
		if err := CheckMessage(resp.Data, false); err != nil {
			s.problemLocked("interaction %s: update: %v", id, err)
			return http.StatusBadRequest, "Invalid Form Body"
		}
		if m := s.msgs[st.origin]; m != nil {
			fill(m, resp.Data)
			m.Edits++
		}
		st.original = st.origin
	case 9:
		if err := CheckModal(resp.Data); err != nil {
			s.problemLocked("interaction %s: modal: %v", id, err)
			return http.StatusBadRequest, "Invalid Form Body"
		}
		md := Modal{Interaction: id, User: st.user.ID, ChannelID: st.in.ChannelID}
		_ = json.Unmarshal(resp.Data, &md)
		if m := s.msgs[st.origin]; m != nil {
			cp := *m
			md.Message = &cp
		}
		s.modals = append(s.modals, md)
	}
	st.acked, st.ackType = true, resp.Type
	select {
	case <-st.settled:
	default:
		close(st.settled)
	}
	s.callbacks = append(s.callbacks, Callback{Interaction: id, Type: resp.Type, Data: slices.Clone(resp.Data), Via: via})
	return http.StatusNoContent, ""
}

// allowed reports whether an interaction of type kind may be answered with
// response type rt (fromMessage: it came from a message component).
func allowed(kind, rt int, fromMessage bool) bool {
	switch kind {
	case InteractionPing:
		return rt == 1
	case InteractionCommand:
		return rt == 4 || rt == 5 || rt == 9
	case InteractionComponent:
		return rt == 4 || rt == 5 || rt == 6 || rt == 7 || rt == 9
	case InteractionModal:
		return rt == 4 || rt == 5 || ((rt == 6 || rt == 7) && fromMessage)
	}
	return false
}

func (s *Server) callback(_ http.ResponseWriter, r *http.Request, raw []byte) (int, any) {
	status, msg := s.respond(r.PathValue("id"), r.PathValue("token"), raw, "rest")
	if status >= 300 {
		code := 10062
		if status == http.StatusBadRequest {
			code = 40060
		}
		return status, apiError{code, msg}
	}
	return http.StatusNoContent, nil
}

// waitAcked finds the interaction of a webhook token and waits (up to the
// interaction deadline) until it has been answered.
func (s *Server) waitAcked(app, token string) (*interaction, bool) {
	s.mu.Lock()
	st := s.inters[s.byToken[token]]
	s.mu.Unlock()
	if st == nil || app != AppID {
		s.problem("webhook call for unknown interaction token %q", token)
		return nil, false
	}
	select {
	case <-st.settled:
	case <-time.After(InteractionDeadline):
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !st.acked {
		s.problemLocked("webhook call for interaction %s before it was answered", st.in.ID)
		return nil, false
	}
	return st, true
}

func (s *Server) followup(_ http.ResponseWriter, r *http.Request, raw []byte) (int, any) {
	st, ok := s.waitAcked(r.PathValue("app"), r.PathValue("token"))
	if !ok {
		return http.StatusNotFound, apiError{10015, "Unknown Webhook"}
	}
	if err := CheckMessage(raw, true); err != nil {
		s.problem("followup to interaction %s: %v", st.in.ID, err)
		return http.StatusBadRequest, apiError{50035, "Invalid Form Body: " + err.Error()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &Message{ID: s.newID(), ChannelID: st.in.ChannelID, Interaction: st.in.ID}
	fill(m, raw)
	if m.Flags&FlagEphemeral != 0 {
		m.Ephemeral, m.User = true, st.user.ID
	}
	s.add(m)
	if r.URL.Query().Get("wait") == "true" {
		return http.StatusOK, messageJSON(m, false)
	}
	return http.StatusNoContent, nil
}

func (s *Server) editWebhookMessage(_ http.ResponseWriter, r *http.Request, raw []byte) (int, any) {
	st, ok := s.waitAcked(r.PathValue("app"), r.PathValue("token"))
	if !ok {
		return http.StatusNotFound, apiError{10015, "Unknown Webhook"}
	}
	if err := CheckMessage(raw, false); err != nil {
		s.problem("edit of interaction %s message: %v", st.in.ID, err)
		return http.StatusBadRequest, apiError{50035, "Invalid Form Body: " + err.Error()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("message")
	if id == "@original" {
		id = st.original
	}
	m := s.msgs[id]
	if m == nil || (m.Interaction != st.in.ID && id != st.origin) {
		return http.StatusNotFound, apiError{10008, "Unknown Message"}
	}
	fill(m, raw)
	m.Edits++
	return http.StatusOK, messageJSON(m, false)
}
