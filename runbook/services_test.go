package runbook

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const envRunbook = `name: payments
approvers: ["@release-managers"]
environments:
  production:
  staging:
    approval: false
    window: none
    approvers: ["@staging-team", "U0STAGING"]
phases:
  - id: deploy
    title: Deploy
    steps:
      - id: ship
        title: "Ship {{ .Version }} over {{ .Previous }}"
rollback:
  steps:
    - id: revert
      title: "Revert{{ with .Previous }} to {{ . }}{{ end }}"
`

func TestEnvironmentsAreDecoded(t *testing.T) {
	rb, err := Parse("payments.yaml", []byte(envRunbook), stubValidator{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rb.EnvNames(), []string{"production", "staging"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("EnvNames = %q, want %q", got, want)
	}
	st := rb.Policy("staging")
	if st.Approval == nil || *st.Approval || st.Window != WindowNone || !reflect.DeepEqual(st.Approvers, []string{"@staging-team", "U0STAGING"}) || st.Line != 5 {
		t.Errorf("staging policy = %+v", st)
	}
	if p := rb.Policy("production"); p.Approval != nil || p.Window != "" || p.Approvers != nil || p.Line != 4 {
		t.Errorf("production policy = %+v, want the runbook's own", p)
	}
	if err := rb.CheckEnv("staging"); err != nil {
		t.Errorf("CheckEnv(staging) = %v", err)
	}
	err = rb.CheckEnv("prodution")
	if err == nil || err.Error() != `payments does not deploy to "prodution": its environments are production, staging` {
		t.Errorf("CheckEnv(prodution) = %v", err)
	}
	var buf strings.Builder
	rb.Show(&buf)
	if !strings.Contains(buf.String(), "environments: production, staging (approval: false, window: none, approvers: @staging-team U0STAGING)") {
		t.Errorf("Show lacks the environments:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "1. [ ] Revert\n") {
		t.Errorf("Show renders titles as for a first run:\n%s", buf.String())
	}
}

func TestEnvironmentsProblemsAtTheirLines(t *testing.T) {
	src := `name: payments
environments:
  Prod:
  staging:
    aproval: false
    window: sometimes
    approvers: ["nobody"]
  qa: [1]
phases:
  - id: deploy
    title: Deploy
    steps:
      - id: ship
        title: "Ship {{ .Versoin }}"
      - id: bad
        title: "Bad {{ .Version"
  - id: verify
    title: "Verify {{ .Service "
    steps:
      - id: look
        title: Look
`
	_, err := Parse("p.yaml", []byte(src), stubValidator{})
	got := problemLines(t, err)
	want := []string{
		`p.yaml:3: environment "Prod" must be lowercase letters, digits, "-" and "_", starting with a letter or digit, at most 32 characters`,
		`p.yaml:5: unknown field "aproval" in environment "staging" (did you mean "approval"?)`,
		`p.yaml:6: environment "staging": window must be "none" or left out, not "sometimes"`,
		`p.yaml:7: environments.staging.approvers: "nobody" is not a Slack user ID (U…/W…), a Slack user-group handle (@name), a Discord ID (digits, &digits for a role) or a console name (console:NAME)`,
		`p.yaml:8: environment "qa" must be a mapping (key: value lines), not a list`,
		`p.yaml:14: step "ship": title: bad template: unknown variable .Versoin (a title may use {{ .Service }}, {{ .Version }}, {{ .Previous }}, {{ .Env }} and {{ .RunID }})`,
		`p.yaml:16: step "bad": title: bad template: unclosed action`,
		`p.yaml:18: phase "verify": title: bad template: unclosed action`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestServiceNamesAreValidated(t *testing.T) {
	// A name from before services is made into a service name.
	for _, c := range []struct{ file, yaml, want string }{
		{"x.yaml", "name: Payments API\n", "payments-api"},
		{"x.yaml", "name: orchestration-system\n", "orchestration-system"},
		{"x.yaml", "name: \"  Öl & Gas -- EU/West  \"\n", "l-gas-eu-west"},
		{"dir/Billing.yml", "", "billing"},
	} {
		rb, err := Parse(c.file, []byte(c.yaml+tinyPhases), nil)
		if err != nil {
			t.Fatalf("%q: %v", c.yaml, err)
		}
		if got := rb.Service(); got != c.want {
			t.Errorf("%q: Service() = %q, want %q", c.yaml, got, c.want)
		}
	}
	// A name with nothing to make a service name of is a problem at its line.
	_, err := Parse("x.yaml", []byte("name: \"!!!\"\n"+tinyPhases), nil)
	got := problemLines(t, err)
	if want := `x.yaml:1: name "!!!" has no letter or digit to name its service by`; len(got) != 1 || !strings.HasPrefix(got[0], want) {
		t.Errorf("problems = %q, want %q…", got, want)
	}
}

func TestRenderTitle(t *testing.T) {
	v := TitleVars{Service: "payments", Version: "v2", Previous: "v1", Env: "staging", RunID: "r1"}
	for _, c := range []struct{ title, want string }{
		{"Plain {not a template}", "Plain {not a template}"},
		{"Deploy {{ .Service }} {{ .Version }} to {{ .Env }}", "Deploy payments v2 to staging"},
		{"Back to {{ .Previous }}", "Back to v1"},
		{"{{ .Broken", "{{ .Broken"},
	} {
		if got := RenderTitle(c.title, v); got != c.want {
			t.Errorf("RenderTitle(%q) = %q, want %q", c.title, got, c.want)
		}
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const tinyPhases = "phases: [{id: a, title: A, steps: [{id: s, title: S}]}]\n"

func TestLoadCatalogDirectory(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"payments.yaml": "name: payments\n" + tinyPhases,
		"search.yml":    tinyPhases, // named after its file
		"README.md":     "not a runbook",
	})
	c, err := LoadCatalog(dir, stubValidator{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Names(); !reflect.DeepEqual(got, []string{"payments", "search"}) {
		t.Fatalf("Names = %q", got)
	}
	if _, err := c.Lookup(""); err == nil || err.Error() != "say which service: payments, search" {
		t.Errorf("Lookup(\"\") = %v", err)
	}
	if rb, err := c.Lookup("search"); err != nil || rb.File != filepath.Join(dir, "search.yml") {
		t.Errorf("Lookup(search) = %v, %v", rb, err)
	}

	// A file, or nothing, is the only service.
	one, err := LoadCatalog(filepath.Join(dir, "payments.yaml"), nil)
	if err != nil || one.Len() != 1 {
		t.Fatalf("LoadCatalog(file) = %v, %v", one, err)
	}
	if rb, err := one.Lookup(""); err != nil || rb.Service() != "payments" {
		t.Errorf("Lookup(\"\") of one = %v, %v", rb, err)
	}
	builtin, err := LoadCatalog("", nil)
	if err != nil || builtin.Len() != 1 || builtin.Names()[0] != "orchestration-system" {
		t.Errorf("LoadCatalog(\"\") = %v, %v", builtin, err)
	}
}

// A directory mounted as a Kubernetes ConfigMap holds symbolic links to
// the files (and a hidden "..data" directory): each link is a service.
func TestLoadCatalogFollowsLinks(t *testing.T) {
	data := writeFiles(t, map[string]string{"payments.yaml": "name: payments\n" + tinyPhases, "search.yaml": tinyPhases})
	dir := t.TempDir()
	for _, link := range []struct{ target, name string }{
		{filepath.Join(data, "payments.yaml"), "payments.yaml"},
		{filepath.Join(data, "search.yaml"), "search.yaml"},
		{data, "..data"},
		{data, "dir.yaml"}, // a link to a directory is not a runbook
	} {
		if err := os.Symlink(link.target, filepath.Join(dir, link.name)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := LoadCatalog(dir, stubValidator{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Names(); !reflect.DeepEqual(got, []string{"payments", "search"}) {
		t.Fatalf("Names = %q, want both linked services", got)
	}
}

func TestLoadCatalogReportsEveryFileAndDuplicates(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.yaml": "name: payments\n" + tinyPhases,
		"b.yaml": "# the same service again\nname: payments\n" + tinyPhases,
		"c.yaml": "name: search\nphases: [{id: a, title: A, steps: [{id: s, title: S, run: nope}]}]\n",
	})
	_, err := LoadCatalog(dir, stubValidator{})
	got := problemLines(t, err)
	a, b, c := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "c.yaml")
	want := []string{
		b + `:2: service "payments" is defined twice: in ` + a + ` and in ` + b + ` (each service has one runbook)`,
		c + `:2: step "s": unknown adapter "nope" (known: shell, http, github, prometheus, watch, webhook, notify, window)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	empty := t.TempDir()
	if _, err := LoadCatalog(empty, nil); err == nil || !strings.Contains(err.Error(), "holds no runbook") {
		t.Errorf("LoadCatalog(empty dir) = %v", err)
	}
}

func TestCatalogPeopleCoversEveryServiceAndEnvironment(t *testing.T) {
	pay, err := Parse("payments.yaml", []byte(envRunbook), stubValidator{})
	if err != nil {
		t.Fatal(err)
	}
	search := &Runbook{Name: "search", Approvers: []string{"@release-managers"}, Operators: []string{"@search"}}
	c, err := NewCatalog(pay, search)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.People(), []string{"@release-managers", "@search", "@staging-team", "U0STAGING"}; !reflect.DeepEqual(got, want) {
		t.Errorf("People = %q, want %q", got, want)
	}
}
