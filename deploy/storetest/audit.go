package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"deploybot/deploy"
)

// AuditEditor edits a run's stored audit log behind the store's back, the
// way someone with access to the database would (Redis: LSET and LREM on the
// audit list; bbolt: the run's audit bucket). Positions are 0-based. The
// run id deploy.OrgAuditID edits the org audit chain.
type AuditEditor interface {
	// SetEntry replaces the stored entry at index i with raw (JSON).
	SetEntry(t *testing.T, runID string, i int, raw []byte)
	// RemoveEntry removes the entry at index i.
	RemoveEntry(t *testing.T, runID string, i int)
}

// RunAuditChain checks that a store keeps a hash-chained audit log exactly
// (every field, times to the nanosecond, Prev, Hash and the run's
// AuditHead), that deploy.VerifyAudit finds it whole, and that it names the
// first entry that no longer holds after the log was edited through edit:
// a changed reason, a removed entry (in the middle, at the end), reordered
// entries; a log written before the chain is "unchained". open is called
// once per subtest and returns a fresh, empty store and its editor.
func RunAuditChain(t *testing.T, open func(t *testing.T) (deploy.Store, AuditEditor)) {
	const n = 7 // entries of the chained sample run
	tests := []struct {
		name   string
		tamper func(t *testing.T, s deploy.Store, ed AuditEditor, id string)
		status deploy.ChainStatus
		pos    int
		faults []deploy.ChainFault
	}{
		{"whole chain is ok", nil, deploy.ChainOK, 0, nil},
		{"changed reason", func(t *testing.T, s deploy.Store, ed AuditEditor, id string) {
			editEntry(t, s, ed, id, 3, func(e *deploy.AuditEntry) { e.Reason = "nothing to see here" })
		}, deploy.ChainBroken, 4, []deploy.ChainFault{deploy.FaultHash}},
		{"changed actor", func(t *testing.T, s deploy.Store, ed AuditEditor, id string) {
			editEntry(t, s, ed, id, 1, func(e *deploy.AuditEntry) { e.Actor.Name = "mallory" })
		}, deploy.ChainBroken, 2, []deploy.ChainFault{deploy.FaultHash}},
		{"changed time", func(t *testing.T, s deploy.Store, ed AuditEditor, id string) {
			editEntry(t, s, ed, id, 0, func(e *deploy.AuditEntry) { e.At = e.At.Add(-time.Nanosecond) })
		}, deploy.ChainBroken, 1, []deploy.ChainFault{deploy.FaultHash}},
		{"edited and rehashed", func(t *testing.T, s deploy.Store, ed AuditEditor, id string) {
			editEntry(t, s, ed, id, 2, func(e *deploy.AuditEntry) { e.Reason = "rewritten"; e.Hash = deploy.AuditHash(*e) })
		}, deploy.ChainBroken, 4, []deploy.ChainFault{deploy.FaultPrev}},
		{"removed entry in the middle", func(t *testing.T, _ deploy.Store, ed AuditEditor, id string) {
			ed.RemoveEntry(t, id, 2)
		}, deploy.ChainBroken, 3, []deploy.ChainFault{deploy.FaultPrev}},
		{"removed first entry", func(t *testing.T, _ deploy.Store, ed AuditEditor, id string) {
			ed.RemoveEntry(t, id, 0)
		}, deploy.ChainBroken, 1, []deploy.ChainFault{deploy.FaultPrev}},
		{"removed last entry", func(t *testing.T, _ deploy.Store, ed AuditEditor, id string) {
			ed.RemoveEntry(t, id, n-1)
		}, deploy.ChainBroken, n, []deploy.ChainFault{deploy.FaultHead}},
		{"reordered entries", func(t *testing.T, s deploy.Store, ed AuditEditor, id string) {
			got, err := s.Audit(t.Context(), id)
			must(t, err)
			ed.SetEntry(t, id, 4, mustJSON(t, got[5]))
			ed.SetEntry(t, id, 5, mustJSON(t, got[4]))
		}, deploy.ChainBroken, 5, []deploy.ChainFault{deploy.FaultPrev}},
		{"hash removed", func(t *testing.T, s deploy.Store, ed AuditEditor, id string) {
			editEntry(t, s, ed, id, 6, func(e *deploy.AuditEntry) { e.Hash = "" })
		}, deploy.ChainBroken, 7, []deploy.ChainFault{deploy.FaultNoHash}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ed := open(t)
			r, written := chainedRun(t, s, "r1")
			if tt.tamper == nil {
				got, err := s.Audit(t.Context(), r.ID)
				must(t, err)
				if !reflect.DeepEqual(got, written) {
					t.Fatalf("the store did not keep the chained entries exactly:\ngot  %+v\nwant %+v", got, written)
				}
			} else {
				tt.tamper(t, s, ed, r.ID)
			}
			c := verifyStored(t, s, r.ID)
			if c.Status != tt.status || c.Position != tt.pos || !slices.Equal(c.Faults, tt.faults) {
				t.Fatalf("verify = %s (status %s, position %d, faults %v), want status %s at position %d with %v",
					c, c.Status, c.Position, c.Faults, tt.status, tt.pos, tt.faults)
			}
			if tt.status == deploy.ChainOK && (c.Entries != n || c.Head != r.AuditHead || c.Unchained != 0) {
				t.Fatalf("verify = %+v, want %d entries ending at the run's head %s", c, n, r.AuditHead)
			}
		})
	}

	t.Run("a log written before the chain is unchained", func(t *testing.T) {
		s, _ := open(t)
		r := SampleRun("old", "staging", t0)
		apply(t, s, Create(r, false)) // Entry has no hash: the shape before the chain
		n := Next(r, nil)
		apply(t, s, Update(r, n, "done"))
		c := verifyStored(t, s, "old")
		if c.Status != deploy.ChainUnchained || c.Entries != 2 || c.Position != 0 {
			t.Fatalf("verify = %s (%+v), want unchained with 2 entries", c, c)
		}
	})

	t.Run("a chain that starts after old entries is ok", func(t *testing.T) {
		s, _ := open(t)
		r := SampleRun("mixed", "staging", t0)
		apply(t, s, Create(r, false))
		next := Next(r, nil)
		c := Update(r, next, "done")
		deploy.SealAudit(next, c.Audit)
		apply(t, s, c)
		check := verifyStored(t, s, "mixed")
		if check.Status != deploy.ChainOK || check.Unchained != 1 || check.Entries != 2 {
			t.Fatalf("verify = %s (%+v), want ok with 1 unchained entry of 2", check, check)
		}
	})
}

