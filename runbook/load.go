package runbook

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Load reads the runbook file at path, then decodes and validates it like Parse.
// A file that cannot be read is a plain error; a file with problems yields *Problems.
func Load(path string, v StepValidator) (*Runbook, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load runbook: %w", err)
	}
	return Parse(path, data, v)
}

// Parse decodes the runbook YAML in data strictly (an unknown field is a
// problem) and validates it (see Runbook.Validate). filename only names the
// file in problems. When anything is wrong it returns a nil runbook and a
// *Problems holding every problem found, each at its line.
func Parse(filename string, data []byte, v StepValidator) (*Runbook, error) {
	d := newDecoder(filename)
	rb := d.decodeFile(data)
	if rb == nil {
		return nil, d.probs.err()
	}
	rb.File = filename
	rb.NameLine = d.lines.at("name", 1)
	if strings.TrimSpace(rb.Name) == "" && !d.lines.has("name") {
		// A small runbook may leave its name out: call it after its file.
		base := filepath.Base(filename)
		rb.Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	validate(rb, v, d.lines, &d.probs)
	if err := d.probs.err(); err != nil {
		return nil, err
	}
	return rb, nil
}

// Limits that keep a hostile or broken file from exhausting the process.
const (
	maxNesting = 64
	// maxNodes bounds the nodes visited while decoding, counting every
	// expansion of an alias ("billion laughs").
	maxNodes = 1 << 20
)

// decoder turns a YAML syntax tree into a Runbook, collecting every problem
// with its line and recording the line of each field it decodes.
type decoder struct {
	file  string
	probs Problems
	// lines maps a field path ("phases[1].steps[0].timeout") to its line.
	lines positions
	// anchors maps anchor names to their nodes, in document order.
	anchors map[string]ast.Node
	budget  int
	// tooBig and tooDeep make the resource-limit problems appear once.
	tooBig, tooDeep bool
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, lines: newPositions(), anchors: map[string]ast.Node{}, budget: maxNodes}
}

func (d *decoder) problem(line int, format string, args ...any) {
	d.probs.add(d.file, line, format, args...)
}

// decodeFile parses data and decodes its single document. It returns nil
// when the file is not YAML at all.
func (d *decoder) decodeFile(data []byte) *Runbook {
	f, err := parseYAML(data)
	if err != nil {
		d.syntaxProblem(err)
		return nil
	}
	var body ast.Node
	for _, doc := range f.Docs {
		if doc == nil || isEmptyNode(doc.Body) {
			continue
		}
		if body != nil {
			d.problem(nodeLine(doc.Body), "a runbook file holds one YAML document; remove the second one (after ---)")
			break
		}
		body = doc.Body
	}
	if body == nil {
		d.problem(1, "the file is empty; a runbook needs at least a name and phases")
		return nil
	}
	d.lines.set("", max(nodeLine(body), 1))
	rb := &Runbook{}
	if !d.runbook(body, rb) {
		return nil
	}
	return rb
}

// parseYAML runs goccy/go-yaml's parser, turning a panic inside it into an error
// so that no input can crash the caller.
func parseYAML(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("the YAML parser failed on this file (%v)", r)
		}
	}()
	return parser.ParseBytes(data, 0)
}

func (d *decoder) syntaxProblem(err error) {
	var yerr yaml.Error
	if errors.As(err, &yerr) {
		line := 1
		if tk := yerr.GetToken(); tk != nil && tk.Position != nil && tk.Position.Line > 0 {
			line = tk.Position.Line
		}
		d.problem(line, "YAML syntax: %s", yerr.GetMessage())
		return
	}
	d.problem(1, "YAML syntax: %v", err)
}

func isEmptyNode(n ast.Node) bool {
	switch n.(type) {
	case nil, *ast.CommentGroupNode, *ast.CommentNode:
		return true
	}
	return false
}

