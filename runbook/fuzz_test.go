package runbook

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParse checks that no input makes Parse panic, and that it returns
// either a runbook or *Problems, never both, never neither.
func FuzzParse(f *testing.F) {
	f.Add(BuiltinYAML())
	examples, _ := filepath.Glob("../examples/*.yaml")
	for _, e := range examples {
		if data, err := os.ReadFile(e); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"",
		"name: x\nphases: [{id: a, title: A, steps: [{id: s, title: S, with: &a {x: *a}}]}]\n",
		"a: &a [*a, *a]\nname: *a\n",
		"name: x\n<<: {phases: []}\n",
		"phases:\n  - <<: *nope\n",
		"windows: [{cron: '*/0 * * * *', duration: 1h}]\n",
		"name: !!str 5\nreminders: [!!int 3]\n",
		"---\n---\nname: x\n",
		"? [a]\n: b\n",
		"name: |\n  multi\n  line\n",
		"\t- x",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		rb, err := Parse("fuzz.yaml", data, stubValidator{})
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Parse took %v", d)
		}
		if (rb == nil) == (err == nil) {
			t.Fatalf("Parse returned runbook %v and error %v", rb != nil, err)
		}
		if err != nil {
			var ps *Problems
			if !errors.As(err, &ps) || len(*ps) == 0 {
				t.Fatalf("error %T is not a non-empty *Problems: %v", err, err)
			}
			_ = err.Error()
			return
		}
		if err := rb.Validate(stubValidator{}); err != nil {
			t.Fatalf("a parsed runbook fails Validate: %v", err)
		}
		rb.Show(io.Discard)
	})
}
