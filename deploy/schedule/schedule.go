package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"deploybot/deploy"
	"deploybot/internal/clock"
	"deploybot/runbook"
)

const (
	// DefaultTick is how often Run scans for due notices.
	DefaultTick = time.Second
	// DefaultEnv is the environment of a scheduled window that names none.
	DefaultEnv = "production"
	// ClosingLead is how long before a window ends the "window closes" notice
	// is sent when runs are live in its environment.
	ClosingLead = 15 * time.Minute
	// Lookback is how long after a window ended the scheduler still looks at
	// it: to send the "ended while a production phase is open" warning late,
	// and to drop (and count) the notices of windows missed while down.
	Lookback = 24 * time.Hour
	// maxOccurrences bounds the occurrences of one recurring window a scan
	// considers (a cron expression firing every minute would otherwise make
	// tens of thousands).
	maxOccurrences = 2000
	// scanTimeout bounds one scan, so a stalled store does not hold the loop.
	scanTimeout = time.Minute
	// claimPrefix prefixes the scheduler's once-only claim keys in the store.
	claimPrefix = "schedule:"
	// legacyGrace is how long after a process starts older processes may
	// still be running beside it (a rolling upgrade), taking a lone
	// service's claims under their unprefixed keys (see legacyKey).
	legacyGrace = Lookback
	// WindowsRefresh is how long a scan trusts the windows it read to find
	// what is due: windows booked through another process are seen within it
	// (this process's own bookings at once). No notice is sent on that trust
	// alone: each is checked against the store just before it is claimed
	// (see Scheduler.current), so a window cancelled or changed by any
	// process is never announced.
	WindowsRefresh = 30 * time.Second
	// LiveRefresh is how often, while a window is open, the scan reads the
	// live runs again to move on the ones that wait for it. They are also
	// read whenever a window opens, enters its closing period or ends.
	LiveRefresh = 30 * time.Second
)

// WindowStore is what the calendar needs of the store: the booked windows,
// the org audit chain that each booking and cancellation is written with
// (deploy.AppendOrgAudit), and a once-only claim that makes a repeated
// booking request one booking. DeleteWindow only prunes ended windows.
type WindowStore interface {
	Windows(ctx context.Context, endAfter time.Time) ([]deploy.Window, error)
	DeleteWindow(ctx context.Context, id string) error
	ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
	deploy.OrgAppender
}

// CalendarConfig configures a Calendar. Store is required.
type CalendarConfig struct {
	Store WindowStore
	// Services give, per service, the recurring windows and the approvers
	// who may book and cancel its windows. Nil: Runbook as the only service.
	Services *runbook.Catalog
	// Runbook is the only service's runbook when Services is nil. Nil
	// (and no Services) means no recurring windows and anybody approves.
	Runbook *runbook.Runbook
	Clock   clock.Clock  // default clock.Real
	Logger  *slog.Logger // default slog.Default()
}

// Calendar books, lists and cancels maintenance windows and answers whether
// one is open. It needs no engine and posts nothing: it is the engine's gate
// (deploy.WindowGate), the window adapter's source, the bot's /deploy
// schedule, windows and unschedule (bot.Windows), and what the reminder loop
// (Scheduler) reads. Its methods are safe for concurrent use.
type Calendar struct {
	store    WindowStore
	services *runbook.Catalog
	clock    clock.Clock
	log      *slog.Logger
	recs     []*recurrence

	winsStale atomic.Bool // set when this process booked or cancelled a window
}

var _ deploy.WindowGate = (*Calendar)(nil)

