package schedule

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"deploybot/deploy"
	"deploybot/runbook"
)

func TestScheduleRefusals(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	existingStart := t0.Add(24 * time.Hour)
	tests := []struct {
		name    string
		req     deploy.ScheduleRequest
		kind    error  // nil: accepted
		message string // part of the refusal shown to the person
	}{
		{name: "in the past", req: deploy.ScheduleRequest{Release: "v1", Start: t0.Add(-time.Minute)}, kind: deploy.ErrInvalid, message: "not in the future"},
		{name: "now", req: deploy.ScheduleRequest{Release: "v1", Start: t0}, kind: deploy.ErrInvalid, message: "not in the future"},
		{name: "unknown zone", req: deploy.ScheduleRequest{Release: "v1", Start: t0.Add(time.Hour), Zone: "Mars/Olympus"}, kind: deploy.ErrInvalid, message: "unknown time zone"},
		{name: "version with a space", req: deploy.ScheduleRequest{Release: "v1; rm -rf", Start: t0.Add(time.Hour)}, kind: deploy.ErrInvalid, message: "invalid version"},
		{name: "version like an option", req: deploy.ScheduleRequest{Release: "-v1", Start: t0.Add(time.Hour)}, kind: deploy.ErrInvalid, message: "invalid version"},
		{name: "too long", req: deploy.ScheduleRequest{Release: "v1", Start: t0.Add(time.Hour), Length: 25 * time.Hour}, kind: deploy.ErrInvalid, message: "a window lasts"},
		{name: "overlaps the start of another", req: deploy.ScheduleRequest{Release: "v1", Start: existingStart.Add(-time.Hour), Length: 90 * time.Minute},
			kind: ErrOverlap, message: "overlaps window wexist (v0.9"},
		{name: "inside another", req: deploy.ScheduleRequest{Release: "v1", Start: existingStart.Add(30 * time.Minute), Length: 10 * time.Minute},
			kind: ErrOverlap, message: "/deploy unschedule wexist"},
		{name: "right after another", req: deploy.ScheduleRequest{Release: "v1", Start: existingStart.Add(2 * time.Hour), Length: time.Hour}},
		{name: "right before another", req: deploy.ScheduleRequest{Release: "v1", Start: existingStart.Add(-time.Hour), Length: time.Hour}},
		{name: "inside a recurring window", req: deploy.ScheduleRequest{Release: "v1", Start: time.Date(2030, 6, 4, 22, 30, 0, 0, berlin)}},
		{name: "wall clock in a zone, default length", req: deploy.ScheduleRequest{Release: "v1.4+build/7", Start: time.Date(2030, 6, 10, 22, 0, 0, 0, berlin), Zone: "Europe/Berlin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rb := &runbook.Runbook{Windows: []runbook.RecurringWindow{{Cron: "0 22 * * TUE", Duration: runbook.Duration(2 * time.Hour), Timezone: "Europe/Berlin"}}}
			f := newFixture(t, rb, t0)
			book(t, f.store, deploy.Window{ID: "wexist", Release: "v0.9", Start: existingStart, Length: 2 * time.Hour, Created: t0.Add(-time.Hour)})
			tt.req.Actor, tt.req.Platform, tt.req.Channel = ana, "slack", "C-team"
			w, err := f.s.Schedule(t.Context(), tt.req)
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !commandsLikeID(w.ID) || !w.Start.Equal(tt.req.Start) || w.Start.Location() != time.UTC || w.By.ID != ana.ID || !w.Created.Equal(t0) {
					t.Errorf("window = %+v", w)
				}
				if tt.req.Length == 0 && w.Length != DefaultLength {
					t.Errorf("length %s, want the default %s", w.Length, DefaultLength)
				}
				ws, err := f.store.Windows(t.Context(), t0)
				if err != nil || len(ws) != 2 {
					t.Errorf("stored windows = %v, %v; want 2", ws, err)
				}
				return
			}
			var de *deploy.Error
			if !errors.As(err, &de) || !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want a *deploy.Error of kind %v", err, tt.kind)
			}
			if !strings.Contains(de.Msg, tt.message) {
				t.Errorf("message %q does not say %q", de.Msg, tt.message)
			}
			if ws, _ := f.store.Windows(t.Context(), t0); len(ws) != 1 {
				t.Errorf("a refused window was stored: %v", ws)
			}
		})
	}
}

