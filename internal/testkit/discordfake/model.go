package discordfake

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Component types and styles, from Discord's documentation.
const (
	TypeActionRow  = 1
	TypeButton     = 2
	TypeSelect     = 3
	TypeTextInput  = 4
	StylePrimary   = 1
	StyleSecondary = 2
	StyleSuccess   = 3
	StyleDanger    = 4
	StyleLink      = 5
	FlagEphemeral  = 64
)

// Embed is a message embed as the bot sent it.
type Embed struct {
	Title       string       `json:"title,omitempty"`
	Description string       `json:"description,omitempty"`
	URL         string       `json:"url,omitempty"`
	Color       int          `json:"color,omitempty"`
	Timestamp   string       `json:"timestamp,omitempty"`
	Author      *EmbedText   `json:"author,omitempty"`
	Footer      *EmbedText   `json:"footer,omitempty"`
	Fields      []EmbedField `json:"fields,omitempty"`
}

// EmbedText is an embed's author (Name) or footer (Text).
type EmbedText struct {
	Name string `json:"name,omitempty"`
	Text string `json:"text,omitempty"`
}

// EmbedField is one field of an embed.
type EmbedField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline,omitempty"`
}

// Component is a message component: an action row, a button, a string
// select menu or a text input (in modals).
type Component struct {
	Type        int            `json:"type"`
	CustomID    string         `json:"custom_id,omitempty"`
	Label       string         `json:"label,omitempty"`
	Style       int            `json:"style,omitempty"`
	Disabled    bool           `json:"disabled,omitempty"`
	URL         string         `json:"url,omitempty"`
	Emoji       *Emoji         `json:"emoji,omitempty"`
	Placeholder string         `json:"placeholder,omitempty"`
	MinValues   *int           `json:"min_values,omitempty"`
	MaxValues   int            `json:"max_values,omitempty"`
	Options     []SelectOption `json:"options,omitempty"`
	MinLength   int            `json:"min_length,omitempty"`
	MaxLength   int            `json:"max_length,omitempty"`
	Required    *bool          `json:"required,omitempty"`
	Value       string         `json:"value,omitempty"`
	Components  []Component    `json:"components,omitempty"`
}

// Emoji is a component's emoji.
type Emoji struct {
	Name string `json:"name,omitempty"`
	ID   string `json:"id,omitempty"`
}

// SelectOption is one choice of a string select menu.
type SelectOption struct {
	Label       string `json:"label"`
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
	Default     bool   `json:"default,omitempty"`
}

// Message is a message as a person sees it, in its latest version: a channel
// message the bot posted (or an interaction response or followup).
type Message struct {
	ID        string
	ChannelID string
	Content   string
	Embeds    []Embed
	// Components are the message's action rows.
	Components []Component
	Flags      int
	// ReplyTo is the id of the message this one replies to (message_reference).
	ReplyTo string
	// Ephemeral messages are seen only by User.
	Ephemeral bool
	User      string
	// Interaction is the id of the interaction whose response or followup
	// created the message ("" for messages posted to the channel).
	Interaction string
	// Edits counts the edits applied to the message.
	Edits int
	// AllowedMentions is the allowed_mentions object last sent with it.
	AllowedMentions json.RawMessage
	// Author is the id of the user who posted it: AppID (the bot) unless
	// the test posted it as someone else (Server.PostAs).
	Author string
	// Nonce is the nonce the message was created with ("" for none).
	Nonce string
	// Created is when the fake created it (on its clock).
	Created time.Time
}

// Visible renders the message as a person reads it: content, each embed
// (author, title, description, fields, footer), then the components as
// [Label] buttons and <Placeholder: option | option> menus, one row a line.
func (m Message) Visible() string {
	var b strings.Builder
	line := func(s string) {
		if s == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(s)
	}
	line(m.Content)
	for _, e := range m.Embeds {
		if e.Author != nil {
			line(e.Author.Name)
		}
		line(e.Title)
		line(e.Description)
		for _, f := range e.Fields {
			line(f.Name + ": " + f.Value)
		}
		if e.Footer != nil {
			line(e.Footer.Text)
		}
	}
	for _, row := range m.Components {
		var parts []string
		for _, c := range row.Components {
			parts = append(parts, c.Visible())
		}
		line(strings.Join(parts, " "))
	}
	return b.String()
}