// NewCalendar returns a calendar for cfg. It makes no store calls. Recurring
// windows that do not parse (the runbook's validation reports them) are
// logged and left out.
func NewCalendar(cfg CalendarConfig) *Calendar {
	c := &Calendar{store: cfg.Store, services: cfg.Services, clock: cfg.Clock, log: cfg.Logger}
	if c.services == nil {
		rb := cfg.Runbook
		if rb == nil {
			rb = &runbook.Runbook{}
		}
		c.services = runbook.Single(rb)
	}
	if c.clock == nil {
		c.clock = clock.Real{}
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("component", "calendar")
	for _, rb := range c.services.All() {
		for _, w := range rb.Windows {
			r, err := parseRecurrence(w)
			if err != nil {
				c.log.Error("recurring window left out", "service", rb.Service(), "cron", w.Cron, "err", err)
				continue
			}
			r.service = rb.Service()
			c.recs = append(c.recs, r)
		}
	}
	keyRecurrences(c.recs)
	return c
}

// keyRecurrences gives each recurring window its claim identity: its
// service, then its definition ("checkout:rec-1a2b3c4d"), whether the
// service is alone or one of several, so adding or removing a service
// changes no other service's claim keys (two services may recur alike:
// their notices are their own).
//
// Before, a single service's keys had no service prefix ("rec-1a2b3c4d";
// several services' already had it). A store may still hold such claims, and
// during a rolling upgrade an older process may still be taking them, so a
// recurrence keeps its unprefixed key as legacy: the scheduler claims it too
// (first) for the occurrences an older process can have seen — see
// Scheduler.legacyKey. A recurrence whose definition another service shares
// gets no legacy key: claimed by both, it would silence one of them.
func keyRecurrences(recs []*recurrence) {
	owners := map[string]map[string]bool{} // unprefixed key -> services
	for _, r := range recs {
		if owners[r.key] == nil {
			owners[r.key] = map[string]bool{}
		}
		owners[r.key][r.service] = true
	}
	for _, r := range recs {
		if len(owners[r.key]) == 1 {
			r.legacy = r.key
		}
		r.key = r.service + ":" + r.key
	}
}

// Runbook returns the runbook of the only service, or of the first (by
// name) when there are several; Services has them all.
func (c *Calendar) Runbook() *runbook.Runbook { return c.services.All()[0] }

// Services returns the services the calendar keeps windows for.
func (c *Calendar) Services() *runbook.Catalog { return c.services }

// serviceOf returns the service a booked window belongs to: its own, or
// for a window booked before services, the only service ("" when there
// are several: it applies to every service).
func (c *Calendar) serviceOf(w deploy.Window) string {
	if w.Service != "" {
		return w.Service
	}
	if rb, ok := c.services.Only(); ok {
		return rb.Service()
	}
	return ""
}

// windowsChanged makes the next scan read the windows (this process booked
// or cancelled one).
func (c *Calendar) windowsChanged() { c.winsStale.Store(true) }

// NoticeStore is what the reminder loop needs of the store: the once-only
// claims that make each notice go out once across processes.
type NoticeStore interface {
	ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Config configures a Scheduler, the reminder loop. Calendar (or Store, from
// which a calendar is built) is required; everything it talks to is given
// here, at construction.
type Config struct {
	// Calendar is where the windows are; nil builds one from Store, Runbook,
	// Clock and Logger.
	Calendar *Calendar
	// Store keeps the once-only claims of the notices. Nil: the Calendar's
	// store, when it has ClaimOnce (every deploy.Store does).
	Store NoticeStore
	// Runbook gives the reminder offsets of every window (and, when
	// Calendar and Services are nil, the recurring windows and approvers).
	// Nil: each window's service's runbook gives its reminders.
	Runbook *runbook.Runbook
	// Services are used when Calendar is nil (see CalendarConfig).
	Services *runbook.Catalog
	// Engine moves runs on when a window opens, and tells which runs are live
	// (for the "closes in 15 minutes" and "ended" notices). Nil: neither.
	Engine Engine
	// Notices records and posts window notices. Nil: notices are claimed,
	// logged and counted but not posted.
	Notices Notices
	Clock   clock.Clock  // default clock.Real
	Logger  *slog.Logger // default slog.Default()
	// Metrics registers the scheduler's counters; nil registers nothing.
	Metrics prometheus.Registerer
	// NoticeChannel receives the notices; empty means the channel a window
	// was booked in (recurring windows then go to the bot's notice channel).
	NoticeChannel string
	// Tick is how often Run scans (default DefaultTick).
	Tick time.Duration
}

// Scheduler is the reminder loop: it sends the windows' reminders and
// notices exactly once across processes that share a store, and moves on
// runs that wait for a window when one opens. It embeds its Calendar, so it
// also answers everything the calendar does. Its methods are safe for
// concurrent use.
type Scheduler struct {
	*Calendar
	claims  NoticeStore
	clock   clock.Clock
	log     *slog.Logger
	m       *metrics
	channel string
	tick    time.Duration
	offsets map[string][]time.Duration // reminder offsets by service ("" = a window of every service), smallest first
	longest time.Duration              // the largest reminder offset of any service
	engine  Engine
	notices Notices

	mu    sync.Mutex           // mu serialises scans and protects known, held and the scan state below
	known map[string]time.Time // claim keys this process knows are taken, until when to remember them
	held  map[string]time.Time // legacy claim keys this process took itself, until when to remember them
	// legacyUntil: occurrences whose first notice falls due after it take
	// no legacy claim (see legacyKey).
	legacyUntil time.Time

	// A scan reads the store only for what is due (see Tick): the windows
	// and the live runs it read last are kept, with when they were read.
	wins     []deploy.Window
	winsHead deploy.OrgHead // the org chain's head, read just before wins
	winsFrom time.Time      // wins are the windows that end after it
	winsAt   time.Time      // zero: read at the next scan
	// winsMoved: the windows were read again during a scan (another process
	// changed them), so the scan's occurrences are older than wins: the next
	// tick scans again.
	winsMoved bool
	live      []*deploy.Run
	liveAt    time.Time       // zero: read when next needed
	liveSig   string          // the windows' states when the live runs were read
	tried     map[string]bool // runs advanced since the live runs were read
	next      time.Time       // nothing is due before this; zero: scan at once
	lastScan  time.Time
}

// New returns a scheduler for cfg. It makes no store calls.
func New(cfg Config) *Scheduler {
	cal := cfg.Calendar
	if cal == nil {
		var ws WindowStore
		if cfg.Store != nil {
			ws, _ = cfg.Store.(WindowStore)
		}
		cal = NewCalendar(CalendarConfig{Store: ws, Services: cfg.Services, Runbook: cfg.Runbook, Clock: cfg.Clock, Logger: cfg.Logger})
	}
	s := &Scheduler{
		Calendar: cal, claims: cfg.Store, clock: cfg.Clock, log: cfg.Logger, channel: cfg.NoticeChannel,
		tick: cfg.Tick, engine: cfg.Engine, notices: cfg.Notices, known: map[string]time.Time{}, held: map[string]time.Time{},
	}
	if s.claims == nil {
		s.claims = cal.store
	}
	if s.clock == nil {
		s.clock = cal.clock
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "scheduler")
	if s.tick <= 0 {
		s.tick = DefaultTick
	}
	s.m = newMetrics(cfg.Metrics)
	s.legacyUntil = s.clock.Now().Add(legacyGrace)
	s.offsets = map[string][]time.Duration{}
	add := func(service string, rb *runbook.Runbook) {
		for _, o := range rb.ReminderOffsets() {
			if d := time.Duration(o); d > 0 && !slices.Contains(s.offsets[service], d) {
				s.offsets[service] = append(s.offsets[service], d)
				s.longest = max(s.longest, d)
			}
		}
		slices.Sort(s.offsets[service])
	}
	for _, rb := range cal.services.All() {
		if cfg.Runbook != nil {
			add(rb.Service(), cfg.Runbook)
		} else {
			add(rb.Service(), rb)
		}
	}
	// A window of every service (booked before services, with several) is
	// reminded at every offset of any service.
	for _, offs := range s.offsets {
		for _, d := range offs {
			if !slices.Contains(s.offsets[""], d) {
				s.offsets[""] = append(s.offsets[""], d)
			}
		}
	}
	slices.Sort(s.offsets[""])
	return s
}

// offsetsOf returns the reminder offsets of a window of service.
func (s *Scheduler) offsetsOf(service string) []time.Duration {
	if offs, ok := s.offsets[service]; ok {
		return offs
	}
	return s.offsets[""]
}

// Run scans for due notices every Tick until ctx ends, starting with one
// scan at once (the catch-up after a restart). A failed or panicking scan is
// logged and counted and does not stop the loop. It returns nil when ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	s.log.Info("scheduler running", "tick", s.tick.String(), "recurring_windows", len(s.recs))
	for {
		s.safeTick(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-s.clock.After(s.tick):
		}
	}
}

func (s *Scheduler) safeTick(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil {
			s.m.panics.Inc()
			s.log.Error("scan panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("scan failed", "err", err)
	}
}

// occurrence is one occurrence of a window, scheduled or recurring.
type occurrence struct {
	key        string // identity for claim keys
	legacy     string // recurring windows: the identity older versions claimed under ("" none), see keyRecurrences
	id         string // scheduled windows only
	service    string // the service whose window it is ("" = every service: a window booked before services, with several)
	release    string
	env        string // "" for recurring windows: every environment
	start, end time.Time
	zone       string
	recurring  bool
	created    time.Time // scheduled windows: reminders due before this are not applicable
	by         string
	platform   string
	channel    string
}

// applies reports whether the occurrence gates runs of release of service
// in env: a window gates only its own service's runs (a service "" asks
// about any); a recurring window gates every environment and version; a
// booked window only its own environment and, when it names one, its own
// version ("" asks about any version).
func (o *occurrence) applies(service, env, release string) bool {
	if o.service != "" && service != "" && o.service != service {
		return false
	}
	if o.env != "" && o.env != env {
		return false
	}
	return o.recurring || o.release == "" || release == "" || o.release == release
}

func (o *occurrence) openAt(t time.Time) bool { return !t.Before(o.start) && t.Before(o.end) }

func (o *occurrence) view() deploy.WindowView {
	return deploy.WindowView{ID: o.id, Service: o.service, Release: o.release, Start: o.start, End: o.end, Zone: o.zone, Recurring: o.recurring, By: o.by}
}

func (c *Calendar) scheduledOccurrence(w deploy.Window) occurrence {
	env := w.Env
	if env == "" {
		env = DefaultEnv
	}
	return occurrence{
		key: "w:" + w.ID + ":" + fmt.Sprint(w.Start.Unix()), id: w.ID, service: c.serviceOf(w), release: w.Release, env: env,
		start: w.Start.UTC(), end: w.End().UTC(), zone: w.Zone, created: w.Created, by: w.By.Mention(),
		platform: w.Platform, channel: w.Channel,
	}
}

func (r *recurrence) occurrence(start time.Time) occurrence {
	zone := r.zone
	if zone == "" {
		zone = "UTC"
	}
	o := occurrence{key: r.key + ":" + fmt.Sprint(start.Unix()), service: r.service, env: "", start: start.UTC(), end: start.Add(r.dur).UTC(),
		zone: zone, recurring: true, by: "runbook"}
	if r.legacy != "" {
		o.legacy = r.legacy + ":" + fmt.Sprint(start.Unix())
	}
	return o
}

// windows returns the scheduled windows that end after from, read from the
// store at most every WindowsRefresh.
func (s *Scheduler) windows(ctx context.Context, from, now time.Time) ([]deploy.Window, error) {
	if s.winsStale.Swap(false) || s.winsAt.IsZero() || now.Sub(s.winsAt) >= WindowsRefresh || now.Before(s.winsAt) {
		if err := s.readWindows(ctx, from, now); err != nil {
			return nil, err
		}
	}
	return s.wins, nil
}

// readWindows reads the scheduled windows that end after from, and before
// them the org chain's head: every booking and cancellation moves the head
// in the same atomic write as the window (deploy.AppendOrgAudit), so while
// the head is unchanged the windows read after it are the stored ones.
func (s *Scheduler) readWindows(ctx context.Context, from, now time.Time) error {
	head, err := s.store.OrgHead(ctx)
	if err == nil {
		var ws []deploy.Window
		if ws, err = s.store.Windows(ctx, from); err == nil {
			s.wins, s.winsHead, s.winsFrom, s.winsAt = ws, head, from, now
			return nil
		}
	}
	s.winsAt = time.Time{}
	return fmt.Errorf("windows: %w", err)
}

// current reports whether the scheduled window of o is still stored as the
// scan saw it, just before a notice about o is claimed: one read of the org
// chain's head, and, only when another process moved it (booked, cancelled,
// froze or lifted a freeze) since the windows were read, one read of the
// windows. A window cancelled, or stored again with other details, makes it
// false: its notices are not sent (a changed window's are sent, from the
// stored details, by the next scan). Recurring windows come from the runbook
// and are always current.
//
// This narrows the gap between a cancellation and a notice to the one store
// round trip between this check and the claim; the store has no claim
// conditional on a window, which would close it.
func (s *Scheduler) current(ctx context.Context, o *occurrence, now time.Time) (bool, error) {
	if o.recurring {
		return true, nil
	}
	head, err := s.store.OrgHead(ctx)
	if err != nil {
		return false, fmt.Errorf("windows version: %w", err)
	}
	if head != s.winsHead {
		if err := s.readWindows(ctx, s.winsFrom, now); err != nil {
			return false, err
		}
		s.winsMoved = true
	}
	for _, w := range s.wins {
		if w.ID == o.id {
			return sameOccurrence(s.scheduledOccurrence(w), *o), nil
		}
	}
	return false, nil
}

// sameOccurrence reports whether a and b are the same occurrence with the
// same details (what a notice says and where it goes).
func sameOccurrence(a, b occurrence) bool {
	return a.key == b.key && a.legacy == b.legacy && a.id == b.id && a.service == b.service && a.release == b.release &&
		a.env == b.env && a.start.Equal(b.start) && a.end.Equal(b.end) && a.zone == b.zone && a.recurring == b.recurring &&
		a.created.Equal(b.created) && a.by == b.by && a.platform == b.platform && a.channel == b.channel
}

// occurrences returns the windows, scheduled and recurring, that end after
// from and start at or before to, by start.
func (s *Scheduler) occurrences(ctx context.Context, now, from, to time.Time) ([]occurrence, error) {
	ws, err := s.windows(ctx, from, now)
	if err != nil {
		return nil, err
	}
	var out []occurrence
	for _, w := range ws {
		o := s.scheduledOccurrence(w)
		if o.end.After(from) && !o.start.After(to) {
			out = append(out, o)
		}
	}
	for _, r := range s.recs {
		n := 0
		for t := r.next(from.Add(-r.dur)); !t.IsZero() && !t.After(to); t = r.next(t) {
			if n++; n > maxOccurrences {
				if !r.warned {
					r.warned = true
					s.log.Warn("recurring window fires too often; later occurrences are left out of each scan", "cron", r.spec, "max", maxOccurrences)
				}
				break
			}
			out = append(out, r.occurrence(t))
		}
	}
	slices.SortStableFunc(out, func(a, b occurrence) int { return a.start.Compare(b.start) })
	return out, nil
}

// Tick runs one scan at the clock's current time: it sends the reminders and
// notices that are due and not yet claimed by any process, drops the ones
// that are no longer useful, and moves on live runs that wait for a window
// that is open. Errors of single items do not stop the scan; they are
// returned together.
//
// A scan costs what is due, not what is stored: it returns at once before
// the next moment something is due (a reminder, a window opening, entering
// its closing period or ending); it reads the windows at most every
// WindowsRefresh (at once after this process booked or cancelled one), the
// org chain's head once before each notice about a booked window (see
// current), and the live runs only while a window is open or just ended —
// when a window changes state and every LiveRefresh while one is open.
func (s *Scheduler) Tick(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now().UTC()
	if !s.due(now) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, scanTimeout)
	defer cancel()
	s.lastScan = now
	s.next = time.Time{} // until this scan succeeds
	s.winsMoved = false
	horizon := s.horizon()
	occs, err := s.occurrences(ctx, now, now.Add(-Lookback), now.Add(horizon))
	if err != nil {
		s.m.errors.Inc()
		return fmt.Errorf("schedule scan: %w", err)
	}
	engine := s.engine
	var (
		errs []error
		live []*deploy.Run
	)
	if engine != nil {
		live, err = s.liveRuns(ctx, engine, occs, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("live runs: %w", err))
			live = nil
		}
	}
	for i := range occs {
		o := &occs[i]
		err := errors.Join(s.remind(ctx, o, now), s.announceOpen(ctx, o, live, now),
			s.warnClosing(ctx, o, occs, live, now), s.warnEnded(ctx, o, occs, live, now))
		if err != nil {
			// Most likely the store: stop here, the next scan picks up where this one stopped.
			errs = append(errs, err)
			break
		}
	}
	if engine != nil && len(errs) == 0 {
		errs = append(errs, s.advance(ctx, engine, occs, live, now))
	}
	s.forget(now)
	if err := errors.Join(errs...); err != nil {
		s.m.errors.Inc()
		return fmt.Errorf("schedule scan: %w", err)
	}
	if !s.winsMoved {
		s.next = s.nextDue(occs, now, horizon)
	}
	return nil
}

// horizon is how far ahead a scan looks: the largest reminder offset, at
// least ClosingLead.
func (s *Scheduler) horizon() time.Duration {
	return max(ClosingLead, s.longest)
}

// due reports whether a scan at now has anything to do.
func (s *Scheduler) due(now time.Time) bool {
	return s.next.IsZero() || !now.Before(s.next) || now.Before(s.lastScan) || s.winsStale.Load()
}

// nextDue returns the next moment a scan has something to do after a scan
// at now: a reminder, a window starting, entering its closing period or
// ending, a booked or recurring window coming into view, re-reading the windows, and,
// while a window is open, re-reading the live runs.
func (s *Scheduler) nextDue(occs []occurrence, now time.Time, horizon time.Duration) time.Time {
	next := s.winsAt.Add(WindowsRefresh)
	at := func(t time.Time) {
		if t.After(now) && t.Before(next) {
			next = t
		}
	}
	for i := range occs {
		o := &occs[i]
		for _, off := range s.offsetsOf(o.service) {
			at(o.start.Add(-off))
		}
		at(o.start)
		at(o.end.Add(-ClosingLead))
		at(o.end)
		at(o.end.Add(Lookback))
		if o.openAt(now) && !s.liveAt.IsZero() {
			at(s.liveAt.Add(LiveRefresh))
		}
	}
	// A booked window beyond the horizon comes into view (its first
	// reminder falls due) at its start less the horizon.
	for _, w := range s.wins {
		at(w.Start.Add(-horizon))
	}
	for _, r := range s.recs {
		if t := r.next(now.Add(horizon)); !t.IsZero() {
			at(t.Add(-horizon))
		}
	}
	return next
}

// liveRuns returns the live runs when the scan needs them — a window is open,
// or ended less than Lookback ago — reading them when a window changed state
// since they were read, or every LiveRefresh while one is open; nil otherwise.
func (s *Scheduler) liveRuns(ctx context.Context, engine Engine, occs []occurrence, now time.Time) ([]*deploy.Run, error) {
	var sig strings.Builder
	open := false
	for i := range occs {
		o := &occs[i]
		switch {
		case o.openAt(now):
			open = true
			state := "open"
			if !now.Before(o.end.Add(-ClosingLead)) {
				state = "closing"
			}
			sig.WriteString(o.key + "=" + state + ";")
		case !now.Before(o.end):
			sig.WriteString(o.key + "=ended;")
		}
	}
	if sig.Len() == 0 {
		s.live, s.liveAt, s.liveSig, s.tried = nil, time.Time{}, "", nil
		return nil, nil
	}
	if s.liveAt.IsZero() || sig.String() != s.liveSig || (open && now.Sub(s.liveAt) >= LiveRefresh) || now.Before(s.liveAt) {
		live, err := engine.Live(ctx)
		if err != nil {
			s.liveAt = time.Time{}
			return nil, err
		}
		s.live, s.liveAt, s.liveSig, s.tried = live, now, sig.String(), map[string]bool{}
	}
	return s.live, nil
}

// claimKey names the claim of one notice of the occurrence whose identity
// is id: what the notice is, id, then detail when there is one (the
// reminder's offset, the run of an "ended" warning). The format is what
// processes of every version claim: changing it re-sends notices.
func claimKey(what, id, detail string) string {
	if detail == "" {
		return what + ":" + id
	}
	return what + ":" + id + ":" + detail
}

// legacyKey returns the key an older version claimed the notice (what,
// detail) of o under, when this process must claim it too, or "".
//
// Older versions claimed a lone service's recurring windows without the
// service prefix. Claiming that key too, first, keeps a notice that such a
// process sent (or is sending, during a rolling upgrade) from going out
// again under the new key, whether the service is still alone or was just
// joined by others. It is needed only for occurrences an older process can
// have seen: those whose first notice falls due before legacyGrace after
// this process started; later ones take the new key alone, in one atomic
// write with their record (OnceNotices). While both are taken, a process
// dying between them loses that notice (at most once, as without
// OnceNotices); an older process still running after legacyGrace may send
// one a second time.
func (s *Scheduler) legacyKey(what, detail string, o *occurrence) string {
	if o.legacy == "" || o.start.Add(-s.longest).After(s.legacyUntil) {
		return ""
	}
	return claimKey(what, o.legacy, detail)
}

// claimLegacy takes the legacy claim of the notice whose key is key, if it
// has one, and reports whether the notice may go on: false when an older
// process (or another process of this version) holds it. A legacy claim this
// process took itself is remembered, so a notice whose record then failed
// is retried by the next scan.
func (s *Scheduler) claimLegacy(ctx context.Context, key, legacy string, o *occurrence, now time.Time) (bool, error) {
	if legacy == "" {
		return true, nil
	}
	if _, ok := s.held[legacy]; ok {
		return true, nil
	}
	first, err := s.claims.ClaimOnce(ctx, claimPrefix+legacy, claimTTL(o, now))
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", legacy, err)
	}
	if !first {
		s.known[key] = o.end.Add(Lookback + time.Hour)
		return false, nil
	}
	s.held[legacy] = o.end.Add(Lookback + time.Hour)
	return true, nil
}

