package runbook

import "testing"

func TestProblemString(t *testing.T) {
	tests := []struct {
		name string
		p    Problem
		want string
	}{
		{"file and line", Problem{File: "rb.yaml", Line: 12, Msg: "name is required"}, "rb.yaml:12: name is required"},
		{"file without line", Problem{File: "rb.yaml", Msg: "name is required"}, "rb.yaml: name is required"},
		{"line without file", Problem{Line: 3, Msg: "name is required"}, "line 3: name is required"},
		{"neither", Problem{Msg: "name is required"}, "name is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProblemsErrorJoinsLinesSortedByLine(t *testing.T) {
	ps := Problems{}
	ps.add("a.yaml", 9, "second")
	ps.add("a.yaml", 2, "first")
	ps.add("a.yaml", 9, "third")
	got := ps.err().Error()
	want := "a.yaml:2: first\na.yaml:9: second\na.yaml:9: third"
	if got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if (Problems{}).err() != nil {
		t.Error("no problems must be a nil error")
	}
}
