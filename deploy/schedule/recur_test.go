package schedule

import (
	"testing"
	"time"

	"deploybot/runbook"
)

// occurrencesBetween lists the starts of r in (from, to].
func occurrencesBetween(r *recurrence, from, to time.Time) []time.Time {
	var out []time.Time
	for t := r.next(from); !t.IsZero() && !t.After(to); t = r.next(t) {
		out = append(out, t)
	}
	return out
}

func TestRecurrenceAcrossDST(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name     string
		cron     string
		zone     string
		from, to string // UTC
		want     []string
	}{
		{
			name: "Berlin spring forward: 02:30 does not exist, fires at 03:00 CEST",
			cron: "30 2 * * *", zone: "Europe/Berlin", from: "2026-03-27T12:00:00Z", to: "2026-03-30T12:00:00Z",
			want: []string{"2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"},
		},
		{
			name: "Berlin fall back: 02:30 happens twice, fires once (the first)",
			cron: "30 2 * * *", zone: "Europe/Berlin", from: "2026-10-23T12:00:00Z", to: "2026-10-26T12:00:00Z",
			want: []string{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
		},
		{
			name: "Los Angeles spring forward: 02:30 does not exist, fires at 03:00 PDT",
			cron: "30 2 * * *", zone: "America/Los_Angeles", from: "2026-03-06T20:00:00Z", to: "2026-03-09T20:00:00Z",
			want: []string{"2026-03-07T10:30:00Z", "2026-03-08T10:00:00Z", "2026-03-09T09:30:00Z"},
		},
		{
			name: "Los Angeles fall back: 01:30 happens twice, fires once (the first)",
			cron: "30 1 * * *", zone: "America/Los_Angeles", from: "2026-10-30T20:00:00Z", to: "2026-11-02T20:00:00Z",
			want: []string{"2026-10-31T08:30:00Z", "2026-11-01T08:30:00Z", "2026-11-02T09:30:00Z"},
		},
		{
			name: "weekly window on the Tuesday after Berlin's change keeps its wall clock",
			cron: "0 22 * * TUE", zone: "Europe/Berlin", from: "2026-03-20T00:00:00Z", to: "2026-04-01T00:00:00Z",
			want: []string{"2026-03-24T21:00:00Z", "2026-03-31T20:00:00Z"},
		},
		{
			name: "UTC has no gaps",
			cron: "30 2 * * *", zone: "", from: "2026-03-28T00:00:00Z", to: "2026-03-30T00:00:00Z",
			want: []string{"2026-03-28T02:30:00Z", "2026-03-29T02:30:00Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseRecurrence(runbook.RecurringWindow{Cron: tt.cron, Duration: runbook.Duration(time.Hour), Timezone: tt.zone})
			if err != nil {
				t.Fatal(err)
			}
			got := occurrencesBetween(r, utc(tt.from), utc(tt.to))
			if len(got) != len(tt.want) {
				t.Fatalf("occurrences = %v, want %v", got, tt.want)
			}
			for i := range got {
				if !got[i].Equal(utc(tt.want[i])) {
					t.Errorf("occurrence %d = %s, want %s", i, got[i].UTC().Format(time.RFC3339), tt.want[i])
				}
			}
		})
	}
}

// An hourly window fires once per distinct hour of the wall clock: 23 times
// on a spring-forward day, 24 (not 25) on a fall-back day.
func TestRecurrenceHourlyOnTransitionDays(t *testing.T) {
	tests := []struct {
		name string
		zone string
		day  string
		want int
	}{
		{"Berlin spring forward", "Europe/Berlin", "2026-03-29", 23},
		{"Berlin fall back", "Europe/Berlin", "2026-10-25", 24},
		{"Los Angeles spring forward", "America/Los_Angeles", "2026-03-08", 23},
		{"Los Angeles fall back", "America/Los_Angeles", "2026-11-01", 24},
		{"ordinary day", "Europe/Berlin", "2026-06-01", 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc := mustZone(t, tt.zone)
			day, err := time.ParseInLocation("2006-01-02", tt.day, loc)
			if err != nil {
				t.Fatal(err)
			}
			r, err := parseRecurrence(runbook.RecurringWindow{Cron: "0 * * * *", Duration: runbook.Duration(30 * time.Minute), Timezone: tt.zone})
			if err != nil {
				t.Fatal(err)
			}
			next := day.AddDate(0, 0, 1)
			got := occurrencesBetween(r, day.Add(-time.Second), next.Add(-time.Second))
			if len(got) != tt.want {
				t.Errorf("%d occurrences, want %d: %v", len(got), tt.want, got)
			}
			for i := 1; i < len(got); i++ {
				if !got[i].After(got[i-1]) {
					t.Errorf("occurrences not strictly increasing: %s then %s", got[i-1], got[i])
				}
			}
		})
	}
}

func TestParseRecurrenceRefuses(t *testing.T) {
	tests := []struct {
		name string
		w    runbook.RecurringWindow
	}{
		{"bad cron", runbook.RecurringWindow{Cron: "0 25 * * *", Duration: runbook.Duration(time.Hour)}},
		{"zone inside cron", runbook.RecurringWindow{Cron: "TZ=Europe/Berlin 0 22 * * *", Duration: runbook.Duration(time.Hour)}},
		{"unknown zone", runbook.RecurringWindow{Cron: "0 22 * * *", Duration: runbook.Duration(time.Hour), Timezone: "Mars/Olympus"}},
		{"no duration", runbook.RecurringWindow{Cron: "0 22 * * *"}},
		{"garbage", runbook.RecurringWindow{Cron: "@@@", Duration: runbook.Duration(time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseRecurrence(tt.w); err == nil {
				t.Errorf("parseRecurrence(%+v) = nil error", tt.w)
			}
		})
	}
}