// claim takes the once-only claim on the notice (what, detail) of o,
// remembering taken keys so later scans of this process skip them without a
// store call.
func (s *Scheduler) claim(ctx context.Context, what, detail string, o *occurrence, now time.Time) (bool, error) {
	key := claimKey(what, o.key, detail)
	if _, ok := s.known[key]; ok {
		return false, nil
	}
	if ok, err := s.claimLegacy(ctx, key, s.legacyKey(what, detail, o), o, now); err != nil || !ok {
		return false, err
	}
	first, err := s.claims.ClaimOnce(ctx, claimPrefix+key, claimTTL(o, now))
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", key, err)
	}
	s.known[key] = o.end.Add(Lookback + time.Hour)
	return first, nil
}

// claimTTL is how long a claim on o is kept: it must outlive every scan
// that can still see the occurrence.
func claimTTL(o *occurrence, now time.Time) time.Duration {
	return max(o.end.Sub(now)+Lookback+24*time.Hour, 2*Lookback)
}

// notify sends n about o once across processes, unless o's window was
// cancelled or changed since the scan read it (see current). With OnceNotices the
// durable record of the notice is the once-only claim (one atomic write);
// otherwise the claim is taken first and the notice handed over after it.
// It reports whether this call sent the notice. A failed record is not
// remembered, so the next scan tries again.
func (s *Scheduler) notify(ctx context.Context, what, detail string, o *occurrence, n Notice, now time.Time) (bool, error) {
	key := claimKey(what, o.key, detail)
	if _, ok := s.known[key]; ok {
		return false, nil
	}
	if ok, err := s.current(ctx, o, now); err != nil || !ok {
		if err == nil {
			s.m.dropped.WithLabelValues(string(n.Kind), "cancelled").Inc()
			s.log.Info("window notice not sent: the window was cancelled or changed", "window", o.label(), "kind", string(n.Kind), "start", o.start)
		}
		return false, err
	}
	once, ok := s.notices.(OnceNotices)
	if !ok {
		first, err := s.claim(ctx, what, detail, o, now)
		if err != nil || !first {
			return false, err
		}
		return s.send(ctx, o, n, now), nil
	}
	if ok, err := s.claimLegacy(ctx, key, s.legacyKey(what, detail, o), o, now); err != nil || !ok {
		return false, err
	}
	n = s.address(o, n, now)
	first, err := s.record(ctx, once, key, o, n, now)
	if err != nil {
		s.m.errors.Inc()
		return false, fmt.Errorf("record %s: %w", key, err)
	}
	s.known[key] = o.end.Add(Lookback + time.Hour)
	if first {
		s.m.sent.WithLabelValues(string(n.Kind)).Inc()
		s.log.Info("window notice sent", "window", o.label(), "kind", string(n.Kind), "offset", n.Offset.String(), "start", o.start)
	}
	return first, nil
}

