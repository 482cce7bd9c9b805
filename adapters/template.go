package adapters

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// SampleVars returns the variables templates are tried with when a runbook is
// loaded, so a template that cannot render fails the load, not the deployment.
func SampleVars() Vars {
	return Vars{
		Service:  "service",
		Version:  "v0.0.0",
		Previous: "v0.0.0-previous",
		Env:      "production",
		RunID:    "r0000",
		Phase:    "phase",
		Step:     "step",
		Reason:   "reason",
		Channel:  "C0000",
		Started:  time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

// Template is one templated parameter value, parsed when the step is parsed.
// It renders over Vars ({{ .Service }}, {{ .Version }}, {{ .Previous }},
// {{ .Env }}, {{ .RunID }}, {{ .Phase }}, {{ .Step }}, {{ .Reason }},
// {{ .Channel }}); a rendered value is always used
// as one whole value (one argv element, one header value), never re-split.
type Template struct {
	src  string
	tmpl *template.Template
	// check, when set, judges the rendered value (a URL's origin).
	check func(string) error
}

// ParseTemplate parses src as the template of the parameter named name. It
// refuses a syntax error, a reference to a variable Vars does not have, and a
// template that fails to render with SampleVars.
func ParseTemplate(name, src string) (*Template, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("parameter %q: bad template: %s", name, trimTemplateErr(err))
	}
	for _, tr := range t.Templates() {
		if tr.Tree == nil || tr.Root == nil {
			continue
		}
		if err := checkFields(tr.Root); err != nil {
			return nil, fmt.Errorf("parameter %q: bad template: %w", name, err)
		}
	}
	if err := t.Execute(io.Discard, SampleVars()); err != nil {
		return nil, fmt.Errorf("parameter %q: bad template: %s", name, trimTemplateErr(err))
	}
	return &Template{src: src, tmpl: t}, nil
}

// Render executes the template over v.
func (t *Template) Render(v Vars) (string, error) {
	var b strings.Builder
	if err := t.tmpl.Execute(&b, v); err != nil {
		if ve, ok := errors.AsType[*ValueError](err); ok {
			return "", fmt.Errorf("parameter %q: %w", t.tmpl.Name(), ve)
		}
		return "", fmt.Errorf("parameter %q: %s", t.tmpl.Name(), trimTemplateErr(err))
	}
	if t.check != nil {
		if err := t.check(b.String()); err != nil {
			return "", fmt.Errorf("parameter %q: %w", t.tmpl.Name(), err)
		}
	}
	return b.String(), nil
}

// String returns the template's source text.
func (t *Template) String() string { return t.src }

// ParseTemplates parses each element of srcs; errors name the element ("command[1]").
func ParseTemplates(name string, srcs []string) ([]*Template, error) {
	out := make([]*Template, len(srcs))
	for i, s := range srcs {
		t, err := ParseTemplate(fmt.Sprintf("%s[%d]", name, i), s)
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

// RenderTemplates renders each template over v.
func RenderTemplates(ts []*Template, v Vars) ([]string, error) {
	out := make([]string, len(ts))
	for i, t := range ts {
		s, err := t.Render(v)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// TemplateMap is a map of templated values, such as environment variables or headers.
type TemplateMap map[string]*Template

// ParseTemplateMap parses every value of m; errors name the key ("env.TARGET").
func ParseTemplateMap(name string, m map[string]string) (TemplateMap, error) {
	out := make(TemplateMap, len(m))
	for k, s := range m {
		t, err := ParseTemplate(name+"."+k, s)
		if err != nil {
			return nil, err
		}
		out[k] = t
	}
	return out, nil
}

// Keys returns the map's keys, sorted.
func (m TemplateMap) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Render renders every value over v.
func (m TemplateMap) Render(v Vars) (map[string]string, error) {
	out := make(map[string]string, len(m))
	for k, t := range m {
		s, err := t.Render(v)
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

var varsFields = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeFor[Vars]()
	for i := range t.NumField() {
		m[t.Field(i).Name] = true
	}
	return m
}()

// checkFields refuses a field reference on the top-level dot that Vars does not have,
// even in a branch SampleVars would not take. Inside with and range the dot is
// something else, so their bodies are not checked.
func checkFields(n parse.Node) error {
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return nil
		}
		for _, c := range x.Nodes {
			if err := checkFields(c); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return checkFields(x.Pipe)
	case *parse.PipeNode:
		if x == nil {
			return nil
		}
		for _, c := range x.Cmds {
			if err := checkFields(c); err != nil {
				return err
			}
		}
	case *parse.CommandNode:
		for _, a := range x.Args {
			if err := checkFields(a); err != nil {
				return err
			}
		}
	case *parse.FieldNode:
		if len(x.Ident) > 0 && !varsFields[x.Ident[0]] {
			return fmt.Errorf("unknown variable .%s (known: %s)", x.Ident[0], strings.Join(knownVars(), ", "))
		}
	case *parse.IfNode:
		if err := checkFields(x.Pipe); err != nil {
			return err
		}
		if err := checkFields(x.List); err != nil {
			return err
		}
		return checkFields(x.ElseList)
	case *parse.WithNode:
		return checkFields(x.Pipe)
	case *parse.RangeNode:
		return checkFields(x.Pipe)
	}
	return nil
}

func knownVars() []string {
	out := make([]string, 0, len(varsFields))
	for k := range varsFields {
		out = append(out, "."+k)
	}
	sort.Strings(out)
	return out
}

// trimTemplateErr drops text/template's "template: NAME:" prefix, which repeats the parameter name.
func trimTemplateErr(err error) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "template: "); ok {
		return rest
	}
	return msg
}
