package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"deploybot/deploy"
	"deploybot/deploy/boltstore"
	"deploybot/deploy/redisstore"
	"deploybot/internal/config"
)

const auditUsage = `usage:
  deploybot audit verify [RUN…|org]              verify the audit chain of every run and the org chain
                                                 (or of the given runs; "org": the org chain)
  deploybot audit export [--since DATE] [RUN…|org]
                                                 print audit entries as JSON Lines, oldest first per run,
                                                 then the org chain's (DATE: YYYY-MM-DD, UTC, or RFC 3339)
The org chain records freezes (/deploy lock, unlock) and maintenance windows (/deploy schedule, unschedule).
The store is the one the server uses: REDIS_URL (and DEPLOYBOT_REDIS_PREFIX), else DEPLOYBOT_DATA.
verify exits 0 when every chain holds, 1 when one does not, 2 on a usage or configuration error.`

// auditReadTimeout bounds the store calls made for one run.
const auditReadTimeout = 10 * time.Second

// auditStore is the part of the store the audit commands read.
type auditStore interface {
	Run(ctx context.Context, id string) (*deploy.Run, error)
	Audit(ctx context.Context, runID string) ([]deploy.AuditEntry, error)
	RunIDs(ctx context.Context) ([]string, error)
	OrgAudit(ctx context.Context) (deploy.OrgLog, error)
}

// selection is what an audit command reads: runs (every run when all) and
// the org chain.
type selection struct {
	runs []string
	all  bool // every run
	org  bool // the org chain
}

// selectAudit reads the arguments: none is every run and the org chain;
// otherwise the runs named and, when "org" is named, the org chain.
func selectAudit(ids []string) selection {
	if len(ids) == 0 {
		return selection{all: true, org: true}
	}
	var sel selection
	for _, id := range ids {
		if id == deploy.OrgAuditID {
			sel.org = true
			continue
		}
		sel.runs = append(sel.runs, id)
	}
	return sel
}

// readSelected reads the runs of sel (none when sel names only the org chain).
func readSelected(ctx context.Context, st auditStore, sel selection) (runs []auditRun, missing []string, err error) {
	if !sel.all && len(sel.runs) == 0 {
		return nil, nil, nil
	}
	return readRuns(ctx, st, sel.runs)
}

// readOrg reads the org chain. A chain that cannot be decoded is returned
// through bad (verify counts it as broken); a store that does not answer
// through err.
func readOrg(ctx context.Context, st auditStore) (l deploy.OrgLog, bad, err error) {
	ctx, cancel := context.WithTimeout(ctx, auditReadTimeout)
	defer cancel()
	l, err = st.OrgAudit(ctx)
	if err == nil {
		return l, nil, nil
	}
	if errors.Is(err, deploy.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return l, nil, fmt.Errorf("reading the org audit chain: %w", err)
	}
	return l, err, nil
}

// auditMain runs `deploybot audit verify|export`.
func auditMain(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		if len(args) == 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(env.Stdout, auditUsage)
			return exitOK
		}
		fmt.Fprintln(env.Stderr, auditUsage)
		return exitUsage
	}
	cmd, args := args[0], args[1:]
	var since time.Time
	if cmd == "export" {
		// --since DATE may come before or after the run ids.
		var rest []string
		for i := 0; i < len(args); i++ {
			a := args[i]
			val, isSince := strings.CutPrefix(a, "--since=")
			if !isSince && (a == "--since" || a == "-since") {
				if i+1 == len(args) {
					fmt.Fprintf(env.Stderr, "deploybot audit export: --since needs a date\n%s\n", auditUsage)
					return exitUsage
				}
				val, isSince = args[i+1], true
				i++
			}
			if !isSince {
				rest = append(rest, a)
				continue
			}
			t, err := parseSince(val)
			if err != nil {
				fmt.Fprintln(env.Stderr, "deploybot audit export:", err)
				return exitUsage
			}
			since = t
		}
		args = rest
	}
	for _, a := range args {
		if strings.HasPrefix(a, "-") || a == "" || strings.IndexFunc(a, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			fmt.Fprintf(env.Stderr, "deploybot audit %s: %q is not a run id\n%s\n", cmd, a, auditUsage)
			return exitUsage
		}
	}
	st, code := openCLIStore(env)
	if st == nil {
		return code
	}
	defer st.Close()
	sel := selectAudit(args)
	if cmd == "verify" {
		return auditVerify(ctx, env, st, sel)
	}
	return auditExport(ctx, env, st, sel, since)
}

// openCLIStore loads the configuration from env and opens the store the
// server would use, for a command run beside it (audit, stats); on failure
// it says why on stderr and returns the exit code.
func openCLIStore(env Env) (deploy.Store, int) {
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		fmt.Fprintln(env.Stderr, "deploybot:", err)
		return nil, exitUsage
	}
	st, err := openAuditStore(cfg)
	if err != nil {
		fmt.Fprintln(env.Stderr, "deploybot:", err)
		return nil, exitUsage
	}
	return st, exitOK
}

