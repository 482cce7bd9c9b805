package schedule

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"deploybot/deploy"
)

// Limits of a scheduled window (the commands package checks them too; the
// scheduler re-checks because requests may come from elsewhere).
const (
	// DefaultLength is the length of a window booked without one.
	DefaultLength = 2 * time.Hour
	// MinLength and MaxLength bound a booked window's length.
	MinLength = time.Minute
	MaxLength = 24 * time.Hour
	// MaxAhead is how far ahead a window may be booked.
	MaxAhead = 90 * 24 * time.Hour
	// MaxBooked is how many windows that have not ended one environment may have.
	MaxBooked = 20
	// KeepEnded is how long an ended window is kept (for "window ended"
	// notices and the dashboard) before it is pruned.
	KeepEnded = 24 * time.Hour
)

// ErrOverlap is the kind of the *deploy.Error returned when a booked window
// would overlap another scheduled window of the same environment.
var ErrOverlap = errors.New("overlapping maintenance window")

// storeTimeout bounds the store calls made for a person on the chat path.
const storeTimeout = 1500 * time.Millisecond

// idAlphabet avoids characters that are easy to confuse (0/o, 1/l/i).
const idAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"

var validRelease = regexp.MustCompile(`^[A-Za-z0-9._+/-]{1,64}$`)

// newWindowID returns "w" and 5 random characters of idAlphabet.
func newWindowID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return "w" + string(b)
}

