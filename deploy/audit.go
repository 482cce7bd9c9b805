package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The hash chain of a run's audit log.
//
// Every entry carries Prev, the Hash of the entry before it ("" for the
// run's first chained entry), and Hash, the hex SHA-256 of the entry's
// canonical content (AuditContent), which includes Prev. The run document
// keeps the last Hash as Run.AuditHead, written in the same compare-and-set
// as the entries, and the completion, rollback and abort notices repeat its
// first 12 characters in chat. So an edited entry no longer matches its Hash,
// a removed or reordered entry breaks the next entry's Prev, and entries
// removed from the end no longer lead to the run's head.
//
// The engine computes the chain in Go (SealAudit) before Store.Apply, from
// the run it read: a conflicting write makes it recompute everything from
// the fresh run, so two writers never chain onto the same head.

// auditContentVersion leads the canonical content; a change of the encoding
// gets a new version.
const auditContentVersion = "deploybot-audit-v1"

// AuditContent returns the canonical content of an audit entry, the bytes its
// Hash is computed over. It is a stable, documented encoding independent of
// JSON and of Go's map order:
//
//	"deploybot-audit-v1\n", then each field in this order as
//	"<name>=<length in bytes, decimal>:<value>\n"
//	prev, run_id, at, actor.id, actor.name, actor.platform, actor.workspace,
//	actor.groups (the count, decimal, then one "actor.group" field per group),
//	action, phase, step, reason, before, after, rev
//
// at is the time in UTC as RFC 3339 with nanoseconds (time.RFC3339Nano);
// rev is decimal. Hash is not part of the content.
func AuditContent(e AuditEntry) []byte {
	n := 512 + len(e.Prev) + len(e.RunID) + len(e.Actor.ID) + len(e.Actor.Name) + len(e.Actor.Workspace) +
		len(e.Action) + len(e.Phase) + len(e.Step) + len(e.Reason) + len(e.Before) + len(e.After)
	for _, g := range e.Actor.Groups {
		n += 24 + len(g)
	}
	b := make([]byte, 0, n)
	b = append(b, auditContentVersion+"\n"...)
	field := func(name, v string) {
		b = append(b, name...)
		b = append(b, '=')
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, ':')
		b = append(b, v...)
		b = append(b, '\n')
	}
	field("prev", e.Prev)
	field("run_id", e.RunID)
	field("at", e.At.UTC().Format(time.RFC3339Nano))
	field("actor.id", e.Actor.ID)
	field("actor.name", e.Actor.Name)
	field("actor.platform", e.Actor.Platform)
	field("actor.workspace", e.Actor.Workspace)
	field("actor.groups", strconv.Itoa(len(e.Actor.Groups)))
	for _, g := range e.Actor.Groups {
		field("actor.group", g)
	}
	field("action", e.Action)
	field("phase", e.Phase)
	field("step", e.Step)
	field("reason", e.Reason)
	field("before", e.Before)
	field("after", e.After)
	field("rev", strconv.FormatInt(e.Rev, 10))
	return b
}

// AuditHash returns the hex SHA-256 of the entry's canonical content
// (AuditContent, which includes Prev).
func AuditHash(e AuditEntry) string {
	sum := sha256.Sum256(AuditContent(e))
	return hex.EncodeToString(sum[:])
}

// ShortHash returns the first 12 characters of a hash, as notices show it.
func ShortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// SealAudit finalises the audit entries of a transition of r and chains
// them onto r.AuditHead: each gets r's id and Rev (the rev the change
// writes), its time in UTC, Prev and Hash; r.AuditHead becomes the last
// Hash. Call it after r.Rev is final and just before the Change is built,
// once per attempt: a retry after a conflict seals again from the fresh run.
func SealAudit(r *Run, entries []AuditEntry) {
	head := r.AuditHead
	for i := range entries {
		e := &entries[i]
		e.RunID = r.ID
		e.Rev = r.Rev
		e.At = e.At.UTC()
		e.Prev = head
		e.Hash = AuditHash(*e)
		head = e.Hash
	}
	r.AuditHead = head
}

