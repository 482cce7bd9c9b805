package schedule

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"deploybot/deploy"
	"deploybot/runbook"
)

var t0 = time.Date(2030, 6, 3, 9, 0, 0, 0, time.UTC)

// Every reminder offset fires once, on time, with how long until the window
// opens; then the window-open notice fires once at the start.
func TestEveryOffsetFiresOnce(t *testing.T) {
	tests := []struct {
		name      string
		reminders []runbook.Duration // nil: the default 24h, 1h, 15m
		bookedAt  time.Duration      // before the start
		want      []time.Duration    // offsets sent, largest first
	}{
		{name: "default offsets", bookedAt: 48 * time.Hour, want: []time.Duration{24 * time.Hour, time.Hour, 15 * time.Minute}},
		{name: "runbook offsets", reminders: dur(2*time.Hour, 30*time.Minute, 5*time.Minute), bookedAt: 48 * time.Hour,
			want: []time.Duration{2 * time.Hour, 30 * time.Minute, 5 * time.Minute}},
		{name: "booked 2h ahead: the 24h reminder does not apply", bookedAt: 2 * time.Hour, want: []time.Duration{time.Hour, 15 * time.Minute}},
		{name: "booked 10m ahead: no reminder applies", bookedAt: 10 * time.Minute, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := t0.Add(tt.bookedAt)
			f := newFixture(t, &runbook.Runbook{Reminders: tt.reminders}, t0)
			w, err := f.s.Schedule(t.Context(), deploy.ScheduleRequest{Release: "v1.4", Start: start, Zone: "Europe/Berlin",
				Length: 2 * time.Hour, Channel: "C-team", Platform: "slack", Actor: ana})
			if err != nil {
				t.Fatal(err)
			}
			f.runUntil(t, start.Add(3*time.Hour), time.Minute)

			var got []time.Duration
			for _, n := range f.rec.of(KindReminder) {
				got = append(got, n.Offset)
				due := start.Add(-n.Offset)
				if n.At.Before(due) || !n.At.Before(due.Add(time.Minute)) {
					t.Errorf("%s reminder sent at %s, due at %s", n.Offset, n.At, due)
				}
				if n.Until != n.Offset {
					t.Errorf("%s reminder says the window opens in %s", n.Offset, n.Until)
				}
				if n.Window.ID != w.ID || n.Window.Release != "v1.4" || !n.Window.Start.Equal(start) || n.Window.Zone != "Europe/Berlin" {
					t.Errorf("reminder about %+v, want window %s", n.Window, w.ID)
				}
				if n.Channel != "C-notices" || n.Platform != "slack" || n.Env != "production" {
					t.Errorf("reminder to %s/%s for %q, want slack/C-notices for production", n.Platform, n.Channel, n.Env)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("reminders sent %v, want %v", got, tt.want)
			}
			open := f.rec.of(KindOpen)
			if len(open) != 1 || !open[0].At.Equal(start) {
				t.Errorf("window-open notices = %+v, want one at %s", open, start)
			}
			if n := counter(t, f.reg, "deploybot_reminders_dropped_total", nil); n != 0 {
				t.Errorf("%v notices dropped, want none", n)
			}
			if n := counter(t, f.reg, "deploybot_reminders_sent_total", map[string]string{"kind": "reminder"}); n != float64(len(tt.want)) {
				t.Errorf("sent counter = %v, want %d", n, len(tt.want))
			}
		})
	}
}

