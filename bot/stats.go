package bot

import (
	"context"
	"fmt"
	"strings"
	"time"

	"deploybot/commands"
	"deploybot/deploy"
)

// MaxStatsDays is the longest period /deploy stats covers.
const MaxStatsDays = 365

// Stats returns the delivery figures of every run f keeps, whatever its
// workspace (the console's insights page; chat answers count only the
// asker's workspace).
func (b *Bot) Stats(ctx context.Context, f deploy.StatsFilter) (deploy.Stats, error) {
	return b.figures(ctx, f, nil)
}

// figures reads the stats index from f.From on and computes the figures of
// the entries f (and keep, when not nil) keeps.
func (b *Bot) figures(ctx context.Context, f deploy.StatsFilter, keep func(deploy.StatsEntry) bool) (deploy.Stats, error) {
	entries, err := b.e.StatsSince(ctx, f.From)
	if err != nil {
		return deploy.Stats{}, err
	}
	if keep != nil {
		kept := entries[:0]
		for _, e := range entries {
			if keep(e) {
				kept = append(kept, e)
			}
		}
		entries = kept
	}
	return deploy.ComputeStats(entries, f), nil
}

// stats answers /deploy stats [SERVICE] [to ENV] [DAYS] with the delivery
// figures of the runs of the asker's workspace.
func (b *Bot) stats(ctx context.Context, req Request, cmd commands.Command) Reply {
	days := cmd.Days
	if days == 0 {
		days = commands.DefaultStatsDays
	}
	if days < 1 || days > MaxStatsDays {
		return Reply{Text: fmt.Sprintf("the period is 1 to %d days, e.g. /deploy stats 30", MaxStatsDays), Refused: true}
	}
	if cmd.Service != "" {
		rb, err := b.e.Services().Lookup(cmd.Service)
		if err != nil {
			return Reply{Text: err.Error(), Refused: true}
		}
		if cmd.Env != "" {
			if err := rb.CheckEnv(cmd.Env); err != nil {
				return Reply{Text: err.Error(), Refused: true}
			}
		}
	}
	f := deploy.Period(cmd.Service, cmd.Env, days, b.clock.Now())
	s, err := b.figures(ctx, f, func(e deploy.StatsEntry) bool { return e.Workspace == "" || e.Workspace == req.Actor.Workspace })
	if err != nil {
		return b.refuse(err)
	}
	return Reply{Text: StatsText(s, b.statsScope(cmd.Service, cmd.Env), days)}
}

// statsScope names what the figures cover ("api to production", "all services").
func (b *Bot) statsScope(service, env string) string {
	if service == "" {
		if rb, ok := b.e.Services().Only(); ok {
			service = rb.Service()
		} else {
			service = "all services"
		}
	}
	if env == "" {
		return service + ", every environment"
	}
	return service + " to " + env
}

// statsWeeksShown is how many weeks the text of the figures lists at most.
const statsWeeksShown = 8

// StatsText is the compact text of the figures of a period of days.
func StatsText(s deploy.Stats, scope string, days int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "📊 Delivery stats: %s, last %d %s (%s – %s UTC)\n", scope, days, statsNoun(days, "day", "days"),
		s.Filter.From.UTC().Format("2 Jan 2006"), s.Filter.To.UTC().Format("2 Jan 2006"))
	if s.Runs == 0 {
		sb.WriteString("No run ended in this period: no data.\n")
	}
	// Deployments per week (the latest weeks only, in a long period).
	shown, label := s.Weeks, ""
	if len(shown) > statsWeeksShown {
		shown, label = shown[len(shown)-statsWeeksShown:], fmt.Sprintf("last %d weeks: ", statsWeeksShown)
	}
	weeks := make([]string, len(shown))
	for i, w := range shown {
		weeks[i] = fmt.Sprintf("W%02d %d", w.Week, w.Deployments)
	}
	fmt.Fprintf(&sb, "• Deployments: %d completed, %.1f per week", s.Deployments, s.PerWeek)
	if len(weeks) > 0 {
		fmt.Fprintf(&sb, " (%s%s)", label, strings.Join(weeks, " · "))
	}
	sb.WriteString("\n")
	// Change failure rate.
	if r, ok := s.FailureRate(); ok {
		fmt.Fprintf(&sb, "• Change failure rate: %s (%d of %d %s that reached production rolled back or aborted)\n",
			statsPercent(r), s.Failed, s.Production, statsNoun(s.Production, "run", "runs"))
	} else {
		sb.WriteString("• Change failure rate: no data (no run reached a production phase)\n")
	}
	// Lead time.
	if s.Lead.N > 0 {
		fmt.Fprintf(&sb, "• Lead time (start to completion): median %s, p90 %s (%d %s)\n",
			StatsDuration(s.Lead.Median), StatsDuration(s.Lead.P90), s.Lead.N, statsNoun(s.Lead.N, "run", "runs"))
	} else {
		sb.WriteString("• Lead time (start to completion): no data (no completed run)\n")
	}
	// Approval waits.
	if s.Approval.N > 0 {
		fmt.Fprintf(&sb, "• Waiting for approval: median %s (%d %s)\n", StatsDuration(s.Approval.Median), s.Approval.N, statsNoun(s.Approval.N, "approval", "approvals"))
	} else {
		sb.WriteString("• Waiting for approval: no data (no gate approved by a person)\n")
	}
	// Time to restore.
	open := ""
	if s.Unrestored > 0 {
		open = fmt.Sprintf("; %d %s not restored yet", s.Unrestored, statsNoun(s.Unrestored, "rollback", "rollbacks"))
	}
	if s.Restore.N > 0 {
		fmt.Fprintf(&sb, "• Time to restore: mean %s (%d %s)%s\n", StatsDuration(s.Restore.Mean), s.Restore.N, statsNoun(s.Restore.N, "rollback", "rollbacks"), open)
	} else if s.Unrestored > 0 {
		fmt.Fprintf(&sb, "• Time to restore: no data (%d %s not restored yet)\n", s.Unrestored, statsNoun(s.Unrestored, "rollback", "rollbacks"))
	} else {
		sb.WriteString("• Time to restore: no data (no rollback)\n")
	}
	return strings.TrimSpace(sb.String())
}

func statsNoun(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// statsPercent formats a rate as a whole percentage ("33%").
func statsPercent(r float64) string { return fmt.Sprintf("%.0f%%", r*100) }

// StatsDuration formats a duration for people, to two units at most:
// "45s", "12m", "2h 10m", "3d 4h".
func StatsDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	if d = d.Round(time.Second); d < time.Minute {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	if d = d.Round(time.Minute); d < time.Hour {
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	if d < 24*time.Hour {
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh %dm", h, m)
	}
	d = d.Round(time.Hour)
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd %dh", days, h)
}
