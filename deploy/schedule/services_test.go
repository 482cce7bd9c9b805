package schedule

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"deploybot/deploy"
	"deploybot/internal/clock"
	"deploybot/internal/testkit"
	"deploybot/runbook"
)

// twoServices: checkout recurs Mondays 22:00 UTC for an hour and is
// reminded an hour ahead; search has no recurring window and is reminded
// 15 minutes ahead. Each has its own approvers.
func twoServices(t *testing.T) *runbook.Catalog {
	t.Helper()
	checkout := &runbook.Runbook{Name: "checkout", Approvers: []string{"U0ANA"}, Reminders: dur(time.Hour),
		Windows: []runbook.RecurringWindow{{Cron: "0 22 * * MON", Duration: runbook.Duration(time.Hour)}}}
	search := &runbook.Runbook{Name: "search", Approvers: []string{"U0BOB"}, Reminders: dur(15 * time.Minute)}
	c, err := runbook.NewCatalog(checkout, search)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newServicesFixture(t *testing.T, c *runbook.Catalog) *fixture {
	t.Helper()
	f := &fixture{clk: clock.NewFake(t0), rec: &recorder{}}
	f.store = newStore(t, "")
	f.s = New(Config{Store: f.store, Services: c, Notices: f.rec, Clock: f.clk, Logger: quiet(), NoticeChannel: "C-notices"})
	return f
}

func TestWindowsAreBookedPerService(t *testing.T) {
	f := newServicesFixture(t, twoServices(t))
	ctx := t.Context()
	req := deploy.ScheduleRequest{Release: "s1", Start: t0.Add(2 * time.Hour), Length: time.Hour, Actor: bob, Platform: "slack", Channel: "C1"}

	_, err := f.s.Schedule(ctx, req)
	var de *deploy.Error
	if !errors.As(err, &de) || !errors.Is(err, deploy.ErrInvalid) || de.Msg != "say which service: checkout, search" {
		t.Fatalf("booking without a service of two: %v", err)
	}
	req.Service = "search"
	req.Actor = ana // an approver of checkout, not of search
	if _, err := f.s.Schedule(ctx, req); !errors.Is(err, deploy.ErrNotAllowed) {
		t.Fatalf("ana booking for search: %v, want ErrNotAllowed", err)
	}
	req.Actor = bob
	w, err := f.s.Schedule(ctx, req)
	if err != nil || w.Service != "search" {
		t.Fatalf("bob booking for search = %+v, %v", w, err)
	}
	// Another service may book the same hour; the same service may not.
	co := req
	co.Service, co.Release, co.Actor = "checkout", "c1", ana
	if _, err := f.s.Schedule(ctx, co); err != nil {
		t.Fatalf("checkout in search's hour: %v", err)
	}
	again := req
	again.Release = "s2"
	if _, err := f.s.Schedule(ctx, again); !errors.Is(err, ErrOverlap) {
		t.Fatalf("search twice in one hour: %v, want ErrOverlap", err)
	}
	// Each is cancelled by its own service's approvers.
	if err := f.s.Unschedule(ctx, w.ID, ana); !errors.Is(err, deploy.ErrNotAllowed) {
		t.Errorf("ana cancelling search's window: %v, want ErrNotAllowed", err)
	}

	ws, err := f.s.Upcoming(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range ws {
		got = append(got, v.Service+"/"+v.Release)
	}
	if len(got) == 3 {
		slices.Sort(got[:2]) // the two booked windows open at the same time: their order is their ids'
	}
	if want := []string{"checkout/c1", "search/s1", "checkout/"}; !slices.Equal(got, want) {
		t.Errorf("Upcoming = %q, want %q (the recurring window is checkout's)", got, want)
	}
}

func TestTheGateAsksAboutTheRunsService(t *testing.T) {
	f := newServicesFixture(t, twoServices(t))
	ctx := t.Context()
	book(t, f.store, deploy.Window{ID: "wsrch", Service: "search", Release: "s1", Start: t0.Add(2 * time.Hour), Length: time.Hour})
	open := func(service string, at time.Time) bool {
		t.Helper()
		ok, _, err := f.s.Window(ctx, service, DefaultEnv, "", at)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	inBooked, inRecurring := t0.Add(150*time.Minute), time.Date(2030, 6, 3, 22, 30, 0, 0, time.UTC)
	if !open("search", inBooked) || open("checkout", inBooked) {
		t.Errorf("in search's booked window: search %v, checkout %v; want true, false", open("search", inBooked), open("checkout", inBooked))
	}
	if !open("checkout", inRecurring) || open("search", inRecurring) {
		t.Errorf("in checkout's recurring window: checkout %v, search %v; want true, false", open("checkout", inRecurring), open("search", inRecurring))
	}
	_, next, err := f.s.Window(ctx, "checkout", DefaultEnv, "", t0)
	if err != nil || next == nil || !next.Start.Equal(time.Date(2030, 6, 3, 22, 0, 0, 0, time.UTC)) {
		t.Errorf("Window(checkout) next = %+v, %v; want its recurring window", next, err)
	}
	_, next, _ = f.s.Window(ctx, "search", DefaultEnv, "", t0)
	if next == nil || !next.Start.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("Window(search) next = %+v; want its booked window", next)
	}
	// A window booked before services: the only service's when there is
	// one; every service's when there are several.
	book(t, f.store, deploy.Window{ID: "wold", Release: "", Start: t0.Add(5 * time.Hour), Length: time.Hour})
	if !open("search", t0.Add(330*time.Minute)) || !open("checkout", t0.Add(330*time.Minute)) {
		t.Error("a window booked before services does not open for every service of several")
	}
	one := runbook.Single(&runbook.Runbook{Name: "checkout"})
	g := NewCalendar(CalendarConfig{Store: f.store, Services: one, Clock: f.clk, Logger: quiet()})
	if ok, _, _ := g.Window(ctx, "checkout", DefaultEnv, "", t0.Add(330*time.Minute)); !ok {
		t.Error("a window booked before services does not open for the only service")
	}
	if v, _ := g.Upcoming(ctx); len(v) == 0 || v[len(v)-1].Service != "checkout" {
		t.Errorf("the old window lists as %+v, want the only service's", v)
	}
}

// Reminders follow each service's runbook and name the service.
func TestRemindersNameTheService(t *testing.T) {
	f := newServicesFixture(t, twoServices(t))
	book(t, f.store, deploy.Window{ID: "wsrch", Service: "search", Release: "s1", Start: t0.Add(2 * time.Hour), Length: time.Hour, Created: t0.Add(-time.Hour)})
	f.runUntil(t, time.Date(2030, 6, 3, 22, 0, 0, 0, time.UTC), time.Minute)
	var got []string
	for _, n := range f.rec.of(KindReminder) {
		got = append(got, n.Service+" "+n.Offset.String())
	}
	if want := []string{"search 15m0s", "checkout 1h0m0s"}; !slices.Equal(got, want) {
		t.Errorf("reminders = %q, want %q", got, want)
	}
}

// checkoutAnd returns the catalog of checkout (recurring Mondays 22:00 UTC
// for an hour, reminded an hour ahead) and, unless others is empty, those
// services too.
func checkoutAnd(t *testing.T, others ...*runbook.Runbook) *runbook.Catalog {
	t.Helper()
	checkout := &runbook.Runbook{Name: "checkout", Reminders: dur(time.Hour),
		Windows: []runbook.RecurringWindow{{Cron: "0 22 * * MON", Duration: runbook.Duration(time.Hour)}}}
	c, err := runbook.NewCatalog(append([]*runbook.Runbook{checkout}, others...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sent lists the notices of recs as "service kind offset@start", sorted.
func sent(recs ...*recorder) []string {
	var out []string
	for _, r := range recs {
		for _, n := range r.all() {
			out = append(out, fmt.Sprintf("%s %s %s@%s", n.Service, n.Kind, n.Offset, n.Window.Start.UTC().Format("01-02T15:04")))
		}
	}
	slices.Sort(out)
	return out
}

// A team with one service adds a second: the processes with both, started
// at the moment the first service's reminder went out, while the old ones
// still run beside them, send it no second time; every notice of either
// service goes out once, also when both services define the same window.
func TestAddingAServiceSendsNoNoticeAgain(t *testing.T) {
	for _, tt := range []struct {
		name   string
		search runbook.RecurringWindow
		want   []string
	}{
		{name: "a window of its own", search: runbook.RecurringWindow{Cron: "0 23 * * MON", Duration: runbook.Duration(time.Hour)},
			want: []string{"checkout reminder 1h0m0s@06-03T22:00", "checkout window_open 0s@06-03T22:00",
				"search reminder 15m0s@06-03T23:00", "search window_open 0s@06-03T23:00"}},
		{name: "the same window as checkout", search: runbook.RecurringWindow{Cron: "0 22 * * MON", Duration: runbook.Duration(time.Hour)},
			want: []string{"checkout reminder 1h0m0s@06-03T22:00", "checkout window_open 0s@06-03T22:00",
				"search reminder 15m0s@06-03T22:00", "search window_open 0s@06-03T22:00"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			search := &runbook.Runbook{Name: "search", Reminders: dur(15 * time.Minute), Windows: []runbook.RecurringWindow{tt.search}}
			prefix := testkit.Redis(t).Prefix(t)
			clk := clock.NewFake(time.Date(2030, 6, 3, 20, 59, 0, 0, time.UTC))
			oldRec, newRec := &recorder{}, &recorder{}
			alone := New(Config{Store: newStore(t, prefix), Services: checkoutAnd(t), Notices: oldRec, Clock: clk, Logger: quiet()})
			tick := func(s *Scheduler) {
				t.Helper()
				if err := s.Tick(t.Context()); err != nil {
					t.Fatalf("tick at %s: %v", clk.Now().UTC().Format(time.RFC3339), err)
				}
			}
			tick(alone)
			clk.Advance(time.Minute)
			tick(alone)
			if got := sent(oldRec); !slices.Equal(got, []string{"checkout reminder 1h0m0s@06-03T22:00"}) {
				t.Fatalf("checkout alone sent %q, want its 1h reminder", got)
			}

			both := New(Config{Store: newStore(t, prefix), Services: checkoutAnd(t, search), Notices: newRec, Clock: clk, Logger: quiet()})
			tick(both)
			if got := sent(newRec); len(got) != 0 {
				t.Errorf("checkout and search, at the moment checkout's reminder went out, sent %q, want nothing", got)
			}
			for end := time.Date(2030, 6, 4, 0, 30, 0, 0, time.UTC); !clk.Now().After(end); clk.Advance(time.Minute) {
				tick(alone) // the old process first: it takes checkout's claims
				tick(both)
			}
			if got := sent(oldRec, newRec); !slices.Equal(got, tt.want) {
				t.Errorf("sent %q, want %q", got, tt.want)
			}
		})
	}
}

// An older version claimed a lone service's recurring notices under keys
// without the service: a process of this version, started after the older
// one sent the reminder (and while another older one, still running, sends
// the "window open" notice), sends neither again, whether the service is
// still alone or was joined by another. The next week's notices go out
// under the new keys alone.
func TestUpgradeSendsNoNoticeAgain(t *testing.T) {
	search := &runbook.Runbook{Name: "search", Reminders: dur(15 * time.Minute),
		Windows: []runbook.RecurringWindow{{Cron: "0 23 * * MON", Duration: runbook.Duration(time.Hour)}}}
	for _, tt := range []struct {
		name     string
		services *runbook.Catalog
		want     []string
	}{
		{name: "still alone", services: checkoutAnd(t),
			want: []string{"checkout reminder 1h0m0s@06-10T22:00", "checkout window_open 0s@06-10T22:00"}},
		{name: "joined by search", services: checkoutAnd(t, search),
			want: []string{"checkout reminder 1h0m0s@06-10T22:00", "checkout window_open 0s@06-10T22:00",
				"search reminder 15m0s@06-03T23:00", "search reminder 15m0s@06-10T23:00",
				"search window_open 0s@06-03T23:00", "search window_open 0s@06-10T23:00"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t, "")
			r, err := parseRecurrence(checkoutAnd(t).Get("checkout").Windows[0])
			if err != nil {
				t.Fatal(err)
			}
			start := time.Date(2030, 6, 3, 22, 0, 0, 0, time.UTC)
			old := func(what, detail string, start time.Time) string {
				k := claimPrefix + what + ":" + r.key + ":" + fmt.Sprint(start.Unix())
				if detail != "" {
					k += ":" + detail
				}
				return k
			}
			// What the older version's processes claimed: the 1h reminder at 21:00, and the opening at 22:00.
			for _, k := range []string{old("remind", "1h0m0s", start), old("open", "", start)} {
				if ok, err := st.ClaimOnce(t.Context(), k, 48*time.Hour); err != nil || !ok {
					t.Fatalf("claim %s: %v, %v", k, ok, err)
				}
			}

			clk := clock.NewFake(start.Add(-30 * time.Minute)) // the upgraded process starts at 21:30
			rec := &recorder{}
			s := New(Config{Store: st, Services: tt.services, Notices: rec, Clock: clk, Logger: quiet()})
			for end := start.Add(7*24*time.Hour + 2*time.Hour); !clk.Now().After(end); clk.Advance(time.Minute) {
				if err := s.Tick(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			if got := sent(rec); !slices.Equal(got, tt.want) {
				t.Errorf("sent %q, want %q", got, tt.want)
			}
			// Past the upgrade, the notices take the new keys alone.
			next := start.Add(7 * 24 * time.Hour)
			if ok, err := st.ClaimOnce(t.Context(), old("open", "", next), time.Hour); err != nil || !ok {
				t.Errorf("the next week's opening took the old key too (%v, %v)", ok, err)
			}
		})
	}
}
