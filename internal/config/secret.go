package config

import (
	"fmt"
	"log/slog"
)

// redacted is the printed form of every non-empty Secret.
const redacted = "***"

// Secret is a configuration value that must never be shown: a token, a signing
// secret, a URL that may carry a password. Its String, GoString, Format,
// MarshalText, MarshalJSON and LogValue forms are all "***" (or "" when the
// secret is unset, which tells only that it is unset). Reveal returns the
// value itself, for the one call that needs it.
type Secret string

// Reveal returns the secret's value. Call it only where the value is handed
// to the party that needs it (an HTTP header, a client constructor), never
// to build a log line or a message.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether the secret has a value.
func (s Secret) IsSet() bool { return s != "" }

// shown is the form of s that may be printed.
func (s Secret) shown() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String returns "***" (or "" when unset).
func (s Secret) String() string { return s.shown() }

// GoString returns "***" (or "" when unset), for %#v.
func (s Secret) GoString() string { return s.shown() }

// Format prints "***" (or "" when unset) for every verb, so no fmt verb
// (%s, %v, %+v, %#v, %q, %x, %d …) can show the value. %q quotes it.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s.shown())
		return
	}
	_, _ = f.Write([]byte(s.shown()))
}

// MarshalText returns "***" (or "" when unset).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.shown()), nil }

// MarshalJSON returns the JSON string "***" (or "" when unset).
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.shown() + `"`), nil }

// LogValue returns "***" (or "" when unset) for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.shown()) }

// Compile-time interface guards.
var (
	_ fmt.Stringer   = Secret("")
	_ fmt.GoStringer = Secret("")
	_ fmt.Formatter  = Secret("")
	_ slog.LogValuer = Secret("")
)
