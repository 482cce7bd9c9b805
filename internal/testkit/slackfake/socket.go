package slackfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Ack is a Socket Mode acknowledgement the bot sent.
type Ack struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	// At is when the fake received it.
	At time.Time `json:"-"`
}

// socketState holds the Socket Mode connections and what came back on them.
type socketState struct {
	mu       sync.Mutex // mu protects everything below
	conns    []*socketConn
	acks     []Ack
	sent     map[string]time.Time // envelope id → when it was sent
	nextEnv  int
	connects int
}

type socketConn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex // wmu serialises data frames (gorilla allows one writer)
	done chan struct{}
}

func newSocketState() *socketState { return &socketState{sent: map[string]time.Time{}} }

// pingEvery is how often the fake pings each connection (slack-go treats a
// connection without pings for 30 s as dead).
const pingEvery = 5 * time.Second

// upgrader accepts any Origin: slack-go sends https://api.slack.com.
var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &socketConn{ws: ws, done: make(chan struct{})}
	st := s.socket
	st.mu.Lock()
	st.conns = append(st.conns, c)
	st.connects++
	n := len(st.conns)
	st.mu.Unlock()
	_ = c.write(map[string]any{"type": "hello", "num_connections": n, "connection_info": map[string]any{"app_id": "A0FAKE"},
		"debug_info": map[string]any{"host": "fake", "approximate_connection_time": 3600}})
	go func() {
		t := time.NewTicker(pingEvery)
		defer t.Stop()
		for {
			_ = ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
			select {
			case <-c.done:
				return
			case <-t.C:
			}
		}
	}()
	defer func() {
		close(c.done)
		_ = ws.Close()
		st.mu.Lock()
		st.conns = slices.DeleteFunc(st.conns, func(x *socketConn) bool { return x == c })
		st.mu.Unlock()
	}()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var a Ack
		if json.Unmarshal(data, &a) != nil || a.EnvelopeID == "" {
			continue
		}
		a.At = time.Now()
		st.mu.Lock()
		st.acks = append(st.acks, a)
		st.mu.Unlock()
	}
}

func (c *socketConn) write(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(v)
}

func (st *socketState) closeAll() {
	st.mu.Lock()
	conns := slices.Clone(st.conns)
	st.mu.Unlock()
	for _, c := range conns {
		_ = c.ws.Close()
	}
}

// SocketConnections returns how many Socket Mode connections are open.
func (s *Server) SocketConnections() int {
	s.socket.mu.Lock()
	defer s.socket.mu.Unlock()
	return len(s.socket.conns)
}

// SocketConnects returns how many Socket Mode connections were ever opened.
func (s *Server) SocketConnects() int {
	s.socket.mu.Lock()
	defer s.socket.mu.Unlock()
	return s.socket.connects
}

// ErrNoSocket is returned when an envelope is sent with no connection open.
var ErrNoSocket = errors.New("slackfake: no Socket Mode connection")

// SendEnvelope sends an envelope of the given type ("slash_commands",
// "interactive", "events_api") with payload (marshalled to JSON unless it is
// already json.RawMessage or []byte) on the newest connection, and returns
// its envelope id.
func (s *Server) SendEnvelope(typ string, payload any) (string, error) {
	var raw json.RawMessage
	switch p := payload.(type) {
	case json.RawMessage:
		raw = p
	case []byte:
		raw = p
	default:
		b, err := json.Marshal(p)
		if err != nil {
			return "", fmt.Errorf("slackfake: envelope payload: %w", err)
		}
		raw = b
	}
	st := s.socket
	st.mu.Lock()
	if len(st.conns) == 0 {
		st.mu.Unlock()
		return "", ErrNoSocket
	}
	c := st.conns[len(st.conns)-1]
	st.nextEnv++
	id := fmt.Sprintf("env-%04d", st.nextEnv)
	st.sent[id] = time.Now()
	st.mu.Unlock()
	err := c.write(map[string]any{"envelope_id": id, "type": typ, "payload": raw, "accepts_response_payload": typ != "events_api"})
	if err != nil {
		return "", fmt.Errorf("slackfake: send envelope: %w", err)
	}
	return id, nil
}

// SendCommand sends a slash command over Socket Mode.
func (s *Server) SendCommand(c Command) (string, error) {
	return s.SendEnvelope("slash_commands", c.Fields())
}

// SendInteraction sends an interaction payload (see BlockAction and
// ViewSubmission) over Socket Mode.
func (s *Server) SendInteraction(payload []byte) (string, error) {
	return s.SendEnvelope("interactive", json.RawMessage(payload))
}

// AckFor returns the acknowledgement of an envelope, and how long after
// sending it arrived.
func (s *Server) AckFor(envelopeID string) (Ack, time.Duration, bool) {
	st := s.socket
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, a := range st.acks {
		if a.EnvelopeID == envelopeID {
			return a, a.At.Sub(st.sent[envelopeID]), true
		}
	}
	return Ack{}, 0, false
}

// Acks returns every acknowledgement received, in order.
func (s *Server) Acks() []Ack {
	s.socket.mu.Lock()
	defer s.socket.mu.Unlock()
	return slices.Clone(s.socket.acks)
}