// A process that was down catches up when it (or another one) scans again:
// a reminder whose window has not started is sent once, late; reminders
// whose window started are dropped and counted; the open notice is sent late
// while the window is open, and dropped once it ended.
func TestCatchUpAfterDowntime(t *testing.T) {
	start := t0.Add(48 * time.Hour)
	end := start.Add(2 * time.Hour)
	type want struct {
		reminders  []time.Duration // offsets sent after the downtime
		open       bool            // open notice sent after the downtime
		stale      float64         // reminders dropped as stale
		superseded float64
		openStale  float64
	}
	tests := []struct {
		name   string
		backAt time.Time // the first scan after the downtime
		want   want
	}{
		{name: "back before the 1h reminder", backAt: start.Add(-90 * time.Minute), want: want{}},
		{name: "back 20 minutes after the 1h reminder was due", backAt: start.Add(-40 * time.Minute), want: want{reminders: []time.Duration{time.Hour}}},
		{name: "back after the 1h and 15m reminders were due", backAt: start.Add(-10 * time.Minute),
			want: want{reminders: []time.Duration{15 * time.Minute}, superseded: 1}},
		{name: "back while the window is open", backAt: start.Add(10 * time.Minute), want: want{open: true, stale: 2}},
		{name: "back after the window ended", backAt: end.Add(time.Hour), want: want{stale: 2, openStale: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, &runbook.Runbook{}, t0)
			if _, err := f.s.Schedule(t.Context(), deploy.ScheduleRequest{Release: "v2.0", Start: start, Length: 2 * time.Hour, Platform: "slack", Actor: ana}); err != nil {
				t.Fatal(err)
			}
			// Up until the 24h reminder went out, then down.
			f.runUntil(t, start.Add(-24*time.Hour), time.Minute)
			if got := f.rec.of(KindReminder); len(got) != 1 || got[0].Offset != 24*time.Hour {
				t.Fatalf("before the downtime: %+v, want the 24h reminder", got)
			}
			f.rec.reset()

			// A new process on the same store comes back.
			clk := f.clk
			clk.Set(tt.backAt)
			s2 := New(Config{Store: f.store, Runbook: &runbook.Runbook{}, Notices: f.rec, Clock: clk, Logger: quiet(), Metrics: f.reg})
			for range 3 { // scanning again changes nothing
				if err := s2.Tick(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			var got []time.Duration
			for _, n := range f.rec.of(KindReminder) {
				got = append(got, n.Offset)
				if want := start.Sub(tt.backAt); n.Until != want {
					t.Errorf("late reminder says opens in %s, want %s", n.Until, want)
				}
			}
			if !slices.Equal(got, tt.want.reminders) {
				t.Errorf("reminders sent after the downtime %v, want %v", got, tt.want.reminders)
			}
			if open := len(f.rec.of(KindOpen)); (open == 1) != tt.want.open || open > 1 {
				t.Errorf("%d window-open notices, want open=%v", open, tt.want.open)
			}
			for _, c := range []struct {
				kind, reason string
				want         float64
			}{
				{"reminder", "stale", tt.want.stale}, {"reminder", "superseded", tt.want.superseded}, {"window_open", "stale", tt.want.openStale},
			} {
				if got := counter(t, f.reg, "deploybot_reminders_dropped_total", map[string]string{"kind": c.kind, "reason": c.reason}); got != c.want {
					t.Errorf("dropped{%s,%s} = %v, want %v", c.kind, c.reason, got, c.want)
				}
			}
		})
	}
}

// A cancelled window sends nothing more.
func TestUnscheduledWindowSendsNothing(t *testing.T) {
	f := newFixture(t, &runbook.Runbook{}, t0)
	start := t0.Add(3 * time.Hour)
	w, err := f.s.Schedule(t.Context(), deploy.ScheduleRequest{Release: "v1", Start: start, Platform: "slack", Actor: ana})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.Unschedule(t.Context(), w.ID, ana); err != nil {
		t.Fatal(err)
	}
	f.runUntil(t, start.Add(time.Hour), time.Minute)
	if got := f.rec.all(); len(got) != 0 {
		t.Errorf("notices of a cancelled window: %+v", got)
	}
}

// Recurring windows in Berlin and Los Angeles fire every reminder and the
// open notice exactly once per occurrence across both DST changes, none lost
// in the skipped hour and none doubled in the repeated one.
func TestRecurringRemindersAcrossDST(t *testing.T) {
	tests := []struct {
		name   string
		cron   string
		zone   string
		day    string // the transition day
		starts []string
	}{
		{"Berlin spring forward", "30 2 * * *", "Europe/Berlin", "2026-03-29",
			[]string{"2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		{"Berlin fall back", "30 2 * * *", "Europe/Berlin", "2026-10-25",
			[]string{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"Los Angeles spring forward", "30 2 * * *", "America/Los_Angeles", "2026-03-08",
			[]string{"2026-03-07T10:30:00Z", "2026-03-08T10:00:00Z", "2026-03-09T09:30:00Z"}},
		{"Los Angeles fall back", "30 1 * * *", "America/Los_Angeles", "2026-11-01",
			[]string{"2026-10-31T08:30:00Z", "2026-11-01T08:30:00Z", "2026-11-02T09:30:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc := mustZone(t, tt.zone)
			day, err := time.ParseInLocation("2006-01-02", tt.day, loc)
			if err != nil {
				t.Fatal(err)
			}
			rb := &runbook.Runbook{Windows: []runbook.RecurringWindow{{Cron: tt.cron, Duration: runbook.Duration(time.Hour), Timezone: tt.zone}}}
			from := day.AddDate(0, 0, -3)
			f := newFixture(t, rb, from)
			f.runUntil(t, day.AddDate(0, 0, 2), 5*time.Minute)

			seen := map[string]int{}
			for _, n := range f.rec.all() {
				seen[noticeKey(n)]++
				if !n.Window.Recurring || n.Window.Zone != tt.zone || n.Env != "" {
					t.Errorf("notice about %+v for env %q, want the recurring window in %s for every environment", n.Window, n.Env, tt.zone)
				}
			}
			for k, c := range seen {
				if c > 1 {
					t.Errorf("%s sent %d times", k, c)
				}
			}
			for _, s := range tt.starts {
				st, _ := time.Parse(time.RFC3339, s)
				w := Notice{Window: deploy.WindowView{Recurring: true, Start: st}}
				for _, k := range []NoticeKind{KindReminder, KindOpen} {
					w.Kind = k
					offs := []time.Duration{0}
					if k == KindReminder {
						offs = []time.Duration{24 * time.Hour, time.Hour, 15 * time.Minute}
					}
					for _, off := range offs {
						w.Offset = off
						if seen[noticeKey(w)] != 1 {
							t.Errorf("%s: sent %d times, want once", noticeKey(w), seen[noticeKey(w)])
						}
					}
				}
			}
		})
	}
}

// Zero duplicates across schedulers is checked in TestThreeReplicas; this
// pins the claim keys of occurrences so a change of format is deliberate.
func TestClaimKeys(t *testing.T) {
	w := deploy.Window{ID: "wabc23", Start: t0, Length: time.Hour}
	o := NewCalendar(CalendarConfig{}).scheduledOccurrence(w)
	if want := fmt.Sprintf("w:wabc23:%d", t0.Unix()); o.key != want {
		t.Errorf("key %q, want %q", o.key, want)
	}
}