// ChainStatus is the verdict on one run's audit chain.
type ChainStatus string

// The verdicts.
const (
	// ChainOK: every chained entry holds and the last leads to the run's head.
	ChainOK ChainStatus = "ok"
	// ChainUnchained: the log was written before the chain existed (no
	// entry has a Hash and the run has no AuditHead); nothing to verify.
	ChainUnchained ChainStatus = "unchained"
	// ChainBroken: an entry does not hold; Position names the first.
	ChainBroken ChainStatus = "broken"
)

// ChainFault is what differs at the first entry that does not hold.
type ChainFault string

// The faults.
const (
	// FaultHash: the entry's content does not hash to its Hash (it was edited).
	FaultHash ChainFault = "hash mismatch"
	// FaultPrev: the entry's Prev is not the Hash of the entry before it (an
	// entry before it was removed, or entries were reordered).
	FaultPrev ChainFault = "prev mismatch"
	// FaultHead: the log does not end at the run's AuditHead (entries were
	// removed from the end, or appended behind the bot's back).
	FaultHead ChainFault = "head mismatch"
	// FaultNoHash: an entry inside the chain has no Hash (inserted, or its hash stripped).
	FaultNoHash ChainFault = "hash missing"
)

// ChainCheck is the result of verifying one run's audit log.
type ChainCheck struct {
	RunID  string
	Status ChainStatus
	// Entries is the number of entries in the log.
	Entries int
	// Unchained is the number of leading entries written before the chain
	// existed (all of them when Status is ChainUnchained).
	Unchained int
	// Head is the Hash of the last entry ("" when none is chained).
	Head string
	// Position is the 1-based position of the first entry that does not
	// hold (Entries+1 when entries are missing at the end); 0 unless broken.
	Position int
	// Entry is the entry at Position, when there is one.
	Entry *AuditEntry
	// Faults are what differs there, Detail says it in words.
	Faults []ChainFault
	Detail string
}

// VerifyAudit checks the audit log of r (entries oldest first, as the store
// returns them) against its hashes and against r.AuditHead.
//
// Leading entries without a Hash were written before the chain existed and
// are counted as Unchained, not broken; the chain starts at the first entry
// with a Hash, whose Prev must be "". A log with no chained entry and a run
// without AuditHead is ChainUnchained.
func VerifyAudit(r *Run, entries []AuditEntry) ChainCheck {
	c := ChainCheck{RunID: r.ID, Status: ChainOK, Entries: len(entries)}
	for c.Unchained < len(entries) && entries[c.Unchained].Hash == "" {
		c.Unchained++
	}
	if c.Unchained == len(entries) && r.AuditHead == "" {
		c.Status = ChainUnchained
		return c
	}
	if c.Unchained > 0 && c.Unchained < len(entries) {
		// Entries from before the chain come from transitions before the one
		// that started it: a run started with the chain (its first chained
		// entry is of rev 1) has none, and none is of the chain's rev or later.
		first := entries[c.Unchained]
		for i := range c.Unchained {
			if first.Rev <= 1 || entries[i].Rev >= first.Rev {
				return c.broken(i+1, &entries[i], []ChainFault{FaultNoHash},
					fmt.Sprintf("an entry without a hash (rev %d) precedes the chain, which starts at rev %d: it was added behind the bot's back, or its hash was removed", entries[i].Rev, first.Rev))
			}
		}
	}
	prev := ""
	for i := c.Unchained; i < len(entries); i++ {
		e := &entries[i]
		var faults []ChainFault
		var why []string
		if e.Hash == "" {
			faults = append(faults, FaultNoHash)
			why = append(why, "the entry has no hash inside the chain (inserted, or its hash was removed)")
		} else if got := AuditHash(*e); got != e.Hash {
			faults = append(faults, FaultHash)
			why = append(why, fmt.Sprintf("its content was edited (stored hash %s, content hashes to %s)", ShortHash(e.Hash), ShortHash(got)))
		}
		if e.Prev != prev {
			faults = append(faults, FaultPrev)
			switch {
			case prev == "" && c.Unchained > 0:
				why = append(why, fmt.Sprintf("it starts the chain after %d entries without a hash, but its prev is %s: the entry before it lost its hash, or entries before it were removed or reordered", c.Unchained, ShortHash(e.Prev)))
			case prev == "":
				why = append(why, fmt.Sprintf("it should start the chain (empty prev) but its prev is %s: entries before it were removed or reordered", ShortHash(e.Prev)))
			default:
				why = append(why, fmt.Sprintf("its prev %s is not the hash of entry %d (%s): an entry was removed or entries were reordered", orNone(ShortHash(e.Prev)), i, ShortHash(prev)))
			}
		}
		if len(faults) > 0 {
			return c.broken(i+1, e, faults, strings.Join(why, "; "))
		}
		prev = e.Hash
	}
	c.Head = prev
	if prev != r.AuditHead {
		switch {
		case r.AuditHead == "":
			return c.broken(len(entries)+1, nil, []ChainFault{FaultHead},
				fmt.Sprintf("the log ends at %s but the run has no audit head (the run's head was removed)", ShortHash(prev)))
		case prev == "":
			return c.broken(len(entries)+1, nil, []ChainFault{FaultHead},
				fmt.Sprintf("the run's audit head is %s but no entry is chained: entries were removed or their hashes stripped", ShortHash(r.AuditHead)))
		}
		for i := c.Unchained; i < len(entries); i++ {
			if entries[i].Hash == r.AuditHead {
				return c.broken(i+2, &entries[i+1], []ChainFault{FaultHead},
					fmt.Sprintf("the run's audit head %s is entry %d: the entries after it were added behind the bot's back", ShortHash(r.AuditHead), i+1))
			}
		}
		return c.broken(len(entries)+1, nil, []ChainFault{FaultHead},
			fmt.Sprintf("the log ends after entry %d at %s but the run's audit head is %s: entries were removed from the end", len(entries), ShortHash(prev), ShortHash(r.AuditHead)))
	}
	return c
}

