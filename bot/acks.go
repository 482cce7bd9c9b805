package bot

import (
	"context"
	"fmt"
	"sync"
	"time"

	"deploybot/deploy"
)

// ackEacher is a store that acknowledges several effects in one call and
// tells which it removed (redisstore has it).
type ackEacher interface {
	AckEach(ctx context.Context, items ...deploy.DueItem) ([]bool, error)
}

// ackTimeout bounds one batched acknowledgement.
const ackTimeout = 5 * time.Second

// acks batches the acknowledgements of delivered effects: while one call is
// in flight, the acknowledgements asked for meanwhile wait and go together
// in the next, so many deliveries at once cost few store calls.
type acks struct {
	mu      sync.Mutex // mu protects pending and running
	pending []ackReq
	running bool
}

type ackReq struct {
	item deploy.DueItem
	done chan ackRes
}

type ackRes struct {
	acked bool
	err   error
}

// ackOne acknowledges an effect unless a newer version of its slot
// replaced it; acked tells whether it did.
func (b *Publisher) ackOne(ctx context.Context, it deploy.DueItem) (acked bool, err error) {
	st, ok := b.store.(ackEacher)
	if !ok {
		n, err := b.store.AckIf(ctx, it)
		return n == 1, err
	}
	req := ackReq{item: it, done: make(chan ackRes, 1)}
	b.acks.mu.Lock()
	b.acks.pending = append(b.acks.pending, req)
	lead := !b.acks.running
	b.acks.running = true
	b.acks.mu.Unlock()
	if lead {
		// This caller makes the calls until nobody waits.
		b.flushAcks(context.WithoutCancel(ctx), st)
	}
	select {
	case r := <-req.done:
		return r.acked, r.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (b *Publisher) flushAcks(ctx context.Context, st ackEacher) {
	for {
		b.acks.mu.Lock()
		batch := b.acks.pending
		b.acks.pending = nil
		if len(batch) == 0 {
			b.acks.running = false
			b.acks.mu.Unlock()
			return
		}
		b.acks.mu.Unlock()
		items := make([]deploy.DueItem, len(batch))
		for i, r := range batch {
			items[i] = r.item
		}
		cctx, cancel := context.WithTimeout(ctx, ackTimeout)
		done, err := st.AckEach(cctx, items...)
		cancel()
		if err == nil && len(done) != len(batch) {
			err = fmt.Errorf("ack: %d answers for %d effects", len(done), len(batch))
		}
		for i, r := range batch {
			res := ackRes{err: err}
			if err == nil {
				res.acked = done[i]
			}
			r.done <- res
		}
	}
}
