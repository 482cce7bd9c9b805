package commands

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// FromOptions builds the command of the given kind from named options, as a
// Discord subcommand delivers them: the keys are Arg names (ArgVersion, …),
// blank values count as left out. It applies exactly the validation and
// defaults of Parse; an option the command does not take is refused.
func (g Grammar) FromOptions(kind Kind, opts map[string]string, now time.Time) (Command, error) {
	d, ok := g.definition(kind)
	if !ok {
		return Command{}, unknownCommand(string(kind))
	}
	var extra []string
	for name := range opts {
		if !d.takes(name) {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return Command{}, &Error{Msg: fmt.Sprintf("unexpected option %s", quote(extra[0])), Usage: d.Usage}
	}
	return g.build(d, opts, now)
}

// takes reports whether the command has an argument of that name.
func (d Definition) takes(name string) bool {
	for _, a := range d.Args {
		if a.Name == name {
			return true
		}
	}
	return false
}

// build validates named argument values against d and assembles the Command.
// Both Parse and FromOptions end here.
func (g Grammar) build(d Definition, opts map[string]string, now time.Time) (Command, error) {
	c := Command{Kind: d.Kind}
	for _, a := range d.Args {
		v := strings.TrimSpace(opts[a.Name])
		if v == "" {
			if a.Required {
				return Command{}, &Error{Msg: fmt.Sprintf("missing %s: %s", a.Placeholder(), a.Description), Usage: d.Usage}
			}
			if a.Default == "" {
				continue
			}
			v = a.Default
		}
		if err := g.set(&c, a.Name, v, now); err != nil {
			return Command{}, &Error{Msg: err.Error(), Usage: d.Usage}
		}
	}
	return c, nil
}

// set validates v as the argument name and stores it in c.
func (g Grammar) set(c *Command, name, v string, now time.Time) error {
	var err error
	switch name {
	case ArgVersion:
		if err = validateVersion(v); err == nil {
			c.Version = v
		}
	case ArgEnv:
		if err = validateEnv(v); err == nil {
			c.Env = v
		}
	case ArgRun:
		if err = validateRun(v); err == nil {
			c.Run = v
		}
	case ArgReason:
		if err = validateReason(v); err == nil {
			c.Reason = v
		}
	case ArgStart:
		c.Start, c.StartZone, err = parseStart(v, now)
	case ArgDuration:
		c.Duration, err = parseDuration(v)
	case ArgWindow:
		if err = validateWindow(v); err == nil {
			c.Window = v
		}
	case ArgService:
		if err = g.validateService(v); err == nil {
			c.Service = v
		}
	case ArgDays:
		c.Days, err = parseDays(v)
	case ArgPhase:
		if err = validatePhase(v); err == nil {
			c.Phase = v
		}
	default:
		err = fmt.Errorf("unexpected option %s", quote(name))
	}
	return err
}

// unknownCommand is the refusal of a subcommand that does not exist.
func unknownCommand(name string) *Error {
	return &Error{Msg: fmt.Sprintf("unknown command %s. Try /deploy help — commands: %s", quote(name), kindNames())}
}

// MaxStatsDays is the longest period of /deploy stats, in days.
const MaxStatsDays = 365

// parseDays parses the DAYS of stats: a whole number from 1 to MaxStatsDays.
func parseDays(s string) (int, error) {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) || i >= 3 {
			return 0, fmt.Errorf("invalid number of days %s: use a whole number from 1 to %d, e.g. 30", quote(s), MaxStatsDays)
		}
		n = n*10 + int(s[i]-'0')
	}
	if n < 1 || n > MaxStatsDays {
		return 0, fmt.Errorf("invalid number of days %s: use a whole number from 1 to %d, e.g. 30", quote(s), MaxStatsDays)
	}
	return n, nil
}
