package adapters

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"text/template"
	"text/template/parse"
)

// The functions a context-escaped template's actions are piped through. They
// are added to every template, so the names are long and unlikely to clash.
const (
	fnURLPath   = "deploybot_url_path"
	fnURLQuery  = "deploybot_url_query"
	fnURLHost   = "deploybot_url_host"
	fnJSONStr   = "deploybot_json_string"
	fnJSONValue = "deploybot_json_value"
)

// hostValue is what a template value may render to in a URL's host: one or
// more DNS labels (letters, digits, "-"), never a "/", ":", "@" or "#" that
// would end the host and move the request elsewhere.
var hostValue = regexp.MustCompile(`^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$`)

var escapeFuncs = template.FuncMap{
	fnURLPath:  func(v any) string { return url.PathEscape(fmt.Sprint(v)) },
	fnURLQuery: func(v any) string { return url.QueryEscape(fmt.Sprint(v)) },
	fnURLHost: func(v any) (string, error) {
		s := fmt.Sprint(v)
		if !hostValue.MatchString(s) {
			return "", &ValueError{Msg: fmt.Sprintf("the value %q cannot go in the URL's host (only letters, digits, \"-\" and \".\" between them); nothing was sent", Truncate(s, 80))}
		}
		return s, nil
	},
	fnJSONStr: func(v any) string {
		b, _ := json.Marshal(fmt.Sprint(v))
		return string(b[1 : len(b)-1])
	},
	fnJSONValue: func(v any) string {
		b, _ := json.Marshal(fmt.Sprint(v))
		return string(b)
	},
	fnPromDouble: func(v any) string { return promQuote(fmt.Sprint(v), '"') },
	fnPromSingle: func(v any) string { return promQuote(fmt.Sprint(v), '\'') },
	fnPromRaw: func(v any) (string, error) {
		s := fmt.Sprint(v)
		if strings.Contains(s, "`") {
			return "", &ValueError{Msg: fmt.Sprintf("the value %q cannot go in a `raw` PromQL string: it holds a backquote", Truncate(s, 80))}
		}
		return s, nil
	},
	fnPromBare: func(v any) (string, error) {
		s := fmt.Sprint(v)
		if !promBare.MatchString(s) {
			return "", &ValueError{Msg: fmt.Sprintf("the value %q cannot stand outside a string in a PromQL query (only letters, digits, \"_\" and \":\"); put it in quotes, as in {version=\"{{ .Version }}\"}", Truncate(s, 80))}
		}
		return s, nil
	},
}

// ValueError is a template value refused where it stands (a "/" in a URL's
// host, chat text that would become a command-line option).
type ValueError struct{ Msg string }

func (e *ValueError) Error() string { return e.Msg }

// escaper tracks where in the output the template's next text lands and
// says which function an action there is piped through. text is called with
// each piece of literal text in order; action returns the function for an
// action at the current position ("" for none) or why no action may stand there.
type escaper interface {
	text(s string)
	action() (string, error)
	// end is called after the last node; it reports a problem with the whole.
	end() error
	// clone copies the state, for the branches of an {{ if }}.
	clone() escaper
	// same reports whether two states are the same position.
	same(o escaper) bool
}

// escapeTree pipes every printing action of the list through the function
// e names for its position. An {{ if }}, {{ with }} or {{ range }} must leave
// the position where it was on every branch; {{ template }} is refused.
func escapeTree(n parse.Node, e escaper) (escaper, error) {
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return e, nil
		}
		for _, c := range x.Nodes {
			var err error
			if e, err = escapeTree(c, e); err != nil {
				return nil, err
			}
		}
	case *parse.TextNode:
		e.text(string(x.Text))
	case *parse.ActionNode:
		if len(x.Pipe.Decl) > 0 {
			return e, nil // an assignment prints nothing
		}
		fn, err := e.action()
		if err != nil {
			return nil, err
		}
		if fn != "" {
			x.Pipe.Cmds = append(x.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: x.Pos,
				Args: []parse.Node{parse.NewIdentifier(fn).SetPos(x.Pos)}})
		}
	case *parse.IfNode:
		return escapeBranches(e, x.List, x.ElseList)
	case *parse.WithNode:
		return escapeBranches(e, x.List, x.ElseList)
	case *parse.RangeNode:
		// The body may run any number of times: it must end where it began.
		if b, err := escapeTree(x.List, e.clone()); err != nil {
			return nil, err
		} else if !b.same(e) {
			return nil, errors.New("the body of a {{ range }} must end in the part of the value it began in")
		}
		if x.ElseList != nil {
			if b, err := escapeTree(x.ElseList, e.clone()); err != nil {
				return nil, err
			} else if !b.same(e) {
				return nil, errors.New("the {{ else }} of a {{ range }} must end in the part of the value it began in")
			}
		}
		return e, nil
	case *parse.TemplateNode:
		return nil, errors.New("{{ template }} is not allowed here")
	}
	return e, nil
}

func escapeBranches(e escaper, lists ...*parse.ListNode) (escaper, error) {
	var out escaper
	for _, l := range lists {
		b, err := escapeTree(l, e.clone())
		if err != nil {
			return nil, err
		}
		if out != nil && !out.same(b) {
			return nil, errors.New("the branches of an {{ if }}, {{ with }} or {{ range }} must end in the same part of the value")
		}
		out = b
	}
	if len(lists) == 0 || lists[len(lists)-1] == nil {
		// A missing else branch leaves the position as it was.
		if out != nil && !out.same(e) {
			return nil, errors.New("an {{ if }}, {{ with }} or {{ range }} without {{ else }} must not change which part of the value follows")
		}
	}
	if out == nil {
		return e, nil
	}
	return out, nil
}

