package deploy

import (
	"context"
	"sync"
)

// runCache keeps the latest known revision of recently used runs and a lock
// per run, so transitions of one run in one process are applied in turn.
type runCache struct {
	max int

	mu    sync.Mutex // mu protects runs and locks
	runs  map[string]*Run
	locks map[string]*runLock
}

// runLock is a mutex that a waiter can give up on (its context ends).
type runLock struct {
	ch      chan struct{} // holds a token while the lock is taken
	waiters int           // holders and waiters; the entry goes when it drops to 0
}

func newRunCache(max int) *runCache {
	if max <= 0 {
		max = 4096
	}
	return &runCache{max: max, runs: map[string]*Run{}, locks: map[string]*runLock{}}
}

// get returns the cached run (shared: callers must not modify it), or nil.
func (c *runCache) get(id string) *Run {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[id]
}

// put remembers r unless a newer revision is known. Only live runs are
// kept (a finished run changes no more, so clicks on it are refusals, read
// fresh); when full, it forgets an arbitrary run (a miss costs one read).
func (c *runCache) put(r *Run) {
	if r == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.runs[r.ID]; ok {
		switch {
		case old.Rev > r.Rev:
		case !r.Status.Live():
			delete(c.runs, r.ID)
		default:
			c.runs[r.ID] = r
		}
		return
	}
	if !r.Status.Live() {
		return
	}
	if len(c.runs) >= c.max {
		for id := range c.runs {
			delete(c.runs, id)
			break
		}
	}
	c.runs[r.ID] = r
}

// drop forgets a run (its stored state is unknown after a failed write).
func (c *runCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.runs, id)
}

// lock takes the run's lock, or fails when ctx ends first.
func (c *runCache) lock(ctx context.Context, id string) (func(), error) {
	c.mu.Lock()
	l, ok := c.locks[id]
	if !ok {
		l = &runLock{ch: make(chan struct{}, 1)}
		c.locks[id] = l
	}
	l.waiters++
	c.mu.Unlock()
	release := func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if l.waiters--; l.waiters == 0 {
			delete(c.locks, id)
		}
	}
	select {
	case l.ch <- struct{}{}:
		return func() {
			<-l.ch
			release()
		}, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
