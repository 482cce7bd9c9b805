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
func Parse(text string, now time.Time) (Command, error) {
	toks := tokenize(text)
	if len(toks) > 0 && keyword(toks[0].text) == "/deploy" {
		toks = toks[1:]
	}
	if len(toks) == 0 {
		return Command{Kind: KindHelp}, nil
	}
	d, ok := definition(Kind(keyword(toks[0].text)))
	if !ok {
		return Command{}, unknownCommand(toks[0].text)
	}
	opts, err := textOptions(d.Kind, text, toks[1:], now)
	if err != nil {
		return Command{}, &Error{Msg: err.Error(), Usage: d.Usage}
	}
	return build(d, opts, now)
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
func textOptions(kind Kind, text string, args []token, now time.Time) (map[string]string, error) {
	opts := map[string]string{}
	var scratch Command
	put := func(name, v string) error {
		if v == "" {
			return nil // build reports it missing
		}
		opts[name] = v
		return scratch.set(name, v, now)
	}
	switch kind {
	case KindStart, KindPlan:
		if len(args) == 0 || keyword(args[0].text) == "to" {
			return nil, fmt.Errorf("missing VERSION: a tag or commit, e.g. /deploy %s v1.4.2", kind)
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

	case KindStatus, KindApprove:
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
		if len(args) == 0 {
			return nil, fmt.Errorf("missing VERSION: a tag or commit, e.g. /deploy schedule v1.4.2 2026-12-01 22:00 Europe/Berlin")
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

	case KindUnschedule, KindUnlock:
		name := ArgWindow
		if kind == KindUnlock {
			name = ArgEnv
		}
		if len(args) > 1 {
			return nil, unexpected(args[1])
		}
		if len(args) == 1 {
			if err := put(name, args[0].text); err != nil {
				return nil, err
			}
		}

	case KindLock:
		if len(args) > 0 {
			if err := put(ArgEnv, args[0].text); err != nil {
				return nil, err
			}
		}
		if len(args) > 1 {
			if err := put(ArgReason, restOf(text, args[1])); err != nil {
				return nil, err
			}
		}

	default: // list, windows, runbook, help
		if len(args) > 0 {
			return nil, unexpected(args[0])
		}
	}
	return opts, nil
}
