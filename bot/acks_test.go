package bot

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"deploybot/deploy"
)

// countingAcks is a store's AckEach that holds its first call until
// released and records every call's items.
type countingAcks struct {
	Store
	mu      sync.Mutex
	calls   [][]string
	first   chan struct{}
	release chan struct{}
}

func (c *countingAcks) AckEach(_ context.Context, items ...deploy.DueItem) ([]bool, error) {
	c.mu.Lock()
	n := len(c.calls)
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	c.calls = append(c.calls, ids)
	c.mu.Unlock()
	if n == 0 {
		close(c.first)
		<-c.release
	}
	done := make([]bool, len(items))
	for i, it := range items {
		done[i] = it.Payload != "replaced"
	}
	return done, nil
}

func TestAcknowledgementsAskedForDuringACallGoTogetherInTheNext(t *testing.T) {
	st := &countingAcks{first: make(chan struct{}), release: make(chan struct{})}
	b := &Publisher{store: st, log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		id    string
		acked bool
		err   error
	}
	results := make(chan result, 11)
	ack := func(id, payload string) {
		acked, err := b.ackOne(ctx, deploy.DueItem{ID: id, Payload: payload})
		results <- result{id, acked, err}
	}
	go ack("first", "v1")
	<-st.first
	for i := range 10 {
		payload := "v1"
		if i == 3 {
			payload = "replaced"
		}
		go ack(fmt.Sprintf("e%d", i), payload)
	}
	// Wait until the ten wait behind the call in flight, then let it answer.
	for deadline := time.Now().Add(5 * time.Second); ; {
		b.acks.mu.Lock()
		n := len(b.acks.pending)
		b.acks.mu.Unlock()
		if n == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledgements wait, want 10", n)
		}
		time.Sleep(time.Millisecond)
	}
	close(st.release)
	for range 11 {
		r := <-results
		if r.err != nil || r.acked != (r.id != "e3") {
			t.Errorf("%s: acked %v, err %v", r.id, r.acked, r.err)
		}
	}
	if len(st.calls) != 2 || len(st.calls[1]) != 10 {
		t.Errorf("calls = %v, want the first alone and the ten together", st.calls)
	}
}
