package commands

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Parse reads the text that follows /deploy (Slack's slash-command text, e.g.
// "start v1.4 to staging") and returns the validated command, or an *Error
// that says what is wrong and shows the usage line. now is the reference for
// refusing a schedule in the past.
//
// Subcommand and keywords ("to", "for") are case-insensitive; values keep their
// case. Empty text is help. A leading "/deploy" is ignored. Slack's HTML
// escaping (&amp; &lt; &gt;) is the caller's to undo.
//
// A SERVICE is recognised by the grammar's service names where the text
// alone cannot tell (see Definitions for the word order).
func (g Grammar) Parse(text string, now time.Time) (Command, error) {
	toks := tokenize(text)
	if len(toks) > 0 && keyword(toks[0].text) == "/deploy" {
		toks = toks[1:]
	}
	if len(toks) == 0 {
		return Command{Kind: KindHelp}, nil
	}
	d, ok := g.definition(Kind(keyword(toks[0].text)))
	if !ok {
		return Command{}, unknownCommand(toks[0].text)
	}
	opts, err := g.textOptions(d.Kind, text, toks[1:], now)
	if err != nil {
		return Command{}, &Error{Msg: err.Error(), Usage: d.Usage}
	}
	return g.build(d, opts, now)
}

// token is one whitespace-separated word of the text and where it starts.
type token struct {
	text  string
	start int
}

// tokenize splits s at Unicode white space.
func tokenize(s string) []token {
	var toks []token
	start := -1
	for i, r := range s {
		switch {
		case unicode.IsSpace(r) && start >= 0:
			toks = append(toks, token{s[start:i], start})
			start = -1
		case !unicode.IsSpace(r) && start < 0:
			start = i
		}
	}
	if start >= 0 {
		toks = append(toks, token{s[start:], start})
	}
	return toks
}

// keyword returns s in lower case when it is ASCII, else "" (so that no
// Unicode case folding turns "ſtart" into "start").
func keyword(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return ""
		}
	}
	return strings.ToLower(s)
}

// restOf returns the text from t to the end of the line, trimmed.
func restOf(text string, t token) string {
	return strings.TrimFunc(text[t.start:], unicode.IsSpace)
}

// unexpected is the refusal of a word left over after a complete command.
func unexpected(t token) error { return fmt.Errorf("unexpected %s", quote(t.text)) }

