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

// TestBuiltinRunbookHasNoWarnings: the built-in runbook uses the reason in notices only.
func TestBuiltinRunbookHasNoWarnings(t *testing.T) {
	rb, err := Builtin(nil)
	if err != nil {
		t.Fatal(err)
	}
	if ws := rb.Warnings(); len(ws) != 0 {
		t.Errorf("Warnings = %v", ws)
	}
}
