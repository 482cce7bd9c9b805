package deploy

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Delivery metrics (issue #14): every run leaves one StatsEntry in the
// store's stats index, written in the same Store.Apply as the transition
// that ends it (or makes it deployed). The figures (/deploy stats, the
// console's insights page) are computed from the entries of a period, never
// by reading every run.

// Outcomes of a StatsEntry: a run that was deployed counts as completed from
// the moment it was deployed (its follow-up phases do not change it).
const (
	OutcomeCompleted  = StatusCompleted
	OutcomeRolledBack = StatusRolledBack
	OutcomeAborted    = StatusAborted
)

// StatsEntry is one ended run in the stats index. The index keeps one entry
// per run id: writing a run's entry again replaces it.
type StatsEntry struct {
	RunID   string `json:"run_id"`
	Service string `json:"service"`
	Env     string `json:"env"`
	Release string `json:"release"`
	// Workspace is the Slack team or Discord guild the run belongs to ("" on
	// the console): chat answers count only the asker's workspace's runs.
	Workspace string `json:"workspace,omitempty"`
	// Outcome is OutcomeCompleted, OutcomeRolledBack or OutcomeAborted.
	Outcome Status `json:"outcome"`
	// Started is when the run was started; Ended when it completed, was
	// deployed, rolled back or aborted.
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// Production is set when the run reached a production phase (see
	// StatsEntryOf for runbooks that mark none).
	Production bool `json:"production,omitempty"`
	// RollbackAt is when its rollback started (zero without one).
	RollbackAt time.Time `json:"rollback_at,omitzero"`
	// Waits are the approval waits of the gates a person approved: from
	// the phase's AwaitingSince to its approval.
	Waits []ApprovalWait `json:"waits,omitempty"`
}

// ApprovalWait is how long one gate waited for a person's approval.
type ApprovalWait struct {
	Phase string        `json:"phase"`
	Wait  time.Duration `json:"wait"`
}

// StatsIndex reads the stats index; deploy.Store provides it.
type StatsIndex interface {
	// StatsSince returns the entries of runs that ended at or after since,
	// oldest end first.
	StatsSince(ctx context.Context, since time.Time) ([]StatsEntry, error)
}

// StatsWriter puts entries in the stats index outside a run change: what
// `deploybot stats rebuild` writes for runs that ended before the index
// existed. deploy.Store provides it.
type StatsWriter interface {
	// PutStats writes entries in one atomic step, each replacing the
	// entry its run had (one entry per run id, so writing the same entries
	// again changes nothing). An entry without a run id is refused and
	// nothing is written.
	PutStats(ctx context.Context, entries ...StatsEntry) error
}

// StatsEntryOf returns the index entry of a run that ended or was deployed.
// A run of a runbook that marks no production phase counts as having
// reached production unless it was aborted (it deploys to its environment
// as a whole, as CanRollBack assumes). The waits of follow-up phases are
// left out: the entry is written when the run is deployed, before any of
// them is approved, so a run recomputed after its follow-ups (a rebuild)
// gets the entry it was given then.
func StatsEntryOf(r *Run) StatsEntry {
	e := StatsEntry{
		RunID: r.ID, Service: r.Service, Env: r.Env, Release: r.Release, Workspace: r.Workspace,
		Outcome: r.Status, Started: r.Created, Ended: r.Ended,
	}
	if e.Service == "" {
		e.Service = r.Runbook.Service() // a run stored before services: its runbook names it
	}
	if r.Status == StatusDeployed {
		e.Outcome = OutcomeCompleted
	}
	if e.Ended.IsZero() {
		e.Ended = r.Updated
	}
	e.Production = r.ProductionStarted() || (r.FirstProduction() < 0 && e.Outcome != OutcomeAborted)
	if r.Rollback != nil {
		e.RollbackAt = r.Rollback.At
	}
	for i := range r.Phases {
		p := &r.Phases[i]
		if p.ID == RollbackPhaseID || p.Approval == nil || p.AwaitingSince.IsZero() || p.Approval.By.ID == System.ID {
			continue
		}
		if i < len(r.Runbook.Phases) && r.Runbook.Phases[i].FollowUp {
			continue
		}
		if w := p.Approval.At.Sub(p.AwaitingSince); w >= 0 {
			e.Waits = append(e.Waits, ApprovalWait{Phase: p.ID, Wait: w})
		}
	}
	return e
}

// IndexedStats returns the index entry a stored run is owed (StatsEntryOf)
// and true when the run ended or was deployed; a live run is owed none yet.
// It is what the ending transition wrote, or would have written had the
// index existed then.
func IndexedStats(r *Run) (StatsEntry, bool) {
	if r.Status.Live() {
		return StatsEntry{}, false
	}
	return StatsEntryOf(r), true
}

// statsOnEnd returns the index entry owed by a transition that takes a run
// from status prev ("" for a run being created) to next's status, when it
// ends the run or makes it deployed; nil otherwise. A run is indexed once:
// a deployed run finishing its follow-ups owes nothing more.
func statsOnEnd(prev Status, next *Run) *StatsEntry {
	if (prev != "" && !prev.Live()) || next.Status.Live() {
		return nil
	}
	e := StatsEntryOf(next)
	return &e
}

// DefaultStatsDays is the period of the figures when none is given.
const DefaultStatsDays = 30

// StatsFilter selects the entries figures are computed over.
type StatsFilter struct {
	// Service and Env, when set, keep only that service's or environment's runs.
	Service string
	Env     string
	// From and To bound the period: runs that ended at or after From and
	// before To.
	From, To time.Time
}

// Period returns the filter for the days before now.
func Period(service, env string, days int, now time.Time) StatsFilter {
	if days <= 0 {
		days = DefaultStatsDays
	}
	now = now.UTC()
	return StatsFilter{Service: service, Env: env, From: now.Add(-time.Duration(days) * 24 * time.Hour), To: now}
}

// Keep reports whether the filter keeps e.
func (f StatsFilter) Keep(e StatsEntry) bool {
	return (f.Service == "" || e.Service == f.Service) && (f.Env == "" || e.Env == f.Env) &&
		!e.Ended.Before(f.From) && (f.To.IsZero() || e.Ended.Before(f.To))
}

// Spread summarises durations: how many, their median, 90th percentile and mean.
// The median of an even count is the mean of the two middle values; the 90th
// percentile is the nearest rank: the ⌈0.9·N⌉-th smallest value.
type Spread struct {
	N      int
	Median time.Duration
	P90    time.Duration
	Mean   time.Duration
}

// SpreadOf summarises ds (it sorts a copy).
func SpreadOf(ds []time.Duration) Spread {
	n := len(ds)
	if n == 0 {
		return Spread{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	rank := (9*n + 9) / 10 // ⌈0.9·n⌉
	return Spread{N: n, Median: med, P90: s[rank-1], Mean: sum / time.Duration(n)}
}

// WeekStats are the figures of one ISO week (Monday to Sunday, UTC).
type WeekStats struct {
	// Year and Week are the ISO year and week number; Start is its Monday, 00:00 UTC.
	Year, Week int
	Start      time.Time
	// Deployments counts the completed runs that ended in the week.
	Deployments int
	// Lead spreads their lead times (start to completion).
	Lead Spread
	// Production counts the runs ended in the week that reached a
	// production phase; Failed those of them rolled back or aborted.
	Production, Failed int
}

// Label names the week ("2026-W48").
func (w WeekStats) Label() string { return fmt.Sprintf("%d-W%02d", w.Year, w.Week) }

// FailureRate returns Failed/Production, false when no run reached production.
func (w WeekStats) FailureRate() (float64, bool) { return rate(w.Failed, w.Production) }

func rate(n, of int) (float64, bool) {
	if of == 0 {
		return 0, false
	}
	return float64(n) / float64(of), true
}

// Stats are the delivery figures of a period.
type Stats struct {
	Filter StatsFilter
	// Runs counts the entries kept (every outcome).
	Runs int
	// Deployments counts the completed runs; PerWeek is that over the
	// period's length in weeks (days/7).
	Deployments int
	PerWeek     float64
	// Weeks has one row per ISO week the period touches, oldest first,
	// weeks without runs included.
	Weeks []WeekStats
	// Production counts the runs that reached a production phase; Failed
	// those of them rolled back or aborted (the change failure rate).
	Production, Failed int
	// Lead spreads the completed runs' lead times (start to completion).
	Lead Spread
	// Approval spreads the approval waits of every gate a person approved.
	Approval Spread
	// Restore spreads the times to restore: from a rollback's start to the
	// next completed run of the same service in that environment.
	Restore Spread
	// Unrestored counts the rollbacks with no completed run after them yet.
	Unrestored int
}

// FailureRate returns the change failure rate, false when no run reached production.
func (s Stats) FailureRate() (float64, bool) { return rate(s.Failed, s.Production) }

// isoMonday returns the Monday 00:00 UTC of t's ISO week.
func isoMonday(t time.Time) time.Time {
	t = t.UTC()
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	back := (int(d.Weekday()) + 6) % 7 // Monday 0 … Sunday 6
	return d.AddDate(0, 0, -back)
}

// ComputeStats returns the figures of the entries f keeps. entries may hold
// more (other services, environments, times); a rollback's restore looks for
// the next completed run among the entries f keeps.
func ComputeStats(entries []StatsEntry, f StatsFilter) Stats {
	s := Stats{Filter: f}
	var kept []StatsEntry
	for _, e := range entries {
		if f.Keep(e) {
			kept = append(kept, e)
		}
	}
	slices.SortStableFunc(kept, func(a, b StatsEntry) int { return a.Ended.Compare(b.Ended) })
	s.Runs = len(kept)

	to := f.To
	if to.IsZero() && len(kept) > 0 {
		to = kept[len(kept)-1].Ended
	}
	var days float64
	if !f.From.IsZero() && !to.IsZero() {
		days = to.Sub(f.From).Hours() / 24
		for m := isoMonday(f.From); m.Before(to); m = m.AddDate(0, 0, 7) {
			y, w := m.ISOWeek()
			s.Weeks = append(s.Weeks, WeekStats{Year: y, Week: w, Start: m})
		}
	}
	byMonday := make(map[time.Time]int, len(s.Weeks))
	for i, w := range s.Weeks {
		byMonday[w.Start] = i
	}
	week := func(t time.Time) *WeekStats {
		if i, ok := byMonday[isoMonday(t)]; ok {
			return &s.Weeks[i]
		}
		return nil
	}

	var lead, waits, restore []time.Duration
	weekLead := map[time.Time][]time.Duration{}
	for _, e := range kept {
		wk := week(e.Ended)
		for _, w := range e.Waits {
			waits = append(waits, w.Wait)
		}
		if e.Production {
			s.Production++
			if wk != nil {
				wk.Production++
			}
			if e.Outcome != OutcomeCompleted {
				s.Failed++
				if wk != nil {
					wk.Failed++
				}
			}
		}
		switch e.Outcome {
		case OutcomeCompleted:
			s.Deployments++
			d := e.Ended.Sub(e.Started)
			lead = append(lead, d)
			if wk != nil {
				wk.Deployments++
				weekLead[wk.Start] = append(weekLead[wk.Start], d)
			}
		case OutcomeRolledBack:
			if e.RollbackAt.IsZero() {
				continue
			}
			restored := false
			for _, n := range kept { // oldest end first: the first match is the next one
				if n.Outcome == OutcomeCompleted && n.Service == e.Service && n.Env == e.Env && n.Ended.After(e.RollbackAt) {
					restore = append(restore, n.Ended.Sub(e.RollbackAt))
					restored = true
					break
				}
			}
			if !restored {
				s.Unrestored++
			}
		}
	}
	for i := range s.Weeks {
		s.Weeks[i].Lead = SpreadOf(weekLead[s.Weeks[i].Start])
	}
	s.Lead, s.Approval, s.Restore = SpreadOf(lead), SpreadOf(waits), SpreadOf(restore)
	if days > 0 {
		s.PerWeek = float64(s.Deployments) / (days / 7)
	}
	return s
}

// StatsSince returns the stats index entries of runs that ended at or
// after since, oldest first, or an error saying the store keeps none.
func (e *Engine) StatsSince(ctx context.Context, since time.Time) ([]StatsEntry, error) {
	idx, ok := e.store.(StatsIndex)
	if !ok {
		return nil, userErr(ErrInvalid, "this store keeps no delivery statistics")
	}
	ctx, cancel := context.WithTimeout(ctx, e.storeTimeout)
	defer cancel()
	es, err := idx.StatsSince(ctx, since)
	if err != nil {
		return nil, e.storeErr("stats", err)
	}
	return es, nil
}
