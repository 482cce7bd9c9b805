package runbook

import (
	"strings"
	"testing"
)

// TestWarningsWhereTheReasonFeedsAStep: {{ .Reason }} outside a notify step
// is pointed out, with the file, line and parameter.
func TestWarningsWhereTheReasonFeedsAStep(t *testing.T) {
	src := `name: api
phases:
  - id: deploy
    title: Deploy
    steps:
      - id: ship
        title: Ship
        run: shell
        with:
          command: ["./ship.sh", "{{ .Version }}"]
rollback:
  steps:
    - id: tell
      title: Tell
      run: notify
      with:
        text: "Rolling back: {{ .Reason }}"
    - id: revert
      title: Revert
      run: shell
      with:
        command: ["./revert.sh", "{{ .Reason }}"]
    - id: hook
      title: Hook
      run: http
      with:
        url: https://ops.example.com/rollback
        body: '{"why": "{{.Reason}}"}'
`
	rb, err := Parse("api.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range rb.Warnings() {
		got = append(got, w.String())
	}
	want := []string{
		`api.yaml:18: warning: rollback step "revert" (run: shell) uses {{ .Reason }} in with.command[1]`,
		`api.yaml:23: warning: rollback step "hook" (run: http) uses {{ .Reason }} in with.body`,
	}
	if len(got) != len(want) {
		t.Fatalf("Warnings =\n%s\nwant %d", strings.Join(got, "\n"), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
}

// TestBuiltinRunbookWarnsOnlyOfItsApprovers: the built-in runbook uses the
// reason in notices only; it names no approvers, so its production phases
// are pointed out.
func TestBuiltinRunbookWarnsOnlyOfItsApprovers(t *testing.T) {
	rb, err := Builtin(nil)
	if err != nil {
		t.Fatal(err)
	}
	ws := rb.Warnings()
	if len(ws) != 1 || !strings.Contains(ws[0].Msg, "have no approvers") || !strings.Contains(ws[0].Msg, "anyone in the workspace") {
		t.Errorf("Warnings = %v, want the one about approvers", ws)
	}
}

// TestWarningsWhenProductionHasNoApprovers: a runbook without approvers
// still works, but runbook check says its production phases are unguarded.
func TestWarningsWhenProductionHasNoApprovers(t *testing.T) {
	const src = `name: api
operators: ["@oncall"]
phases:
  - id: staging
    title: Staging
    steps: [{id: a, title: A}]
  - id: prod
    title: Production
    production: true
    steps: [{id: b, title: B}]
`
	rb, err := Parse("api.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	ws := rb.Warnings()
	want := `api.yaml:7: warning: production phase(s) "prod" have no approvers: every operator may approve`
	if len(ws) != 1 || !strings.HasPrefix(ws[0].String(), want) {
		t.Fatalf("Warnings = %v, want %q", ws, want)
	}
	rb.Approvers = []string{"U0ANA"}
	if ws := rb.Warnings(); len(ws) != 0 {
		t.Errorf("with approvers: Warnings = %v", ws)
	}
}
