package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"deploybot/deploy"
)

// RunOrgAudit checks a store's org audit chain (freezes and windows, the
// decisions that are not run transitions): entries appended with
// deploy.AppendOrgAudit are kept exactly and chained, each with its freeze
// or window change written in the same atomic step; an append sealed on a
// head that moved is refused with deploy.ErrConflict and writes nothing
// (neither its entry nor its change), so concurrent appends from two store
// clients never fork the chain; a replayed append writes nothing twice; a
// lifted freeze or cancelled window that is not there writes no entry; and
// deploy.VerifyOrgAudit finds an edited, removed or reordered entry, edited
// through ed with the run id deploy.OrgAuditID.
//
// open is called once per subtest and returns two clients of one fresh,
// empty store (for a store used by one process, the same one twice) and
// its editor.
func RunOrgAudit(t *testing.T, open func(t *testing.T) (a, b deploy.Store, ed AuditEditor)) {
	t.Run("appends chain with their changes", func(t *testing.T) {
		s, _, _ := open(t)
		written := seedOrg(t, s)
		l, err := s.OrgAudit(t.Context())
		must(t, err)
		if !reflect.DeepEqual(l.Entries, written) {
			t.Fatalf("the store did not keep the org entries exactly:\ngot  %+v\nwant %+v", l.Entries, written)
		}
		for i, e := range l.Entries {
			if e.RunID != deploy.OrgAuditID || e.Rev != int64(i+1) || (i > 0 && e.Prev != l.Entries[i-1].Hash) {
				t.Fatalf("entry %d = %+v: want run id %q, rev %d, chained onto the entry before", i+1, e, deploy.OrgAuditID, i+1)
			}
		}
		h, err := s.OrgHead(t.Context())
		must(t, err)
		if h.Hash != written[len(written)-1].Hash || h.Hash != l.Head || h.Len != int64(len(written)) {
			t.Fatalf("head = %+v (log head %s), want the last entry's hash and %d entries", h, l.Head, len(written))
		}
		if c := deploy.VerifyOrgAudit(l); c.Status != deploy.ChainOK || c.Entries != len(written) {
			t.Fatalf("verify = %s, want ok", c)
		}
		// The changes landed with their entries.
		if _, err := s.GetFreeze(t.Context(), "production", ""); !errors.Is(err, deploy.ErrNotFound) {
			t.Errorf("freeze of production after it was lifted: %v, want ErrNotFound", err)
		}
		f, err := s.GetFreeze(t.Context(), "staging", "payments")
		if err != nil || f.Reason != "payments incident" {
			t.Errorf("freeze of payments in staging = %+v, %v", f, err)
		}
		ws, err := s.Windows(t.Context(), time.Time{})
		must(t, err)
		if len(ws) != 1 || ws[0].ID != "wkept" {
			t.Errorf("windows = %+v, want wkept only (wgone was cancelled)", ws)
		}
	})

	t.Run("empty chain", func(t *testing.T) {
		s, _, _ := open(t)
		l, err := s.OrgAudit(t.Context())
		must(t, err)
		h, err := s.OrgHead(t.Context())
		must(t, err)
		if len(l.Entries) != 0 || l.Head != "" || h != (deploy.OrgHead{}) {
			t.Fatalf("org audit of an empty store = %+v, head %+v", l, h)
		}
		if c := deploy.VerifyOrgAudit(l); c.Status != deploy.ChainOK {
			t.Fatalf("verify of an empty chain = %s, want ok", c)
		}
	})

	t.Run("an append on a moved head writes nothing", func(t *testing.T) {
		a, b, _ := open(t)
		ctx := t.Context()
		h, err := a.OrgHead(ctx)
		must(t, err)
		fa := deploy.Freeze{Env: "production", Reason: "a", At: t0}
		fb := deploy.Freeze{Env: "staging", Reason: "b", At: t0}
		ca := deploy.OrgChange{Entry: deploy.AuditEntry{At: t0, Actor: deploy.Actor{ID: "UA"}, Action: deploy.OrgFreeze, Reason: "a"}, SetFreeze: &fa}
		cb := deploy.OrgChange{Entry: deploy.AuditEntry{At: t0, Actor: deploy.Actor{ID: "UB"}, Action: deploy.OrgFreeze, Reason: "b"}, SetFreeze: &fb}
		deploy.SealOrgAudit(h, &ca.Entry)
		deploy.SealOrgAudit(h, &cb.Entry) // both sealed on the same head, by two clients
		must(t, a.AppendOrg(ctx, ca))
		if err := b.AppendOrg(ctx, cb); !errors.Is(err, deploy.ErrConflict) {
			t.Fatalf("second append on the same head: %v, want ErrConflict", err)
		}
		if _, err := a.GetFreeze(ctx, "staging", ""); !errors.Is(err, deploy.ErrNotFound) {
			t.Errorf("the refused append's freeze was written: %v", err)
		}
		must(t, b.AppendOrg(ctx, ca)) // a replay of an applied append
		none := deploy.FreezeScope{Env: "qa"}
		cn := deploy.OrgChange{Entry: deploy.AuditEntry{At: t0, Actor: deploy.Actor{ID: "UA"}, Action: deploy.OrgUnfreeze}, DeleteFreeze: &none}
		h2, err := b.OrgHead(ctx)
		must(t, err)
		deploy.SealOrgAudit(h2, &cn.Entry)
		if err := b.AppendOrg(ctx, cn); !errors.Is(err, deploy.ErrNotFound) {
			t.Fatalf("lifting a freeze that is not there: %v, want ErrNotFound", err)
		}
		cw := deploy.OrgChange{Entry: deploy.AuditEntry{At: t0, Actor: deploy.Actor{ID: "UA"}, Action: deploy.OrgWindowCancel}, DeleteWindow: "wnone"}
		deploy.SealOrgAudit(h2, &cw.Entry)
		if err := b.AppendOrg(ctx, cw); !errors.Is(err, deploy.ErrNotFound) {
			t.Fatalf("cancelling a window that is not there: %v, want ErrNotFound", err)
		}
		unsealed := deploy.OrgChange{Entry: deploy.AuditEntry{At: t0, Action: deploy.OrgFreeze}, SetFreeze: &fb}
		if err := b.AppendOrg(ctx, unsealed); err == nil {
			t.Fatal("an unsealed entry was appended")
		}
		l, err := a.OrgAudit(ctx)
		must(t, err)
		if len(l.Entries) != 1 || l.Entries[0].Hash != ca.Entry.Hash || l.Head != ca.Entry.Hash {
			t.Fatalf("org audit = %+v, want only the first append", l)
		}
		// Sealed again on the new head, the second append lands.
		_, err = deploy.AppendOrgAudit(ctx, b, func(context.Context) (deploy.OrgChange, error) {
			return deploy.OrgChange{Entry: deploy.AuditEntry{At: t0, Actor: deploy.Actor{ID: "UB"}, Action: deploy.OrgFreeze, Reason: "b"}, SetFreeze: &fb}, nil
		})
		must(t, err)
		if f, err := a.GetFreeze(ctx, "staging", ""); err != nil || f.Reason != "b" {
			t.Fatalf("freeze of staging = %+v, %v", f, err)
		}
	})

	t.Run("concurrent appends from two clients never fork", func(t *testing.T) {
		a, b, _ := open(t)
		ctx := t.Context()
		const writers, each = 3, 8 // per client
		var wg sync.WaitGroup
		errs := make(chan error, 2*writers*each)
		for ci, s := range []deploy.Store{a, b} {
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						// The store's compare-and-set is under test, not
						// AppendOrgAudit's retry bound: retry until it lands.
						if err := appendUntilLanded(ctx, s, fmt.Sprintf("U%d-%d", ci, w), i); err != nil {
							errs <- err
							return
						}
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		l, err := a.OrgAudit(ctx)
		must(t, err)
		if len(l.Entries) != 2*writers*each {
			t.Fatalf("org audit has %d entries, want %d", len(l.Entries), 2*writers*each)
		}
		if c := deploy.VerifyOrgAudit(l); c.Status != deploy.ChainOK {
			t.Fatalf("verify after concurrent appends = %s", c)
		}
		seen := map[string]bool{}
		for _, e := range l.Entries {
			k := e.Actor.ID + "/" + e.Reason
			if seen[k] {
				t.Fatalf("entry %s appended twice", k)
			}
			seen[k] = true
		}
	})

	tamper := []struct {
		name   string
		edit   func(t *testing.T, s deploy.Store, ed AuditEditor, es []deploy.AuditEntry)
		pos    int
		faults []deploy.ChainFault
	}{
		{"changed reason", func(t *testing.T, _ deploy.Store, ed AuditEditor, es []deploy.AuditEntry) {
			e := es[0]
			e.Reason = "routine"
			ed.SetEntry(t, deploy.OrgAuditID, 0, mustJSON(t, e))
		}, 1, []deploy.ChainFault{deploy.FaultHash}},
		{"changed actor", func(t *testing.T, _ deploy.Store, ed AuditEditor, es []deploy.AuditEntry) {
			e := es[2]
			e.Actor.ID = "U0MALLORY"
			ed.SetEntry(t, deploy.OrgAuditID, 2, mustJSON(t, e))
		}, 3, []deploy.ChainFault{deploy.FaultHash}},
		{"removed entry in the middle", func(t *testing.T, _ deploy.Store, ed AuditEditor, _ []deploy.AuditEntry) {
			ed.RemoveEntry(t, deploy.OrgAuditID, 1)
		}, 2, []deploy.ChainFault{deploy.FaultPrev}},
		{"removed last entry", func(t *testing.T, _ deploy.Store, ed AuditEditor, es []deploy.AuditEntry) {
			ed.RemoveEntry(t, deploy.OrgAuditID, len(es)-1)
		}, 6, []deploy.ChainFault{deploy.FaultHead}},
		{"reordered entries", func(t *testing.T, _ deploy.Store, ed AuditEditor, es []deploy.AuditEntry) {
			ed.SetEntry(t, deploy.OrgAuditID, 2, mustJSON(t, es[3]))
			ed.SetEntry(t, deploy.OrgAuditID, 3, mustJSON(t, es[2]))
		}, 3, []deploy.ChainFault{deploy.FaultPrev}},
	}
	for _, tt := range tamper {
		t.Run("tampered: "+tt.name, func(t *testing.T) {
			s, _, ed := open(t)
			es := seedOrg(t, s)
			if len(es) != 6 {
				t.Fatalf("seeded %d entries, want 6", len(es))
			}
			tt.edit(t, s, ed, es)
			l, err := s.OrgAudit(t.Context())
			must(t, err)
			c := deploy.VerifyOrgAudit(l)
			if c.Status != deploy.ChainBroken || c.Position != tt.pos || !slices.Equal(c.Faults, tt.faults) || c.RunID != deploy.OrgAuditID {
				t.Fatalf("verify = %s (status %s, position %d, faults %v), want broken at %d with %v", c, c.Status, c.Position, c.Faults, tt.pos, tt.faults)
			}
		})
	}
}

// appendUntilLanded appends one freeze entry by actor, resealing on every
// conflict (at most 1000 times).
func appendUntilLanded(ctx context.Context, s deploy.Store, actor string, i int) error {
	for range 1000 {
		h, err := s.OrgHead(ctx)
		if err != nil {
			return err
		}
		f := deploy.Freeze{Env: "production", Reason: fmt.Sprint(i), At: t0}
		c := deploy.OrgChange{Entry: deploy.AuditEntry{At: t0, Actor: deploy.Actor{ID: actor}, Action: deploy.OrgFreeze, Reason: fmt.Sprint(i)}, SetFreeze: &f}
		deploy.SealOrgAudit(h, &c.Entry)
		err = s.AppendOrg(ctx, c)
		if errors.Is(err, deploy.ErrConflict) {
			continue
		}
		return err
	}
	return fmt.Errorf("%s: append %d never landed", actor, i)
}

// seedOrg appends six entries the way the engine and the calendar do: a
// freeze of production, a booking, a freeze of payments in staging, another booking, the
// lifting of production's freeze, and the cancellation of one window. It
// returns the entries written.
func seedOrg(t *testing.T, s deploy.Store) []deploy.AuditEntry {
	t.Helper()
	ana := deploy.Actor{ID: "U0ANA", Name: "ana", Platform: "slack", Workspace: "T1", Groups: []string{"@release"}}
	bob := deploy.Actor{ID: "U0BOB", Name: "bob", Platform: "discord"}
	kept := deploy.Window{ID: "wkept", Service: "payments", Release: "v2", Env: "production", Start: t0.Add(24 * time.Hour), Length: time.Hour, By: bob, Created: t0}
	gone := deploy.Window{ID: "wgone", Service: "payments", Release: "v3", Env: "production", Start: t0.Add(48 * time.Hour), Length: time.Hour, By: bob, Created: t0}
	prod := deploy.Freeze{Env: "production", By: ana, Reason: "incident INC-7", At: t0}
	pay := deploy.Freeze{Env: "staging", Service: "payments", By: ana, Reason: "payments incident", At: t0.Add(time.Minute)}
	changes := []deploy.OrgChange{
		{Entry: deploy.AuditEntry{At: t0.Add(123 * time.Nanosecond), Actor: ana, Action: deploy.OrgFreeze, Reason: prod.Reason, After: `{"env":"production"}`}, SetFreeze: &prod},
		{Entry: deploy.OrgWindowEntry(deploy.OrgWindowBook, kept, bob, t0.Add(2*time.Minute)), PutWindow: &kept},
		{Entry: deploy.AuditEntry{At: pay.At, Actor: ana, Action: deploy.OrgFreeze, Reason: pay.Reason, After: `{"env":"staging","service":"payments"}`}, SetFreeze: &pay},
		{Entry: deploy.OrgWindowEntry(deploy.OrgWindowBook, gone, bob, t0.Add(3*time.Minute)), PutWindow: &gone},
		{Entry: deploy.AuditEntry{At: t0.Add(4 * time.Minute), Actor: bob, Action: deploy.OrgUnfreeze, After: `{"env":"production"}`}, DeleteFreeze: &deploy.FreezeScope{Env: "production"}},
		{Entry: deploy.OrgWindowEntry(deploy.OrgWindowCancel, gone, ana, t0.Add(5*time.Minute)), DeleteWindow: "wgone"},
	}
	var written []deploy.AuditEntry
	for _, c := range changes {
		e, err := deploy.AppendOrgAudit(t.Context(), s, func(context.Context) (deploy.OrgChange, error) { return c, nil })
		must(t, err)
		written = append(written, e)
	}
	return written
}
