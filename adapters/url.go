package adapters

import (
	"fmt"
	"net/url"
)

// ParseURLTemplate parses the URL template of the parameter named name and
// checks that, rendered with SampleVars, it is an absolute http or https URL.
func ParseURLTemplate(name, src string) (*Template, error) {
	t, err := ParseTemplate(name, src)
	if err != nil {
		return nil, err
	}
	u, _ := t.Render(SampleVars())
	if err := ValidateURL(u); err != nil {
		return nil, fmt.Errorf("parameter %q: %w", name, err)
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