// parseEscaped parses src like ParseTemplate and then pipes its actions
// through the escaping functions e chooses.
// It returns the escaper's state after the last node.
func parseEscaped(name, src string, e escaper) (*Template, escaper, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(escapeFuncs).Parse(src)
	if err != nil {
		return nil, nil, fmt.Errorf("parameter %q: bad template: %s", name, trimTemplateErr(err))
	}
	if len(t.Templates()) > 1 {
		return nil, nil, fmt.Errorf("parameter %q: bad template: {{ define }} is not allowed here", name)
	}
	if t.Tree != nil && t.Root != nil {
		if err := checkFields(t.Root); err != nil {
			return nil, nil, fmt.Errorf("parameter %q: bad template: %w", name, err)
		}
		if e, err = escapeTree(t.Root, e); err != nil {
			return nil, nil, fmt.Errorf("parameter %q: %w", name, err)
		}
	}
	if err := e.end(); err != nil {
		return nil, nil, fmt.Errorf("parameter %q: %w", name, err)
	}
	out := &Template{src: src, tmpl: t}
	if _, err := out.Render(SampleVars()); err != nil {
		return nil, nil, fmt.Errorf("parameter %q: bad template: %s", name, strings.TrimPrefix(err.Error(), fmt.Sprintf("parameter %q: ", name)))
	}
	return out, e, nil
}

// ParseJSONTemplate parses a JSON document template (a request body): a
// value inside a JSON string is escaped as string content, and a value
// standing where a JSON value goes becomes a JSON string. So chat text such
// as `x", "admin": true` always stays inside one string.
func ParseJSONTemplate(name, src string) (*Template, error) {
	t, _, err := parseEscaped(name, src, &jsonEscaper{})
	return t, err
}

// ParseFormTemplate parses an application/x-www-form-urlencoded body
// template: every value is query-escaped, so it cannot add a field.
func ParseFormTemplate(name, src string) (*Template, error) {
	t, _, err := parseEscaped(name, src, formEscaper{})
	return t, err
}

// jsonEscaper follows JSON strings in the literal text.
type jsonEscaper struct {
	inString bool
	escaped  bool // after a backslash inside a string
}

func (j *jsonEscaper) text(s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case j.escaped:
			j.escaped = false
		case j.inString && c == '\\':
			j.escaped = true
		case c == '"':
			j.inString = !j.inString
		}
	}
}

func (j *jsonEscaper) action() (string, error) {
	switch {
	case j.escaped:
		return "", errors.New(`a template value cannot follow a backslash in a JSON string`)
	case j.inString:
		return fnJSONStr, nil
	default:
		return fnJSONValue, nil
	}
}

func (j *jsonEscaper) end() error { return nil }

func (j *jsonEscaper) clone() escaper { c := *j; return &c }

func (j *jsonEscaper) same(o escaper) bool { return *j == *o.(*jsonEscaper) }

// formEscaper query-escapes every value.
type formEscaper struct{}

func (formEscaper) text(string)             {}
func (formEscaper) action() (string, error) { return fnURLQuery, nil }
func (formEscaper) end() error              { return nil }
func (f formEscaper) clone() escaper        { return f }
func (formEscaper) same(o escaper) bool     { _, ok := o.(formEscaper); return ok }

// The functions of PromQL templates.
const (
	fnPromDouble = "deploybot_promql_double"
	fnPromSingle = "deploybot_promql_single"
	fnPromRaw    = "deploybot_promql_raw"
	fnPromBare   = "deploybot_promql_bare"
)

// promBare is what a value may be outside a PromQL string: a name.
var promBare = regexp.MustCompile(`^[A-Za-z0-9_:]+$`)

// promQuote escapes s as the content of a PromQL string quoted with q.
func promQuote(s string, q byte) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == q:
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// ParsePromQLTemplate parses a PromQL query template: a value inside a
// quoted string is escaped for it, so it cannot end the string and add
// matchers or operators; a value outside strings must be a plain name.
func ParsePromQLTemplate(name, src string) (*Template, error) {
	t, _, err := parseEscaped(name, src, &promEscaper{})
	return t, err
}

// promEscaper follows PromQL strings ("...", '...', `...`) in the literal text.
type promEscaper struct {
	quote   byte // the open string's quote, 0 outside strings
	escaped bool
}

func (p *promEscaper) text(s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case p.escaped:
			p.escaped = false
		case p.quote == 0 && (c == '"' || c == '\'' || c == '`'):
			p.quote = c
		case p.quote != 0 && p.quote != '`' && c == '\\':
			p.escaped = true
		case c == p.quote:
			p.quote = 0
		}
	}
}

func (p *promEscaper) action() (string, error) {
	switch {
	case p.escaped:
		return "", errors.New("a template value cannot follow a backslash in a PromQL string")
	case p.quote == '"':
		return fnPromDouble, nil
	case p.quote == '\'':
		return fnPromSingle, nil
	case p.quote == '`':
		return fnPromRaw, nil
	default:
		return fnPromBare, nil
	}
}

func (p *promEscaper) end() error { return nil }

func (p *promEscaper) clone() escaper { c := *p; return &c }

func (p *promEscaper) same(o escaper) bool { return *p == *o.(*promEscaper) }