// textOptions applies the word order of kind's usage line to args and returns
// the named values for build. Each value is validated as it is taken, so the
// first thing wrong in reading order is the one reported.
func (g Grammar) textOptions(kind Kind, text string, args []token, now time.Time) (map[string]string, error) {
	opts := map[string]string{}
	var scratch Command
	put := func(name, v string) error {
		if v == "" {
			return nil // build reports it missing
		}
		opts[name] = v
		return g.set(&scratch, name, v, now)
	}
	switch kind {
	case KindStart, KindPlan:
		// A first word that is one of the services is the SERVICE; two
		// words before "to" are SERVICE VERSION.
		switch {
		case len(args) > 0 && g.IsService(args[0].text):
			if err := put(ArgService, args[0].text); err != nil {
				return nil, err
			}
			args = args[1:]
		case len(args) >= 2 && keyword(args[1].text) != "to" && len(g.services) > 0 && !validEnv(args[1].text) &&
			validateVersion(args[0].text) == nil && !looksLikeVersion(args[0].text):
			// "start apii v1.4": a misspelt service, not a version
			// followed by a stray word ("start v1.4 --force" is that).
			return nil, g.validateService(args[0].text)
		}
		if len(args) == 0 || keyword(args[0].text) == "to" {
			return nil, fmt.Errorf("missing VERSION: a tag or commit, e.g. /deploy %s %sv1.4.2", kind, g.example())
		}
		if err := put(ArgVersion, args[0].text); err != nil {
			return nil, err
		}
		args = args[1:]
		if len(args) == 0 {
			break
		}
		if keyword(args[0].text) != "to" {
			err := unexpected(args[0])
			if validEnv(args[0].text) {
				err = fmt.Errorf(`%w (to choose the environment write "to %s")`, err, args[0].text)
			}
			return nil, err
		}
		if len(args) == 1 {
			return nil, fmt.Errorf(`missing ENV after "to", e.g. staging`)
		}
		if err := put(ArgEnv, args[1].text); err != nil {
			return nil, err
		}
		if len(args) > 2 {
			return nil, unexpected(args[2])
		}

	case KindApprove:
		// "approve", "approve RUN", "approve PHASE", "approve RUN PHASE": a
		// lone word shaped like a run id is the RUN (the bot takes it for a
		// phase of the channel's run when no run has that id).
		if len(args) > 2 {
			return nil, unexpected(args[2])
		}
		if len(args) == 2 || (len(args) == 1 && LooksLikeRunID(args[0].text)) {
			if err := put(ArgRun, args[0].text); err != nil {
				return nil, err
			}
			args = args[1:]
		}
		if len(args) == 1 {
			if err := put(ArgPhase, args[0].text); err != nil {
				return nil, err
			}
		}

	case KindStatus, KindReport:
		if len(args) > 1 {
			return nil, unexpected(args[1])
		}
		if len(args) == 1 {
			if err := put(ArgRun, args[0].text); err != nil {
				return nil, err
			}
		}

	case KindRollback, KindAbort:
		if len(args) > 0 && LooksLikeRunID(args[0].text) {
			if err := put(ArgRun, args[0].text); err != nil {
				return nil, err
			}
			args = args[1:]
		}
		if len(args) > 0 {
			if err := put(ArgReason, restOf(text, args[0])); err != nil {
				return nil, err
			}
		}

	case KindSchedule:
		// A first word that is one of the services is the SERVICE; a
		// second word that is no date makes the first one the SERVICE.
		switch {
		case len(args) > 0 && g.IsService(args[0].text):
			if err := put(ArgService, args[0].text); err != nil {
				return nil, err
			}
			args = args[1:]
		case len(args) >= 2 && len(g.services) > 0 && !startsLikeADate(args[1].text) && keyword(args[1].text) != "for" &&
			!looksLikeVersion(args[0].text):
			// "schedule v1.4 tomorrow" is a version and a start time that is none.
			return nil, g.validateService(args[0].text)
		}
		if len(args) == 0 {
			return nil, fmt.Errorf("missing VERSION: a tag or commit, e.g. /deploy schedule %sv1.4.2 2026-12-01 22:00 Europe/Berlin", g.example())
		}
		if err := put(ArgVersion, args[0].text); err != nil {
			return nil, err
		}
		args = args[1:]
		var start []string
		for len(args) > 0 && keyword(args[0].text) != "for" {
			start = append(start, args[0].text)
			args = args[1:]
		}
		if err := put(ArgStart, strings.Join(start, " ")); err != nil {
			return nil, err
		}
		if len(args) == 0 {
			break
		}
		if len(args) == 1 {
			return nil, fmt.Errorf(`missing DURATION after "for", e.g. 90m`)
		}
		if err := put(ArgDuration, args[1].text); err != nil {
			return nil, err
		}
		if len(args) > 2 {
			return nil, unexpected(args[2])
		}

	case KindUnschedule:
		if len(args) > 1 {
			return nil, unexpected(args[1])
		}
		if len(args) == 1 {
			if err := put(ArgWindow, args[0].text); err != nil {
				return nil, err
			}
		}

	case KindUnlock:
		if len(args) > 2 {
			return nil, unexpected(args[2])
		}
		for i, name := range []string{ArgEnv, ArgService} {
			if i < len(args) {
				if err := put(name, args[i].text); err != nil {
					return nil, err
				}
			}
		}

	case KindLock:
		if len(args) > 0 {
			if err := put(ArgEnv, args[0].text); err != nil {
				return nil, err
			}
			args = args[1:]
		}
		// A word after ENV is the SERVICE only when it is one of the
		// services; otherwise it starts the reason.
		if len(args) > 0 && g.IsService(args[0].text) {
			if err := put(ArgService, args[0].text); err != nil {
				return nil, err
			}
			args = args[1:]
		}
		if len(args) > 0 {
			if err := put(ArgReason, restOf(text, args[0])); err != nil {
				return nil, err
			}
		}

	case KindRunbook:
		if len(args) > 1 {
			return nil, unexpected(args[1])
		}
		if len(args) == 1 {
			if err := put(ArgService, args[0].text); err != nil {
				return nil, err
			}
		}

	case KindStats:
		if len(args) > 0 && keyword(args[0].text) != "to" && !allDigits(args[0].text) {
			if err := put(ArgService, args[0].text); err != nil {
				return nil, err
			}
			args = args[1:]
		}
		if len(args) > 0 && keyword(args[0].text) == "to" {
			if len(args) == 1 {
				return nil, fmt.Errorf(`missing ENV after "to", e.g. staging`)
			}
			if err := put(ArgEnv, args[1].text); err != nil {
				return nil, err
			}
			args = args[2:]
		}
		if len(args) > 0 {
			if err := put(ArgDays, args[0].text); err != nil {
				return nil, err
			}
			args = args[1:]
		}
		if len(args) > 0 {
			return nil, unexpected(args[0])
		}

	default: // list, windows, help
		if len(args) > 0 {
			return nil, unexpected(args[0])
		}
	}
	return opts, nil
}

// example is the service to show in an example ("api "), or "" when the
// grammar knows fewer than two services (none needs naming).
func (g Grammar) example() string {
	if len(g.services) < 2 {
		return ""
	}
	return g.services[0] + " "
}

// startsLikeADate reports whether s starts with YYYY-, as a START does.
func startsLikeADate(s string) bool {
	return len(s) >= 5 && isDigit(s[0]) && isDigit(s[1]) && isDigit(s[2]) && isDigit(s[3]) && s[4] == '-'
}

// allDigits reports whether s is a non-empty run of ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
