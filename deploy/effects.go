package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// DueKindEffect is the due-queue kind of chat effects owed: the messages a
// transition (or a notify step, or a window notice) must show in chat.
const DueKindEffect = "effect"

// DefaultEffectHeadStart is how long after its write an effect becomes
// claimable by any process: the process that wrote it delivers it at once,
// the others only step in when that one died or stalled.
const DefaultEffectHeadStart = 5 * time.Second

// EffectKind names what an effect shows in chat.
type EffectKind string

// The effect kinds.
const (
	// EffectSummary: post or edit the run's summary.
	EffectSummary EffectKind = "summary"
	// EffectCard: post or edit the card of Effect.Phase.
	EffectCard EffectKind = "card"
	// EffectNotice: post the run's one-shot notice Effect.Notice.
	EffectNotice EffectKind = "notice"
	// EffectText: post Effect.Text (a notify step) to Effect.Channel.
	EffectText EffectKind = "text"
	// EffectWindow: post a maintenance-window notice (Effect.Data, decoded by the chat side).
	EffectWindow EffectKind = "window"
	// EffectAsk: post one new message in the run's thread that mentions the
	// approvers of Effect.Phase, whose gate is ready. Key is the phase and
	// the time the request started, so each request asks once: a renewed
	// request (after it expired) asks again.
	EffectAsk EffectKind = "ask"
	// EffectReport: post the run's report (RunReport) once, as a reply in
	// the run's thread, when the run ends (completed, rolled back, aborted).
	EffectReport EffectKind = "report"
)

// RunNotice names a run's one-shot notice.
type RunNotice string

// The run notices; each is posted at most once per run.
const (
	NoticeAnnouncement RunNotice = "announcement"
	NoticeRollback     RunNotice = "rollback"
	NoticeCompletion   RunNotice = "completion"
	NoticeRolledBack   RunNotice = "rolled_back"
	NoticeAborted      RunNotice = "aborted"
)

// Effect is one message a run owes in chat, as data: it is written to the
// due queue in the same atomic step as the transition that caused it, and
// delivered (rendered from the run, posted or edited, acknowledged) by
// whichever process is alive. There is one queue item per message slot, so
// several effects on one message collapse into the newest.
type Effect struct {
	Kind EffectKind `json:"kind"`
	// RunID and Rev: the run and the revision that owed the effect (run effects).
	RunID string `json:"run_id,omitempty"`
	Rev   int64  `json:"rev,omitempty"`
	// Phase is the card's phase (EffectCard).
	Phase string `json:"phase,omitempty"`
	// Notice is the run notice (EffectNotice).
	Notice RunNotice `json:"notice,omitempty"`
	// Key identifies a text or window effect (unique per occurrence).
	Key string `json:"key,omitempty"`
	// Platform and Channel say where a text or window effect goes ("" means
	// the primary platform and the notice channel); RunChannel is the run's
	// channel a notify step falls back to.
	Platform   string `json:"platform,omitempty"`
	Channel    string `json:"channel,omitempty"`
	RunChannel string `json:"run_channel,omitempty"`
	Text       string `json:"text,omitempty"`
	// Data is the chat side's description of a window notice.
	Data json.RawMessage `json:"data,omitempty"`
}

// Slot names the message the effect is about: "summary", "phase:<id>",
// "notice:<kind>", or the key of a text or window effect. It is the suffix of
// the stored message reference ("slack:summary").
func (f Effect) Slot() string {
	switch f.Kind {
	case EffectSummary:
		return "summary"
	case EffectCard:
		return "phase:" + f.Phase
	case EffectNotice:
		return "notice:" + string(f.Notice)
	case EffectReport:
		return "report"
	default:
		return string(f.Kind) + ":" + f.Key
	}
}

// ItemID is the due-queue id of the effect's slot.
func (f Effect) ItemID() string {
	if f.RunID == "" {
		return "effect:" + f.Slot()
	}
	return "effect:" + f.RunID + ":" + f.Slot()
}

// Item returns the due-queue item owing the effect, claimable from due.
func (f Effect) Item(due time.Time) DueItem {
	b, _ := json.Marshal(f) // an Effect always marshals
	return DueItem{ID: f.ItemID(), Kind: DueKindEffect, Due: due, Payload: string(b)}
}