// record calls RecordWindowNotice, turning a panic into an error.
func (s *Scheduler) record(ctx context.Context, once OnceNotices, key string, o *occurrence, n Notice, now time.Time) (first bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.m.panics.Inc()
			s.log.Error("recording a window notice panicked", "window", o.label(), "kind", string(n.Kind), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return once.RecordWindowNotice(ctx, claimPrefix+key, claimTTL(o, now), n)
}

// forget drops remembered claims of occurrences no scan will see again.
func (s *Scheduler) forget(now time.Time) {
	for _, m := range []map[string]time.Time{s.known, s.held} {
		for k, until := range m {
			if now.After(until) {
				delete(m, k)
			}
		}
	}
}

// remind sends the reminder of o that is due, once. When several offsets are
// due at once (after downtime) only the latest, closest to the start, is
// sent; the others are dropped as superseded. Once the window started, the
// reminders never sent are dropped as stale.
func (s *Scheduler) remind(ctx context.Context, o *occurrence, now time.Time) error {
	var due []time.Duration // smallest offset first
	for _, off := range s.offsetsOf(o.service) {
		at := o.start.Add(-off)
		if at.After(now) {
			continue
		}
		if !o.recurring && at.Before(o.created) {
			continue // booked after the reminder's time: the booking reply told them
		}
		due = append(due, off)
	}
	started := !now.Before(o.start)
	for i, off := range due {
		detail := off.String()
		log := s.log.With("window", o.label(), "offset", off.String(), "start", o.start)
		if !started && i == 0 {
			n := Notice{Kind: KindReminder, Offset: off, Until: o.start.Sub(now)}
			sent, err := s.notify(ctx, "remind", detail, o, n, now)
			if err != nil {
				return err
			}
			if late := now.Sub(o.start.Add(-off)); sent && late > s.tick {
				log.Info("reminder sent late", "late", late.String())
			}
			continue
		}
		first, err := s.claim(ctx, "remind", detail, o, now)
		if err != nil {
			return err
		}
		if !first {
			continue
		}
		switch {
		case started:
			s.m.dropped.WithLabelValues(string(KindReminder), "stale").Inc()
			log.Info("reminder dropped: the window started before it could be sent")
		default:
			s.m.dropped.WithLabelValues(string(KindReminder), "superseded").Inc()
			log.Info("reminder dropped: a later reminder of the window is sent instead", "sent_offset", due[0].String())
		}
	}
	return nil
}

// announceOpen sends the "window open" notice once the window has started, or
// drops it if the window ended before it could be sent. It names the runs
// that were waiting for the window (they go ahead now).
func (s *Scheduler) announceOpen(ctx context.Context, o *occurrence, live []*deploy.Run, now time.Time) error {
	if now.Before(o.start) {
		return nil
	}
	if now.Before(o.end) {
		var waiting []*deploy.Run
		for _, r := range live {
			if r.Status == deploy.StatusActive && o.applies(r.Service, r.Env, r.Release) && (waitingForWindow(r) || r.WaitsForWindow(r.Phase)) {
				waiting = append(waiting, r)
			}
		}
		_, err := s.notify(ctx, "open", "", o, Notice{Kind: KindOpen, Until: o.end.Sub(now), Runs: refs(waiting)}, now)
		return err
	}
	first, err := s.claim(ctx, "open", "", o, now)
	if err != nil || !first {
		return err
	}
	s.m.dropped.WithLabelValues(string(KindOpen), "stale").Inc()
	s.log.Info("window-open notice dropped: the window ended before it could be sent", "window", o.label(), "start", o.start)
	return nil
}

// warnClosing sends "window closes in 15 minutes" once, when runs are live
// in the window's environment and no other window takes over at its end.
func (s *Scheduler) warnClosing(ctx context.Context, o *occurrence, occs []occurrence, live []*deploy.Run, now time.Time) error {
	if o.end.Sub(o.start) <= ClosingLead || now.Before(o.end.Add(-ClosingLead)) || !now.Before(o.end) {
		return nil
	}
	var runs []*deploy.Run
	for _, r := range live {
		if r.Status.Live() && o.applies(r.Service, r.Env, r.Release) && !coveredBy(occs, o, r.Service, r.Env, r.Release, o.end) {
			runs = append(runs, r)
		}
	}
	if len(runs) == 0 {
		return nil
	}
	_, err := s.notify(ctx, "closing", "", o, Notice{Kind: KindClosing, Until: o.end.Sub(now), Runs: refs(runs), Platform: runs[0].Platform}, now)
	return err
}

// warnEnded warns, once per run, when the window ended while a production
// phase that started before its end is still open and no other window is open.
func (s *Scheduler) warnEnded(ctx context.Context, o *occurrence, occs []occurrence, live []*deploy.Run, now time.Time) error {
	if now.Before(o.end) || !now.Before(o.end.Add(Lookback)) {
		return nil
	}
	for _, r := range live {
		if r.Status != deploy.StatusActive || !o.applies(r.Service, r.Env, r.Release) || coveredBy(occs, nil, r.Service, r.Env, r.Release, now) {
			continue
		}
		p := r.Current()
		if p == nil || !r.PhaseDef(r.Phase).Production || p.Started.IsZero() || !p.Started.Before(o.end) || !p.Ended.IsZero() {
			continue
		}
		if _, err := s.notify(ctx, "ended", r.ID, o, Notice{Kind: KindEnded, Runs: refs([]*deploy.Run{r}), Platform: r.Platform}, now); err != nil {
			return err
		}
	}
	return nil
}

// advance moves on the live runs whose current phase waits for a window that
// is open now. Engine.Advance writes nothing when nothing changes, and its
// compare-and-set makes concurrent calls from several processes harmless.
func (s *Scheduler) advance(ctx context.Context, engine Engine, occs []occurrence, live []*deploy.Run, now time.Time) error {
	var errs []error
	for _, r := range live {
		if r.Status != deploy.StatusActive || s.tried[r.ID] || !waitingForWindow(r) || !coveredBy(occs, nil, r.Service, r.Env, r.Release, now) {
			continue
		}
		out, err := engine.Advance(ctx, r.ID)
		if err == nil && s.tried != nil {
			// Moved on, or not ready to: tried again with the next read of the live runs.
			s.tried[r.ID] = true
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("advance %s: %w", r.ID, err))
			continue
		}
		if len(out.Events) > 0 {
			s.m.advance.Inc()
			s.log.Info("maintenance window open: run moved on", "run_id", r.ID, "env", r.Env, "phase", r.Phases[r.Phase].ID)
		}
	}
	return errors.Join(errs...)
}

