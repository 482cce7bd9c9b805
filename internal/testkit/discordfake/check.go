package discordfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"unicode/utf8"
)

var commandNamePattern = regexp.MustCompile(`^[-_\p{Ll}\p{N}]{1,32}$`)

// Discord's limits on messages, components and modals (PLATFORMS.md and
// Discord's reference).
const (
	MaxContent          = 2000
	MaxEmbeds           = 10
	MaxEmbedTitle       = 256
	MaxEmbedDescription = 4096
	MaxEmbedFields      = 25
	MaxFieldName        = 256
	MaxFieldValue       = 1024
	MaxFooter           = 2048
	MaxAuthor           = 256
	MaxEmbedTotal       = 6000
	MaxRows             = 5
	MaxButtonsPerRow    = 5
	MaxCustomID         = 100
	MaxButtonLabel      = 80
	MaxSelectOptions    = 25
	MaxOptionText       = 100
	MaxPlaceholder      = 150
	MaxModalTitle       = 45
	MaxInputLabel       = 45
	MaxInputPlaceholder = 100
	MaxInputLength      = 4000
)

// body is a message body the bot sends (create, edit, response data, followup).
type body struct {
	Content         *string          `json:"content"`
	Embeds          []Embed          `json:"embeds"`
	Components      []Component      `json:"components"`
	Flags           int              `json:"flags"`
	AllowedMentions json.RawMessage  `json:"allowed_mentions"`
	Reference       *json.RawMessage `json:"message_reference"`
	// Modal fields.
	CustomID string `json:"custom_id"`
	Title    string `json:"title"`
}

func length(s string) int { return utf8.RuneCountInString(s) }

type checker struct {
	problems []error
	ids      map[string]bool
}

func (c *checker) add(format string, args ...any) {
	c.problems = append(c.problems, fmt.Errorf(format, args...))
}

// CheckMessage checks a message body (JSON) against Discord's limits; create
// says whether it creates a message (which must not be empty). It returns
// every problem found, joined, or nil.
func CheckMessage(raw []byte, create bool) error {
	var b body
	if err := json.Unmarshal(raw, &b); err != nil {
		return fmt.Errorf("message body is not valid JSON: %w", err)
	}
	return checkBody(b, create)
}

func checkBody(b body, create bool) error {
	c := &checker{ids: map[string]bool{}}
	content := ""
	if b.Content != nil {
		content = *b.Content
	}
	if length(content) > MaxContent {
		c.add("content has %d characters (at most %d)", length(content), MaxContent)
	}
	if create && content == "" && len(b.Embeds) == 0 && len(b.Components) == 0 {
		c.add("cannot send an empty message")
	}
	c.embeds(b.Embeds)
	c.rows(b.Components, false)
	return errors.Join(c.problems...)
}

func (c *checker) embeds(es []Embed) {
	if len(es) > MaxEmbeds {
		c.add("%d embeds (at most %d)", len(es), MaxEmbeds)
	}
	total := 0
	for i, e := range es {
		at := fmt.Sprintf("embeds[%d]", i)
		c.max(at+".title", e.Title, MaxEmbedTitle)
		c.max(at+".description", e.Description, MaxEmbedDescription)
		total += length(e.Title) + length(e.Description)
		if e.Author != nil {
			c.max(at+".author.name", e.Author.Name, MaxAuthor)
			total += length(e.Author.Name)
		}
		if e.Footer != nil {
			c.max(at+".footer.text", e.Footer.Text, MaxFooter)
			total += length(e.Footer.Text)
		}
		if len(e.Fields) > MaxEmbedFields {
			c.add("%s has %d fields (at most %d)", at, len(e.Fields), MaxEmbedFields)
		}
		for j, f := range e.Fields {
			fat := fmt.Sprintf("%s.fields[%d]", at, j)
			if f.Name == "" || f.Value == "" {
				c.add("%s: name and value are required", fat)
			}
			c.max(fat+".name", f.Name, MaxFieldName)
			c.max(fat+".value", f.Value, MaxFieldValue)
			total += length(f.Name) + length(f.Value)
		}
		if e.Title == "" && e.Description == "" && len(e.Fields) == 0 && e.Author == nil && e.Footer == nil {
			c.add("%s is empty", at)
		}
	}
	if total > MaxEmbedTotal {
		c.add("embeds hold %d characters (at most %d in all)", total, MaxEmbedTotal)
	}
}

func (c *checker) max(what, s string, n int) {
	if length(s) > n {
		c.add("%s has %d characters (at most %d)", what, length(s), n)
	}
}

