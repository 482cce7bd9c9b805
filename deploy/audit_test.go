package deploy_test

import (
	"context"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"deploybot/deploy"
)

func sampleEntry() deploy.AuditEntry {
	return deploy.AuditEntry{
		RunID: "r7k2qd", At: time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC),
		Actor:  deploy.Actor{ID: "U0ANA", Name: "ana", Platform: "slack", Workspace: "T0ACME", Groups: []string{"@release", "@sre"}},
		Action: "skip", Phase: "prep", Step: "review", Reason: "reviewed in the PR", Before: "pending", After: "skipped",
		Rev: 4, Prev: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	}
}

// The canonical content is a documented, stable encoding: this exact text
// and its hash must never change for existing entries.
func TestAuditContentIsStable(t *testing.T) {
	e := sampleEntry()
	want := "deploybot-audit-v1\n" +
		"prev=64:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n" +
		"run_id=6:r7k2qd\n" +
		"at=30:2026-11-25T10:00:00.123456789Z\n" +
		"actor.id=5:U0ANA\nactor.name=3:ana\nactor.platform=5:slack\nactor.workspace=6:T0ACME\n" +
		"actor.groups=1:2\nactor.group=8:@release\nactor.group=4:@sre\n" +
		"action=4:skip\nphase=4:prep\nstep=6:review\nreason=18:reviewed in the PR\nbefore=7:pending\nafter=7:skipped\nrev=1:4\n"
	if got := string(deploy.AuditContent(e)); got != want {
		t.Fatalf("canonical content changed:\n%s\nwant\n%s", got, want)
	}
	const wantHash = "19fd417307aece365f87351f51229d98475c5d295741b517a9982b0bc490fae3"
	got := deploy.AuditHash(e)
	if len(got) != 64 || strings.Trim(got, "0123456789abcdef") != "" {
		t.Fatalf("hash %q is not hex SHA-256", got)
	}
	if got != wantHash {
		t.Fatalf("hash of the sample entry = %s, want %s", got, wantHash)
	}
	// The same instant in another zone is the same content.
	e.At = e.At.In(time.FixedZone("CET", 3600))
	if deploy.AuditHash(e) != got {
		t.Fatal("the hash depends on the time's zone")
	}
}

// Every field of an entry but Hash is part of the content: changing any one
// of them changes the hash. A field added to AuditEntry or Actor without
// being added to the content fails here.
func TestAuditHashCoversEveryField(t *testing.T) {
	base := sampleEntry()
	h0 := deploy.AuditHash(base)
	checked := 0
	for i := range reflect.TypeFor[deploy.AuditEntry]().NumField() {
		e := sampleEntry()
		v := reflect.ValueOf(&e).Elem()
		f := v.Field(i)
		name := v.Type().Field(i).Name
		if name == "Hash" {
			continue
		}
		if name == "Actor" {
			for j := range f.NumField() {
				e := sampleEntry()
				af := reflect.ValueOf(&e).Elem().Field(i).Field(j)
				mutate(t, af, "Actor."+f.Type().Field(j).Name)
				if deploy.AuditHash(e) == h0 {
					t.Errorf("changing Actor.%s does not change the hash", f.Type().Field(j).Name)
				}
				checked++
			}
			continue
		}
		mutate(t, f, name)
		if deploy.AuditHash(e) == h0 {
			t.Errorf("changing %s does not change the hash", name)
		}
		checked++
	}
	if checked < 15 {
		t.Fatalf("checked %d fields, want every field of AuditEntry and Actor", checked)
	}
	// Length prefixes: moving text from one field to the next is a change.
	a, b := sampleEntry(), sampleEntry()
	a.Before, a.After = "pend", "ingskipped"
	b.Before, b.After = "pending", "skipped"
	if deploy.AuditHash(a) == deploy.AuditHash(b) {
		t.Error("moving text between Before and After does not change the hash")
	}
}

