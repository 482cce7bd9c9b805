package workers

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPoolRunsEveryFunctionAndReusesIdleGoroutines(t *testing.T) {
	p := New(time.Minute)
	var n atomic.Int64
	p.Do(func() { n.Add(1) })
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		p.Go(func() {
			defer wg.Done()
			n.Add(1)
		})
	}
	wg.Wait()
	if n.Load() != 101 {
		t.Fatalf("ran %d functions, want 101", n.Load())
	}
	// One at a time, one goroutine serves them all.
	started := 0
	for range 20 {
		p.Do(func() {})
	}
	for range 20 {
		select {
		case p.jobs <- func() {}:
		default:
			started++
		}
		time.Sleep(time.Millisecond)
	}
	if started == 20 {
		t.Error("no idle goroutine took a function")
	}
}

func TestIdleGoroutinesEnd(t *testing.T) {
	p := New(10 * time.Millisecond)
	p.Do(func() {})
	time.Sleep(100 * time.Millisecond)
	select {
	case p.jobs <- func() {}:
		t.Fatal("an idle goroutine outlived its idle time")
	default:
	}
}
