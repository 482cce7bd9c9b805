package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The organisation audit chain: decisions that are not run transitions.
//
// Freezes and their lifting (/deploy lock, unlock) and maintenance window
// bookings and cancellations (/deploy schedule, unschedule) are recorded in
// one hash chain per store, the org chain. Its entries have the shape and
// the hashing of a run's entries (AuditContent, AuditHash); their RunID is
// OrgAuditID, their Rev their 1-based position in the chain. The store keeps
// the chain's head (the last Hash) beside the entries and appends an entry
// only when the head is still the entry's Prev (AppendOrg, a compare-and-set),
// together with the freeze or window change the entry records, in one atomic
// step: an audited change is never written without its entry, nor an entry
// without its change. AppendOrgAudit reads the head, seals the entry onto
// it and retries a bounded number of times when another writer appended first.

// OrgAuditID is the RunID of every entry of the org chain. Run ids never
// take this form (they are "r" and five characters).
const OrgAuditID = "org"

// The actions of the org chain.
const (
	// OrgFreeze: an environment (or a service in it) was frozen; Reason
	// is why, After names the scope as JSON ({"env":…,"service":…}).
	OrgFreeze = "freeze"
	// OrgUnfreeze: a freeze was lifted; After names its scope as JSON.
	OrgUnfreeze = "unfreeze"
	// OrgWindowBook: a maintenance window was booked; After is the Window
	// as JSON.
	OrgWindowBook = "window-book"
	// OrgWindowCancel: a booked window was cancelled; Before is the Window
	// as JSON.
	OrgWindowCancel = "window-cancel"
)

// OrgHead is the head of the org chain: the Hash of its last entry ("" when
// it has none) and the number of entries in it.
type OrgHead struct {
	Hash string
	Len  int64
}

// OrgLog is the org chain as read in one consistent step: its entries,
// oldest first, and the head the store keeps for it.
type OrgLog struct {
	Head    string
	Entries []AuditEntry
}

// FreezeScope names a freeze: an environment, and a service ("" = the
// freeze of every service there).
type FreezeScope struct {
	Env     string `json:"env"`
	Service string `json:"service,omitempty"`
}

// OrgChange is one append to the org chain together with the change it
// records (at most one of the effect fields). A store writes all of it or
// nothing.
type OrgChange struct {
	// Entry is sealed (SealOrgAudit) onto the head the caller read: the
	// store fails with ErrConflict when its head is no longer Entry.Prev.
	Entry AuditEntry
	// SetFreeze stores a freeze (replacing one of the same scope).
	SetFreeze *Freeze
	// DeleteFreeze lifts a freeze; ErrNotFound (and nothing written) when
	// there is none of that scope.
	DeleteFreeze *FreezeScope
	// PutWindow stores a window (replacing one with the same ID).
	PutWindow *Window
	// DeleteWindow removes the window with this ID; ErrNotFound (and
	// nothing written) when there is none.
	DeleteWindow string
}

// OrgAuditStore keeps the org chain. Both stores implement it.
type OrgAuditStore interface {
	// OrgHead returns the chain's head and length.
	OrgHead(ctx context.Context) (OrgHead, error)
	// AppendOrg appends c.Entry and applies c's effect atomically when the
	// stored head is c.Entry.Prev; ErrConflict (nothing written) when it is
	// not. An entry whose Hash is already the head (a replay of an append
	// that was applied) answers nil and writes nothing.
	AppendOrg(ctx context.Context, c OrgChange) error
	// OrgAudit returns the chain's entries and head, read together.
	OrgAudit(ctx context.Context) (OrgLog, error)
}

// OrgAppender is the part of OrgAuditStore that writes the chain.
type OrgAppender interface {
	OrgHead(ctx context.Context) (OrgHead, error)
	AppendOrg(ctx context.Context, c OrgChange) error
}