func mutate(t *testing.T, f reflect.Value, name string) {
	t.Helper()
	switch {
	case f.Type() == reflect.TypeFor[time.Time]():
		f.Set(reflect.ValueOf(f.Interface().(time.Time).Add(time.Nanosecond)))
	case f.Kind() == reflect.String:
		f.SetString(f.String() + "x")
	case f.Kind() == reflect.Int64:
		f.SetInt(f.Int() + 1)
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		f.Set(reflect.Append(f, reflect.ValueOf("x")))
	default:
		t.Fatalf("field %s of type %s: teach AuditContent and this test about it", name, f.Type())
	}
}

func TestSealAuditChainsOntoTheHead(t *testing.T) {
	r := &deploy.Run{ID: "r1", Rev: 3, AuditHead: "abc"}
	es := []deploy.AuditEntry{{Action: "done", At: time.Date(2026, 1, 1, 12, 0, 0, 0, time.FixedZone("X", 7200))}, {Action: "deployed"}}
	deploy.SealAudit(r, es)
	if es[0].Prev != "abc" || es[1].Prev != es[0].Hash || r.AuditHead != es[1].Hash {
		t.Fatalf("chain: %+v, head %s", es, r.AuditHead)
	}
	for _, e := range es {
		if e.RunID != "r1" || e.Rev != 3 || e.At.Location() != time.UTC || e.Hash != deploy.AuditHash(e) {
			t.Fatalf("entry not finalised: %+v", e)
		}
	}
	if c := deploy.VerifyAudit(&deploy.Run{ID: "r1", AuditHead: r.AuditHead}, es); c.Status != deploy.ChainBroken || c.Position != 1 || c.Faults[0] != deploy.FaultPrev {
		t.Fatalf("a chain not starting at \"\" = %s", c)
	}
}

func TestVerifyAuditNamesTheEntry(t *testing.T) {
	r := &deploy.Run{ID: "r1", Rev: 1}
	es := []deploy.AuditEntry{{Action: "start"}, {Action: "done", Phase: "prep", Step: "review"}, {Action: "approve", Phase: "prep"}}
	for i := range es {
		r.Rev = int64(i + 1)
		deploy.SealAudit(r, es[i:i+1])
	}
	if c := deploy.VerifyAudit(r, es); c.Status != deploy.ChainOK || c.String() != "r1 ok (3 entries, head "+deploy.ShortHash(r.AuditHead)+")" {
		t.Fatalf("whole chain: %s", c)
	}
	edited := append([]deploy.AuditEntry(nil), es...)
	edited[1].Reason = "forged"
	c := deploy.VerifyAudit(r, edited)
	for _, want := range []string{"r1 BROKEN at entry 2 of 3 (done prep/review, rev 2)", "hash mismatch", "content was edited"} {
		if !strings.Contains(c.String(), want) {
			t.Errorf("edited entry: %q does not say %q", c, want)
		}
	}
	c = deploy.VerifyAudit(r, es[:2])
	for _, want := range []string{"r1 BROKEN at entry 3 (missing; the log has 2)", "head mismatch", "removed from the end"} {
		if !strings.Contains(c.String(), want) {
			t.Errorf("removed last entry: %q does not say %q", c, want)
		}
	}
	headless := *r
	headless.AuditHead = ""
	if c := deploy.VerifyAudit(&headless, es); c.Status != deploy.ChainBroken || c.Faults[0] != deploy.FaultHead {
		t.Errorf("a chained log of a run without head = %s, want broken (head mismatch)", c)
	}
	old := *r
	old.AuditHead = ""
	if c := deploy.VerifyAudit(&old, []deploy.AuditEntry{{Action: "start"}}); c.Status != deploy.ChainUnchained || !strings.Contains(c.String(), "r1 unchained") {
		t.Errorf("old-shape log = %s, want unchained", c)
	}
	stripped := []deploy.AuditEntry{{Action: "start"}, {Action: "done"}, {Action: "approve"}}
	if c := deploy.VerifyAudit(r, stripped); c.Status != deploy.ChainBroken || c.Faults[0] != deploy.FaultHead {
		t.Errorf("hashes stripped from every entry of a run with a head = %s, want broken", c)
	}
	if c := deploy.VerifyAudit(&deploy.Run{ID: "r1", AuditHead: es[1].Hash}, es); c.Status != deploy.ChainBroken || c.Position != 3 {
		t.Errorf("an entry after the run's head = %s, want broken at entry 3", c)
	}
}