func commandsLikeID(id string) bool {
	if len(id) != 6 || id[0] != 'w' {
		return false
	}
	for _, c := range id[1:] {
		if !strings.ContainsRune(idAlphabet, c) {
			return false
		}
	}
	return true
}

// Two processes booking overlapping windows at the same time: one booking stays.
func TestConcurrentOverlappingBookings(t *testing.T) {
	f := newFixture(t, &runbook.Runbook{}, t0)
	other := New(Config{Store: newStore(t, f.prefix), Clock: f.clk, Logger: quiet()})
	start := t0.Add(5 * time.Hour)
	errs := make(chan error, 2)
	for _, s := range []*Scheduler{f.s, other} {
		go func() {
			_, err := s.Schedule(t.Context(), deploy.ScheduleRequest{Release: "v1", Start: start, Actor: ana, Platform: "slack"})
			errs <- err
		}()
	}
	var ok, overlap int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, ErrOverlap):
			overlap++
		default:
			t.Fatal(err)
		}
	}
	ws, err := f.store.Windows(t.Context(), t0)
	if err != nil {
		t.Fatal(err)
	}
	// Both bookings move the org audit chain's head (a compare-and-set):
	// the second is checked again after the first and refused.
	if ok != 1 || len(ws) != 1 || overlap != 1 {
		t.Errorf("accepted %d, refused %d, stored %d windows; want exactly one booked and one refused", ok, overlap, len(ws))
	}
	l, err := f.store.OrgAudit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 1 || l.Entries[0].Action != deploy.OrgWindowBook || !strings.Contains(l.Entries[0].After, ws[0].ID) {
		t.Errorf("org audit = %+v, want the one booking", l.Entries)
	}
}