// nodeLine returns the 1-based line where n starts, or 0.
func nodeLine(n ast.Node) int {
	if n == nil {
		return 0
	}
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 && m.Values[0].Key != nil {
		return nodeLine(m.Values[0].Key)
	}
	if mv, ok := n.(*ast.MappingValueNode); ok && mv.Key != nil {
		return nodeLine(mv.Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 0
	}
	return tk.Position.Line
}

// visit charges one node to the budget; it reports false once the budget is spent.
func (d *decoder) visit(line int) bool {
	d.budget--
	if d.budget >= 0 {
		return true
	}
	if !d.tooBig {
		d.tooBig = true
		d.problem(line, "the runbook is too large (aliases expand to more than %d values)", maxNodes)
	}
	return false
}

// resolve follows anchors, aliases and tags to the node that holds a value.
// It records anchors as it meets them. It returns nil for an unknown alias
// (after reporting it) or when the budget is spent.
func (d *decoder) resolve(n ast.Node) ast.Node {
	for range maxNesting {
		if !d.visit(nodeLine(n)) {
			return nil
		}
		switch x := n.(type) {
		case *ast.AnchorNode:
			if x.Name != nil && x.Name.GetToken() != nil {
				d.anchors[x.Name.GetToken().Value] = x.Value
			}
			n = x.Value
		case *ast.AliasNode:
			name := aliasName(x)
			target, ok := d.anchors[name]
			if !ok {
				d.problem(nodeLine(x), "alias *%s refers to no anchor &%s defined above it", name, name)
				return nil
			}
			n = target
		case *ast.TagNode:
			n = x.Value
		default:
			return n
		}
	}
	d.nestedTooDeep(nodeLine(n))
	return nil
}

func aliasName(a *ast.AliasNode) string {
	if a.Value == nil || a.Value.GetToken() == nil {
		return ""
	}
	return a.Value.GetToken().Value
}

func (d *decoder) nestedTooDeep(line int) {
	if !d.tooDeep {
		d.tooDeep = true
		d.problem(line, "values are nested more than %d levels deep (or an alias refers to itself)", maxNesting)
	}
}

// collectAnchors records the anchors under n, for a subtree that is not
// otherwise decoded (the value of an unknown field).
func (d *decoder) collectAnchors(n ast.Node, depth int) {
	if n == nil || depth > maxNesting || !d.visit(nodeLine(n)) {
		return
	}
	switch x := n.(type) {
	case *ast.AnchorNode:
		if x.Name != nil && x.Name.GetToken() != nil {
			d.anchors[x.Name.GetToken().Value] = x.Value
		}
		d.collectAnchors(x.Value, depth+1)
	case *ast.TagNode:
		d.collectAnchors(x.Value, depth+1)
	case *ast.MappingNode:
		for _, mv := range x.Values {
			d.collectAnchors(mv, depth+1)
		}
	case *ast.MappingValueNode:
		d.collectAnchors(x.Value, depth+1)
	case *ast.SequenceNode:
		for _, v := range x.Values {
			d.collectAnchors(v, depth+1)
		}
	}
}

// kind names the kind of a YAML value for messages.
func kind(n ast.Node) string {
	switch n.(type) {
	case nil, *ast.NullNode:
		return "empty"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.BoolNode:
		return "true/false"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	default:
		return "a text"
	}
}

// entry is one key of a mapping.
type entry struct {
	key     string
	keyLine int
	value   ast.Node
}

// mapping returns the entries of the mapping at n, merge keys (<<) expanded
// with explicit keys winning. Empty (null) is an empty mapping. ok is false,
// after a problem, when n is not a mapping.
func (d *decoder) mapping(n ast.Node, what string, depth int) (entries []entry, ok bool) {
	if depth > maxNesting {
		d.nestedTooDeep(nodeLine(n))
		return nil, false
	}
	line := nodeLine(n)
	n = d.resolve(n)
	var values []*ast.MappingValueNode
	switch x := n.(type) {
	case nil:
		return nil, false
	case *ast.NullNode:
		return nil, true
	case *ast.MappingNode:
		values = x.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{x}
	default:
		d.problem(line, "%s must be a mapping (key: value lines), not %s", what, kind(n))
		return nil, false
	}
	var merged []entry
	for _, mv := range values {
		if mv == nil || mv.Key == nil {
			continue
		}
		if mv.Key.IsMergeKey() {
			src := d.resolve(mv.Value)
			srcs := []ast.Node{src}
			if seq, isSeq := src.(*ast.SequenceNode); isSeq {
				srcs = seq.Values
			}
			for _, s := range srcs {
				sub, _ := d.mapping(s, "the value of <<", depth+1)
				merged = append(merged, sub...)
			}
			continue
		}
		key, kok := d.keyText(mv.Key)
		if !kok {
			continue
		}
		entries = append(entries, entry{key: key, keyLine: nodeLine(mv.Key), value: mv.Value})
	}
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		seen[e.key] = true
	}
	for _, e := range merged {
		if !seen[e.key] {
			seen[e.key] = true
			entries = append(entries, e)
		}
	}
	return entries, true
}

