package runbook

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Environment is one environment a service deploys to, with its policy.
type Environment struct {
	// Approval, when false, lets every gate of a run in this environment pass
	// by itself (staging); nil or true keeps the phases' own approvals.
	Approval *bool `yaml:"approval,omitempty" json:"approval,omitempty"`
	// Window is "none" when phases that require a maintenance window do not
	// wait for one in this environment.
	Window string `yaml:"window,omitempty" json:"window,omitempty"`
	// Approvers, when set, replace the runbook's approvers in this environment.
	Approvers []string `yaml:"approvers,omitempty" json:"approvers,omitempty"`
	// Line is the line of the environment in its file (0 for built-in values).
	Line int `yaml:"-" json:"line,omitempty"`
}

// WindowNone is the value of Environment.Window that lifts window gating.
const WindowNone = "none"

// Service returns the name of the service the runbook deploys, as people
// type it in commands: its name, else its file's name without the
// extension. A name that is not already a service name ("Payments API", as
// runbooks were named before services) is made into one: lowercase, every
// run of other characters one "-" ("payments-api"), at most 40 characters.
func (rb *Runbook) Service() string {
	name := rb.Name
	if name == "" {
		base := filepath.Base(rb.File)
		name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if ServiceNamePattern.MatchString(name) {
		return name
	}
	return serviceSlug(name)
}

// serviceSlug makes name a service name, or "" when it has no letter or
// digit to make one of.
func serviceSlug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		default:
			dash = true
		}
		if b.Len() >= 40 {
			break
		}
	}
	out := b.String()
	if len(out) > 40 {
		out = out[:40]
	}
	out = strings.TrimRight(out, "-")
	if !ServiceNamePattern.MatchString(out) {
		return ""
	}
	return out
}

// Catalog is the set of services a bot deploys, one runbook each, in the
// order of their names.
type Catalog struct {
	byName map[string]*Runbook
	names  []string
}

// NewCatalog returns the catalog of rbs; two runbooks for one service is an error.
func NewCatalog(rbs ...*Runbook) (*Catalog, error) {
	c := &Catalog{byName: make(map[string]*Runbook, len(rbs))}
	for _, rb := range rbs {
		name := rb.Service()
		if prev, dup := c.byName[name]; dup {
			return nil, fmt.Errorf("service %q is defined twice (%s and %s)", name, prev.File, rb.File)
		}
		c.byName[name] = rb
		c.names = append(c.names, name)
	}
	sort.Strings(c.names)
	return c, nil
}

// Single returns the catalog of one runbook.
func Single(rb *Runbook) *Catalog {
	c, _ := NewCatalog(rb) // one runbook cannot be a duplicate
	return c
}

// Names returns the services, sorted.
func (c *Catalog) Names() []string { return c.names }

// Len returns the number of services.
func (c *Catalog) Len() int { return len(c.names) }

// Get returns the runbook of a service, or nil.
func (c *Catalog) Get(service string) *Runbook { return c.byName[service] }

// Only returns the runbook when the catalog has exactly one service.
func (c *Catalog) Only() (*Runbook, bool) {
	if len(c.names) != 1 {
		return nil, false
	}
	return c.byName[c.names[0]], true
}

// All returns the runbooks in the order of Names.
func (c *Catalog) All() []*Runbook {
	out := make([]*Runbook, len(c.names))
	for i, n := range c.names {
		out[i] = c.byName[n]
	}
	return out
}

// Lookup returns the runbook of service; an empty service means the only
// one. The error names the services there are.
func (c *Catalog) Lookup(service string) (*Runbook, error) {
	if service == "" {
		if rb, ok := c.Only(); ok {
			return rb, nil
		}
		return nil, fmt.Errorf("say which service: %s", strings.Join(c.names, ", "))
	}
	if rb := c.byName[service]; rb != nil {
		return rb, nil
	}
	return nil, fmt.Errorf("unknown service %q: the services are %s", service, strings.Join(c.names, ", "))
}

