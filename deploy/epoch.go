package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"deploybot/internal/clock"
)

// EpochStore is the part of a store that can lose its data while the bot
// runs (a Redis restarted without persistence, a FLUSHALL): it keeps one
// epoch marker, written once, that the bot checks to notice such a loss.
// The embedded store (bbolt) does not implement it: its file lives and dies
// with the process that holds it open.
type EpochStore interface {
	// Epoch returns the store's epoch marker, or "" when there is none.
	Epoch(ctx context.Context) (string, error)
	// InitEpoch records marker as the store's epoch unless one is recorded
	// already (set if absent), and returns the one recorded.
	InitEpoch(ctx context.Context, marker string) (string, error)
}

// ErrStoreLost is the kind of the refusal of a start after the state store
// lost its data (StoreLostError).
var ErrStoreLost = errors.New("the state store lost its data")

// StoreLostError says the state store lost its data: the epoch marker this
// process saw is gone or replaced. At is when this process found out.
type StoreLostError struct{ At time.Time }

func (e *StoreLostError) when() string { return e.At.UTC().Format("2006-01-02 15:04:05 UTC") }

// Error returns the message for people and logs.
func (e *StoreLostError) Error() string {
	return "the state store lost its data at " + e.when() + " (or shortly before)"
}

// Is reports ErrStoreLost.
func (e *StoreLostError) Is(target error) bool { return target == ErrStoreLost }

// NotReadyReason is what /readyz answers (httpserver.Ready).
func (e *StoreLostError) NotReadyReason() string {
	return "state store lost its data at " + e.when() + "; restart the bot to accept the store as it is now"
}

// Refusal is the refusal of a start while the loss stands.
func (e *StoreLostError) Refusal() *Error {
	return userErr(ErrStoreLost, "%s; runs in flight are unknown: check the environments before starting again; "+
		"an operator restarts the bot to accept the store as it is now", e.Error())
}

// DefaultEpochEvery is how often Epoch.Run checks the marker.
const DefaultEpochEvery = 5 * time.Second

// epochCheckTimeout bounds one of Run's checks, as the engine's store
// timeout bounds a person's request.
const epochCheckTimeout = 1500 * time.Millisecond

// EpochConfig is what an Epoch is built from. Store is required.
type EpochConfig struct {
	Store  EpochStore
	Clock  clock.Clock   // default clock.Real
	Logger *slog.Logger  // default slog.Default()
	Every  time.Duration // how often Run checks (default DefaultEpochEvery)
}

// Epoch watches the store's epoch marker. The first check that reaches the
// store records a marker if there is none and remembers the one recorded;
// every later check reads it (one GET) and, when it is gone or different,
// the store lost its data: the loss is logged once and stands until the
// process restarts (Lost, Check). The marker is never written again by this
// process, so a loss cannot be papered over while it runs; the next process
// accepts the store as it then is and records a new marker. A nil *Epoch
// checks nothing.
type Epoch struct {
	store EpochStore
	clock clock.Clock
	log   *slog.Logger
	every time.Duration

	turn chan struct{} // holds a token while a check runs: checks are serialised, and seen is the holder's
	seen string        // the marker this process saw ("" until the store first answered)
	lost atomic.Pointer[StoreLostError]
}

// NewEpoch returns an Epoch; it makes no store call.
func NewEpoch(cfg EpochConfig) *Epoch {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Every <= 0 {
		cfg.Every = DefaultEpochEvery
	}
	return &Epoch{store: cfg.Store, clock: cfg.Clock, log: cfg.Logger.With("component", "epoch"), every: cfg.Every, turn: make(chan struct{}, 1)}
}

// Lost returns the loss found so far, without a store call; nil when none.
func (p *Epoch) Lost() *StoreLostError {
	if p == nil {
		return nil
	}
	return p.lost.Load()
}

// Check checks the marker once: nil while it is the one this process saw
// (recording one first when this process has seen none), the
// *StoreLostError once it was found gone or changed, and the store's error
// when it did not answer (which is no loss).
func (p *Epoch) Check(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if l := p.lost.Load(); l != nil {
		return l
	}
	// Waiting for another check's turn ends with the caller's deadline (a
	// start's answer must not wait for a check stuck on a stalled store).
	select {
	case p.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.turn }()
	if l := p.lost.Load(); l != nil {
		return l
	}
	if p.seen == "" {
		got, err := p.store.InitEpoch(ctx, newEpochMarker(p.clock.Now()))
		if err != nil {
			return err
		}
		p.seen = got
		p.log.Info("state store epoch", "epoch", got)
		return nil
	}
	got, err := p.store.Epoch(ctx)
	if err != nil {
		return err
	}
	if got == p.seen {
		return nil
	}
	l := &StoreLostError{At: p.clock.Now()}
	p.lost.Store(l)
	found := got
	if found == "" {
		found = "none"
	}
	p.log.Error("the state store lost its data: its epoch marker is gone or replaced; runs in flight are unknown and new starts are refused until the bot restarts",
		"epoch_seen", p.seen, "epoch_found", found)
	return l
}

// Run checks the marker at once and then every Every until ctx ends or a
// loss is found.
func (p *Epoch) Run(ctx context.Context) error {
	if p == nil {
		return nil
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, epochCheckTimeout)
		err := p.Check(cctx)
		cancel()
		if errors.Is(err, ErrStoreLost) {
			return nil
		}
		if err != nil && ctx.Err() == nil {
			p.log.Debug("epoch check failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.clock.After(p.every):
		}
	}
}

// newEpochMarker is a random id and the time it was made.
func newEpochMarker(now time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return fmt.Sprintf("%s %s", hex.EncodeToString(b[:]), now.UTC().Format(time.RFC3339))
}