// A booking and a cancellation each leave one org audit entry naming who,
// in one chain that deploy.VerifyOrgAudit finds whole; a refused booking
// and a cancellation of a window that is gone leave none.
func TestBookingAndCancellationAreAudited(t *testing.T) {
	f := newFixture(t, &runbook.Runbook{Approvers: []string{"U0CAROL"}}, t0)
	ctx := t.Context()
	w, err := f.s.Schedule(ctx, deploy.ScheduleRequest{Release: "v2.1", Start: t0.Add(3 * time.Hour), Length: time.Hour, Actor: carol, Platform: "slack", Channel: "C1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Schedule(ctx, deploy.ScheduleRequest{Release: "v2.2", Start: t0.Add(3 * time.Hour), Actor: carol, Platform: "slack"}); !errors.Is(err, ErrOverlap) {
		t.Fatalf("overlapping booking: %v, want ErrOverlap", err)
	}
	if _, err := f.s.Schedule(ctx, deploy.ScheduleRequest{Release: "v2.2", Start: t0.Add(9 * time.Hour), Actor: bob, Platform: "slack"}); !errors.Is(err, deploy.ErrNotAllowed) {
		t.Fatalf("booking by a non-approver: %v, want ErrNotAllowed", err)
	}
	f.clk.Advance(time.Minute)
	if err := f.s.Unschedule(ctx, w.ID, carol); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Unschedule(ctx, w.ID, carol); !errors.Is(err, deploy.ErrNotFound) {
		t.Fatalf("cancelling twice: %v, want ErrNotFound", err)
	}
	l, err := f.store.OrgAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 2 {
		t.Fatalf("org audit has %d entries, want the booking and the cancellation: %+v", len(l.Entries), l.Entries)
	}
	book, cancel := l.Entries[0], l.Entries[1]
	var booked, cancelled deploy.Window
	if err := json.Unmarshal([]byte(book.After), &booked); err != nil {
		t.Fatalf("booking entry's after %q: %v", book.After, err)
	}
	if err := json.Unmarshal([]byte(cancel.Before), &cancelled); err != nil {
		t.Fatalf("cancellation entry's before %q: %v", cancel.Before, err)
	}
	if book.Action != deploy.OrgWindowBook || book.Actor.ID != carol.ID || !book.At.Equal(t0) || booked.ID != w.ID || booked.Release != "v2.1" || !booked.Start.Equal(w.Start) {
		t.Errorf("booking entry = %+v, want window-book of %s (v2.1) by %s at %s", book, w.ID, carol.ID, t0)
	}
	if cancel.Action != deploy.OrgWindowCancel || cancel.Actor.ID != carol.ID || !cancel.At.Equal(t0.Add(time.Minute)) || cancelled.ID != w.ID {
		t.Errorf("cancellation entry = %+v, want window-cancel of %s by %s", cancel, w.ID, carol.ID)
	}
	if c := deploy.VerifyOrgAudit(l); c.Status != deploy.ChainOK || c.Entries != 2 || c.Head != cancel.Hash || cancel.Prev != book.Hash {
		t.Errorf("verify org chain = %s, want ok with 2 chained entries", c)
	}
}

func TestUnschedulePermissions(t *testing.T) {
	tests := []struct {
		name  string
		actor deploy.Actor
		id    string
		kind  error // nil: cancelled
	}{
		{name: "the person who booked it, no longer an approver", actor: ana, id: "wbook1", kind: deploy.ErrNotAllowed},
		{name: "an approver (by user group)", actor: carol, id: "wbook1"},
		{name: "someone else", actor: bob, id: "wbook1", kind: deploy.ErrNotAllowed},
		{name: "the same user id on another platform", actor: deploy.Actor{ID: ana.ID, Name: "ana", Platform: "discord"}, id: "wbook1", kind: deploy.ErrNotAllowed},
		{name: "no such window", actor: carol, id: "wnope2", kind: deploy.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, &runbook.Runbook{Approvers: []string{"@release-managers"}}, t0)
			book(t, f.store, deploy.Window{ID: "wbook1", Release: "v1", Start: t0.Add(time.Hour), By: ana, Created: t0})
			err := f.s.Unschedule(t.Context(), tt.id, tt.actor)
			ws, _ := f.store.Windows(t.Context(), t0)
			if tt.kind == nil {
				if err != nil || len(ws) != 0 {
					t.Errorf("err = %v, windows left %v; want it cancelled", err, ws)
				}
				return
			}
			var de *deploy.Error
			if !errors.As(err, &de) || !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want a *deploy.Error of kind %v", err, tt.kind)
			}
			if len(ws) != 1 {
				t.Errorf("window removed although refused")
			}
			if tt.kind == deploy.ErrNotAllowed && !strings.Contains(de.Msg, "@release-managers") {
				t.Errorf("refusal %q does not say who may", de.Msg)
			}
		})
	}
}

func TestGate(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	rb := &runbook.Runbook{Windows: []runbook.RecurringWindow{{Cron: "0 22 * * TUE", Duration: runbook.Duration(2 * time.Hour), Timezone: "Europe/Berlin"}}}
	tue := time.Date(2030, 6, 4, 22, 0, 0, 0, berlin) // a Tuesday
	start := t0.Add(6 * time.Hour)
	tests := []struct {
		name string
		env  string
		at   time.Time
		open bool
	}{
		{"before a production window", "production", start.Add(-time.Second), false},
		{"at its start", "production", start, true},
		{"inside it", "production", start.Add(time.Hour), true},
		{"at its end", "production", start.Add(2 * time.Hour), false},
		{"a window without env is production's, not staging's", "staging", start.Add(time.Hour), false},
		{"a staging window", "staging", start.Add(5 * time.Hour), true},
		{"the staging window is not production's", "production", start.Add(5 * time.Hour), false},
		{"recurring window, production", "production", tue.Add(time.Minute), true},
		{"recurring window applies to every env", "staging", tue.Add(119 * time.Minute), true},
		{"recurring window end", "production", tue.Add(2 * time.Hour), false},
		{"a week later it is open again", "production", tue.AddDate(0, 0, 7).Add(time.Hour), true},
		{"the day after it is closed", "production", tue.AddDate(0, 0, 1), false},
	}
	f := newFixture(t, rb, t0)
	book(t, f.store, deploy.Window{ID: "wprod1", Release: "v1", Start: start, Created: t0})
	book(t, f.store, deploy.Window{ID: "wstag1", Release: "v1", Env: "staging", Start: start.Add(4 * time.Hour), Created: t0})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			open, _, err := f.s.Window(t.Context(), "", tt.env, "", tt.at)
			if err != nil {
				t.Fatal(err)
			}
			if open != tt.open {
				t.Errorf("Window(%s, %s) open = %v, want %v", tt.env, tt.at, open, tt.open)
			}
			desc, open2, err := f.s.Open(t.Context(), "", tt.env, "", tt.at)
			if err != nil || open2 != tt.open {
				t.Errorf("Open = %q, %v, %v; want open=%v", desc, open2, err, tt.open)
			}
		})
	}
}

