package commands

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The allow-lists, as regular expressions for documentation and for other
// validators; this package checks them by hand (see the tests that hold the two
// together).
const (
	// VersionPattern is the character set and length of a VERSION. A version
	// must also start with a letter or digit and not contain "..".
	VersionPattern = `^[A-Za-z0-9._+/-]{1,64}$`
	// EnvPattern is an ENV.
	EnvPattern = `^[a-z0-9][a-z0-9_-]{0,31}$`
	// RunIDPattern is the shape of a run id ("r7k2qd").
	RunIDPattern = `^r[0-9a-z]{5}$`
	// PhasePattern is a PHASE: a runbook phase id (the runbook's own rule).
	PhasePattern = `^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$`
	// WindowIDPattern is the shape of a scheduled window's id ("w4k9zt").
	WindowIDPattern = `^w[0-9a-z]{5}$`
)

const (
	maxVersionLength   = 64
	maxEnvLength       = 32
	runIDLength        = 6
	maxWindowRefLength = 40
	maxStartLength     = 64
	maxDurationLength  = 16
	maxPhaseLength     = 40
)

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// shortID reports whether s is prefix followed by exactly five of [0-9a-z].
func shortID(s string, prefix byte) bool {
	if len(s) != runIDLength || s[0] != prefix {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLower(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// LooksLikeRunID reports whether s has the shape of a run id (RunIDPattern).
// In "rollback r7k2qd …" and "abort r7k2qd …" a first word of this shape is the
// RUN, not the start of the reason.
func LooksLikeRunID(s string) bool { return shortID(s, 'r') }

// LooksLikeWindowID reports whether s has the shape of a scheduled window's id
// (WindowIDPattern).
func LooksLikeWindowID(s string) bool { return shortID(s, 'w') }

// quote returns s quoted for an error message, cut to a readable length.
func quote(s string) string {
	const max = 40
	n := 0
	for i := range s {
		if n == max {
			return strconv.Quote(s[:i]) + "…"
		}
		n++
	}
	return strconv.Quote(s)
}

// validateVersion checks a VERSION against the allow-list.
func validateVersion(v string) error {
	if len(v) > maxVersionLength {
		return fmt.Errorf("invalid version %s: too long (%d characters, at most %d)", quote(v), utf8.RuneCountInString(v), maxVersionLength)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !isLower(c) && !isUpper(c) && !isDigit(c) && !strings.ContainsRune("._+/-", rune(c)) {
			return fmt.Errorf("invalid version %s: use letters, digits and . - _ + / only (at most %d), e.g. v1.4.2", quote(v), maxVersionLength)
		}
	}
	if v == "" || !(isLower(v[0]) || isUpper(v[0]) || isDigit(v[0])) {
		return fmt.Errorf("invalid version %s: it must start with a letter or digit, e.g. v1.4.2", quote(v))
	}
	if strings.Contains(v, "..") {
		return fmt.Errorf("invalid version %s: \"..\" is not allowed, e.g. v1.4.2", quote(v))
	}
	return nil
}

// validEnv reports whether s matches EnvPattern.
func validEnv(s string) bool {
	if s == "" || len(s) > maxEnvLength || !(isLower(s[0]) || isDigit(s[0])) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLower(s[i]) && !isDigit(s[i]) && s[i] != '-' && s[i] != '_' {
			return false
		}
	}
	return true
}

// validateEnv checks an ENV against EnvPattern.
func validateEnv(s string) error {
	if !validEnv(s) {
		return fmt.Errorf("invalid environment %s: use lowercase letters, digits, - and _ (at most %d, starting with a letter or digit), e.g. staging", quote(s), maxEnvLength)
	}
	return nil
}

// validateRun checks a RUN against RunIDPattern.
func validateRun(s string) error {
	if !LooksLikeRunID(s) {
		return fmt.Errorf("invalid run id %s: run ids look like r7k2qd (see /deploy list)", quote(s))
	}
	return nil
}

// validPhase reports whether s matches PhasePattern.
func validPhase(s string) bool { return validName(s, maxPhaseLength) }

// validatePhase checks a PHASE against PhasePattern.
func validatePhase(s string) error {
	if !validPhase(s) {
		return fmt.Errorf("invalid phase %s: use a phase id as /deploy runbook shows it in brackets, e.g. build", quote(s))
	}
	return nil
}

// validWindowRef reports whether s is acceptable to unschedule: ^[a-z0-9-]{1,40}$.
// It is wider than WindowIDPattern so windows with other ids can be cancelled.
func validWindowRef(s string) bool {
	if s == "" || len(s) > maxWindowRefLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLower(s[i]) && !isDigit(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

// validateWindow checks a WINDOW given to unschedule.
func validateWindow(s string) error {
	if !validWindowRef(s) {
		return fmt.Errorf("invalid window id %s: use the id shown by /deploy windows, e.g. w4k9zt", quote(s))
	}
	return nil
}

// validateReason checks a (trimmed) REASON: valid UTF-8, no control characters
// other than tab and newline, at most MaxReasonLength characters.
func validateReason(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("invalid reason: it is not valid UTF-8 text")
	}
	if n := utf8.RuneCountInString(s); n > MaxReasonLength {
		return fmt.Errorf("reason is too long (%d characters, at most %d)", n, MaxReasonLength)
	}
	for _, r := range s {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0x7f && r < 0xa0) {
			return fmt.Errorf("invalid reason: control character %U is not allowed", r)
		}
	}
	return nil
}
