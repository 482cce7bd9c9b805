package deploy

import (
	"encoding/json"
	"fmt"
	"time"
)

// DueItem is an entry of the due queue: something to do at or after a time,
// claimed by one worker at a time with a lease.
type DueItem struct {
	// ID is unique; scheduling an existing ID replaces it (and clears its lease).
	ID string `json:"id"`
	// Kind tells the consumer what it is ("step", "reminder", ...).
	Kind string `json:"kind"`
	// Due is when the item becomes claimable.
	Due time.Time `json:"due"`
	// Payload is the consumer's data (usually JSON).
	Payload string `json:"payload,omitempty"`
	// Claims counts how many times the item was claimed: more than one means a
	// previous holder's lease expired without an Ack.
	Claims int `json:"claims,omitempty"`
	// LeaseUntil is set on claimed items.
	LeaseUntil time.Time `json:"lease_until,omitzero"`
}

// StepItem is the payload of a "step" due item.
type StepItem struct {
	RunID   string `json:"run_id"`
	Phase   string `json:"phase"`
	Step    string `json:"step"`
	Attempt int    `json:"attempt"`
}

// DueKindStep is the due-queue kind of automated step executions.
const DueKindStep = "step"

// DueKindExpiry is the due-queue kind of approval requests that expire.
const DueKindExpiry = "expiry"

// ExpiryItem is the payload of an "expiry" due item.
type ExpiryItem struct {
	RunID string    `json:"run_id"`
	Phase string    `json:"phase"`
	Since time.Time `json:"since"`
}

func (x ExpiryItem) due(at time.Time) DueItem {
	b, _ := json.Marshal(x)
	return DueItem{ID: fmt.Sprintf("expiry:%s:%s:%d", x.RunID, x.Phase, x.Since.UnixNano()), Kind: DueKindExpiry, Due: at, Payload: string(b)}
}

// ItemID returns the due-queue id of the step execution.
func (s StepItem) ItemID() string {
	return fmt.Sprintf("step:%s:%s:%s:%d", s.RunID, s.Phase, s.Step, s.Attempt)
}

func (s StepItem) due(at time.Time) DueItem {
	b, _ := json.Marshal(s)
	return DueItem{ID: s.ItemID(), Kind: DueKindStep, Due: at, Payload: string(b)}
}

// CheckItems rejects due items without an id or a kind.
func CheckItems(items []DueItem) error {
	for _, it := range items {
		if it.ID == "" || it.Kind == "" {
			return fmt.Errorf("due item %q of kind %q: id and kind are required", it.ID, it.Kind)
		}
	}
	return nil
}