// openAuditStore opens the store the server would use (see Server.openStore),
// without creating an embedded store that does not exist.
func openAuditStore(cfg *config.Config) (deploy.Store, error) {
	if url := cfg.RedisURL.Reveal(); url != "" {
		st, err := redisstore.Open(url, cfg.RedisPrefix)
		if err != nil {
			return nil, &ConfigError{Msg: "REDIS_URL: " + err.Error()}
		}
		return st, nil
	}
	path := filepath.Join(cfg.DataDir, "deploybot.db")
	if _, err := os.Stat(path); err != nil {
		return nil, &ConfigError{Msg: fmt.Sprintf("DEPLOYBOT_DATA: no store at %s (set REDIS_URL or DEPLOYBOT_DATA to the store the server uses)", path)}
	}
	st, err := boltstore.Open(path)
	if err != nil {
		return nil, &ConfigError{Msg: "DEPLOYBOT_DATA: " + err.Error() + " (the embedded store is open in one process at a time: is deploybot serving from it?)"}
	}
	return st, nil
}

// parseSince reads --since: a date (midnight UTC) or an RFC 3339 time.
func parseSince(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want a date (2026-11-01) or an RFC 3339 time (2026-11-01T09:00:00Z)", s)
}

// auditRun is one run and its log as read together.
type auditRun struct {
	id      string
	run     *deploy.Run
	entries []deploy.AuditEntry
	// err: the run or its log is stored but cannot be decoded (edited into
	// something that is not an entry); verify counts it as broken.
	err error
}

// readAudit reads a run and its audit log as of one revision: the run is
// read before and after its log, and read again when a transition landed
// in between (a live bot keeps writing), so the head matches the entries read.
func readAudit(ctx context.Context, st auditStore, id string) (auditRun, error) {
	ctx, cancel := context.WithTimeout(ctx, auditReadTimeout)
	defer cancel()
	var last error
	for range 5 {
		r, err := st.Run(ctx, id)
		if err != nil {
			return auditRun{}, err
		}
		es, err := st.Audit(ctx, id)
		if err != nil {
			return auditRun{}, err
		}
		again, err := st.Run(ctx, id)
		if err != nil {
			return auditRun{}, err
		}
		if again.Rev == r.Rev {
			return auditRun{run: r, entries: es}, nil
		}
		last = fmt.Errorf("run %s kept changing while it was read (rev %d, then %d)", id, r.Rev, again.Rev)
	}
	return auditRun{}, last
}

