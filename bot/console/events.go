package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"deploybot/deploy"
	"deploybot/internal/httpserver"
)

// hubSize is how many recent updates the hub keeps for pages that reconnect
// or that were rendered a moment before their stream opened.
const hubSize = 1024

// heartbeat is how often an idle stream sends a comment, so proxies keep it open.
const heartbeat = 25 * time.Second

// update is one change to the page: the element with ID is replaced by HTML,
// or, when the page has no such element, HTML is inserted into the element
// Parent (first when Prepend) if the page shows it.
type update struct {
	Op      string `json:"op"`
	ID      string `json:"id"`
	Parent  string `json:"parent,omitempty"`
	Prepend bool   `json:"prepend,omitempty"`
	// Group is the run list (live-runs, recent-runs) that holds Parent, the
	// list of Service's runs: a page without that service's list yet makes it.
	Group   string `json:"group,omitempty"`
	Service string `json:"service,omitempty"`
	// Run is the run the element belongs to; Kind is "run", "summary", "card" or "notice".
	Run  string `json:"run,omitempty"`
	Kind string `json:"kind"`
	// Live is set on run-list entries of active runs.
	Live bool   `json:"live,omitempty"`
	HTML string `json:"html"`
	// Now is the server's time at publishing: the page counts relative times from it.
	Now string `json:"now,omitempty"`
}

// event is an update as numbered by the hub.
type event struct {
	seq  uint64
	data []byte
	// views, when set, are the update rendered for each role a person may
	// have on its run; pick tells a stream's person's role (see viewer.go).
	views map[role][]byte
	pick  func(who deploy.Actor, named bool) role
}

// dataFor is the event as the person who is shown it sees it.
func (e event) dataFor(who deploy.Actor, named bool) []byte {
	if e.pick != nil {
		if d, ok := e.views[e.pick(who, named)]; ok {
			return d
		}
	}
	return e.data
}

// pageGrace is how long after a page was rendered (or its stream ended) the
// hub still counts it as open: the page opens its stream right after it is
// rendered, and a stream that drops reconnects within seconds.
const pageGrace = 30 * time.Second

// hub numbers updates, keeps the last ones in a ring and wakes the streams.
// It also knows whether any page is open: updates are rendered only then
// (see Console.interested).
type hub struct {
	epoch string // epoch tells this process's numbering from an earlier one's
	size  int
	now   func() time.Time

	mu      sync.Mutex // mu protects everything below
	seq     uint64
	ring    []event // the last size events, oldest first
	wake    chan struct{}
	closed  bool
	streams int       // open streams
	seen    time.Time // when a page was last rendered or a stream last ended
	skipped uint64    // the last seq numbered for an update nobody was shown
}

// newHub returns a hub telling the time with time.Now; Console.New gives it
// the console's clock.
func newHub(epoch string, size int) *hub {
	return &hub{epoch: epoch, size: size, now: time.Now, wake: make(chan struct{})}
}

// interested reports whether a page is open or may be about to open its
// stream: updates must be rendered and published.
func (h *hub) interested() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.interestedLocked()
}

func (h *hub) interestedLocked() bool {
	return h.streams > 0 || (!h.seen.IsZero() && h.now().Sub(h.seen) < pageGrace)
}

// skip numbers an update that is not rendered because no page is open. A
// stream that resumes from before it gets a reset (the page reloads), so a
// page never misses an update silently.
func (h *hub) skip() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	h.skipped = h.seq
}

// open and done count the open streams.
func (h *hub) open() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.streams++
}

func (h *hub) done() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.streams--
	h.seen = h.now()
}

// publish numbers u and wakes every stream. It never blocks on a stream.
func (h *hub) publish(u update) { h.publishViews(u, nil, nil) }