func (c ChainCheck) broken(pos int, e *AuditEntry, faults []ChainFault, detail string) ChainCheck {
	c.Status, c.Position, c.Entry, c.Faults, c.Detail = ChainBroken, pos, e, faults, detail
	return c
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// String describes the check in one line: "ok", "unchained" or "BROKEN …"
// naming the run, the entry and what differs.
func (c ChainCheck) String() string {
	switch c.Status {
	case ChainUnchained:
		return fmt.Sprintf("%s unchained (%d entries written before the audit chain)", c.RunID, c.Entries)
	case ChainOK:
		if c.Entries == 0 {
			return c.RunID + " ok (no entries)"
		}
		s := fmt.Sprintf("%s ok (%d entries, head %s)", c.RunID, c.Entries, ShortHash(c.Head))
		if c.Unchained > 0 {
			s = fmt.Sprintf("%s ok (%d entries, the first %d written before the audit chain, head %s)", c.RunID, c.Entries, c.Unchained, ShortHash(c.Head))
		}
		return s
	}
	faults := make([]string, len(c.Faults))
	for i, f := range c.Faults {
		faults[i] = string(f)
	}
	where := fmt.Sprintf("entry %d of %d", c.Position, c.Entries)
	if c.Entry != nil {
		where += " (" + describeEntry(c.Entry) + ")"
	} else if c.Position > c.Entries {
		where = fmt.Sprintf("entry %d (missing; the log has %d)", c.Position, c.Entries)
	}
	return fmt.Sprintf("%s BROKEN at %s: %s: %s", c.RunID, where, strings.Join(faults, ", "), c.Detail)
}

// describeEntry names an entry: its action, where and the rev.
func describeEntry(e *AuditEntry) string {
	s := e.Action
	switch {
	case e.Phase != "" && e.Step != "":
		s += " " + e.Phase + "/" + e.Step
	case e.Phase != "":
		s += " " + e.Phase
	}
	return fmt.Sprintf("%s, rev %d", s, e.Rev)
}
