package commands

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Grammar is the /deploy grammar of one bot. Which words name a service
// depends on the services the bot deploys, so the grammar is a value built
// from their names (the runbook catalog's): Parse, FromOptions, Definitions
// and Help all read them from here, never from shared state.
//
// The zero Grammar knows no services: no word of the text is taken for a
// SERVICE where the grammar needs the names to tell (start, plan, schedule,
// lock), and a SERVICE given where its place is fixed (runbook, unlock,
// stats, a Discord option) is checked for its shape (ServicePattern) only.
type Grammar struct {
	services []string
}

// NewGrammar returns the grammar of a bot that deploys the named services.
// The names are copied; their order is kept (help and Discord choices show
// them in it).
func NewGrammar(services []string) Grammar {
	return Grammar{services: slices.Clone(services)}
}

// Services returns the service names the grammar knows (a fresh slice).
func (g Grammar) Services() []string { return slices.Clone(g.services) }

// IsService reports whether name is one of the grammar's services.
func (g Grammar) IsService(name string) bool { return slices.Contains(g.services, name) }

// MaxServiceChoices is the most services offered as Discord choices (the
// platform's limit); with more, the service option is free text.
const MaxServiceChoices = 25

// ServicePattern is the shape of a SERVICE accepted by a grammar that knows
// no services. A grammar that knows them accepts exactly their names.
const ServicePattern = `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`

const maxServiceLength = 64

// validServiceShape reports whether s matches ServicePattern.
func validServiceShape(s string) bool { return validName(s, maxServiceLength) }

// validName reports whether s is a name of at most max characters: a letter
// or digit, then letters, digits, '.', '_' and '-' (ServicePattern,
// PhasePattern).
func validName(s string, max int) bool {
	if s == "" || len(s) > max || !(isLower(s[0]) || isUpper(s[0]) || isDigit(s[0])) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isLower(c) && !isUpper(c) && !isDigit(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// validateService checks a SERVICE: one of the known services, or, when the
// grammar knows none, a name of ServicePattern's shape.
func (g Grammar) validateService(s string) error {
	if len(g.services) == 0 {
		if !validServiceShape(s) {
			return fmt.Errorf("invalid service %s: use letters, digits and . - _ (at most %d), e.g. payments-api", quote(s), maxServiceLength)
		}
		return nil
	}
	if g.IsService(s) {
		return nil
	}
	return fmt.Errorf("unknown service %s: the services are %s", quote(s), strings.Join(g.services, ", "))
}

// looksLikeVersion reports whether a word reads as a version (v1.4, 2.0.1)
// rather than a misspelt service name: a digit first, or a "v" and a digit.
func looksLikeVersion(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "v"), "V")
	return s != "" && isDigit(s[0])
}

// The package-level functions use the zero Grammar (no services known).

// Parse is Grammar{}.Parse: the grammar of a bot that knows no service names.
func Parse(text string, now time.Time) (Command, error) { return Grammar{}.Parse(text, now) }

// FromOptions is Grammar{}.FromOptions.
func FromOptions(kind Kind, opts map[string]string, now time.Time) (Command, error) {
	return Grammar{}.FromOptions(kind, opts, now)
}

// Definitions is Grammar{}.Definitions.
func Definitions() []Definition { return Grammar{}.Definitions() }

// Help is Grammar{}.Help.
func Help() string { return Grammar{}.Help() }
