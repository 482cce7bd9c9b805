package slackfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"regexp"
	"strings"
	"unicode/utf16"
)

// Block Kit's limits on a message, from Slack's reference (PLATFORMS.md).
const (
	MaxBlocks          = 50
	MaxActionElements  = 25
	MaxContextElements = 10
	MaxSectionText     = 3000
	MaxFields          = 10
	MaxFieldText       = 2000
	MaxHeaderText      = 150
	MaxButtonText      = 75
	MaxButtonValue     = 2000
	MaxID              = 255
	MaxConfirmTitle    = 100
	MaxConfirmText     = 300
	MaxConfirmButton   = 30
	MaxSelectOptions   = 100
	MaxOverflowOptions = 5
	MaxOptionText      = 75
	MaxOptionValue     = 150
	MaxPlaceholder     = 150
)

// Length counts characters the way Slack does (UTF-16 code units), so an
// emoji outside the Basic Multilingual Plane counts as two.
func Length(s string) int {
	n := 0
	for _, r := range s {
		if k := utf16.RuneLen(r); k > 0 {
			n += k
		} else {
			n++
		}
	}
	return n
}

// CheckBlocks checks a message's blocks (a JSON array) against Block Kit's
// limits and returns every problem found, joined; nil when the blocks are
// valid. It knows the block and element types deploybot uses (header,
// section, context, actions, divider; buttons, static selects, overflow
// menus) and refuses any other.
func CheckBlocks(raw []byte) error {
	var blocks []map[string]any
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return fmt.Errorf("blocks are not a JSON array of objects: %w", err)
	}
	c := &checker{blockIDs: map[string]bool{}, actionIDs: map[string]bool{}}
	if len(blocks) > MaxBlocks {
		c.add("message has %d blocks (at most %d)", len(blocks), MaxBlocks)
	}
	for i, b := range blocks {
		c.block(fmt.Sprintf("blocks[%d]", i), b)
	}
	return errors.Join(c.problems...)
}

type checker struct {
	problems  []error
	blockIDs  map[string]bool
	actionIDs map[string]bool
}