// The engine chains every transition's entries, including the start, and
// keeps the head on the run; a conflict with another process recomputes the
// chain from the fresh run.
func TestEngineChainsTheAuditLog(t *testing.T) {
	h := newHarness(t, twoPhase)
	ctx := context.Background()
	r := h.start(t, ana)
	h.clk.Advance(time.Minute)
	h.must(t, deploy.Action{Kind: deploy.ActSkip, RunID: r.ID, Phase: "prep", Step: "review", Actor: bob, Reason: "reviewed in the PR"})
	h.clk.Advance(time.Minute)
	h.finishRunning(t, r.ID, true, "exit 0")

	h.must(t, deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Phase: "prep", Actor: bob})
	h.clk.Advance(time.Minute)
	r = h.finishRunning(t, r.ID, false, "exit 1") // on_failure: rollback
	if r.Status != deploy.StatusRollingBack {
		t.Fatalf("status %s, want rolling back", r.Status)
	}
	for range 4 { // settle the rollback procedure: automated steps report, people tick the rest
		r = h.get(t, r.ID)
		if r.Status != deploy.StatusRollingBack {
			break
		}
		h.clk.Advance(time.Minute)
		for _, s := range r.Current().Steps {
			switch s.State {
			case deploy.StepRunning:
				h.finishRunning(t, r.ID, true, "ok")
			case deploy.StepPending:
				h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: deploy.RollbackPhaseID, Step: s.ID, Actor: cat})
			}
		}
	}
	if r = h.get(t, r.ID); r.Status != deploy.StatusRolledBack {
		t.Fatalf("status %s, want rolled back", r.Status)
	}

	stored := h.get(t, r.ID)
	entries, err := h.store.Audit(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	c := deploy.VerifyAudit(stored, entries)
	if c.Status != deploy.ChainOK || c.Unchained != 0 || c.Head != stored.AuditHead || stored.AuditHead == "" {
		t.Fatalf("engine-written log: %s (%+v)", c, c)
	}
	if entries[0].Action != "start" || entries[0].Prev != "" || entries[0].Rev != 1 {
		t.Fatalf("first entry %+v, want the start at rev 1 opening the chain", entries[0])
	}
	for i, e := range entries {
		if e.Rev > stored.Rev || (i > 0 && e.Rev < entries[i-1].Rev) || e.At.Location() != time.UTC {
			t.Fatalf("entry %d: rev %d (run rev %d), at %v: not final", i+1, e.Rev, stored.Rev, e.At)
		}
	}
	if len(entries) < 7 {
		t.Fatalf("%d entries, want every transition's", len(entries))
	}
}

// Two processes (two engines on one store) tick steps of one run: the one
// whose cached run is behind conflicts, re-reads and chains its entry onto
// the head the other wrote.
func TestAuditChainSurvivesAConflict(t *testing.T) {
	const twoManual = `
name: test
approvers: [U0ANA, U0BOB]
phases:
  - id: prep
    title: Preparation
    steps:
      - id: a
        title: First
      - id: b
        title: Second
`
	h := newHarness(t, twoManual)
	ctx := context.Background()
	r := h.start(t, ana) // h.e now holds the run at rev 1
	other := deploy.NewEngine(deploy.Config{Store: h.store, Runbook: parseRunbook(t, twoManual), Clock: h.clk, Logger: slog.New(slog.DiscardHandler)})
	if _, err := other.Do(ctx, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "a", Actor: bob}); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(time.Second)
	out := h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "b", Actor: ana})
	if out.Rev != 3 || stepState(out, "prep", "a") != deploy.StepDone {
		t.Fatalf("the second tick did not build on the first: rev %d, a %s", out.Rev, stepState(out, "prep", "a"))
	}
	entries, err := h.store.Audit(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored := h.get(t, r.ID)
	if c := deploy.VerifyAudit(stored, entries); c.Status != deploy.ChainOK || c.Entries < 3 {
		t.Fatalf("after a conflict: %s", c)
	}
}

