package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"deploybot/internal/clock"
	"deploybot/internal/workers"
)

// RateLimitError is returned by a platform call that was rate limited; the
// outbox waits After and tries again.
type RateLimitError struct {
	After time.Duration
	Err   error
	// Shared: the limit holds for every call to the platform, not only for
	// this queue's channel (Slack limits each method per workspace), so the
	// outbox holds every queue of the platform for After: the others would
	// only be refused too.
	Shared bool
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited, retry after %s: %v", e.After, e.Err)
}

// Unwrap returns the platform's error.
func (e *RateLimitError) Unwrap() error { return e.Err }

// PermanentError marks a platform error that retrying cannot fix (a deleted
// channel, a missing permission); the outbox logs it and moves on.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the platform's error.
func (e *PermanentError) Unwrap() error { return e.Err }

// OutboxConfig configures an Outbox.
type OutboxConfig struct {
	Clock  clock.Clock
	Logger *slog.Logger
	// Interval is the least time between two calls on one queue (Slack allows
	// about one post per second per channel). Zero means no pacing.
	Interval time.Duration
	// MaxBackoff caps the wait between retries of a failing call (default 1 minute).
	MaxBackoff time.Duration
	// MaxAttempts bounds retries of calls that fail with errors other than rate
	// limits (default 12); rate-limited calls are retried until they pass.
	MaxAttempts int
	// MaxCalls bounds the calls in progress across all queues (default
	// DefaultMaxCalls). Queues waiting for a turn keep coalescing: under a
	// burst of clicks, the edits of one message queued meanwhile become one
	// call, and the calls leave the cores to the requests being answered.
	MaxCalls int
}

// DefaultMaxCalls is the default bound on an outbox's calls in progress:
// far above what the platforms' rate limits let through (Slack's chat.update
// allows about one call a second per workspace), so it only bounds the work
// a burst of clicks queues.
const DefaultMaxCalls = 4

// DefaultEditInterval is the least time between two edits of one message in
// production: a message that a burst of clicks changes is edited at once,
// then once a second with its latest state (Slack's chat.update allows about
// fifty calls a minute per workspace; editing per click would be rate
// limited for longer than this waits).
const DefaultEditInterval = time.Second