// waitingForWindow reports whether the run's current phase waits for a
// window: it requires one, was not overridden, and its next step to start is
// an automated step that has not started.
func waitingForWindow(r *deploy.Run) bool {
	p := r.Current()
	if p == nil || p.WindowOverride != nil || !r.WindowRequired(r.Phase) {
		return false
	}
	for j, st := range p.Steps {
		if st.State.Settled() {
			continue
		}
		return st.State == deploy.StepPending && r.StepDef(r.Phase, j).Automated()
	}
	return false
}

// coveredBy reports whether a window other than except is open for release of service in env at t.
func coveredBy(occs []occurrence, except *occurrence, service, env, release string, t time.Time) bool {
	for i := range occs {
		o := &occs[i]
		if except != nil && o.key == except.key {
			continue
		}
		if o.applies(service, env, release) && o.openAt(t) {
			return true
		}
	}
	return false
}

func refs(runs []*deploy.Run) []RunRef {
	out := make([]RunRef, 0, len(runs))
	for _, r := range runs {
		ref := RunRef{ID: r.ID, Service: r.Service, Release: r.Release, Env: r.Env, Channel: r.Channel}
		if r.Current() != nil {
			ref.Phase = r.PhaseTitle(r.Phase)
		}
		out = append(out, ref)
	}
	return out
}