// readRuns reads the given runs, or every stored run, oldest first. A run
// named that does not exist is reported through missing.
func readRuns(ctx context.Context, st auditStore, ids []string) (runs []auditRun, missing []string, err error) {
	if len(ids) == 0 {
		lctx, cancel := context.WithTimeout(ctx, auditReadTimeout)
		ids, err = st.RunIDs(lctx)
		cancel()
		if err != nil {
			return nil, nil, fmt.Errorf("listing runs: %w", err)
		}
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		ar, err := readAudit(ctx, st, id)
		ar.id = id
		if errors.Is(err, deploy.ErrNotFound) {
			missing = append(missing, id)
			continue
		}
		if errors.Is(err, deploy.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return nil, nil, fmt.Errorf("reading run %s: %w", id, err)
		}
		ar.err = err
		runs = append(runs, ar)
	}
	created := func(a auditRun) time.Time {
		if a.run == nil {
			return time.Time{}
		}
		return a.run.Created
	}
	slices.SortStableFunc(runs, func(a, b auditRun) int {
		if c := created(a).Compare(created(b)); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return runs, missing, nil
}

func auditVerify(ctx context.Context, env Env, st auditStore, sel selection) int {
	runs, missing, err := readSelected(ctx, st, sel)
	if err != nil {
		fmt.Fprintln(env.Stderr, "deploybot audit verify:", err)
		return exitUsage
	}
	var org *deploy.ChainCheck
	var orgBad error
	if sel.org {
		l, bad, err := readOrg(ctx, st)
		if err != nil {
			fmt.Fprintln(env.Stderr, "deploybot audit verify:", err)
			return exitUsage
		}
		if orgBad = bad; bad == nil {
			c := deploy.VerifyOrgAudit(l)
			org = &c
		}
	}
	var ok, unchained, broken int
	var first *deploy.ChainCheck
	for _, ar := range runs {
		if ar.err != nil {
			fmt.Fprintf(env.Stdout, "%s BROKEN: the run or its audit log cannot be read: %v\n", ar.id, ar.err)
			broken++
			if first == nil {
				first = &deploy.ChainCheck{RunID: ar.id, Faults: []deploy.ChainFault{"unreadable"}}
			}
			continue
		}
		c := deploy.VerifyAudit(ar.run, ar.entries)
		fmt.Fprintln(env.Stdout, c)
		switch c.Status {
		case deploy.ChainOK:
			ok++
		case deploy.ChainUnchained:
			unchained++
		default:
			broken++
			if first == nil {
				first = &c
			}
		}
	}
	for _, id := range missing {
		fmt.Fprintf(env.Stdout, "%s: no such run\n", id)
	}
	orgBroken := false
	switch {
	case orgBad != nil:
		orgBroken = true
		fmt.Fprintf(env.Stdout, "%s BROKEN: the org audit chain cannot be read: %v\n", deploy.OrgAuditID, orgBad)
	case org != nil:
		orgBroken = org.Status == deploy.ChainBroken
		fmt.Fprintln(env.Stdout, org)
	}
	var parts []string
	if len(runs) > 0 || len(missing) > 0 || sel.all {
		noun := "runs"
		if len(runs) == 1 {
			noun = "run"
		}
		summary := fmt.Sprintf("%d %s: %d ok, %d unchained, %d broken", len(runs), noun, ok, unchained, broken)
		if len(missing) > 0 {
			summary += fmt.Sprintf(", %d not found", len(missing))
		}
		if first != nil {
			summary += fmt.Sprintf("; first broken: run %s", first.RunID)
			if first.Position > 0 {
				summary += fmt.Sprintf(", entry %d", first.Position)
			}
			summary += " (" + faultWords(first.Faults) + ")"
		}
		parts = append(parts, summary)
	}
	switch {
	case orgBad != nil:
		parts = append(parts, "org chain BROKEN (unreadable)")
	case org != nil && orgBroken:
		parts = append(parts, fmt.Sprintf("org chain BROKEN at entry %d (%s)", org.Position, faultWords(org.Faults)))
	case org != nil:
		parts = append(parts, fmt.Sprintf("org chain ok (%d entries)", org.Entries))
	}
	fmt.Fprintln(env.Stdout, "audit verify: "+strings.Join(parts, "; "))
	if orgBroken {
		broken++
	}
	switch {
	case broken > 0:
		return exitFailed
	case len(missing) > 0:
		return exitUsage
	}
	return exitOK
}

func faultWords(fs []deploy.ChainFault) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// exportEntry is one line of `deploybot audit export`: the entry with its
// run and 1-based position in the run's log (the position verify names);
// prev and hash are always present ("" before the chain), shadowing the
// entry's own omitempty fields.
type exportEntry struct {
	deploy.AuditEntry
	Position int    `json:"position"`
	Prev     string `json:"prev"`
	Hash     string `json:"hash"`
}

// writeExport writes the entries of one chain (runID names it) from
// since on, one JSON line each.
func writeExport(enc *json.Encoder, runID string, entries []deploy.AuditEntry, since time.Time) error {
	for i, e := range entries {
		if !since.IsZero() && e.At.Before(since) {
			continue
		}
		if e.RunID == "" {
			e.RunID = runID
		}
		e.At = e.At.UTC()
		if err := enc.Encode(exportEntry{AuditEntry: e, Position: i + 1, Prev: e.Prev, Hash: e.Hash}); err != nil {
			return err
		}
	}
	return nil
}

func auditExport(ctx context.Context, env Env, st auditStore, sel selection, since time.Time) int {
	runs, missing, err := readSelected(ctx, st, sel)
	if err != nil {
		fmt.Fprintln(env.Stderr, "deploybot audit export:", err)
		return exitUsage
	}
	var org deploy.OrgLog
	var orgBad error
	if sel.org {
		var err error
		if org, orgBad, err = readOrg(ctx, st); err != nil {
			fmt.Fprintln(env.Stderr, "deploybot audit export:", err)
			return exitUsage
		}
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetEscapeHTML(false)
	var unreadable []string
	for _, ar := range runs {
		if ar.err != nil {
			unreadable = append(unreadable, ar.id)
			fmt.Fprintf(env.Stderr, "deploybot audit export: run %s: %v\n", ar.id, ar.err)
			continue
		}
		if err := writeExport(enc, ar.run.ID, ar.entries, since); err != nil {
			fmt.Fprintln(env.Stderr, "deploybot audit export:", err)
			return exitFailed
		}
	}
	if orgBad != nil {
		unreadable = append(unreadable, deploy.OrgAuditID)
		fmt.Fprintf(env.Stderr, "deploybot audit export: the org audit chain: %v\n", orgBad)
	}
	if err := writeExport(enc, deploy.OrgAuditID, org.Entries, since); err != nil {
		fmt.Fprintln(env.Stderr, "deploybot audit export:", err)
		return exitFailed
	}
	if len(missing) > 0 {
		fmt.Fprintf(env.Stderr, "deploybot audit export: no such run: %s\n", strings.Join(missing, ", "))
		return exitUsage
	}
	if len(unreadable) > 0 {
		return exitFailed
	}
	return exitOK
}
