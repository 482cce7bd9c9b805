package adapters

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ParseURLTemplate parses the URL template of the parameter named name and
// checks that, rendered with SampleVars, it is an absolute http or https URL.
//
// Values are escaped for where they stand: in the path as a path segment
// (a "/" or "?" in a version stays inside its segment), in the query or
// fragment as a query value. The scheme must be written out; a value in the
// host must be followed by a fixed domain ("{{ .Version }}.preview.example.com")
// and may only hold letters, digits, "-" and ".". When the template renders,
// its scheme, host and port are checked against the template's: a value
// that would move the request to another host fails the render, so nothing
// is sent.
func ParseURLTemplate(name, src string) (*Template, error) {
	t, e, err := parseEscaped(name, src, &urlEscaper{})
	if err != nil {
		return nil, err
	}
	u, _ := t.Render(SampleVars())
	if err := ValidateURL(u); err != nil {
		return nil, fmt.Errorf("parameter %q: %w", name, err)
	}
	want := e.(*urlEscaper).final
	t.check = want.check
	if _, err := t.Render(SampleVars()); err != nil {
		return nil, fmt.Errorf("parameter %q: bad template: %s", name, strings.TrimPrefix(err.Error(), fmt.Sprintf("parameter %q: ", name)))
	}
	return t, nil
}

// ValidateURL reports whether s is an absolute http or https URL with a host.
func ValidateURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	return nil
}

// urlPart is where in a URL the template's next output lands.
type urlPart int

const (
	partScheme urlPart = iota
	partHost
	partPath
	partQuery
	partFragment
)

// urlOrigin is what a rendered URL's scheme and host must be.
type urlOrigin struct {
	scheme string
	// host is the host (and port) written in the template when exact, else
	// the fixed domain after the last value in the host.
	host  string
	exact bool
}

// check reports whether the rendered URL s keeps the template's origin.
func (o urlOrigin) check(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL; nothing was sent", Truncate(s, 200))
	}
	host := strings.ToLower(u.Host)
	ok := strings.EqualFold(u.Scheme, o.scheme)
	switch {
	case !ok:
	case o.exact:
		ok = host == o.host
	default:
		ok = strings.HasSuffix(host, o.host) && len(host) > len(o.host)
	}
	if !ok {
		want := o.host
		if !o.exact {
			want = "*" + o.host
		}
		return fmt.Errorf("the URL %s would go to %s://%s, not to the runbook's %s://%s; nothing was sent",
			Truncate(s, 200), u.Scheme, u.Host, o.scheme, want)
	}
	return nil
}

// urlEscaper follows the parts of a URL template's literal text.
type urlEscaper struct {
	part      urlPart
	scheme    string // the literal text before "://"
	hostTail  string // the host's literal text since its last value
	hostValue bool   // the host has a value
	pending   bool   // a value in the host waits for the "." of its fixed domain
	err       error
	final     urlOrigin // set when the host ends
}

var errHostValue = errors.New(`a template value in the URL's host must be followed by a fixed domain, as in "https://{{ .Version }}.preview.example.com/"`)

func (e *urlEscaper) text(s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch e.part {
		case partScheme:
			e.scheme += string(c)
			if strings.HasSuffix(e.scheme, "://") {
				e.scheme = strings.ToLower(strings.TrimSuffix(e.scheme, "://"))
				e.part = partHost
			}
		case partHost:
			if e.pending {
				e.pending = false
				if c != '.' && e.err == nil {
					e.err = errHostValue
				}
			}
			switch c {
			case '/':
				e.endHost(partPath)
			case '?':
				e.endHost(partQuery)
			case '#':
				e.endHost(partFragment)
			default:
				e.hostTail += string(c)
			}
		case partPath:
			switch c {
			case '?':
				e.part = partQuery
			case '#':
				e.part = partFragment
			}
		case partQuery:
			if c == '#' {
				e.part = partFragment
			}
		}
	}
}

// endHost records the origin the rendered URL must keep.
func (e *urlEscaper) endHost(next urlPart) {
	host := e.hostTail
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	e.final = urlOrigin{scheme: e.scheme, host: strings.ToLower(host), exact: !e.hostValue}
	e.part = next
}

func (e *urlEscaper) action() (string, error) {
	if e.err != nil {
		return "", e.err
	}
	switch e.part {
	case partScheme:
		return "", errors.New(`the URL's scheme and host must be written out: a template value cannot stand before "://"`)
	case partHost:
		if e.pending {
			return "", errHostValue
		}
		e.hostValue, e.pending, e.hostTail = true, true, ""
		return fnURLHost, nil
	case partPath:
		return fnURLPath, nil
	default:
		return fnURLQuery, nil
	}
}

func (e *urlEscaper) end() error {
	if e.err != nil {
		return e.err
	}
	if e.pending {
		return errHostValue
	}
	if e.part == partHost {
		e.endHost(partPath)
	}
	return nil
}

func (e *urlEscaper) clone() escaper { c := *e; return &c }

func (e *urlEscaper) same(o escaper) bool { return *e == *o.(*urlEscaper) }
