package adapters

import (
	"context"
	"errors"
	"time"
)

// Budget returns how long ctx has left to run, or 0 when it has no deadline.
// Call it when a step starts and pass the result to StopSummary.
func Budget(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return time.Until(dl)
}

// StopSummary says why ctx ended: "timed out after 10m" when its deadline
// passed (budget is what Budget returned when the step started), else "cancelled".
func StopSummary(ctx context.Context, budget time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		if budget > 0 {
			return "timed out after " + FormatDuration(budget)
		}
		return "timed out"
	}
	return "cancelled"
}

// Stopped returns the failed Result of a step whose ctx ended.
func Stopped(ctx context.Context, budget time.Duration, output string) Result {
	return Result{OK: false, Summary: StopSummary(ctx, budget), Output: output}
}

// Truncate shortens s to at most n runes, ending it with "…" when cut.
func Truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	return string(r[:n-1]) + "…"
}