func (d *decoder) keyText(k ast.MapKeyNode) (string, bool) {
	var n ast.Node = k
	if mk, ok := k.(*ast.MappingKeyNode); ok {
		n = mk.Value
	}
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case ast.ScalarNode:
		if tk := x.GetToken(); tk != nil {
			return tk.Value, true
		}
	}
	d.problem(nodeLine(k), "a key must be a plain name, not %s", kind(n))
	return "", false
}

// fields dispatches the entries of a mapping to the handlers of its known
// fields and reports every other key as an unknown field at the key's line.
// A field whose handler reported a problem is marked as failed at prefix+key.
func (d *decoder) fields(entries []entry, prefix, where string, known []string, handle func(e entry)) {
	for _, e := range entries {
		if contains(known, e.key) {
			d.lines.set(prefix+e.key, e.keyLine)
			before := len(d.probs)
			handle(e)
			if len(d.probs) > before {
				d.lines.bad[prefix+e.key] = true
			}
			continue
		}
		d.collectAnchors(e.value, 0)
		if s := suggest(e.key, known); s != "" {
			// The author meant s: do not also report s as missing.
			d.lines.bad[prefix+s] = true
			d.problem(e.keyLine, "unknown field %q in %s (did you mean %q?)", e.key, where, s)
		} else {
			d.problem(e.keyLine, "unknown field %q in %s (known fields: %s)", e.key, where, strings.Join(known, ", "))
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest returns the known name closest to s when it is a likely typo.
func suggest(s string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if dist := editDistance(strings.ToLower(s), k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, capped for long inputs.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// text decodes a scalar as text: numbers and booleans keep their spelling,
// empty is "".
func (d *decoder) text(n ast.Node, what string) (string, bool) {
	line := nodeLine(n)
	n = d.resolve(n)
	switch x := n.(type) {
	case nil:
		return "", false
	case *ast.NullNode:
		return "", true
	case *ast.StringNode:
		return x.Value, true
	case *ast.LiteralNode:
		if x.Value == nil {
			return "", true
		}
		return x.Value.Value, true
	case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode:
		d.problem(line, "%s must be a text, not %s", what, kind(n))
		return "", false
	case ast.ScalarNode:
		if tk := x.GetToken(); tk != nil {
			return tk.Value, true
		}
	}
	d.problem(line, "%s must be a text, not %s", what, kind(n))
	return "", false
}

// boolean decodes true or false; set is false when the value is empty.
func (d *decoder) boolean(n ast.Node, what string) (val, set bool) {
	line := nodeLine(n)
	n = d.resolve(n)
	switch x := n.(type) {
	case nil, *ast.NullNode:
		return false, false
	case *ast.BoolNode:
		return x.Value, true
	}
	d.problem(line, "%s must be true or false, not %s", what, kind(n))
	return false, false
}

// duration decodes a Go duration ("15m", "2h30m").
func (d *decoder) duration(n ast.Node, what string) (Duration, bool) {
	line := nodeLine(n)
	s, ok := d.text(n, what)
	if !ok {
		return 0, false
	}
	var du Duration
	if err := du.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		d.problem(line, "%s: %v", what, err)
		return 0, false
	}
	return du, true
}

// list returns the items of a sequence; empty is an empty list.
func (d *decoder) list(n ast.Node, what string) ([]ast.Node, bool) {
	line := nodeLine(n)
	n = d.resolve(n)
	switch x := n.(type) {
	case nil:
		return nil, false
	case *ast.NullNode:
		return nil, true
	case *ast.SequenceNode:
		return x.Values, true
	}
	d.problem(line, "%s must be a list (lines starting with -), not %s", what, kind(n))
	return nil, false
}

// value decodes any YAML value the way goccy/go-yaml decodes into an
// interface: mappings become map[string]any, lists []any, integers int64 or
// uint64, floats float64.
func (d *decoder) value(n ast.Node, depth int) any {
	if depth > maxNesting {
		d.nestedTooDeep(nodeLine(n))
		return nil
	}
	line := nodeLine(n)
	if t, ok := n.(*ast.TagNode); ok && t.Start != nil {
		v := d.value(t.Value, depth+1)
		switch token.ReservedTagKeyword(t.Start.Value) {
		case token.StringTag:
			if v == nil {
				return ""
			}
			return fmt.Sprint(v)
		case token.NullTag:
			return nil
		}
		return v
	}
	n = d.resolve(n)
	switch x := n.(type) {
	case nil, *ast.NullNode:
		return nil
	case *ast.LiteralNode:
		if x.Value == nil {
			return ""
		}
		return x.Value.Value
	case *ast.MappingNode, *ast.MappingValueNode:
		entries, _ := d.mapping(x, "a value", depth+1)
		m := make(map[string]any, len(entries))
		for _, e := range entries {
			m[e.key] = d.value(e.value, depth+1)
		}
		return m
	case *ast.SequenceNode:
		out := make([]any, 0, len(x.Values))
		for _, item := range x.Values {
			out = append(out, d.value(item, depth+1))
		}
		return out
	case ast.ScalarNode:
		return x.GetValue()
	}
	d.problem(line, "unsupported YAML value (%s)", n.Type())
	return nil
}

// Field names, in the order the schema documents them.
var (
	runbookFields  = []string{"name", "title", "approvers", "operators", "distinct_approver", "reminders", "windows", "environments", "phases", "rollback"}
	envFields      = []string{"approval", "window", "approvers"}
	windowFields   = []string{"cron", "duration", "timezone"}
	phaseFields    = []string{"id", "group", "title", "approval", "approval_timeout", "production", "follow_up", "window", "steps"}
	stepFields     = []string{"id", "title", "run", "with", "timeout", "on_failure", "notice"}
	rollbackFields = []string{"when", "steps"}
)

// people decodes a list of approvers or operators, noting each entry's line.
func (d *decoder) people(n ast.Node, field, what string) []string {
	items, _ := d.list(n, field)
	out := make([]string, 0, len(items))
	for _, item := range items {
		s, ok := d.text(item, what)
		if !ok {
			continue
		}
		d.lines.set(fmt.Sprintf("%s[%d]", field, len(out)), nodeLine(item))
		out = append(out, s)
	}
	return out
}

// runbook decodes the document's top mapping; false when it is not a mapping.
func (d *decoder) runbook(n ast.Node, rb *Runbook) bool {
	entries, ok := d.mapping(n, "a runbook", 0)
	if !ok {
		return false
	}
	d.fields(entries, "", "the runbook", runbookFields, func(e entry) {
		switch e.key {
		case "name":
			rb.Name, _ = d.text(e.value, "name")
		case "title":
			rb.Title, _ = d.text(e.value, "title")
		case "approvers":
			rb.Approvers = d.people(e.value, "approvers", "an approver")
		case "operators":
			rb.Operators = d.people(e.value, "operators", "an operator")
		case "distinct_approver":
			rb.DistinctApprover, _ = d.boolean(e.value, "distinct_approver")
		case "reminders":
			items, _ := d.list(e.value, "reminders")
			rb.Reminders = make([]Duration, 0, len(items))
			for _, item := range items {
				du, ok := d.duration(item, "reminder")
				if !ok {
					continue
				}
				d.lines.set(fmt.Sprintf("reminders[%d]", len(rb.Reminders)), nodeLine(item))
				rb.Reminders = append(rb.Reminders, du)
			}
		case "windows":
			items, _ := d.list(e.value, "windows")
			for _, item := range items {
				path := fmt.Sprintf("windows[%d]", len(rb.Windows))
				w := RecurringWindow{Line: nodeLine(item)}
				if d.window(item, &w, path) {
					rb.Windows = append(rb.Windows, w)
				}
			}
		case "phases":
			items, _ := d.list(e.value, "phases")
			for _, item := range items {
				path := fmt.Sprintf("phases[%d]", len(rb.Phases))
				p := Phase{Line: nodeLine(item)}
				if d.phase(item, &p, path) {
					rb.Phases = append(rb.Phases, p)
				}
			}
		case "rollback":
			d.rollback(e.value, &rb.Rollback)
		case "environments":
			d.environments(e.value, rb)
		}
	})
	return true
}

// environments decodes the environments: mapping (environment name to its
// policy; an empty value keeps the runbook's own policy there).
func (d *decoder) environments(n ast.Node, rb *Runbook) {
	entries, ok := d.mapping(n, "environments", 1)
	if !ok {
		return
	}
	rb.Environments = make(map[string]Environment, len(entries))
	for _, e := range entries {
		path := "environments." + e.key
		env := Environment{Line: e.keyLine}
		d.lines.set(path, e.keyLine)
		fields, ok := d.mapping(e.value, fmt.Sprintf("environment %q", e.key), 2)
		if !ok {
			continue
		}
		d.fields(fields, path+".", fmt.Sprintf("environment %q", e.key), envFields, func(f entry) {
			switch f.key {
			case "approval":
				if v, set := d.boolean(f.value, "approval"); set {
					env.Approval = &v
				}
			case "window":
				env.Window, _ = d.text(f.value, "window")
			case "approvers":
				env.Approvers = d.people(f.value, path+".approvers", "an approver")
			}
		})
		rb.Environments[e.key] = env
	}
}

func (d *decoder) window(n ast.Node, w *RecurringWindow, path string) bool {
	entries, ok := d.mapping(n, "a window", 1)
	if !ok {
		return false
	}
	d.lines.set(path, w.Line)
	d.fields(entries, path+".", "a window", windowFields, func(e entry) {
		switch e.key {
		case "cron":
			w.Cron, _ = d.text(e.value, "cron")
		case "duration":
			w.Duration, _ = d.duration(e.value, "window duration")
		case "timezone":
			w.Timezone, _ = d.text(e.value, "timezone")
		}
	})
	return true
}

func (d *decoder) phase(n ast.Node, p *Phase, path string) bool {
	entries, ok := d.mapping(n, "a phase", 1)
	if !ok {
		return false
	}
	d.lines.set(path, p.Line)
	d.fields(entries, path+".", "a phase", phaseFields, func(e entry) {
		switch e.key {
		case "id":
			p.ID, _ = d.text(e.value, "phase id")
		case "group":
			p.Group, _ = d.text(e.value, "group")
		case "title":
			p.Title, _ = d.text(e.value, "title")
		case "approval":
			if v, set := d.boolean(e.value, "approval"); set {
				p.Approval = &v
			}
		case "approval_timeout":
			p.ApprovalTimeout, _ = d.duration(e.value, "approval_timeout")
		case "production":
			p.Production, _ = d.boolean(e.value, "production")
		case "follow_up":
			p.FollowUp, _ = d.boolean(e.value, "follow_up")
		case "window":
			p.Window, _ = d.text(e.value, "window")
		case "steps":
			p.Steps = d.steps(e.value, path+".steps")
		}
	})
	return true
}

func (d *decoder) rollback(n ast.Node, r *Rollback) {
	entries, ok := d.mapping(n, "rollback", 1)
	if !ok {
		return
	}
	d.fields(entries, "rollback.", "rollback", rollbackFields, func(e entry) {
		switch e.key {
		case "when":
			r.When, _ = d.text(e.value, "when")
		case "steps":
			r.Steps = d.steps(e.value, "rollback.steps")
		}
	})
}

func (d *decoder) steps(n ast.Node, path string) []Step {
	items, _ := d.list(n, "steps")
	var out []Step
	for _, item := range items {
		s := Step{Line: nodeLine(item)}
		sp := fmt.Sprintf("%s[%d]", path, len(out))
		entries, ok := d.mapping(item, "a step", 2)
		if !ok {
			continue
		}
		d.lines.set(sp, s.Line)
		d.fields(entries, sp+".", "a step", stepFields, func(e entry) {
			switch e.key {
			case "id":
				s.ID, _ = d.text(e.value, "step id")
			case "title":
				s.Title, _ = d.text(e.value, "title")
			case "run":
				s.Run, _ = d.text(e.value, "run")
			case "with":
				d.with(e.value, &s)
			case "timeout":
				s.Timeout, _ = d.duration(e.value, "timeout")
			case "on_failure":
				s.OnFailure, _ = d.text(e.value, "on_failure")
			case "notice":
				s.Notice, _ = d.text(e.value, "notice")
			}
		})
		out = append(out, s)
	}
	return out
}

func (d *decoder) with(n ast.Node, s *Step) {
	line := nodeLine(n)
	r := d.resolve(n)
	switch r.(type) {
	case nil, *ast.NullNode:
		return
	case *ast.MappingNode, *ast.MappingValueNode:
	default:
		d.problem(line, "with must be a mapping of the adapter's parameters, not %s", kind(r))
		return
	}
	if m, ok := d.value(r, 3).(map[string]any); ok {
		s.With = m
	}
}

// positions records where a file set each field: the line of each field path
// ("phases[1].steps[0].timeout") and the fields whose value could not be
// decoded, so that validation does not repeat their problem as a missing
// value. The zero value (an in-memory runbook) knows nothing.
type positions struct {
	lines map[string]int
	bad   map[string]bool
}

func newPositions() positions {
	return positions{lines: map[string]int{}, bad: map[string]bool{}}
}

// at returns the line recorded for path, or fallback.
func (p positions) at(path string, fallback int) int {
	if l, ok := p.lines[path]; ok {
		return l
	}
	return fallback
}

// has reports whether the file set the field at path.
func (p positions) has(path string) bool {
	_, ok := p.lines[path]
	return ok
}

// failed reports whether the value at path had a problem while decoding.
func (p positions) failed(path string) bool { return p.bad[path] }

// set records the line of path.
func (p positions) set(path string, line int) { p.lines[path] = line }
