package schedule

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"deploybot/runbook"
)

// recurrence is a parsed recurring window: when it starts (a cron schedule on
// the wall clock of loc) and how long it lasts.
type recurrence struct {
	spec  string
	sched cron.Schedule
	loc   *time.Location
	zone  string // the zone name as written ("" means UTC)
	dur   time.Duration
	key   string // stable identity of the service and definition, for claim keys
	// legacy is the key older versions claimed a lone service's notices
	// under ("" when another service defines the same window); see keyRecurrences.
	legacy string
	// service is the service whose runbook defines the window.
	service string
	// warned is set once a scan left occurrences out (guarded by Scheduler.mu).
	warned bool
}

// parseRecurrence parses a runbook's recurring window. It turns a panic of the
// cron parser into an error.
func parseRecurrence(w runbook.RecurringWindow) (r *recurrence, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("parse window %q: cannot be parsed", w.Cron)
		}
	}()
	spec := strings.TrimSpace(w.Cron)
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, fmt.Errorf("parse window %q: set the time zone with timezone:, not inside cron", w.Cron)
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("parse window %q: %w", w.Cron, err)
	}
	if s, ok := sched.(*cron.SpecSchedule); ok {
		// The schedule is matched against naive wall-clock times expressed in UTC.
		s.Location = time.UTC
	}
	loc, err := w.Location()
	if err != nil {
		return nil, fmt.Errorf("parse window %q: time zone: %w", w.Cron, err)
	}
	if w.Duration <= 0 {
		return nil, fmt.Errorf("parse window %q: duration must be more than 0", w.Cron)
	}
	h := fnv.New32a()
	fmt.Fprintf(h, "%s|%s|%s", spec, w.Timezone, time.Duration(w.Duration))
	return &recurrence{spec: spec, sched: sched, loc: loc, zone: w.Timezone, dur: time.Duration(w.Duration),
		key: fmt.Sprintf("rec-%08x", h.Sum32())}, nil
}

// maxSteps bounds the search of next for occurrences that resolve to
// instants not after the starting point (repeated hours).
const maxSteps = 10000

// next returns the first start of the window strictly after after, or the
// zero time when there is none within the cron library's horizon (5 years).
//
// The cron fields are matched on the wall clock of the window's zone. A wall
// time that does not exist (spring-forward gap) resolves to the first instant
// after the gap; a wall time that exists twice (fall-back) resolves to its
// first instance only. Several wall times resolving to the same instant are
// one occurrence.
func (r *recurrence) next(after time.Time) time.Time {
	w := naive(after, r.loc)
	for range maxSteps {
		w = r.sched.Next(w)
		if w.IsZero() {
			return time.Time{}
		}
		if t := resolve(w, r.loc); t.After(after) {
			return t
		}
	}
	return time.Time{}
}

// openAt returns the start of the occurrence that is open at t (start <= t <
// start+duration), if any.
func (r *recurrence) openAt(t time.Time) (time.Time, bool) {
	s := r.next(t.Add(-r.dur))
	if s.IsZero() || s.After(t) {
		return time.Time{}, false
	}
	return s, true
}

// naive returns t's wall clock in loc as a UTC time with the same fields.
func naive(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// resolve returns the instant at which loc's wall clock shows w (a naive time
// in UTC): the earlier one when it shows it twice, and the first instant after
// the gap when it never shows it.
func resolve(w time.Time, loc *time.Location) time.Time {
	var offs []int
	for _, d := range []time.Duration{-24 * time.Hour, 0, 24 * time.Hour} {
		_, off := w.Add(d).In(loc).Zone()
		if !slices.Contains(offs, off) {
			offs = append(offs, off)
		}
	}
	var best time.Time
	for _, off := range offs {
		t := w.Add(-time.Duration(off) * time.Second).In(loc)
		if _, o := t.Zone(); o != off {
			continue // this offset is not in force at that instant
		}
		if best.IsZero() || t.Before(best) {
			best = t
		}
	}
	if !best.IsZero() {
		return best
	}
	// A gap: read w with the offset in force before the gap (the smallest,
	// since the clock jumped forward); that instant lies after the gap, and
	// the zone period it belongs to starts at the end of the gap.
	low := offs[0]
	for _, o := range offs[1:] {
		low = min(low, o)
	}
	start, _ := w.Add(-time.Duration(low) * time.Second).In(loc).ZoneBounds()
	if start.IsZero() {
		return w.Add(-time.Duration(low) * time.Second).In(loc)
	}
	return start
}
