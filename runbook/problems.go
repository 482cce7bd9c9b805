package runbook

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a runbook, at a line of its file.
type Problem struct {
	// File is the runbook's file name as given to Parse or Load.
	File string
	// Line is the 1-based line of the problem; 0 when unknown (an in-memory runbook).
	Line int
	// Msg says what is wrong, in words a runbook author understands.
	Msg string
}

// String formats the problem as "FILE:LINE: message", leaving out the line
// when it is unknown and the file when it is empty.
func (p Problem) String() string {
	switch {
	case p.File == "" && p.Line == 0:
		return p.Msg
	case p.File == "":
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	case p.Line == 0:
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	default:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
}

// Problems is every problem found in a runbook; it is the error returned by
// Parse, Load, Builtin and Runbook.Validate when the runbook is not valid.
type Problems []Problem

// Error returns one "FILE:LINE: message" line per problem, joined by "\n".
func (ps *Problems) Error() string {
	if ps == nil || len(*ps) == 0 {
		return "no problems"
	}
	lines := make([]string, len(*ps))
	for i, p := range *ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// add records a problem.
func (ps *Problems) add(file string, line int, format string, args ...any) {
	*ps = append(*ps, Problem{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// err returns ps sorted by line as an error, or nil when there are none.
func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	out := make(Problems, len(ps))
	copy(out, ps)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return &out
}

// errInFileOrder returns ps sorted by file, then line, as an error (nil
// when there are none): the problems of several files, each file's together.
func (ps Problems) errInFileOrder() error {
	if len(ps) == 0 {
		return nil
	}
	out := make(Problems, len(ps))
	copy(out, ps)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Line < out[j].Line
	})
	return &out
}
