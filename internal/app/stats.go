package app

import (
	"context"
	"errors"
	"fmt"

	"deploybot/deploy"
)

const statsUsage = `usage:
  deploybot stats rebuild    write the delivery-metrics index (/deploy stats, the console's insights page) from the
                             stored runs: one entry per run that ended or was deployed, replacing the one it had
Run it once after upgrading from a version without delivery metrics, so the runs that ended before count;
running it again changes nothing. It is safe while the server runs on Redis.
The store is the one the server uses: REDIS_URL (and DEPLOYBOT_REDIS_PREFIX), else DEPLOYBOT_DATA.
rebuild exits 0 when every run was read, 1 when some could not be (the others are written),
2 on a usage or configuration error or when the store does not answer.`

// statsBatch is how many entries one PutStats writes.
const statsBatch = 200

// statsStore is the part of the store `deploybot stats rebuild` uses.
type statsStore interface {
	RunIDs(ctx context.Context) ([]string, error)
	Run(ctx context.Context, id string) (*deploy.Run, error)
	PutStats(ctx context.Context, entries ...deploy.StatsEntry) error
}

// statsMain runs `deploybot stats rebuild`.
func statsMain(ctx context.Context, env Env, args []string) int {
	if len(args) == 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		fmt.Fprintln(env.Stdout, statsUsage)
		return exitOK
	}
	if len(args) != 1 || args[0] != "rebuild" {
		fmt.Fprintln(env.Stderr, statsUsage)
		return exitUsage
	}
	st, code := openCLIStore(env)
	if st == nil {
		return code
	}
	defer st.Close()
	return statsRebuild(ctx, env, st)
}

// storeDown reports whether err says the store did not answer (rather
// than that one run cannot be decoded).
func storeDown(err error) bool {
	return errors.Is(err, deploy.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// statsRebuild reads every stored run, live and finished, and writes the
// index entry of each that ended or was deployed (deploy.IndexedStats), in
// batches. A run that cannot be decoded is named on stderr and skipped.
func statsRebuild(ctx context.Context, env Env, st statsStore) int {
	const cmd = "deploybot stats rebuild:"
	lctx, cancel := context.WithTimeout(ctx, auditReadTimeout)
	ids, err := st.RunIDs(lctx)
	cancel()
	if err != nil {
		fmt.Fprintln(env.Stderr, cmd, "listing runs:", err)
		return exitUsage
	}
	var batch []deploy.StatsEntry
	written, live, unreadable := 0, 0, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		wctx, cancel := context.WithTimeout(ctx, auditReadTimeout)
		defer cancel()
		if err := st.PutStats(wctx, batch...); err != nil {
			return err
		}
		written += len(batch)
		batch = batch[:0]
		return nil
	}
	for _, id := range ids {
		rctx, cancel := context.WithTimeout(ctx, auditReadTimeout)
		r, err := st.Run(rctx, id)
		cancel()
		switch {
		case errors.Is(err, deploy.ErrNotFound):
			continue // removed since it was listed
		case err != nil && storeDown(err):
			fmt.Fprintf(env.Stderr, "%s reading run %s: %v (%d entries written before)\n", cmd, id, err, written)
			return exitUsage
		case err != nil:
			fmt.Fprintf(env.Stderr, "%s run %s cannot be read, skipped: %v\n", cmd, id, err)
			unreadable++
			continue
		}
		e, ok := deploy.IndexedStats(r)
		if !ok {
			live++
			continue
		}
		batch = append(batch, e)
		if len(batch) == statsBatch {
			if err := flush(); err != nil {
				fmt.Fprintf(env.Stderr, "%s writing entries: %v (%d entries written before)\n", cmd, err, written)
				return exitUsage
			}
		}
	}
	if err := flush(); err != nil {
		fmt.Fprintf(env.Stderr, "%s writing entries: %v (%d entries written before)\n", cmd, err, written)
		return exitUsage
	}
	summary := fmt.Sprintf("stats rebuild: wrote %d %s (%d stored %s; %d live, not ended yet",
		written, plural(written, "entry", "entries"), len(ids), plural(len(ids), "run", "runs"), live)
	if unreadable > 0 {
		summary += fmt.Sprintf("; %d unreadable, skipped", unreadable)
	}
	fmt.Fprintln(env.Stdout, summary+")")
	if unreadable > 0 {
		return exitFailed
	}
	return exitOK
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