func (c *checker) customID(what, id string) {
	switch {
	case id == "":
		c.add("%s: custom_id is required", what)
	case length(id) > MaxCustomID:
		c.add("%s: custom_id %q has %d characters (at most %d)", what, id, length(id), MaxCustomID)
	case c.ids[id]:
		c.add("%s: custom_id %q is used twice", what, id)
	}
	c.ids[id] = true
}

// rows checks top-level components: action rows of buttons or one select
// (messages), or of one text input (modals).
func (c *checker) rows(rows []Component, modal bool) {
	if len(rows) > MaxRows {
		c.add("%d action rows (at most %d)", len(rows), MaxRows)
	}
	for i, row := range rows {
		at := fmt.Sprintf("components[%d]", i)
		if row.Type != TypeActionRow {
			c.add("%s: top-level component must be an action row, not type %d", at, row.Type)
			continue
		}
		if len(row.Components) == 0 {
			c.add("%s: empty action row", at)
		}
		buttons, others := 0, 0
		for j, comp := range row.Components {
			cat := fmt.Sprintf("%s.components[%d]", at, j)
			switch comp.Type {
			case TypeButton:
				buttons++
				if modal {
					c.add("%s: buttons are not allowed in modals", cat)
				}
				c.button(cat, comp)
			case TypeSelect:
				others++
				if modal {
					c.add("%s: select menus are not allowed in modals here", cat)
				}
				c.selectMenu(cat, comp)
			case TypeTextInput:
				others++
				if !modal {
					c.add("%s: text inputs are only allowed in modals", cat)
				}
				c.textInput(cat, comp)
			default:
				c.add("%s: unexpected component type %d", cat, comp.Type)
			}
		}
		if buttons > MaxButtonsPerRow {
			c.add("%s has %d buttons (at most %d)", at, buttons, MaxButtonsPerRow)
		}
		if others > 0 && len(row.Components) > 1 {
			c.add("%s: a select menu or text input must be alone in its row", at)
		}
	}
}

func (c *checker) button(at string, b Component) {
	if b.Style < StylePrimary || b.Style > StyleLink {
		c.add("%s: invalid button style %d", at, b.Style)
	}
	if b.Style == StyleLink {
		if b.URL == "" || b.CustomID != "" {
			c.add("%s: a link button needs a url and no custom_id", at)
		}
	} else {
		c.customID(at, b.CustomID)
	}
	if b.Label == "" && b.Emoji == nil {
		c.add("%s: a button needs a label or an emoji", at)
	}
	c.max(at+".label", b.Label, MaxButtonLabel)
}

func (c *checker) selectMenu(at string, s Component) {
	c.customID(at, s.CustomID)
	c.max(at+".placeholder", s.Placeholder, MaxPlaceholder)
	if len(s.Options) == 0 || len(s.Options) > MaxSelectOptions {
		c.add("%s has %d options (1 to %d)", at, len(s.Options), MaxSelectOptions)
	}
	if s.MaxValues > len(s.Options) {
		c.add("%s: max_values %d is more than its %d options", at, s.MaxValues, len(s.Options))
	}
	values := map[string]bool{}
	for k, o := range s.Options {
		oat := fmt.Sprintf("%s.options[%d]", at, k)
		if o.Label == "" || o.Value == "" {
			c.add("%s: label and value are required", oat)
		}
		c.max(oat+".label", o.Label, MaxOptionText)
		c.max(oat+".value", o.Value, MaxOptionText)
		c.max(oat+".description", o.Description, MaxOptionText)
		if values[o.Value] {
			c.add("%s: value %q is used twice", oat, o.Value)
		}
		values[o.Value] = true
	}
}

func (c *checker) textInput(at string, t Component) {
	c.customID(at, t.CustomID)
	if t.Label == "" {
		c.add("%s: a text input needs a label", at)
	}
	c.max(at+".label", t.Label, MaxInputLabel)
	c.max(at+".placeholder", t.Placeholder, MaxInputPlaceholder)
	if t.Style != 1 && t.Style != 2 {
		c.add("%s: invalid text input style %d", at, t.Style)
	}
	if t.MinLength < 0 || t.MinLength > MaxInputLength || t.MaxLength < 0 || t.MaxLength > MaxInputLength {
		c.add("%s: min_length/max_length out of range", at)
	}
	if t.MaxLength > 0 && t.MinLength > t.MaxLength {
		c.add("%s: min_length is more than max_length", at)
	}
}

