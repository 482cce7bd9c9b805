package schedule

import (
	"errors"
	"slices"
	"testing"
	"time"

	"deploybot/deploy"
	"deploybot/internal/clock"
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
		slices.Sort(got[:2]) // the two booked windows start together: their order is their random ids
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
		ok, err := f.s.IsOpen(ctx, service, DefaultEnv, "", at)
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
	next, ok, err := f.s.NextWindow(ctx, "checkout", DefaultEnv, "", t0)
	if err != nil || !ok || !next.Start.Equal(time.Date(2030, 6, 3, 22, 0, 0, 0, time.UTC)) {
		t.Errorf("NextWindow(checkout) = %+v, %v, %v; want its recurring window", next, ok, err)
	}
	next, ok, _ = f.s.NextWindow(ctx, "search", DefaultEnv, "", t0)
	if !ok || !next.Start.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("NextWindow(search) = %+v, %v; want its booked window", next, ok)
	}
	// A window booked before services: the only service's when there is
	// one; every service's when there are several.
	book(t, f.store, deploy.Window{ID: "wold", Release: "", Start: t0.Add(5 * time.Hour), Length: time.Hour})
	if !open("search", t0.Add(330*time.Minute)) || !open("checkout", t0.Add(330*time.Minute)) {
		t.Error("a window booked before services does not open for every service of several")
	}
	one := runbook.Single(&runbook.Runbook{Name: "checkout"})
	g := NewCalendar(CalendarConfig{Store: f.store, Services: one, Clock: f.clk, Logger: quiet()})
	if ok, _ := g.IsOpen(ctx, "checkout", DefaultEnv, "", t0.Add(330*time.Minute)); !ok {
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
