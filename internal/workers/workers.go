// Package workers runs functions on goroutines that are reused. A request
// handler or a chat delivery that encodes JSON grows its goroutine's stack
// to tens of kilobytes; a new goroutine per request pays for growing (copying)
// that stack every time, a reused one once.
package workers

import "time"

// Pool hands functions to idle goroutines, starting a new one when none is
// idle. A goroutine that stays idle for the pool's idle time ends, so an
// idle pool holds none. The zero Pool is not usable: use New.
type Pool struct {
	jobs chan func()
	idle time.Duration
}

// New returns a pool whose goroutines end after idle without work.
func New(idle time.Duration) *Pool {
	return &Pool{jobs: make(chan func()), idle: idle}
}

// Go runs f on an idle goroutine of the pool, or on a new one. It does not
// wait for f.
func (p *Pool) Go(f func()) {
	select {
	case p.jobs <- f:
	default:
		go p.loop(f)
	}
}

// Do runs f on a goroutine of the pool and waits until it returns.
func (p *Pool) Do(f func()) {
	done := make(chan struct{})
	p.Go(func() {
		defer close(done)
		f()
	})
	<-done
}

func (p *Pool) loop(f func()) {
	t := time.NewTimer(p.idle)
	defer t.Stop()
	for {
		f()
		f = nil
		t.Reset(p.idle)
		select {
		case f = <-p.jobs:
		case <-t.C:
			return
		}
	}
}
