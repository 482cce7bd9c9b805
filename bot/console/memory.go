package console

import (
	"cmp"
	"slices"
	"strconv"
	"sync"
	"time"

	"deploybot/bot"
)

// maxMessagesPerChannel bounds the messages the console keeps per channel;
// the oldest go first. The store keeps runs; this is only the page's copy of
// the notices and the latest rendering of each summary and card.
const maxMessagesPerChannel = 500

// message is one message the bot posted to the console.
type message struct {
	Ref     string
	Channel string
	ReplyTo string
	Msg     bot.Message
	Posted  time.Time
	Updated time.Time
	// local numbers the message in this process (the page's element id).
	local uint64
}

// memory keeps the posted messages per channel, bounded.
type memory struct {
	limit int

	mu       sync.Mutex // mu protects byRef, channels and next
	byRef    map[string]*message
	channels map[string][]*message // in posting order
	next     uint64
}

func newMemory(limit int) *memory {
	return &memory{limit: limit, byRef: map[string]*message{}, channels: map[string][]*message{}}
}

// put stores m under ref: it replaces the message ref, or adds it (a new
// post, or an update of a message posted before a restart). It returns a copy.
func (mm *memory) put(ref, channel, replyTo string, m bot.Message, now time.Time) message {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if old, ok := mm.byRef[ref]; ok {
		old.Msg, old.Updated = m, now
		return *old
	}
	mm.next++
	msg := &message{Ref: ref, Channel: channel, ReplyTo: replyTo, Msg: m, Posted: now, Updated: now, local: mm.next}
	mm.byRef[ref] = msg
	list := append(mm.channels[channel], msg)
	if len(list) > mm.limit {
		for _, gone := range list[:len(list)-mm.limit] {
			delete(mm.byRef, gone.Ref)
		}
		list = slices.Clone(list[len(list)-mm.limit:])
	}
	mm.channels[channel] = list
	return *msg
}

// get returns the message ref.
func (mm *memory) get(ref string) (message, bool) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	m, ok := mm.byRef[ref]
	if !ok {
		return message{}, false
	}
	return *m, true
}

// notices returns up to n notices of every channel, newest first.
func (mm *memory) notices(n int) []message {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	var out []message
	for _, list := range mm.channels {
		for _, m := range list {
			if m.Msg.Notice != nil {
				out = append(out, *m)
			}
		}
	}
	slices.SortFunc(out, func(a, b message) int { return cmp.Compare(b.local, a.local) })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// channel returns the messages of a channel in posting order.
func (mm *memory) channel(name string) []message {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	out := make([]message, 0, len(mm.channels[name]))
	for _, m := range mm.channels[name] {
		out = append(out, *m)
	}
	return out
}

// domID is the page element id of a message.
func (m message) domID() string { return "msg-" + strconv.FormatUint(m.local, 10) }