// chainedRun writes a run of 6 transitions (7 chained audit entries, one of
// them a second entry of a transition) the way the engine does, and returns
// the run as stored and the entries written.
func chainedRun(t *testing.T, s deploy.Store, id string) (*deploy.Run, []deploy.AuditEntry) {
	t.Helper()
	r := SampleRun(id, "production", t0)
	c := Create(r, false)
	c.Audit[0].At = t0.Add(123456789 * time.Nanosecond)
	deploy.SealAudit(r, c.Audit)
	apply(t, s, c)
	written := slices.Clone(c.Audit)
	reasons := []string{"", "flaky test — known, see #12", "", "approved by the “release” group", ""}
	for i, reason := range reasons {
		n := Next(r, nil)
		c := Update(r, n, fmt.Sprintf("step%d", i))
		c.Audit[0].Reason, c.Audit[0].Phase, c.Audit[0].Step = reason, "prepare", fmt.Sprintf("s%d", i)
		if i == 2 {
			c.Audit = append(c.Audit, deploy.AuditEntry{At: n.Updated, Actor: deploy.System, Action: "deployed", Before: "active", After: "deployed"})
		}
		deploy.SealAudit(n, c.Audit)
		apply(t, s, c)
		written = append(written, c.Audit...)
		r = n
	}
	stored, err := s.Run(t.Context(), id)
	must(t, err)
	if stored.AuditHead == "" || stored.AuditHead != written[len(written)-1].Hash {
		t.Fatalf("stored run's audit head = %q, want the last entry's hash %q", stored.AuditHead, written[len(written)-1].Hash)
	}
	return stored, written
}

// editEntry rewrites the stored entry at index i through ed.
func editEntry(t *testing.T, s deploy.Store, ed AuditEditor, id string, i int, edit func(*deploy.AuditEntry)) {
	t.Helper()
	got, err := s.Audit(t.Context(), id)
	must(t, err)
	e := got[i]
	edit(&e)
	ed.SetEntry(t, id, i, mustJSON(t, e))
}

func verifyStored(t *testing.T, s deploy.Store, id string) deploy.ChainCheck {
	t.Helper()
	r, err := s.Run(t.Context(), id)
	must(t, err)
	entries, err := s.Audit(t.Context(), id)
	must(t, err)
	return deploy.VerifyAudit(r, entries)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return b
}

func testRunIDs(t *testing.T, s deploy.Store) {
	ctx := t.Context()
	ids, err := s.RunIDs(ctx)
	must(t, err)
	if len(ids) != 0 {
		t.Fatalf("run ids of an empty store = %q, want none", ids)
	}
	for _, id := range []string{"rc", "ra", "rb"} {
		apply(t, s, Create(SampleRun(id, "env-"+id, t0), true))
	}
	b, err := s.Run(ctx, "rb")
	must(t, err)
	apply(t, s, Update(b, Finish(b, deploy.StatusCompleted), "complete"))
	ids, err = s.RunIDs(ctx)
	must(t, err)
	if want := []string{"ra", "rb", "rc"}; !slices.Equal(ids, want) {
		t.Fatalf("run ids = %q, want %q (live and finished, sorted)", ids, want)
	}
}