// Visible renders a component as a person sees it.
func (c Component) Visible() string {
	switch c.Type {
	case TypeButton:
		label := c.Label
		if c.Emoji != nil && c.Emoji.Name != "" {
			label = c.Emoji.Name + " " + label
		}
		if c.Disabled {
			return "[(" + label + ")]"
		}
		return "[" + label + "]"
	case TypeSelect:
		var opts []string
		for _, o := range c.Options {
			opts = append(opts, o.Label)
		}
		return "<" + c.Placeholder + ": " + strings.Join(opts, " | ") + ">"
	case TypeTextInput:
		return "{" + c.Label + "}"
	}
	return fmt.Sprintf("(component type %d)", c.Type)
}

// Controls returns the message's buttons and select menus, row by row.
func (m Message) Controls() []Component {
	var out []Component
	for _, row := range m.Components {
		out = append(out, row.Components...)
	}
	return out
}

// Labels returns the labels of the message's buttons (and the placeholders
// of its menus), in order.
func (m Message) Labels() []string {
	var out []string
	for _, c := range m.Controls() {
		if c.Type == TypeSelect {
			out = append(out, c.Placeholder)
			continue
		}
		out = append(out, c.Label)
	}
	return out
}

// Button returns the first enabled button whose label is label and whose
// custom_id contains idPart ("" matches any).
func (m Message) Button(label, idPart string) (Component, bool) {
	for _, c := range m.Controls() {
		if c.Type == TypeButton && !c.Disabled && c.Label == label && strings.Contains(c.CustomID, idPart) {
			return c, true
		}
	}
	return Component{}, false
}

// ButtonWithPrefix returns the first enabled button whose label starts with
// prefix and whose custom_id contains idPart.
func (m Message) ButtonWithPrefix(prefix, idPart string) (Component, bool) {
	for _, c := range m.Controls() {
		if c.Type == TypeButton && !c.Disabled && strings.HasPrefix(c.Label, prefix) && strings.Contains(c.CustomID, idPart) {
			return c, true
		}
	}
	return Component{}, false
}

// Menus returns the message's string select menus.
func (m Message) Menus() []Component {
	var out []Component
	for _, c := range m.Controls() {
		if c.Type == TypeSelect {
			out = append(out, c)
		}
	}
	return out
}

// Text returns the message's text without components: content and embeds.
func (m Message) Text() string {
	c := m
	c.Components = nil
	return c.Visible()
}

// Modal is a modal the bot opened in answer to an interaction.
type Modal struct {
	// Interaction is the id of the interaction answered with the modal.
	Interaction string
	User        string
	ChannelID   string
	CustomID    string `json:"custom_id"`
	Title       string `json:"title"`
	// Components are the modal's action rows, each holding a text input.
	Components []Component `json:"components"`
	// Message is the message whose component opened the modal.
	Message *Message
}

// Inputs returns the modal's text inputs.
func (md Modal) Inputs() []Component {
	var out []Component
	for _, row := range md.Components {
		for _, c := range row.Components {
			if c.Type == TypeTextInput {
				out = append(out, c)
			}
		}
	}
	return out
}

// Callback is the first response to an interaction, received on the
// callback route or inline as the answer to an HTTP delivery.
type Callback struct {
	Interaction string
	// Type is the interaction response type (1 pong, 4 message, 5 deferred
	// message, 6 deferred update, 7 update, 9 modal).
	Type int
	Data json.RawMessage
	// Via is "http" (inline answer) or "rest" (the callback route).
	Via string
}

// Call is one REST request the bot made.
type Call struct {
	// Route is the route pattern ("POST /channels/{channel}/messages").
	Route string
	Path  string
	Body  json.RawMessage
	// Status is the HTTP status the fake answered.
	Status int
}

// The routes, as Call.Route names them and Script takes them.
const (
	RouteGateway        = "GET /gateway"
	RouteGatewayBot     = "GET /gateway/bot"
	RouteGetCommands    = "GET /applications/{app}/commands"
	RoutePutCommands    = "PUT /applications/{app}/commands"
	RouteGetGuildCmds   = "GET /applications/{app}/guilds/{guild}/commands"
	RoutePutGuildCmds   = "PUT /applications/{app}/guilds/{guild}/commands"
	RouteCreateMessage  = "POST /channels/{channel}/messages"
	RouteEditMessage    = "PATCH /channels/{channel}/messages/{message}"
	RouteCallback       = "POST /interactions/{id}/{token}/callback"
	RouteFollowup       = "POST /webhooks/{app}/{token}"
	RouteEditWebhookMsg = "PATCH /webhooks/{app}/{token}/messages/{message}"
	// RouteListMessages lists a channel's newest messages (Get Channel Messages).
	RouteListMessages = "GET /channels/{channel}/messages"
	// RouteGetMe returns the bot's own user (Get Current User).
	RouteGetMe = "GET /users/@me"
)
