package runbook

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// reasonRef finds {{ .Reason }} (in any action) in a template.
var reasonRef = regexp.MustCompile(`\{\{[^}]*\.Reason\b`)

// noticeAdapter is the one adapter chat text (a rollback reason) is meant to
// feed: it only posts a message.
const noticeAdapter = "notify"

// Warnings returns what `runbook check` points out without refusing the
// runbook: each "FILE:LINE: warning: ..." says where the rollback reason,
// chat text anyone in the channel types, feeds a step that does more than
// post a notice (a command's argument, a URL, a request body). Values are
// escaped where they land, but chat text should not steer what a step does.
//
// It also warns when production phases have no approvers: the runbook keeps
// working (every operator is then an approver), but nobody in particular
// guards its gates.
func (rb *Runbook) Warnings() []Problem {
	var out []Problem
	if len(rb.Approvers) == 0 {
		var prod []string
		line := 0
		for i := range rb.Phases {
			if rb.Phases[i].Production {
				if line == 0 {
					line = rb.Phases[i].Line
				}
				prod = append(prod, fmt.Sprintf("%q", rb.Phases[i].ID))
			}
		}
		if len(prod) > 0 {
			who := "anyone in the workspace"
			if len(rb.Operators) > 0 {
				who = "every operator"
			}
			out = append(out, Problem{File: rb.File, Line: line, Msg: fmt.Sprintf(
				"warning: production phase(s) %s have no approvers: %s may approve, skip automated steps and abort; name them in approvers:",
				strings.Join(prod, ", "), who)})
		}
	}
	check := func(s *Step, where string) {
		if s.Run == "" || s.Run == noticeAdapter {
			return
		}
		for _, path := range reasonPaths("with", s.With) {
			out = append(out, Problem{File: rb.File, Line: s.Line, Msg: fmt.Sprintf(
				"warning: %s (run: %s) uses {{ .Reason }} in %s: the reason is chat text; use it only in notify steps "+
					"(a shell step can read $DEPLOY_REASON, which never becomes an option)", where, s.Run, path)})
		}
	}
	for i := range rb.Phases {
		for j := range rb.Phases[i].Steps {
			s := &rb.Phases[i].Steps[j]
			check(s, fmt.Sprintf("step %q", s.ID))
		}
	}
	for j := range rb.Rollback.Steps {
		s := &rb.Rollback.Steps[j]
		check(s, fmt.Sprintf("rollback step %q", s.ID))
	}
	return out
}

// reasonPaths returns the paths ("with.command[2]") of the strings in v that use .Reason.
func reasonPaths(path string, v any) []string {
	switch x := v.(type) {
	case string:
		if reasonRef.MatchString(x) {
			return []string{path}
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			out = append(out, reasonPaths(path+"."+k, x[k])...)
		}
		return out
	case []any:
		var out []string
		for i, e := range x {
			out = append(out, reasonPaths(fmt.Sprintf("%s[%d]", path, i), e)...)
		}
		return out
	}
	return nil
}