// CheckModal checks a modal (the data of a type 9 response) against Discord's limits.
func CheckModal(raw []byte) error {
	var b body
	if err := json.Unmarshal(raw, &b); err != nil {
		return fmt.Errorf("modal is not valid JSON: %w", err)
	}
	c := &checker{ids: map[string]bool{}}
	if b.CustomID == "" || length(b.CustomID) > MaxCustomID {
		c.add("modal custom_id %q must have 1 to %d characters", b.CustomID, MaxCustomID)
	}
	if b.Title == "" || length(b.Title) > MaxModalTitle {
		c.add("modal title %q must have 1 to %d characters", b.Title, MaxModalTitle)
	}
	if len(b.Components) == 0 {
		c.add("a modal needs at least one text input")
	}
	c.rows(b.Components, true)
	return errors.Join(c.problems...)
}

// CheckCommands checks application commands sent to the bulk-overwrite
// route: names, descriptions, option types, and required options before
// optional ones.
func CheckCommands(cmds []json.RawMessage) error {
	c := &checker{ids: map[string]bool{}}
	names := map[string]bool{}
	for i, raw := range cmds {
		var cmd commandJSON
		if err := json.Unmarshal(raw, &cmd); err != nil {
			c.add("commands[%d]: %v", i, err)
			continue
		}
		at := fmt.Sprintf("commands[%d] %q", i, cmd.Name)
		if names[cmd.Name] {
			c.add("%s: name used twice", at)
		}
		names[cmd.Name] = true
		c.commandName(at, cmd.Name)
		c.description(at, cmd.Description)
		c.options(at, cmd.Options, 0)
	}
	return errors.Join(c.problems...)
}

type commandJSON struct {
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Options     []optionJSON `json:"options"`
}

type optionJSON struct {
	Type        int          `json:"type"`
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Required    bool         `json:"required"`
	MaxLength   int          `json:"max_length"`
	Options     []optionJSON `json:"options"`
	Choices     []choiceJSON `json:"choices"`
}

type choiceJSON struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

// choices checks an option's choices: at most 25, only on string, integer
// and number options, each named in 1 to 100 characters with a value of the
// option's type (a string of at most 100 characters), no value twice.
func (c *checker) choices(at string, o optionJSON) {
	if len(o.Choices) == 0 {
		return
	}
	if len(o.Choices) > 25 {
		c.add("%s: %d choices (at most 25)", at, len(o.Choices))
	}
	if o.Type != 3 && o.Type != 4 && o.Type != 10 {
		c.add("%s: choices on an option of type %d (only string, integer and number options have them)", at, o.Type)
	}
	seen := map[string]bool{}
	for k, ch := range o.Choices {
		cat := fmt.Sprintf("%s choice %d", at, k)
		if ch.Name == "" || length(ch.Name) > 100 {
			c.add("%s: name must have 1 to 100 characters, has %d", cat, length(ch.Name))
		}
		v, isString := ch.Value.(string)
		switch {
		case o.Type == 3 && !isString:
			c.add("%s: value %v of a string option is not a string", cat, ch.Value)
		case o.Type == 3 && (v == "" || length(v) > 100):
			c.add("%s: value must have 1 to 100 characters, has %d", cat, length(v))
		case o.Type != 3 && isString:
			c.add("%s: value %q of a numeric option is a string", cat, v)
		}
		key := fmt.Sprint(ch.Value)
		if seen[key] {
			c.add("%s: value %v used twice", cat, ch.Value)
		}
		seen[key] = true
	}
}

func (c *checker) commandName(at, name string) {
	if !commandNamePattern.MatchString(name) {
		c.add("%s: name must be 1 to 32 lowercase letters, digits, - or _", at)
	}
}

func (c *checker) description(at, d string) {
	if d == "" || length(d) > 100 {
		c.add("%s: description must have 1 to 100 characters, has %d", at, length(d))
	}
}

func (c *checker) options(at string, opts []optionJSON, depth int) {
	if len(opts) > 25 {
		c.add("%s: %d options (at most 25)", at, len(opts))
	}
	optional := false
	seen := map[string]bool{}
	for _, o := range opts {
		oat := fmt.Sprintf("%s option %q", at, o.Name)
		c.commandName(oat, o.Name)
		c.description(oat, o.Description)
		if seen[o.Name] {
			c.add("%s: name used twice", oat)
		}
		seen[o.Name] = true
		switch o.Type {
		case 1, 2: // subcommand, subcommand group
			if depth > 1 {
				c.add("%s: subcommands nested too deep", oat)
			}
			c.options(oat, o.Options, depth+1)
		default:
			if o.Type < 3 || o.Type > 11 {
				c.add("%s: invalid option type %d", oat, o.Type)
			}
			if o.Required && optional {
				c.add("%s: a required option must come before the optional ones", oat)
			}
			if !o.Required {
				optional = true
			}
			if o.MaxLength < 0 || o.MaxLength > 6000 {
				c.add("%s: max_length %d out of range", oat, o.MaxLength)
			}
			c.choices(oat, o)
		}
	}
}