// The window adapter's questions: is one booked, is one open.
func TestAdapterQuestions(t *testing.T) {
	f := newFixture(t, &runbook.Runbook{}, t0)
	start := t0.Add(6 * time.Hour)
	book(t, f.store, deploy.Window{ID: "wprod1", Release: "v1.4", Start: start, Created: t0})
	tests := []struct {
		name       string
		env        string
		at         time.Time
		scheduled  bool
		open       bool
		descIncl   string
		openInclud string
	}{
		{"booked, not open yet", "production", t0, true, false, "wprod1 for v1.4", "next: maintenance window wprod1"},
		{"open", "production", start.Add(time.Minute), true, true, "wprod1", "wprod1"},
		{"ended", "production", start.Add(3 * time.Hour), false, false, "", ""},
		{"other env", "staging", t0, false, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desc, ok, err := f.s.Scheduled(t.Context(), "", tt.env, "", tt.at)
			if err != nil || ok != tt.scheduled || !strings.Contains(desc, tt.descIncl) {
				t.Errorf("Scheduled = %q, %v, %v; want %v with %q", desc, ok, err, tt.scheduled, tt.descIncl)
			}
			desc, ok, err = f.s.Open(t.Context(), "", tt.env, "", tt.at)
			if err != nil || ok != tt.open || !strings.Contains(desc, tt.openInclud) {
				t.Errorf("Open = %q, %v, %v; want %v with %q", desc, ok, err, tt.open, tt.openInclud)
			}
		})
	}
}

func TestUpcoming(t *testing.T) {
	rb := &runbook.Runbook{Windows: []runbook.RecurringWindow{{Cron: "0 22 * * TUE", Duration: runbook.Duration(2 * time.Hour), Timezone: "Europe/Berlin"}}}
	f := newFixture(t, rb, t0) // Monday 2030-06-03 09:00 UTC
	book(t, f.store, deploy.Window{ID: "wlate1", Release: "v2", Start: t0.Add(72 * time.Hour), Created: t0})
	book(t, f.store, deploy.Window{ID: "wsoon1", Release: "v1", Start: t0.Add(2 * time.Hour), Created: t0, By: bob})
	book(t, f.store, deploy.Window{ID: "wgone1", Release: "v0", Start: t0.Add(-5 * time.Hour), Created: t0.Add(-6 * time.Hour)})
	got, err := f.s.Upcoming(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, w := range got {
		id := w.ID
		if w.Recurring {
			id = "recurring@" + w.Start.UTC().Format(time.RFC3339)
		}
		ids = append(ids, id)
	}
	want := []string{"wsoon1", "recurring@2030-06-04T20:00:00Z", "wlate1"}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Errorf("upcoming = %v, want %v", ids, want)
	}
	if got[0].By != "@bob" || got[1].By != "runbook" || got[1].Zone != "Europe/Berlin" || !got[1].End.Equal(got[1].Start.Add(2*time.Hour)) {
		t.Errorf("views = %+v", got)
	}
}

// robfig/cron on its own skips a time that falls in a spring-forward gap
// (its open PR #541); this is why occurrences are computed on the wall clock
// here. If the library ever changes, this test says so.
func TestRobfigAloneSkipsTheGap(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	sched, err := cron.ParseStandard("CRON_TZ=Europe/Berlin 30 2 * * *")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 28, 12, 0, 0, 0, berlin)
	next := sched.Next(from)
	if next.Day() == 29 {
		t.Logf("robfig/cron now fires in the gap (%s): the wrapper's gap handling may be simplified", next)
	}
	r, err := parseRecurrence(runbook.RecurringWindow{Cron: "30 2 * * *", Duration: runbook.Duration(time.Hour), Timezone: "Europe/Berlin"})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.next(from); got.Day() != 29 || got.In(berlin).Hour() != 3 {
		t.Errorf("wrapper next = %s, want 2026-03-29 03:00 CEST", got.In(berlin))
	}
}

