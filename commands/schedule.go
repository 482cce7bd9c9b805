package commands

import (
	"fmt"
	"strings"
	"time"

	// The zone database is embedded so that IANA zone names resolve in a
	// minimal container image without /usr/share/zoneinfo. It is used only when
	// the system has no zone database.
	_ "time/tzdata"
)

const (
	dateLayout      = "2006-01-02"
	clockLayout     = "15:04"
	wallClockLayout = dateLayout + " " + clockLayout
	startHelp       = "use RFC 3339 (2026-12-01T22:00:00+01:00) or YYYY-MM-DD HH:MM [ZONE] (2026-12-01 22:00 Europe/Berlin)"
)

// parseStart parses a START, "YYYY-MM-DD HH:MM [ZONE]" or RFC 3339, and
// refuses one before now. It returns the time and the zone name ("" for RFC 3339).
func parseStart(s string, now time.Time) (time.Time, string, error) {
	if len(s) > maxStartLength {
		return time.Time{}, "", fmt.Errorf("invalid start %s: %s", quote(s), startHelp)
	}
	f := strings.Fields(s)
	if len(f) == 0 {
		return time.Time{}, "", fmt.Errorf("missing START: %s", startHelp)
	}
	var (
		t    time.Time
		zone string
		err  error
	)
	if len(f[0]) > len(dateLayout) && (f[0][len(dateLayout)] == 'T' || f[0][len(dateLayout)] == 't') {
		t, err = parseRFC3339(f)
	} else {
		t, zone, err = parseWallClock(f)
	}
	if err != nil {
		return time.Time{}, "", err
	}
	if t.Before(now) {
		return time.Time{}, "", fmt.Errorf("start %s is in the past (it is now %s)",
			formatStart(t, zone), formatStart(now.In(t.Location()).Truncate(time.Second), zone))
	}
	return t, zone, nil
}

// parseRFC3339 parses the fields of an RFC 3339 START. The time keeps its
// offset as a fixed zone (UTC for a zero offset), whatever the machine's zone.
func parseRFC3339(f []string) (time.Time, error) {
	if len(f) > 1 {
		return time.Time{}, fmt.Errorf("unexpected %s: an RFC 3339 start carries its own offset (%s)", quote(f[1]), startHelp)
	}
	t, err := time.Parse(time.RFC3339, f[0])
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid start %s: %s", quote(f[0]), startHelp)
	}
	_, offset := t.Zone()
	if offset == 0 {
		return t.UTC(), nil
	}
	return t.In(time.FixedZone("", offset)), nil
}

// parseWallClock parses the fields of a "YYYY-MM-DD HH:MM [ZONE]" START.
func parseWallClock(f []string) (time.Time, string, error) {
	d, err := time.Parse(dateLayout, f[0])
	if err != nil {
		return time.Time{}, "", fmt.Errorf("invalid start date %s: %s", quote(f[0]), startHelp)
	}
	if len(f) < 2 {
		return time.Time{}, "", fmt.Errorf("missing time after %s: %s", f[0], startHelp)
	}
	c, err := time.Parse(clockLayout, f[1])
	if err != nil {
		return time.Time{}, "", fmt.Errorf("invalid start time %s: %s", quote(f[1]), startHelp)
	}
	if len(f) > 3 {
		if _, err := time.ParseDuration(f[3]); err == nil {
			return time.Time{}, "", fmt.Errorf(`unexpected %s (to give the window's length write "for %s")`, quote(f[3]), f[3])
		}
		return time.Time{}, "", fmt.Errorf("unexpected %s: %s", quote(f[3]), startHelp)
	}
	loc, zone := time.UTC, "UTC"
	if len(f) == 3 {
		if loc, zone, err = loadZone(f[2]); err != nil {
			return time.Time{}, "", err
		}
	}
	t := time.Date(d.Year(), d.Month(), d.Day(), c.Hour(), c.Minute(), 0, 0, loc)
	if y, m, dd := t.Date(); y != d.Year() || m != d.Month() || dd != d.Day() || t.Hour() != c.Hour() || t.Minute() != c.Minute() {
		return time.Time{}, "", fmt.Errorf("%s %s does not exist in %s (the clocks skip it): pick another time", f[0], c.Format(clockLayout), zone)
	}
	return t, zone, nil
}

// loadZone resolves a ZONE: "UTC" (any case) or an IANA zone name.
func loadZone(name string) (*time.Location, string, error) {
	if strings.EqualFold(name, "UTC") {
		return time.UTC, "UTC", nil
	}
	unknown := fmt.Errorf("unknown time zone %s: use an IANA name such as Europe/Berlin, or UTC", quote(name))
	if !validZoneName(name) || name == "Local" {
		return nil, "", unknown
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, "", unknown
	}
	return loc, loc.String(), nil
}

// validZoneName reports whether name has the shape of an IANA zone name
// ("America/Argentina/Buenos_Aires", "Etc/GMT+1"), so that nothing else is
// looked up in the zone database.
func validZoneName(name string) bool {
	if name == "" || len(name) > 64 || !(isLower(name[0]) || isUpper(name[0])) ||
		strings.Contains(name, "..") || strings.Contains(name, "//") || strings.HasSuffix(name, "/") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isLower(c) && !isUpper(c) && !isDigit(c) && !strings.ContainsRune("_+-/", rune(c)) {
			return false
		}
	}
	return true
}

// parseDuration parses a DURATION ("2h", "90m", "1h30m") and checks its range.
func parseDuration(s string) (time.Duration, error) {
	if len(s) > maxDurationLength {
		return 0, fmt.Errorf("invalid duration %s: use 2h, 90m or 1h30m", quote(s))
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %s: use 2h, 90m or 1h30m", quote(s))
	}
	if d < MinWindowLength {
		return 0, fmt.Errorf("duration %s is too short (at least %s)", quote(s), formatDuration(MinWindowLength))
	}
	if d > MaxWindowLength {
		return 0, fmt.Errorf("duration %s is too long (at most %s)", quote(s), formatDuration(MaxWindowLength))
	}
	return d, nil
}

// formatStart writes a START back as it is typed: RFC 3339 when zone is "",
// else "YYYY-MM-DD HH:MM ZONE".
func formatStart(t time.Time, zone string) string {
	if zone == "" {
		return t.Format(time.RFC3339Nano)
	}
	loc := t.Location()
	if zone == "UTC" {
		loc = time.UTC
	} else if l, err := time.LoadLocation(zone); err == nil {
		loc = l
	}
	return t.In(loc).Format(wallClockLayout) + " " + zone
}

// formatDuration writes a duration the short way: "2h", "1h30m", "90s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