// Outbox sends outgoing chat calls through one FIFO queue per channel. It
// honours rate limits (waits Retry-After and tries again), retries transient
// failures with backoff, and coalesces queued calls with the same key into
// the latest one, so a burst of edits of one message becomes one call that
// renders the latest state. Nothing is dropped except on a PermanentError.
type Outbox struct {
	cfg OutboxConfig
	log *slog.Logger

	slots chan struct{} // a token per call in progress
	calls *workers.Pool // runs the calls on reused goroutines

	mu     sync.Mutex // mu protects queues, last, lastKey, later, paused and busy
	queues map[string]*queue
	// last is when each queue's latest call started, kept past the queue
	// itself so pacing holds when a queue empties between two calls.
	last map[string]time.Time
	// lastKey is when the latest paced call with each key started
	// (EnqueueEvery); later holds the calls waiting for their key's
	// interval to pass.
	lastKey map[string]time.Time
	later   map[string]*later
	// paused is when each platform's shared rate limit ends (RateLimitError.Shared).
	paused map[string]time.Time
	busy   int
	idle   *sync.Cond
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type queue struct {
	ops []*op
}

type op struct {
	key   string
	every time.Duration // the least time between two calls with key (EnqueueEvery)
	do    func(ctx context.Context) error
}

// later is a call waiting for its key's interval before joining queue q.
type later struct {
	q  string
	op *op
}

// NewOutbox returns an outbox; Close stops it.
func NewOutbox(cfg OutboxConfig) *Outbox {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Minute
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 12
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = DefaultMaxCalls
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &Outbox{cfg: cfg, log: cfg.Logger.With("component", "outbox"), queues: map[string]*queue{}, last: map[string]time.Time{},
		lastKey: map[string]time.Time{}, later: map[string]*later{}, paused: map[string]time.Time{}, ctx: ctx, cancel: cancel,
		slots: make(chan struct{}, cfg.MaxCalls), calls: workers.New(time.Minute)}
	o.idle = sync.NewCond(&o.mu)
	return o
}

// Enqueue adds a call to the queue named q. When a call with the same non-empty
// key is still waiting in that queue, it is replaced by this one in place.
// A queue's name up to its first ':' is its platform (the publisher names
// queues PLATFORM:CHANNEL): a shared rate limit holds every queue of it.
func (o *Outbox) Enqueue(q, key string, do func(ctx context.Context) error) {
	o.EnqueueEvery(q, key, 0, do)
}

// EnqueueEvery is Enqueue for a call that starts at least every after the
// previous call with its key (one message's edits): enqueued sooner, it
// waits out the rest of the interval outside its queue, where newer calls
// with its key replace it. A message that a burst of clicks changes is then
// edited at once and once per interval after, with its latest state, and
// the other messages of its queue do not wait for it.
func (o *Outbox) EnqueueEvery(q, key string, every time.Duration, do func(ctx context.Context) error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ctx.Err() != nil {
		return
	}
	p := &op{key: key, every: every, do: do}
	if key != "" && every > 0 {
		if l, ok := o.later[key]; ok {
			l.op = p
			return
		}
		if wait := o.lastKey[key].Add(every).Sub(o.cfg.Clock.Now()); wait > 0 && !o.queued(q, p) {
			o.later[key] = &later{q: q, op: p}
			o.busy++
			o.wg.Add(1)
			go o.wait(key, wait)
			return
		}
	}
	o.enqueue(q, p)
}

// queued replaces the call with p's key waiting in queue q by p, if there
// is one. o.mu is held.
func (o *Outbox) queued(q string, p *op) bool {
	if qu := o.queues[q]; qu != nil {
		for i, w := range qu.ops {
			if w.key == p.key {
				qu.ops[i] = p
				return true
			}
		}
	}
	return false
}

// wait moves the call waiting for key's interval to its queue after d.
func (o *Outbox) wait(key string, d time.Duration) {
	defer o.wg.Done()
	o.sleep(d)
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.later[key]
	delete(o.later, key)
	if o.ctx.Err() == nil {
		o.enqueue(l.q, l.op)
	}
	o.busy--
	o.idle.Broadcast()
}

// enqueue adds p to queue q, replacing a waiting call with its key, and
// starts the queue's drain when it has none. o.mu is held.
func (o *Outbox) enqueue(q string, p *op) {
	qu, running := o.queues[q]
	if !running {
		qu = &queue{}
		o.queues[q] = qu
	}
	if p.key != "" && o.queued(q, p) {
		return
	}
	qu.ops = append(qu.ops, p)
	if !running {
		o.busy++
		o.wg.Add(1)
		go o.drain(q, qu)
	}
}

func (o *Outbox) drain(name string, qu *queue) {
	defer o.wg.Done()
	for {
		o.pace(name)
		o.waitPaused(name)
		// The op is taken only once a call slot is free: until then it
		// stays in the queue, where a newer call with its key replaces it.
		held := o.acquire()
		o.mu.Lock()
		if !held || len(qu.ops) == 0 || o.ctx.Err() != nil {
			delete(o.queues, name)
			o.busy--
			o.idle.Broadcast()
			o.mu.Unlock()
			if held {
				o.release()
			}
			return
		}
		p := qu.ops[0]
		qu.ops = qu.ops[1:]
		if o.cfg.Interval > 0 {
			o.last[name] = o.cfg.Clock.Now()
		}
		if p.key != "" && p.every > 0 {
			o.startKey(p.key, p.every)
		}
		o.mu.Unlock()
		o.run(name, p)
	}
}

// pace waits, when the queue has a call waiting, until its previous call is
// Interval behind, also when the queue emptied in between (its next call
// then started a new drain).
func (o *Outbox) pace(name string) {
	if o.cfg.Interval <= 0 {
		return
	}
	o.mu.Lock()
	if qu := o.queues[name]; qu == nil || len(qu.ops) == 0 {
		o.mu.Unlock()
		return
	}
	now := o.cfg.Clock.Now()
	wait := o.last[name].Add(o.cfg.Interval).Sub(now)
	forgetOld(o.last, now, o.cfg.Interval)
	o.mu.Unlock()
	if wait > 0 {
		o.sleep(wait)
	}
}

// platformOf returns the platform part of a queue's name.
func platformOf(q string) string {
	p, _, _ := strings.Cut(q, ":")
	return p
}

// waitPaused waits while the queue's platform is under a shared rate limit.
func (o *Outbox) waitPaused(name string) {
	p := platformOf(name)
	for o.ctx.Err() == nil {
		o.mu.Lock()
		wait := o.paused[p].Sub(o.cfg.Clock.Now())
		if wait <= 0 {
			delete(o.paused, p)
		}
		o.mu.Unlock()
		if wait <= 0 {
			return
		}
		o.sleep(wait)
	}
}

// pause holds every queue of q's platform for d (a shared rate limit).
func (o *Outbox) pause(q string, d time.Duration) {
	p := platformOf(q)
	until := o.cfg.Clock.Now().Add(d)
	o.mu.Lock()
	if until.After(o.paused[p]) {
		o.paused[p] = until
	}
	o.mu.Unlock()
}

// startKey records that a call with key starts now, forgetting, when many
// are kept, the keys whose interval has passed. o.mu is held.
func (o *Outbox) startKey(key string, every time.Duration) {
	now := o.cfg.Clock.Now()
	forgetOld(o.lastKey, now, every)
	o.lastKey[key] = now
}

// maxPaced is how many queues' (or keys') last calls are kept before those
// older than their interval are forgotten.
const maxPaced = 1024

// forgetOld forgets, when last holds more than maxPaced, the calls that
// started an interval or more before now.
func forgetOld(last map[string]time.Time, now time.Time, interval time.Duration) {
	if len(last) <= maxPaced {
		return
	}
	for k, t := range last {
		if now.Sub(t) >= interval {
			delete(last, k)
		}
	}
}

// acquire takes a call slot; false when the outbox closes first.
func (o *Outbox) acquire() bool {
	select {
	case o.slots <- struct{}{}:
		return true
	case <-o.ctx.Done():
		return false
	}
}

func (o *Outbox) release() { <-o.slots }

func (o *Outbox) sleep(d time.Duration) {
	select {
	case <-o.ctx.Done():
	case <-o.cfg.Clock.After(d):
	}
}

// run calls p until it passes, is rate limited no more, or fails for good.
// It is called holding a call slot, gives it up while it waits between
// tries, and gives it back when it returns.
func (o *Outbox) run(q string, p *op) {
	held := true
	defer func() {
		if held {
			o.release()
		}
	}()
	wait := func(d time.Duration) bool {
		o.release()
		held = false
		o.sleep(d)
		held = o.acquire()
		return held
	}
	backoff := time.Second
	for attempt := 1; o.ctx.Err() == nil; attempt++ {
		var err error
		o.calls.Do(func() { err = p.do(o.ctx) })
		if err == nil {
			return
		}
		var rl *RateLimitError
		var pe *PermanentError
		switch {
		case errors.As(err, &rl):
			d := rl.After
			if d <= 0 {
				d = time.Second
			}
			o.log.Warn("rate limited; waiting", "queue", q, "key", p.key, "retry_after", d, "shared", rl.Shared)
			if rl.Shared {
				o.pause(q, d)
			}
			if !wait(d) {
				return
			}
			continue
		case errors.As(err, &pe):
			o.log.Error("chat call failed for good", "queue", q, "key", p.key, "err", err)
			return
		case attempt >= o.cfg.MaxAttempts:
			o.log.Error("chat call failed; giving up", "queue", q, "key", p.key, "attempts", attempt, "err", err)
			return
		}
		o.log.Warn("chat call failed; retrying", "queue", q, "key", p.key, "attempt", attempt, "backoff", backoff, "err", err)
		if !wait(backoff) {
			return
		}
		backoff = min(backoff*2, o.cfg.MaxBackoff)
	}
}

// Flush waits until every queue is empty or ctx ends.
func (o *Outbox) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		o.mu.Lock()
		for o.busy > 0 && ctx.Err() == nil && o.ctx.Err() == nil {
			o.idle.Wait()
		}
		o.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		o.mu.Lock()
		o.idle.Broadcast()
		o.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// Close stops the outbox after the calls in progress; waiting calls are
// abandoned (the next render from the stored run heals them).
func (o *Outbox) Close() {
	o.mu.Lock()
	o.cancel()
	o.idle.Broadcast()
	o.mu.Unlock()
	o.wg.Wait()
}