// Stripping the hash of a run's first entry is found: it is of the
// chain's own transition, so it cannot be from before the chain.
func TestVerifyAuditFindsAStrippedFirstHash(t *testing.T) {
	r := &deploy.Run{ID: "r1", Rev: 1}
	es := []deploy.AuditEntry{{Action: "start"}, {Action: "done"}}
	deploy.SealAudit(r, es)
	es[0].Hash = ""
	c := deploy.VerifyAudit(r, es)
	if c.Status != deploy.ChainBroken || c.Position != 1 || !strings.Contains(c.Detail, "its hash was removed") {
		t.Fatalf("stripped first hash: %s", c)
	}
	// Of a run whose chain started later, at the next entry, whose prev
	// leads to nothing.
	r = &deploy.Run{ID: "r2", Rev: 4}
	es = []deploy.AuditEntry{{Action: "start", Rev: 1}, {Action: "done"}, {Action: "approve"}}
	deploy.SealAudit(r, es[1:2])
	r.Rev = 5
	deploy.SealAudit(r, es[2:3])
	es[1].Hash = ""
	c = deploy.VerifyAudit(r, es)
	if c.Status != deploy.ChainBroken || c.Position != 3 || !strings.Contains(c.Detail, "the entry before it lost its hash") {
		t.Fatalf("stripped first chained hash: %s", c)
	}
}

// BenchmarkSealAudit is the engine's added cost per transition (two entries).
func BenchmarkSealAudit(b *testing.B) {
	r := &deploy.Run{ID: "r7k2qd", Rev: 7, AuditHead: sampleEntry().Prev}
	es := []deploy.AuditEntry{sampleEntry(), sampleEntry()}
	for b.Loop() {
		deploy.SealAudit(r, es)
	}
}

// BenchmarkVerifyAudit verifies a 60-entry log.
func BenchmarkVerifyAudit(b *testing.B) {
	r := &deploy.Run{ID: "r7k2qd", Rev: 1}
	es := make([]deploy.AuditEntry, 60)
	for i := range es {
		es[i] = sampleEntry()
		r.Rev = int64(i + 1)
		deploy.SealAudit(r, es[i:i+1])
	}
	for b.Loop() {
		if c := deploy.VerifyAudit(r, es); c.Status != deploy.ChainOK {
			b.Fatal(c)
		}
	}
}

// An entry without a hash put in front of the chain behind the bot's back
// (a forged approval) is not taken for an entry from before the chain.
func TestVerifyAuditRefusesEntriesAddedBeforeTheChain(t *testing.T) {
	seal := func(first int64, actions ...string) (*deploy.Run, []deploy.AuditEntry) {
		r := &deploy.Run{ID: "r1"}
		es := make([]deploy.AuditEntry, len(actions))
		for i := range es {
			es[i].Action = actions[i]
			r.Rev = first + int64(i)
			deploy.SealAudit(r, es[i:i+1])
		}
		return r, es
	}
	forged := deploy.AuditEntry{RunID: "r1", Action: "approve", Phase: "production", Actor: deploy.Actor{ID: "U_CTO"}}

	// A run started with the chain has no entry from before it.
	r, es := seal(1, "start", "done")
	forged.Rev = 0
	c := deploy.VerifyAudit(r, append([]deploy.AuditEntry{forged}, es...))
	if c.Status != deploy.ChainBroken || c.Position != 1 || !strings.Contains(c.String(), "added behind the bot's back") {
		t.Errorf("a forged first entry of a run started with the chain: %s, want broken at entry 1", c)
	}

	// A run whose chain started at rev 5 may have older entries, of revs before 5 only.
	r, es = seal(5, "done", "approve")
	old := deploy.AuditEntry{RunID: "r1", Action: "start", Rev: 1}
	if c := deploy.VerifyAudit(r, append([]deploy.AuditEntry{old}, es...)); c.Status != deploy.ChainOK || c.Unchained != 1 {
		t.Errorf("an entry from before the chain: %s, want ok with 1 unchained", c)
	}
	forged.Rev = 5
	c = deploy.VerifyAudit(r, append([]deploy.AuditEntry{old, forged}, es...))
	if c.Status != deploy.ChainBroken || c.Position != 2 {
		t.Errorf("a forged entry of the chain's rev: %s, want broken at entry 2", c)
	}
}