// ParseEffect decodes an effect from its due-queue item.
func ParseEffect(it DueItem) (Effect, error) {
	var f Effect
	if err := json.Unmarshal([]byte(it.Payload), &f); err != nil {
		return Effect{}, fmt.Errorf("effect %s: %w", it.ID, err)
	}
	return f, nil
}

// Owed is an effect with the queue item that records it.
type Owed struct {
	Effect
	// Item is the stored item: its Payload identifies this version of the
	// slot for Hold and AckIf; its Claims is 0 for the writer.
	Item DueItem
}

// Owe returns the effect together with its queue item due at due.
func Owe(f Effect, due time.Time) Owed { return Owed{Effect: f, Item: f.Item(due)} }

// EffectSink delivers the effects a transition owes, in the process that
// applied it, from the run the transition produced. It must not block.
type EffectSink interface {
	Deliver(ctx context.Context, run *Run, owed []Owed)
}

// eventNotice is the one-shot run notice each event owes.
var eventNotice = map[EventKind]RunNotice{
	EventRunStarted:      NoticeAnnouncement,
	EventRollbackStarted: NoticeRollback,
	EventRunDeployed:     NoticeCompletion,
	EventRunCompleted:    NoticeCompletion,
	EventRunRolledBack:   NoticeRolledBack,
	EventRunAborted:      NoticeAborted,
}

// EffectsOf maps a transition's events to the messages it owes: the one-shot
// notices in event order, then the summary, then the cards in phase order
// (so a new phase's card follows the previous one), then the requests for
// approval, then, when the run ended, its report.
func EffectsOf(run *Run, events []Event) []Effect {
	var notices []RunNotice
	summary, cards := false, map[string]bool{}
	var asks []Effect
	report := false
	for _, ev := range events {
		switch ev.Kind {
		case EventApprovalRequested:
			if i := run.FindPhase(ev.Phase); i >= 0 && !run.Phases[i].AwaitingSince.IsZero() {
				asks = append(asks, Effect{Kind: EffectAsk, RunID: run.ID, Rev: run.Rev, Phase: ev.Phase,
					Key: fmt.Sprintf("%s:%d", ev.Phase, run.Phases[i].AwaitingSince.UnixMilli())})
			}
		case EventRunAborted:
			// The event names no phase, but the current card must lose its buttons.
			if c := run.Current(); c != nil {
				cards[c.ID] = true
			}
		}
		if n, ok := eventNotice[ev.Kind]; ok {
			notices = append(notices, n)
		}
		switch ev.Kind {
		case EventRunCompleted, EventFollowUpsDone, EventRunRolledBack, EventRunAborted:
			report = true // the run ended
		}
		switch ev.Kind {
		case EventRunDeployed, EventFollowUpsDone, EventRunStarted, EventRollbackStarted,
			EventRunCompleted, EventRunRolledBack, EventRunAborted, EventPhaseApproved:
			summary = true
		}
		if ev.Phase != "" {
			cards[ev.Phase] = true
		}
	}
	var out []Effect
	for _, n := range notices {
		out = append(out, Effect{Kind: EffectNotice, RunID: run.ID, Rev: run.Rev, Notice: n})
	}
	if summary || len(cards) > 0 {
		out = append(out, Effect{Kind: EffectSummary, RunID: run.ID, Rev: run.Rev})
	}
	for i := range run.Phases {
		if cards[run.Phases[i].ID] {
			out = append(out, Effect{Kind: EffectCard, RunID: run.ID, Rev: run.Rev, Phase: run.Phases[i].ID})
		}
	}
	// The ask follows the card it is about, as a new message (it notifies).
	out = append(out, asks...)
	if report {
		// Last: the report closes the run's thread, under its final cards.
		out = append(out, Effect{Kind: EffectReport, RunID: run.ID, Rev: run.Rev})
	}
	return out
}

// EffectSinkFunc adapts a function to EffectSink.
type EffectSinkFunc func(ctx context.Context, run *Run, owed []Owed)

// Deliver calls f.
func (f EffectSinkFunc) Deliver(ctx context.Context, run *Run, owed []Owed) { f(ctx, run, owed) }