func refuse(kind error, format string, args ...any) error {
	return &deploy.Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// storeErr turns a failed store read into the error a person reads
// (deploy.StoreFailure).
func (s *Calendar) storeErr(op string, err error) error {
	return deploy.StoreFailure(s.log, op, err, false)
}

// writeErr is storeErr for a failed write, whose outcome may not be known.
func (s *Calendar) writeErr(op string, err error) error {
	return deploy.StoreFailure(s.log, op, err, true)
}

// Schedule books a maintenance window for req.Release of req.Service (the
// only one when it names none) in DefaultEnv. It refuses (with a
// *deploy.Error whose text is for the person) an unknown service or none
// of several, a start that is not in the future at the scheduler's clock,
// an unknown zone, an invalid version or length, and a window overlapping
// another scheduled window of the same service and environment (kind
// ErrOverlap). Recurring windows may overlap it.
func (s *Calendar) Schedule(ctx context.Context, req deploy.ScheduleRequest) (deploy.Window, error) {
	now := s.clock.Now().UTC()
	rb, err := s.services.Lookup(req.Service)
	if err != nil {
		return deploy.Window{}, refuse(deploy.ErrInvalid, "%v", err)
	}
	service := rb.Service()
	if err := rb.CheckEnv(DefaultEnv); err != nil {
		return deploy.Window{}, refuse(deploy.ErrInvalid, "%v", err)
	}
	if rb = rb.RulesFor(DefaultEnv); !deploy.IsApprover(rb, req.Actor) {
		return deploy.Window{}, refuse(deploy.ErrNotAllowed, "only approvers may book a maintenance window (%s)", deploy.WhoApproves(rb))
	}
	if !validRelease.MatchString(req.Release) || strings.HasPrefix(req.Release, "-") {
		return deploy.Window{}, refuse(deploy.ErrInvalid, "invalid version %q: use letters, digits and . - _ + / only (at most 64)", req.Release)
	}
	if req.Length == 0 {
		req.Length = DefaultLength
	}
	if req.Length < MinLength || req.Length > MaxLength {
		return deploy.Window{}, refuse(deploy.ErrInvalid, "a window lasts from %s to %s, not %s", MinLength, MaxLength, req.Length)
	}
	if req.Zone != "" {
		if _, err := time.LoadLocation(req.Zone); err != nil {
			return deploy.Window{}, refuse(deploy.ErrInvalid, "unknown time zone %q: use an IANA name such as Europe/Berlin", req.Zone)
		}
	}
	start := req.Start.UTC()
	if start.IsZero() || !start.After(now) {
		return deploy.Window{}, refuse(deploy.ErrInvalid, "the start %s is not in the future (it is now %s)",
			start.Format(time.RFC3339), now.Truncate(time.Second).Format(time.RFC3339))
	}
	if start.Sub(now) > MaxAhead {
		return deploy.Window{}, refuse(deploy.ErrInvalid, "a window may be booked at most %d days ahead", int(MaxAhead/(24*time.Hour)))
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if req.RequestID != "" {
		first, err := s.store.ClaimOnce(ctx, "schedule-request:"+req.RequestID, 24*time.Hour)
		if err != nil {
			return deploy.Window{}, s.storeErr("schedule", err)
		}
		if !first {
			return deploy.Window{}, refuse(deploy.ErrAlreadyDone, "this schedule request was already handled; /deploy windows lists the windows")
		}
	}
	// The booking and its org audit entry are one compare-and-set on the
	// org chain's head, and every booking and cancellation moves that head:
	// two people booking overlapping windows at the same moment on two
	// processes cannot both pass the checks below, the second is checked
	// again against the first's window.
	w := deploy.Window{
		Service: service, Release: req.Release, Start: start, Length: req.Length, Zone: req.Zone,
		Channel: req.Channel, Platform: req.Platform, By: req.Actor, Created: now,
	}
	_, err = deploy.AppendOrgAudit(ctx, s.store, func(ctx context.Context) (deploy.OrgChange, error) {
		all, err := s.store.Windows(ctx, time.Time{})
		if err != nil {
			return deploy.OrgChange{}, err
		}
		existing := s.prune(ctx, all, now)
		if o := s.overlapping(existing, w); o != nil {
			return deploy.OrgChange{}, overlapErr(o)
		}
		if n := s.countEnv(existing, service, envOf(w)); n >= MaxBooked {
			return deploy.OrgChange{}, refuse(deploy.ErrInvalid, "%s already has %d windows booked in %s (at most %d): /deploy unschedule one first", service, n, envOf(w), MaxBooked)
		}
		for {
			w.ID = newWindowID()
			if !slices.ContainsFunc(all, func(x deploy.Window) bool { return x.ID == w.ID }) {
				break
			}
		}
		return deploy.OrgChange{Entry: deploy.OrgWindowEntry(deploy.OrgWindowBook, w, req.Actor, now), PutWindow: &w}, nil
	})
	if err != nil {
		if _, refused := errors.AsType[*deploy.Error](err); refused {
			return deploy.Window{}, err
		}
		return deploy.Window{}, s.writeErr("schedule", err)
	}
	s.windowsChanged()
	s.log.Info("window scheduled", "audit", true, "window", w.ID, "service", service, "release", w.Release, "env", envOf(w), "start", w.Start, "length", w.Length.String(),
		"user", req.Actor.ID, "platform", req.Actor.Platform)
	return w, nil
}

// prune deletes windows that ended more than KeepEnded ago (best effort: a
// failure leaves them for the next booking) and returns those not ended.
func (s *Calendar) prune(ctx context.Context, all []deploy.Window, now time.Time) []deploy.Window {
	var live []deploy.Window
	for _, w := range all {
		switch {
		case w.End().After(now):
			live = append(live, w)
		case now.Sub(w.End()) > KeepEnded:
			if err := s.store.DeleteWindow(ctx, w.ID); err != nil && !errors.Is(err, deploy.ErrNotFound) {
				s.log.Warn("could not prune an ended window", "window", w.ID, "err", err)
			}
		}
	}
	return live
}

func (s *Calendar) countEnv(ws []deploy.Window, service, env string) int {
	n := 0
	for _, w := range ws {
		if envOf(w) == env && s.serviceOf(w) == service {
			n++
		}
	}
	return n
}

// sameScope reports whether two booked windows gate the same runs'
// environment and service (a window of every service meets every service).
func (s *Calendar) sameScope(a, b deploy.Window) bool {
	sa, sb := s.serviceOf(a), s.serviceOf(b)
	return envOf(a) == envOf(b) && (sa == "" || sb == "" || sa == sb)
}

func envOf(w deploy.Window) string {
	if w.Env == "" {
		return DefaultEnv
	}
	return w.Env
}

func overlaps(a, b deploy.Window) bool { return a.Start.Before(b.End()) && b.Start.Before(a.End()) }

func (s *Calendar) overlapping(ws []deploy.Window, w deploy.Window) *deploy.Window {
	for i := range ws {
		if s.sameScope(ws[i], w) && overlaps(ws[i], w) {
			return &ws[i]
		}
	}
	return nil
}

func overlapErr(o *deploy.Window) error {
	return refuse(ErrOverlap, "that overlaps window %s (%s, %s to %s UTC, booked by %s): pick another time, or /deploy unschedule %s first",
		o.ID, o.Release, o.Start.UTC().Format("Mon 2006-01-02 15:04"), o.End().UTC().Format("15:04"), o.By.Mention(), o.ID)
}

// Upcoming lists the scheduled windows that have not ended, and for each
// recurring window the occurrence open now or else the next one, by start.
func (s *Calendar) Upcoming(ctx context.Context) ([]deploy.WindowView, error) {
	now := s.clock.Now().UTC()
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	ws, err := s.store.Windows(ctx, now)
	if err != nil {
		return nil, s.storeErr("windows", err)
	}
	var out []deploy.WindowView
	for _, w := range ws {
		if o := s.scheduledOccurrence(w); o.end.After(now) {
			out = append(out, o.view())
		}
	}
	for _, r := range s.recs {
		start, ok := r.openAt(now)
		if !ok {
			start = r.next(now)
		}
		if !start.IsZero() {
			o := r.occurrence(start)
			out = append(out, o.view())
		}
	}
	slices.SortStableFunc(out, func(a, b deploy.WindowView) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// Unschedule cancels a scheduled window. The person who booked it and the
// runbook's approvers may; others get ErrNotAllowed. Its pending reminders
// are not sent.
func (s *Calendar) Unschedule(ctx context.Context, id string, actor deploy.Actor) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	ws, err := s.store.Windows(ctx, time.Time{})
	if err != nil {
		return s.storeErr("unschedule", err)
	}
	i := slices.IndexFunc(ws, func(w deploy.Window) bool { return w.ID == id })
	if i < 0 {
		return refuse(deploy.ErrNotFound, "no scheduled window %q. /deploy windows lists them (recurring windows come from the runbook and cannot be cancelled)", id)
	}
	w := ws[i]
	rb := s.services.Get(s.serviceOf(w))
	if rb == nil {
		rb = s.Runbook() // a window of a service no longer deployed, or of every service
	}
	if rb = rb.RulesFor(envOf(w)); !deploy.IsApprover(rb, actor) {
		return refuse(deploy.ErrNotAllowed, "only approvers may cancel window %s (%s)", id, deploy.WhoApproves(rb))
	}
	// The cancellation and its org audit entry are one compare-and-set;
	// the window is read again when another audited change came first.
	_, err = deploy.AppendOrgAudit(ctx, s.store, func(context.Context) (deploy.OrgChange, error) {
		return deploy.OrgChange{Entry: deploy.OrgWindowEntry(deploy.OrgWindowCancel, w, actor, s.clock.Now().UTC()), DeleteWindow: id}, nil
	})
	s.windowsChanged()
	if errors.Is(err, deploy.ErrNotFound) {
		return refuse(deploy.ErrNotFound, "window %s was already cancelled", id)
	}
	if err != nil {
		return s.writeErr("unschedule", err)
	}
	s.log.Info("window unscheduled", "audit", true, "window", id, "release", w.Release, "user", actor.ID, "platform", actor.Platform)
	return nil
}

// Open implements the window adapter's Windows: it describes the window open
// for service in env at now (a recurring one first). When none is open it
// reports false and describes the next window for them, or returns "" when
// there is none.
func (s *Calendar) Open(ctx context.Context, service, env, release string, now time.Time) (string, bool, error) {
	open, next, err := s.scan(ctx, service, env, release, now)
	switch {
	case err != nil:
		return "", false, fmt.Errorf("window open: %w", err)
	case open != nil:
		return describe(*open), true, nil
	case next == nil:
		return "", false, nil
	}
	return "next: " + describe(*next), false, nil
}

// scan returns a window for service, env and release open at now (a
// recurring one first) and the next one to open after now; either is nil
// when there is none.
func (s *Calendar) scan(ctx context.Context, service, env, release string, now time.Time) (open, next *occurrence, err error) {
	consider := func(o occurrence) {
		if o.start.After(now) && (next == nil || o.start.Before(next.start)) {
			next = &o
		}
	}
	for _, r := range s.recs {
		if service != "" && r.service != service {
			continue
		}
		if start, ok := r.openAt(now); ok && open == nil {
			o := r.occurrence(start)
			open = &o
		}
		if start := r.next(now); !start.IsZero() {
			consider(r.occurrence(start))
		}
	}
	ws, err := s.store.Windows(ctx, now)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range ws {
		o := s.scheduledOccurrence(w)
		if !o.applies(service, env, release) {
			continue
		}
		if open == nil && o.openAt(now) {
			open = &o
		}
		consider(o)
	}
	return open, next, nil
}

// Window implements deploy.WindowGate from one scan: whether a window for
// service in env is open at now and, when none is, when the next one
// opens, in the zone it was booked in.
func (s *Calendar) Window(ctx context.Context, service, env, release string, now time.Time) (bool, *deploy.WindowAt, error) {
	open, next, err := s.scan(ctx, service, env, release, now)
	switch {
	case err != nil:
		return false, nil, err // the engine says "window gate"
	case open != nil:
		return true, nil, nil
	case next == nil:
		return false, nil, nil
	}
	return false, &deploy.WindowAt{Start: next.start, Zone: next.zone}, nil
}

// Scheduled implements the window adapter's Windows: it reports whether a
// window for service in env is open at now (scheduled or recurring) or a
// scheduled (booked) window for them starts after now, and describes it.
// Future occurrences of recurring windows do not count as booked.
func (s *Calendar) Scheduled(ctx context.Context, service, env, release string, now time.Time) (string, bool, error) {
	desc, open, err := s.Open(ctx, service, env, release, now)
	if err != nil || open {
		return desc, open, err
	}
	ws, err := s.store.Windows(ctx, now)
	if err != nil {
		return "", false, fmt.Errorf("window scheduled: %w", err)
	}
	for _, w := range ws {
		if o := s.scheduledOccurrence(w); o.applies(service, env, release) && o.start.After(now) {
			return describe(o), true, nil
		}
	}
	return "", false, nil
}

// describe names an occurrence for people and step results.
func describe(o occurrence) string {
	span := o.start.Format("Mon 2006-01-02 15:04") + "–" + o.end.Format("15:04") + " UTC"
	if o.recurring {
		return "recurring maintenance window " + span
	}
	if o.service != "" {
		return fmt.Sprintf("maintenance window %s for %s %s, %s", o.id, o.service, o.release, span)
	}
	return fmt.Sprintf("maintenance window %s for %s, %s", o.id, o.release, span)
}