func (c *checker) add(format string, args ...any) {
	c.problems = append(c.problems, fmt.Errorf(format, args...))
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func obj(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	return o
}

func list(m map[string]any, key string) []map[string]any {
	raw, _ := m[key].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, r := range raw {
		if o, ok := r.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// text checks a text object: its type, that it is not empty, and its length.
func (c *checker) text(path string, t map[string]any, max int, plainOnly bool) {
	if t == nil {
		c.add("%s: text object missing", path)
		return
	}
	typ := str(t, "type")
	switch {
	case typ == "plain_text":
	case typ == "mrkdwn" && !plainOnly:
	default:
		c.add("%s: text type %q not allowed here", path, typ)
	}
	s := str(t, "text")
	if s == "" {
		c.add("%s: text is empty", path)
	}
	if n := Length(s); n > max {
		c.add("%s: text has %d characters (at most %d)", path, n, max)
	}
}

func (c *checker) id(path, kind, id string, seen map[string]bool) {
	if id == "" {
		return
	}
	if Length(id) > MaxID {
		c.add("%s: %s longer than %d", path, kind, MaxID)
	}
	if seen[id] {
		c.add("%s: duplicate %s %q", path, kind, id)
	}
	seen[id] = true
}

func (c *checker) block(path string, b map[string]any) {
	c.id(path, "block_id", str(b, "block_id"), c.blockIDs)
	switch typ := str(b, "type"); typ {
	case "header":
		c.text(path+".text", obj(b, "text"), MaxHeaderText, true)
	case "divider":
	case "section":
		t, fields := obj(b, "text"), list(b, "fields")
		if t == nil && len(fields) == 0 {
			c.add("%s: section needs text or fields", path)
		}
		if t != nil {
			c.text(path+".text", t, MaxSectionText, false)
		}
		if len(fields) > MaxFields {
			c.add("%s: %d fields (at most %d)", path, len(fields), MaxFields)
		}
		for i, f := range fields {
			c.text(fmt.Sprintf("%s.fields[%d]", path, i), f, MaxFieldText, false)
		}
		if a := obj(b, "accessory"); a != nil {
			c.element(path+".accessory", a)
		}
	case "context":
		els := list(b, "elements")
		if len(els) == 0 || len(els) > MaxContextElements {
			c.add("%s: context has %d elements (1 to %d)", path, len(els), MaxContextElements)
		}
		for i, e := range els {
			c.text(fmt.Sprintf("%s.elements[%d]", path, i), e, MaxSectionText, false)
		}
	case "actions":
		els := list(b, "elements")
		if len(els) == 0 || len(els) > MaxActionElements {
			c.add("%s: actions block has %d elements (1 to %d)", path, len(els), MaxActionElements)
		}
		for i, e := range els {
			c.element(fmt.Sprintf("%s.elements[%d]", path, i), e)
		}
	default:
		c.add("%s: unexpected block type %q", path, typ)
	}
}

func (c *checker) element(path string, e map[string]any) {
	c.id(path, "action_id", str(e, "action_id"), c.actionIDs)
	switch typ := str(e, "type"); typ {
	case "button":
		c.text(path+".text", obj(e, "text"), MaxButtonText, true)
		if Length(str(e, "value")) > MaxButtonValue {
			c.add("%s: button value longer than %d", path, MaxButtonValue)
		}
		switch s := str(e, "style"); s {
		case "", "primary", "danger":
		default:
			c.add("%s: button style %q", path, s)
		}
	case "static_select", "overflow":
		max := MaxSelectOptions
		if typ == "overflow" {
			max = MaxOverflowOptions
		} else {
			c.text(path+".placeholder", obj(e, "placeholder"), MaxPlaceholder, true)
		}
		opts := list(e, "options")
		if len(opts) == 0 || len(opts) > max {
			c.add("%s: %s has %d options (1 to %d)", path, typ, len(opts), max)
		}
		for i, o := range opts {
			p := fmt.Sprintf("%s.options[%d]", path, i)
			c.text(p+".text", obj(o, "text"), MaxOptionText, true)
			if v := str(o, "value"); v == "" || Length(v) > MaxOptionValue {
				c.add("%s: option value has %d characters (1 to %d)", p, Length(v), MaxOptionValue)
			}
		}
	default:
		c.add("%s: unexpected element type %q", path, typ)
	}
	if cf := obj(e, "confirm"); cf != nil {
		c.text(path+".confirm.title", obj(cf, "title"), MaxConfirmTitle, true)
		c.text(path+".confirm.text", obj(cf, "text"), MaxConfirmText, false)
		c.text(path+".confirm.confirm", obj(cf, "confirm"), MaxConfirmButton, true)
		c.text(path+".confirm.deny", obj(cf, "deny"), MaxConfirmButton, true)
	}
}

// Action is an interactive element of a message: a button, or a menu whose
// options each stand for a button.
type Action struct {
	// Type is "button", "static_select" or "overflow".
	Type     string
	ActionID string
	BlockID  string
	// Label is the button's text or the menu's placeholder.
	Label string
	Value string
	Style string
	// Confirm is the confirmation dialog's title, when there is one.
	Confirm string
	// Options are a menu's options (text and value).
	Options []Option
}

// Option is one option of a menu.
type Option struct{ Text, Value string }

// Actions returns the interactive elements of blocks, in order.
func Actions(raw []byte) []Action {
	var blocks []map[string]any
	if json.Unmarshal(raw, &blocks) != nil {
		return nil
	}
	var out []Action
	add := func(blockID string, e map[string]any) {
		a := Action{Type: str(e, "type"), ActionID: str(e, "action_id"), BlockID: blockID, Value: str(e, "value"), Style: str(e, "style")}
		if t := obj(e, "text"); t != nil {
			a.Label = str(t, "text")
		}
		if p := obj(e, "placeholder"); p != nil {
			a.Label = str(p, "text")
		}
		if cf := obj(e, "confirm"); cf != nil {
			a.Confirm = str(obj(cf, "title"), "text")
		}
		for _, o := range list(e, "options") {
			a.Options = append(a.Options, Option{Text: str(obj(o, "text"), "text"), Value: str(o, "value")})
		}
		out = append(out, a)
	}
	for _, b := range blocks {
		if a := obj(b, "accessory"); a != nil {
			add(str(b, "block_id"), a)
		}
		for _, e := range list(b, "elements") {
			if t := str(e, "type"); t == "button" || t == "static_select" || t == "overflow" {
				add(str(b, "block_id"), e)
			}
		}
	}
	return out
}

// Visible renders blocks as the text a person reads in Slack: headers and
// sections as lines, fields as "Label: value", context lines, and each button
// as [Label] (a menu as [Label ▾]). Slack's escapes (&amp; &lt; &gt;) are undone.
func Visible(raw []byte) string {
	var blocks []map[string]any
	if json.Unmarshal(raw, &blocks) != nil {
		return ""
	}
	var lines []string
	el := func(e map[string]any) string {
		switch str(e, "type") {
		case "button":
			return "[" + str(obj(e, "text"), "text") + "]"
		case "static_select", "overflow":
			return "[" + str(obj(e, "placeholder"), "text") + " ▾]"
		}
		return str(e, "text")
	}
	for _, b := range blocks {
		switch str(b, "type") {
		case "header":
			lines = append(lines, str(obj(b, "text"), "text"))
		case "divider":
			lines = append(lines, "---")
		case "section":
			if t := obj(b, "text"); t != nil {
				lines = append(lines, str(t, "text"))
			}
			for _, f := range list(b, "fields") {
				lines = append(lines, strings.Replace(str(f, "text"), "\n", " ", 1))
			}
			if a := obj(b, "accessory"); a != nil {
				lines = append(lines, el(a))
			}
		case "context", "actions":
			var parts []string
			for _, e := range list(b, "elements") {
				parts = append(parts, el(e))
			}
			lines = append(lines, strings.Join(parts, " "))
		}
	}
	return Plain(strings.Join(lines, "\n"))
}

// links matches Slack's <target|label> links and date tokens.
var links = regexp.MustCompile(`<[^<>|]*\|([^<>]*)>`)

// Plain turns mrkdwn into the text a person reads: *bold* and `code`
// markers dropped, <target|label> shown as its label, escapes undone.
func Plain(mrkdwn string) string {
	s := links.ReplaceAllString(mrkdwn, "$1")
	s = strings.NewReplacer("*", "", "`", "").Replace(s)
	return html.UnescapeString(s)
}
