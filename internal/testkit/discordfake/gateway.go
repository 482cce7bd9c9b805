package discordfake

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// gateway is the fake Gateway: websocket sessions that said Hello, took an
// Identify and got READY; dispatches go to the latest of them.
type gateway struct {
	mu         sync.Mutex // mu protects everything below
	conns      []*gwConn
	identifies []json.RawMessage
	ready      chan struct{} // closed and replaced whenever a session becomes ready
	closed     bool
}

type gwConn struct {
	ws    *websocket.Conn
	wmu   sync.Mutex // wmu serialises writes
	seq   int64
	ready bool
}

func newGateway() *gateway { return &gateway{ready: make(chan struct{})} }

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// gatewayPayload is a Gateway message.
type gatewayPayload struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s,omitempty"`
	T  string          `json:"t,omitempty"`
}

func (c *gwConn) write(op int, t string, d any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	p := gatewayPayload{Op: op, D: raw, T: t}
	if op == 0 {
		c.seq++
		seq := c.seq
		p.S = &seq
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(p)
}

func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.problem("gateway upgrade: %v", err)
		return
	}
	c := &gwConn{ws: ws}
	g := s.gw
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		_ = ws.Close()
		return
	}
	g.conns = append(g.conns, c)
	g.mu.Unlock()
	defer g.drop(c)
	if err := c.write(10, "", map[string]any{"heartbeat_interval": 41250}); err != nil {
		return
	}
	for {
		var p gatewayPayload
		if err := ws.ReadJSON(&p); err != nil {
			return
		}
		switch p.Op {
		case 1: // heartbeat
			_ = c.write(11, "", nil)
		case 2: // identify
			var id struct {
				Token string `json:"token"`
			}
			_ = json.Unmarshal(p.D, &id)
			s.mu.Lock()
			token := s.token
			s.mu.Unlock()
			if strings.TrimPrefix(id.Token, "Bot ") != token {
				c.wmu.Lock()
				_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4004, "Authentication failed."))
				c.wmu.Unlock()
				return
			}
			_ = c.write(0, "READY", map[string]any{
				"v": 10, "session_id": "fake-session", "resume_gateway_url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/gateway",
				"user": map[string]any{"id": AppID, "username": "deploybot", "bot": true}, "guilds": []any{},
				"application": map[string]any{"id": AppID, "flags": 0},
			})
			g.mu.Lock()
			g.identifies = append(g.identifies, p.D)
			c.ready = true
			close(g.ready)
			g.ready = make(chan struct{})
			g.mu.Unlock()
		}
	}
}

func (g *gateway) drop(c *gwConn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, x := range g.conns {
		if x == c {
			g.conns = append(g.conns[:i], g.conns[i+1:]...)
			break
		}
	}
	_ = c.ws.Close()
}

func (g *gateway) closeAll() {
	g.mu.Lock()
	g.closed = true
	conns := append([]*gwConn(nil), g.conns...)
	g.mu.Unlock()
	for _, c := range conns {
		_ = c.ws.Close()
	}
}

// current returns the latest ready session, or nil.
func (g *gateway) current() *gwConn {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := len(g.conns) - 1; i >= 0; i-- {
		if g.conns[i].ready {
			return g.conns[i]
		}
	}
	return nil
}

func (g *gateway) dispatch(t string, d json.RawMessage) error {
	c := g.current()
	if c == nil {
		return errors.New("discordfake: no Gateway session is ready")
	}
	return c.write(0, t, d)
}

// WaitGateway waits until a Gateway session has identified and got READY,
// or the timeout passes.
func (s *Server) WaitGateway(timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		s.gw.mu.Lock()
		ready := false
		for _, c := range s.gw.conns {
			ready = ready || c.ready
		}
		wake := s.gw.ready
		s.gw.mu.Unlock()
		if ready {
			return nil
		}
		select {
		case <-wake:
		case <-deadline:
			return errors.New("discordfake: no Gateway session became ready in time")
		}
	}
}

// Identifies returns the Identify payloads the Gateway received.
func (s *Server) Identifies() []json.RawMessage {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	return append([]json.RawMessage(nil), s.gw.identifies...)
}

// GatewaySessions returns how many Gateway sessions are connected.
func (s *Server) GatewaySessions() int {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	return len(s.gw.conns)
}
