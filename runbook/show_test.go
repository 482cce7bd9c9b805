package runbook

import (
	"bytes"
	"strings"
	"testing"
)

func TestShowBuiltin(t *testing.T) {
	rb, err := Builtin(stubValidator{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	rb.Show(&buf)
	out := buf.String()
	lines := strings.Split(out, "\n")
	if got := strings.Join(lines[:3], "\n"); got != "Orchestration System Deployment Checklist\nrunbook: orchestration-system\n8 phases, 45 steps, 5 rollback steps" {
		t.Errorf("header =\n%s", got)
	}

	// Every heading and step title appears verbatim, in the order of the
	// runbook, with its marker.
	var want []string
	group := ""
	for _, p := range rb.Phases {
		if p.Group != group {
			group = p.Group
			want = append(want, "== "+group+" ==")
		}
		want = append(want, p.Title)
		for _, s := range p.Steps {
			want = append(want, stepMarker(s)+" "+s.Title+"\n")
		}
	}
	want = append(want, "== Rollback Procedure ==", "If critical issues are discovered:")
	for _, s := range rb.Rollback.Steps {
		want = append(want, stepMarker(s)+" "+RenderTitle(s.Title, TitleVars{})+"\n")
	}
	rest := out
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("%q missing or out of order in:\n%s", w, out)
		}
		rest = rest[i+len(w):]
	}

	for _, line := range []string{
		"  3. [auto: watch] Monitor canary deployment for 30 minutes",
		"  1. [notice: rollback] Immediately notify deployment team and stakeholders",
		"  1. [notice: announcement] Deployment announcement sent to stakeholders",
		"Follow-up Actions [followup] (follow-up: the run is deployed before it)",
		"  2. [ ] Revert DNS/load balancer to previous version",
		"Phase 2: Production Deployment [production] (production, waits for a maintenance window)",
	} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("output lacks the line %q", line)
		}
	}
	if n := strings.Count(out, "[auto: "); n != 4 {
		t.Errorf("%d automated steps shown, want 4", n)
	}
	if n := strings.Count(out, "[notice: "); n != 3 {
		t.Errorf("%d notice steps shown, want 3", n)
	}
	if n := strings.Count(out, "[ ] "); n != 43 {
		t.Errorf("%d manual steps shown, want 43", n)
	}
}

func stepMarker(s Step) string {
	if s.Automated() {
		return "[auto: " + s.Run + "]"
	}
	if s.Notice != "" {
		return "[notice: " + s.Notice + "]"
	}
	return "[ ]"
}

func TestShowMinimal(t *testing.T) {
	no := false
	rb := &Runbook{
		Name: "tiny",
		Phases: []Phase{{ID: "go", Title: "Go", Approval: &no, Steps: []Step{
			{ID: "run", Title: "Run it", Run: "shell"},
		}}},
		Rollback: Rollback{Steps: []Step{{ID: "undo", Title: "Undo it"}}},
	}
	var buf bytes.Buffer
	rb.Show(&buf)
	want := "tiny\n1 phase, 1 step, 1 rollback step\n\nGo [go] (no approval)\n  1. [auto: shell] Run it\n\n== Rollback Procedure ==\n  1. [ ] Undo it\n"
	if buf.String() != want {
		t.Errorf("Show =\n%s\nwant\n%s", buf.String(), want)
	}
}