// publishViews publishes u, or to a person whose role pick tells, that
// role's rendering in views. Identical renderings are kept once.
func (h *hub) publishViews(u update, views map[role]update, pick func(deploy.Actor, bool) role) {
	u.Now = h.now().UTC().Format(time.RFC3339Nano)
	data, err := json.Marshal(u)
	if err != nil {
		return // an update holds only strings and bools
	}
	var vs map[role][]byte
	if len(views) > 0 {
		vs = make(map[role][]byte, len(views))
		for ro, v := range views {
			if v.HTML == u.HTML {
				continue // the default rendering serves this role
			}
			v.Now = u.Now
			d, err := json.Marshal(v)
			if err != nil {
				return
			}
			for _, seen := range vs {
				if string(seen) == string(d) {
					d = seen
					break
				}
			}
			vs[ro] = d
		}
		if len(vs) == 0 {
			pick = nil
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.seq++
	h.ring = append(h.ring, event{seq: h.seq, data: data, views: vs, pick: pick})
	if len(h.ring) > h.size {
		h.ring = append(h.ring[:0:0], h.ring[len(h.ring)-h.size:]...)
	}
	close(h.wake)
	h.wake = make(chan struct{})
}

// cursor names the latest update, for a page rendered now to resume from.
// A page rendered now counts as open from here on (see interested).
func (h *hub) cursor() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen = h.now()
	return h.epoch + "-" + strconv.FormatUint(h.seq, 10)
}

// parse reads a cursor; ok is false for a cursor of another process (or garbage).
func (h *hub) parse(cur string) (seq uint64, ok bool) {
	epoch, n, found := strings.Cut(cur, "-")
	if !found || epoch != h.epoch {
		return 0, false
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	return seq, err == nil
}

// since returns the events after seq, a channel closed by the next publish,
// and whether seq fell out of the ring (the page must start over).
func (h *hub) since(seq uint64) (evs []event, wake <-chan struct{}, gap, closed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if seq > h.seq || seq < h.skipped {
		return nil, h.wake, true, h.closed
	}
	if len(h.ring) > 0 && seq+1 < h.ring[0].seq {
		return nil, h.wake, true, h.closed
	}
	for _, e := range h.ring {
		if e.seq > seq {
			evs = append(evs, e)
		}
	}
	return evs, h.wake, false, h.closed
}

// close ends every stream.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.wake)
	}
}

// handleEvents streams updates as server-sent events from the cursor the
// page was rendered at (or the browser's Last-Event-ID after a reconnect).
// An unknown cursor gets a "reset" event: the page reloads.
func (c *Console) handleEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// The server's WriteTimeout would cut the stream; this one lives until the page goes.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		c.log.Debug("cannot clear write deadline", "err", err)
	}
	cur := r.Header.Get("Last-Event-ID")
	if cur == "" {
		cur = r.URL.Query().Get("since")
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	seq, ok := c.hub.parse(cur)
	if !ok {
		fmt.Fprint(w, "event: reset\ndata: {}\n\n")
		_ = rc.Flush()
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}
	who, named := actor(r)
	named = named && !c.readOnly
	c.hub.open()
	defer c.hub.done()
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	// The stream also ends when the server begins its graceful shutdown, so
	// Shutdown never waits for an open page (whether or not Close was
	// registered with RegisterOnShutdown).
	stopping := httpserver.ShuttingDown(r.Context())
	for {
		evs, wake, gap, closed := c.hub.since(seq)
		if gap {
			fmt.Fprint(w, "event: reset\ndata: {}\n\n")
			_ = rc.Flush()
			return
		}
		for _, e := range evs {
			fmt.Fprintf(w, "id: %s-%d\nevent: update\ndata: %s\n\n", c.hub.epoch, e.seq, e.dataFor(who, named))
			seq = e.seq
		}
		if len(evs) > 0 {
			if err := rc.Flush(); err != nil {
				return
			}
		}
		if closed {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-stopping:
			return
		case <-wake:
		case <-beat.C:
			fmt.Fprint(w, ": ping\n\n")
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}
