package runbook

import (
	"fmt"
	"io"
	"strings"
	"text/template"
)

// TitleVars are the run variables a phase or step title may use: {{ .Service }},
// {{ .Version }}, {{ .Previous }}, {{ .Env }} and {{ .RunID }}. A title
// without "{{" is shown as written.
type TitleVars struct {
	Service  string
	Version  string
	Previous string
	Env      string
	RunID    string
}

// sampleTitleVars are the values titles are tried with when a runbook loads
// (Previous both set and, in checkTitle, empty).
var sampleTitleVars = TitleVars{Service: "service", Version: "v0.0.0", Previous: "v0.0.0-previous", Env: "production", RunID: "r0000"}

// IsTemplate reports whether a title uses run variables.
func IsTemplate(title string) bool { return strings.Contains(title, "{{") }

func parseTitle(title string) (*template.Template, error) {
	return template.New("title").Option("missingkey=error").Parse(title)
}

// checkTitle refuses a title template that does not parse or does not
// render with a run's variables (with and without a previous version).
func checkTitle(title string) error {
	if !IsTemplate(title) {
		return nil
	}
	t, err := parseTitle(title)
	if err != nil {
		return fmt.Errorf("bad template: %s", trimTitleErr(err))
	}
	noPrev := sampleTitleVars
	noPrev.Previous = ""
	for _, v := range []TitleVars{sampleTitleVars, noPrev} {
		if err := t.Execute(io.Discard, v); err != nil {
			return fmt.Errorf("bad template: %s (a title may use {{ .Service }}, {{ .Version }}, {{ .Previous }}, {{ .Env }} and {{ .RunID }})", trimTitleErr(err))
		}
	}
	return nil
}

// trimTitleErr drops text/template's "template: title:1:2: " prefix.
func trimTitleErr(err error) string {
	msg := err.Error()
	if _, field, ok := strings.Cut(msg, "can't evaluate field "); ok {
		field, _, _ = strings.Cut(field, " ")
		return "unknown variable ." + field
	}
	if _, rest, ok := strings.Cut(msg, "title:"); ok {
		if i := strings.Index(rest, ": "); i >= 0 {
			return rest[i+2:]
		}
	}
	return msg
}

// RenderTitle expands the run variables in a phase or step title; a title that is
// not a template, or (in a runbook stored before validation) does not
// render, is returned as written.
func RenderTitle(title string, v TitleVars) string {
	if !IsTemplate(title) {
		return title
	}
	t, err := parseTitle(title)
	if err != nil {
		return title
	}
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		return title
	}
	return b.String()
}