// People returns every approvers and operators entry of every service and
// of their environments, sorted, each once: the user groups and roles a
// front resolves for the people who act.
func (c *Catalog) People() []string {
	seen := map[string]bool{}
	var out []string
	add := func(list []string) {
		for _, p := range list {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	for _, rb := range c.All() {
		add(rb.Approvers)
		add(rb.Operators)
		for _, n := range rb.EnvNames() {
			add(rb.Environments[n].Approvers)
		}
	}
	sort.Strings(out)
	return out
}

// EnvNames returns the environments the runbook lists, sorted (nil when it
// lists none: any environment).
func (rb *Runbook) EnvNames() []string {
	if len(rb.Environments) == 0 {
		return nil
	}
	out := make([]string, 0, len(rb.Environments))
	for n := range rb.Environments {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// CheckEnv refuses an environment the runbook does not list, naming those it does.
func (rb *Runbook) CheckEnv(env string) error {
	if len(rb.Environments) == 0 {
		return nil
	}
	if _, ok := rb.Environments[env]; ok {
		return nil
	}
	return fmt.Errorf("%s does not deploy to %q: its environments are %s", rb.Service(), env, strings.Join(rb.EnvNames(), ", "))
}

// RulesFor returns the runbook as it governs env: the environment's
// approvers, when it names any, replace the runbook's (a copy; rb is not
// changed).
func (rb *Runbook) RulesFor(env string) *Runbook {
	if a := rb.Policy(env).Approvers; len(a) > 0 {
		c := *rb
		c.Approvers = a
		return &c
	}
	return rb
}

// Policy returns the policy of env (the zero Environment when none is set).
func (rb *Runbook) Policy(env string) Environment { return rb.Environments[env] }

// LoadCatalog loads the services at path: a directory holds one runbook per
// *.yaml or *.yml file (each service named by its runbook's name, else its
// file's name); a file is the only service; "" is the built-in runbook as
// the only service. Every file is checked in one pass: the error is a
// *Problems listing every problem of every file (FILE:LINE each), and two
// files for one service are a problem naming both.
func LoadCatalog(path string, v StepValidator) (*Catalog, error) {
	if path == "" {
		rb, err := Builtin(v)
		if err != nil {
			return nil, err
		}
		return Single(rb), nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load runbook: %w", err)
	}
	if !info.IsDir() {
		rb, err := Load(path, v)
		if err != nil {
			return nil, err
		}
		return Single(rb), nil
	}
	files, err := RunbookFiles(path)
	if err != nil {
		return nil, err
	}
	var probs Problems
	var rbs []*Runbook
	first := map[string]*Runbook{}
	for _, f := range files {
		rb, err := Load(f, v)
		if err != nil {
			var ps *Problems
			if !errors.As(err, &ps) {
				probs.add(f, 0, "%v", err)
				continue
			}
			probs = append(probs, *ps...)
			continue
		}
		name := rb.Service()
		if prev, dup := first[name]; dup {
			probs.add(rb.File, rb.NameLine, "service %q is defined twice: in %s and in %s (each service has one runbook)", name, prev.File, rb.File)
			continue
		}
		first[name] = rb
		rbs = append(rbs, rb)
	}
	if len(probs) > 0 {
		return nil, probs.errInFileOrder()
	}
	return NewCatalog(rbs...)
}

// RunbookFiles returns the runbook files of a services directory (*.yaml
// and *.yml, sorted; a symbolic link counts when it leads to a file, as in
// a mounted ConfigMap); a directory without any is an error. Hidden names
// (".x.yaml", a ConfigMap's "..data") are not runbooks.
func RunbookFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load runbooks: %w", err)
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		ext := filepath.Ext(name)
		if strings.HasPrefix(name, ".") || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		path := filepath.Join(dir, name)
		regular := e.Type().IsRegular()
		if e.Type()&fs.ModeSymlink != 0 {
			fi, err := os.Stat(path)
			if err != nil {
				return nil, fmt.Errorf("load runbooks: %w", err)
			}
			regular = fi.Mode().IsRegular()
		}
		if regular {
			files = append(files, path)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("load runbooks: %s holds no runbook (*.yaml or *.yml files, one per service)", dir)
	}
	sort.Strings(files)
	return files, nil
}