func TestAReplayedScheduleRequestBooksNothing(t *testing.T) {
	f := newFixture(t, &runbook.Runbook{}, t0)
	req := deploy.ScheduleRequest{Release: "v1", Start: t0.Add(time.Hour), Actor: ana, Platform: "slack", Channel: "C-team", RequestID: "trigger-123"}
	if _, err := f.s.Schedule(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	_, err := f.s.Schedule(t.Context(), req)
	if !errors.Is(err, deploy.ErrAlreadyDone) || !strings.Contains(err.Error(), "already handled") {
		t.Fatalf("replay: %v", err)
	}
	if ws, _ := f.store.Windows(t.Context(), t0); len(ws) != 1 {
		t.Fatalf("%d windows booked, want 1", len(ws))
	}
}

func TestBookingIsBoundedAndPruned(t *testing.T) {
	rb := &runbook.Runbook{Approvers: []string{"@release-managers"}}
	f := newFixture(t, rb, t0)
	req := func(start time.Time, by deploy.Actor) deploy.ScheduleRequest {
		return deploy.ScheduleRequest{Release: "v1", Start: start, Length: time.Hour, Actor: by, Platform: "slack", Channel: "C-team"}
	}
	if _, err := f.s.Schedule(t.Context(), req(t0.Add(time.Hour), bob)); !errors.Is(err, deploy.ErrNotAllowed) || !strings.Contains(err.Error(), "@release-managers") {
		t.Errorf("booking by a non-approver: %v, want refused naming the approvers", err)
	}
	if _, err := f.s.Schedule(t.Context(), req(t0.Add(MaxAhead+time.Hour), carol)); !errors.Is(err, deploy.ErrInvalid) || !strings.Contains(err.Error(), "90 days ahead") {
		t.Errorf("booking past the horizon: %v", err)
	}
	// An ended window older than KeepEnded is pruned by the next booking.
	book(t, f.store, deploy.Window{ID: "wold", Release: "v0", Start: t0.Add(-KeepEnded - 3*time.Hour), Created: t0.Add(-30 * 24 * time.Hour)})
	for i := range MaxBooked {
		if _, err := f.s.Schedule(t.Context(), req(t0.Add(time.Duration(2*i+1)*time.Hour), carol)); err != nil {
			t.Fatalf("booking %d: %v", i+1, err)
		}
	}
	_, err := f.s.Schedule(t.Context(), req(t0.Add(time.Duration(2*MaxBooked+1)*time.Hour), carol))
	if !errors.Is(err, deploy.ErrInvalid) || !strings.Contains(err.Error(), "at most 20") {
		t.Errorf("booking %d: %v, want refused (at most %d per environment)", MaxBooked+1, err, MaxBooked)
	}
	all, err := f.store.Windows(t.Context(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != MaxBooked || slices.ContainsFunc(all, func(w deploy.Window) bool { return w.ID == "wold" }) {
		t.Errorf("stored %d windows (old one kept: %v), want %d and the old one pruned", len(all), slices.ContainsFunc(all, func(w deploy.Window) bool { return w.ID == "wold" }), MaxBooked)
	}
}

func TestBookedWindowGatesOnlyItsVersion(t *testing.T) {
	f := newFixture(t, &runbook.Runbook{}, t0)
	book(t, f.store, deploy.Window{ID: "wv1", Release: "v0.0.1", Start: t0.Add(-time.Minute), Created: t0.Add(-time.Hour)})
	for _, tt := range []struct {
		release string
		open    bool
	}{{"v0.0.1", true}, {"v1.4", false}, {"", true}} {
		open, _, err := f.s.Window(t.Context(), "", DefaultEnv, tt.release, t0)
		if err != nil || open != tt.open {
			t.Errorf("Window(production, %q) open = %v, %v; want %v", tt.release, open, err, tt.open)
		}
	}
	if open, _, _ := f.s.Window(t.Context(), "", "staging", "v0.0.1", t0); open {
		t.Errorf("a production window opened the gate of staging")
	}
}
