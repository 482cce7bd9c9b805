package commands

import (
	"regexp"
	"strings"
	"testing"
)

// versionAllowed is the documented rule for a VERSION, written with the
// exported pattern: the hand-written check must agree with it.
func versionAllowed(s string) bool {
	return regexp.MustCompile(VersionPattern).MatchString(s) &&
		regexp.MustCompile(`^[A-Za-z0-9]`).MatchString(s) && !strings.Contains(s, "..")
}

// checkPatterns fails t when a hand-written check disagrees with its pattern on s.
func checkPatterns(t *testing.T, s string) {
	t.Helper()
	checks := []struct {
		name    string
		pattern string
		got     bool
	}{
		{"LooksLikeRunID", RunIDPattern, LooksLikeRunID(s)},
		{"LooksLikeWindowID", WindowIDPattern, LooksLikeWindowID(s)},
		{"validEnv", EnvPattern, validEnv(s)},
		{"validWindowRef", `^[a-z0-9-]{1,40}$`, validWindowRef(s)},
	}
	for _, c := range checks {
		if want := regexp.MustCompile(c.pattern).MatchString(s); c.got != want {
			t.Errorf("%s(%q) = %v, pattern %s says %v", c.name, s, c.got, c.pattern, want)
		}
	}
	if got, want := validateVersion(s) == nil, versionAllowed(s); got != want {
		t.Errorf("validateVersion(%q) accepts = %v, pattern says %v", s, got, want)
	}
}

var patternSamples = []string{
	"", "r", "r7k2q", "r7k2qd", "r7k2qdx", "R7K2QD", "x7k2qd", "r7k2q-", "r7k2q\n", "w4k9zt", "w4k9z", "wweekly",
	"production", "staging", "eu_west-1", "-prod", "_prod", "Prod", strings.Repeat("a", 32), strings.Repeat("a", 33),
	"v1.4", "v1.4.2", "V1.4-RC1+b/x_y", "-rf", ".hidden", "/etc", "a..b", "a/./b", "v1.4;", "$(id)", "v1 4", "vé",
	strings.Repeat("a", 64), strings.Repeat("a", 65), strings.Repeat("a", 40), strings.Repeat("a", 41), "weekly-2026-12-01",
}

func TestHandWrittenChecksMatchPatterns(t *testing.T) {
	for _, s := range patternSamples {
		checkPatterns(t, s)
	}
}

func FuzzHandWrittenChecksMatchPatterns(f *testing.F) {
	for _, s := range patternSamples {
		f.Add(s)
	}
	f.Fuzz(checkPatterns)
}

func TestLooksLikeIDs(t *testing.T) {
	tests := []struct {
		name   string
		s      string
		run    bool
		window bool
	}{
		{"run id", "r7k2qd", true, false},
		{"window id", "w4k9zt", false, true},
		{"a word that happens to look like a run id", "revert", true, false},
		{"too short", "r7k2q", false, false},
		{"too long", "r7k2qdx", false, false},
		{"upper case", "R7K2QD", false, false},
		{"empty", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LooksLikeRunID(tt.s); got != tt.run {
				t.Errorf("LooksLikeRunID(%q) = %v, want %v", tt.s, got, tt.run)
			}
			if got := LooksLikeWindowID(tt.s); got != tt.window {
				t.Errorf("LooksLikeWindowID(%q) = %v, want %v", tt.s, got, tt.window)
			}
		})
	}
}
