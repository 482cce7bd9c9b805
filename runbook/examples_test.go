package runbook

import (
	"path/filepath"
	"testing"
)

func TestExamplesAreValid(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"payments-api.yaml": false, "minimal.yaml": false}
	for _, f := range files {
		want[filepath.Base(f)] = true
		t.Run(filepath.Base(f), func(t *testing.T) {
			rb, err := Load(f, stubValidator{})
			if err != nil {
				t.Fatalf("Load:\n%v", err)
			}
			if len(rb.Phases) == 0 || len(rb.Rollback.Steps) == 0 {
				t.Errorf("%d phases, %d rollback steps", len(rb.Phases), len(rb.Rollback.Steps))
			}
		})
	}
	for name, found := range want {
		if !found {
			t.Errorf("examples/%s is missing", name)
		}
	}
}

func TestPaymentsExampleIsFullyAutomated(t *testing.T) {
	rb, err := Load("../examples/payments-api.yaml", stubValidator{})
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, p := range append(append([]Phase{}, rb.Phases...), Phase{ID: "rollback", Steps: rb.Rollback.Steps}) {
		for _, s := range p.Steps {
			if !s.Automated() {
				t.Errorf("%s/%s is manual", p.ID, s.ID)
			}
			used[s.Run] = true
		}
	}
	for _, a := range stubAdapters {
		if !used[a] {
			t.Errorf("the example does not show the %s adapter", a)
		}
	}
}

// examples/services is a services directory: one runbook per service,
// showing environments:, {{ .Service }} and {{ .Previous }}.
func TestServicesExampleIsACatalog(t *testing.T) {
	c, err := LoadCatalog("../examples/services", stubValidator{})
	if err != nil {
		t.Fatalf("LoadCatalog:\n%v", err)
	}
	if got := c.Names(); len(got) != 2 || got[0] != "checkout" || got[1] != "search" {
		t.Fatalf("services = %q, want checkout and search", got)
	}
	co := c.Get("checkout")
	st := co.Policy("staging")
	if st.Approval == nil || *st.Approval || st.Window != WindowNone || len(co.Policy("canary").Approvers) == 0 {
		t.Errorf("checkout's environments = %+v", co.Environments)
	}
	if err := co.CheckEnv("prodution"); err == nil {
		t.Error("checkout accepts an environment it does not list")
	}
	title := RenderTitle(co.Rollback.Steps[0].Title, TitleVars{Service: "checkout", Version: "v2", Previous: "v1"})
	if title != "Redeploy the previous version (v1)" {
		t.Errorf("rollback title = %q", title)
	}
}