// send posts a notice about o, recovering a panic of the Notices
// implementation. It reports whether the notice was handed over.
func (s *Scheduler) send(ctx context.Context, o *occurrence, n Notice, now time.Time) (ok bool) {
	n = s.address(o, n, now)
	log := s.log.With("window", o.label(), "kind", string(n.Kind))
	notices := s.notices
	defer func() {
		if p := recover(); p != nil {
			ok = false
			s.m.panics.Inc()
			s.m.dropped.WithLabelValues(string(n.Kind), "failed").Inc()
			log.Error("posting a window notice panicked; the notice is lost", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	if notices != nil {
		if err := notices.PostWindowNotice(ctx, n); err != nil {
			s.m.dropped.WithLabelValues(string(n.Kind), "failed").Inc()
			log.Error("posting a window notice failed; the notice is lost", "err", err)
			return false
		}
	}
	s.m.sent.WithLabelValues(string(n.Kind)).Inc()
	log.Info("window notice sent", "offset", n.Offset.String(), "start", o.start)
	return true
}

// address fills in what n is about and where it goes.
func (s *Scheduler) address(o *occurrence, n Notice, now time.Time) Notice {
	n.Window, n.Service, n.Env, n.At = o.view(), o.service, o.env, now
	if n.Platform == "" {
		n.Platform = o.platform
	}
	n.Channel = s.channel
	if n.Channel == "" {
		n.Channel = o.channel
	}
	if n.Channel == "" && len(n.Runs) > 0 {
		n.Channel = n.Runs[0].Channel
	}
	return n
}

// label names the occurrence in logs.
func (o *occurrence) label() string {
	if o.recurring {
		return o.key
	}
	return o.id
}