// CheckOrgChange rejects org changes no store could apply (a store calls it
// first in AppendOrg).
func CheckOrgChange(c OrgChange) error {
	e := c.Entry
	if e.RunID != OrgAuditID || e.Hash == "" {
		return errors.New("org audit entry not sealed (SealOrgAudit)")
	}
	if e.Hash != AuditHash(e) {
		return errors.New("org audit entry: its hash does not match its content")
	}
	n := 0
	for _, set := range []bool{c.SetFreeze != nil, c.DeleteFreeze != nil, c.PutWindow != nil, c.DeleteWindow != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return errors.New("org change with more than one effect")
	}
	if c.PutWindow != nil && c.PutWindow.ID == "" {
		return errors.New("org change: window without an id")
	}
	if c.SetFreeze != nil && c.SetFreeze.Env == "" {
		return errors.New("org change: freeze without an environment")
	}
	if c.DeleteFreeze != nil && c.DeleteFreeze.Env == "" {
		return errors.New("org change: freeze scope without an environment")
	}
	return nil
}

// SealOrgAudit finalises e as the next entry of the org chain whose head is
// h: RunID OrgAuditID, Rev its 1-based position, its time in UTC, Prev and Hash.
func SealOrgAudit(h OrgHead, e *AuditEntry) {
	e.RunID = OrgAuditID
	e.Rev = h.Len + 1
	e.At = e.At.UTC()
	e.Prev = h.Hash
	e.Hash = AuditHash(*e)
}

// OrgAppendAttempts bounds how often AppendOrgAudit reads the head again
// after another writer appended first.
const OrgAppendAttempts = 16

// AppendOrgAudit appends one entry to the org chain with the change it
// records. Each attempt reads the head, then calls build (which reads what
// it needs, may refuse with an error that is returned as is, and returns
// the change with its unsealed entry), seals the entry onto the head and
// writes it with AppendOrg. When another writer appended meanwhile the
// attempt is repeated, at most OrgAppendAttempts times; build then sees
// the state after that writer's change, so checks it makes against the
// store (an overlapping window) hold at the moment of the write: every
// audited change moves the head.
func AppendOrgAudit(ctx context.Context, st OrgAppender, build func(ctx context.Context) (OrgChange, error)) (AuditEntry, error) {
	for range OrgAppendAttempts {
		h, err := st.OrgHead(ctx)
		if err != nil {
			return AuditEntry{}, err
		}
		c, err := build(ctx)
		if err != nil {
			return AuditEntry{}, err
		}
		SealOrgAudit(h, &c.Entry)
		err = st.AppendOrg(ctx, c)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return AuditEntry{}, err
		}
		return c.Entry, nil
	}
	return AuditEntry{}, fmt.Errorf("org audit: the chain kept moving (%d attempts): %w", OrgAppendAttempts, ErrConflict)
}

// VerifyOrgAudit checks the org chain as VerifyAudit checks a run's log,
// against the head the store keeps. An empty chain is ok.
func VerifyOrgAudit(l OrgLog) ChainCheck {
	c := VerifyAudit(&Run{ID: OrgAuditID, AuditHead: l.Head}, l.Entries)
	if c.Status == ChainUnchained && c.Entries == 0 {
		c.Status = ChainOK
	}
	// The words VerifyAudit uses for a run's head, said of the chain's.
	c.Detail = strings.NewReplacer("the run's audit head", "the org chain's stored head", "the run has no audit head", "the store has no org head").Replace(c.Detail)
	return c
}

// orgJSON returns v as JSON for an org entry's Before or After.
func orgJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

// OrgWindowEntry returns the unsealed org entry of a booking
// (OrgWindowBook: After is the window) or a cancellation (OrgWindowCancel:
// Before is the window) by actor.
func OrgWindowEntry(action string, w Window, actor Actor, at time.Time) AuditEntry {
	e := AuditEntry{At: at, Actor: actor, Action: action}
	if action == OrgWindowCancel {
		e.Before = orgJSON(w)
	} else {
		e.After = orgJSON(w)
	}
	return e
}
