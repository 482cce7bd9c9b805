package notify

import (
	"context"
	"fmt"
	"strconv"

	"deploybot/adapters"
)

// Name is the value of `run:` that selects this adapter.
const Name = "notify"

// DefaultText is the message of a notify step that sets no text: a rollback
// notice during a rollback (when a reason is known), else a deployment notice.
const DefaultText = `{{ if .Reason }}Rolling back {{ with .Service }}{{ . }} {{ end }}{{ .Version }} on {{ .Env }}{{ with .Previous }} to {{ . }}{{ end }}: {{ .Reason }}{{ else }}Deploying {{ with .Service }}{{ . }} {{ end }}{{ .Version }} to {{ .Env }}{{ end }} (run {{ .RunID }})`

// Notifier delivers a message. An empty channel means the notice channel;
// the implementation decides which that is.
type Notifier interface {
	Notify(ctx context.Context, channel, text string) error
}

// RunNotifier is a Notifier that can fall back to the run's own channel when
// no notice channel is configured (PRODUCT: the notice channel defaults to
// the channel where the run was started). The adapter prefers it.
type RunNotifier interface {
	NotifyRun(ctx context.Context, channel, runChannel, text string) error
}

// Adapter is the `notify` adapter.
type Adapter struct {
	n Notifier
}

var (
	_ adapters.Adapter = (*Adapter)(nil)
	_ adapters.Step    = (*step)(nil)
)

// New returns the notify adapter sending through n. With a nil n steps still
// parse, and fail when run. It has no side effects.
func New(n Notifier) *Adapter { return &Adapter{n: n} }

// Name returns "notify".
func (a *Adapter) Name() string { return Name }

// Params are the notify adapter's `with:` parameters.
type Params struct {
	// Text is the message (a template); default DefaultText.
	Text string `json:"text"`
	// Channel is a channel ID; empty means the notice channel.
	Channel string `json:"channel"`
}

// Parse decodes and validates the step's parameters.
func (a *Adapter) Parse(with map[string]any) (adapters.Step, error) {
	var p Params
	if err := adapters.Decode(with, &p); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	if p.Text == "" {
		p.Text = DefaultText
	}
	t, err := adapters.ParseTemplate("text", p.Text)
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	return &step{a: a, text: t, channel: p.Channel}, nil
}

type step struct {
	a       *Adapter
	text    *adapters.Template
	channel string
}

func (s *step) where() string {
	if s.channel == "" {
		return "the notice channel"
	}
	return s.channel
}

// Plan shows the message and where it would go.
func (s *step) Plan(v adapters.Vars) string {
	text, err := s.text.Render(v)
	if err != nil {
		return "send a message (cannot render it: " + err.Error() + ")"
	}
	return "send to " + s.where() + ": " + strconv.Quote(text)
}

// Run sends the message once.
func (s *step) Run(ctx context.Context, v adapters.Vars, _ adapters.Progress) adapters.Result {
	budget := adapters.Budget(ctx)
	if s.a.n == nil {
		return adapters.Result{Summary: "notifications are not configured"}
	}
	text, err := s.text.Render(v)
	if err != nil {
		return adapters.Result{Summary: "cannot render text: " + err.Error()}
	}
	if rn, ok := s.a.n.(RunNotifier); ok {
		err = rn.NotifyRun(ctx, s.channel, v.Channel, text)
	} else {
		err = s.a.n.Notify(ctx, s.channel, text)
	}
	if err != nil {
		if ctx.Err() != nil {
			return adapters.Stopped(ctx, budget, "")
		}
		return adapters.Result{Summary: "sending to " + s.where() + " failed: " + err.Error()}
	}
	return adapters.Result{OK: true, Summary: "sent to " + s.where(), Output: text}
}
