package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"deploybot/deploy"
	"deploybot/deploy/schedule"
	"deploybot/runbook"
)

// ActStartWindow is the action of the Start button on a scheduled window's
// reminder and "window open" notice: it starts a run of the window's version
// in the window's environment. The button carries the window id in RunID.
const ActStartWindow deploy.ActionKind = "start_window"

// PostWindowNotice implements schedule.Notices: it records the notice in
// the store as an effect (one per occurrence: recording it again keeps one)
// and queues its delivery; the notice is built from the model (WindowNotice)
// when it is posted, by this process or, if it dies first, another one.
func (b *Publisher) PostWindowNotice(ctx context.Context, n schedule.Notice) error {
	data, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("window notice: %w", err)
	}
	return b.owe(ctx, deploy.Effect{Kind: deploy.EffectWindow, Key: windowNoticeKey(n), Platform: n.Platform,
		Channel: n.Channel, Data: data})
}

// RecordWindowNotice implements schedule.OnceNotices: it records the notice
// as an effect only if claim is not taken yet, in one atomic store write
// that also takes the claim (deploy.Store.ScheduleOnce), and queues its
// delivery when it did. So the reminder loop needs no separate claim, and
// a crash cannot leave a notice claimed but never recorded.
func (b *Publisher) RecordWindowNotice(ctx context.Context, claim string, ttl time.Duration, n schedule.Notice) (bool, error) {
	data, err := json.Marshal(n)
	if err != nil {
		return false, fmt.Errorf("window notice: %w", err)
	}
	o := deploy.Owe(deploy.Effect{Kind: deploy.EffectWindow, Key: windowNoticeKey(n), Platform: n.Platform, Channel: n.Channel, Data: data},
		b.clock.Now().Add(b.pub.HeadStart))
	first, err := b.store.ScheduleOnce(ctx, claim, ttl, o.Item)
	if err != nil {
		return false, fmt.Errorf("record window notice: %w", err)
	}
	if first {
		b.enqueueNotice(o)
	}
	return first, nil
}

// WindowNotice builds the chat notice for a window notice: reminders (the
// version, the start in UTC and in the window's zone, how long until it
// opens, and a Start button for scheduled windows), "window open", "window
// closes in …" and the warning that a window ended during a production phase.
func WindowNotice(n schedule.Notice) Notice {
	w := n.Window
	what := "Maintenance window"
	release := w.Release
	if w.Service != "" && w.Release != "" {
		release = w.Service + " " + w.Release
	}
	if w.Release != "" {
		what = "Maintenance window for " + release
	}
	env := n.Env
	if env == "" {
		env = "all environments"
	}
	id := w.ID
	if w.Recurring {
		id = "recurring (runbook)"
	}
	var out Notice
	switch n.Kind {
	case schedule.KindReminder:
		out = Notice{Kind: NoticeReminder, Icon: IconClock, Title: fmt.Sprintf("%s opens in %s", what, Human(n.Until))}
		out.Fields = append(versionFields(w, env, id), startFields(w.Start, w.Zone, "Starts")...)
		out.Fields = append(out.Fields, Field{"Opens in", Human(n.Until)}, Field{"Length", Human(w.End.Sub(w.Start))})
		if n.Offset-n.Until > time.Minute {
			out.Lines = append(out.Lines, fmt.Sprintf("This is the %s reminder, sent late.", runbook.Duration(n.Offset)))
		}
	case schedule.KindOpen:
		out = Notice{Kind: NoticeWindowOpen, Icon: IconOpen, Title: fmt.Sprintf("%s is open", what)}
		out.Fields = append(versionFields(w, env, id), startFields(w.End, w.Zone, "Closes")...)
		if len(n.Runs) > 0 {
			for _, r := range n.Runs {
				out.Lines = append(out.Lines, fmt.Sprintf("Run %s (%s to %s) was waiting for it: %q goes ahead now.", r.ID, r.Release, r.Env, r.Phase))
			}
		} else if w.Release != "" {
			out.Lines = append(out.Lines, fmt.Sprintf("Start the deployment with the button or /deploy start %s.", release))
		} else {
			out.Lines = append(out.Lines, "Phases waiting for a maintenance window go ahead now.")
		}
	case schedule.KindClosing:
		out = Notice{Kind: NoticeWindowClose, Icon: IconClosing, Title: fmt.Sprintf("%s closes in %s", what, Human(n.Until))}
		out.Fields = append(versionFields(w, env, id), startFields(w.End, w.Zone, "Closes")...)
		out.Lines = append(out.Lines, "Runs still in progress:")
		out.Lines = append(out.Lines, runLines(n.Runs)...)
	case schedule.KindEnded:
		out = Notice{Kind: NoticeWindowClose, Icon: IconWarning, Title: "Maintenance window ended while a production phase is still open"}
		out.Fields = append(versionFields(w, env, id), startFields(w.End, w.Zone, "Ended")...)
		out.Lines = append(out.Lines, runLines(n.Runs)...)
		out.Lines = append(out.Lines, "Finish the phase, or roll back with the Rollback button on its card.")
	default:
		out = Notice{Kind: NoticeText, Title: fmt.Sprintf("%s: %s", what, n.Kind)}
	}
	if len(n.Runs) > 0 {
		out.RunID = n.Runs[0].ID
	}
	out.Service = w.Service
	// A Start button only while no run of the window is under way: a
	// waiting run goes ahead by itself.
	if (n.Kind == schedule.KindReminder || n.Kind == schedule.KindOpen) && len(n.Runs) == 0 && !w.Recurring && w.ID != "" && w.Release != "" {
		out.Buttons = append(out.Buttons, StartWindowButton(w.ID, release, n.Env))
	}
	return out
}

// StartWindowButton is the Start button of a scheduled window's notices.
func StartWindowButton(windowID, release, env string) Button {
	if env == "" {
		env = schedule.DefaultEnv
	}
	return Button{Label: "Start", Action: ActStartWindow, RunID: windowID, Style: StylePrimary,
		Confirm: &Confirm{Title: "Start the deployment?", Text: fmt.Sprintf("This starts a run of %s to %s now.", release, env), OK: "Start", Cancel: "Not yet"}}
}

func versionFields(w deploy.WindowView, env, id string) []Field {
	var f []Field
	if w.Service != "" {
		f = append(f, Field{"Service", w.Service})
	}
	if w.Release != "" {
		f = append(f, Field{"Version", w.Release})
	}
	return append(f, Field{"Environment", env}, Field{"Window", id})
}

// startFields renders an instant in UTC and, when the window has another
// zone, in that zone too.
func startFields(t time.Time, zone, label string) []Field {
	f := []Field{{label, t.UTC().Format("Mon 2006-01-02 15:04 UTC")}}
	if zone != "" && zone != "UTC" {
		if loc, err := time.LoadLocation(zone); err == nil {
			f = append(f, Field{label + " (" + zone + ")", t.In(loc).Format("Mon 2006-01-02 15:04 MST")})
		}
	}
	return f
}

func runLines(runs []schedule.RunRef) []string {
	var out []string
	for _, r := range runs {
		line := fmt.Sprintf("• %s: %s to %s", r.ID, r.Release, r.Env)
		if r.Phase != "" {
			line += fmt.Sprintf(", phase %q", r.Phase)
		}
		out = append(out, line)
	}
	return out
}

// startWindow handles a click on a window's Start button: it starts a run of
// the window's version in its environment, in the channel the window was
// booked in (when clicked on the same platform) or else where it was clicked.
func (b *Bot) startWindow(ctx context.Context, c Click, windowID string) Reply {
	now := b.clock.Now()
	sctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	ws, err := b.store.Windows(sctx, now)
	cancel()
	if err != nil {
		return b.refuse(fmt.Errorf("start window %s: %w", windowID, err))
	}
	var w *deploy.Window
	for i := range ws {
		if ws[i].ID == windowID {
			w = &ws[i]
		}
	}
	if w == nil || !w.End().After(now) {
		return Reply{Text: fmt.Sprintf("Window %s was cancelled or has ended. /deploy windows lists the windows; /deploy start VERSION starts a run.", windowID), Refused: true}
	}
	channel := c.Channel
	if w.Channel != "" && w.Platform == c.Platform {
		channel = w.Channel
	}
	out, err := b.e.Start(ctx, deploy.StartRequest{Service: w.Service, Release: w.Release, Env: w.Env, Channel: channel, Platform: c.Platform, Actor: c.Actor, RequestID: c.RequestID})
	if err != nil {
		return b.refuse(err)
	}
	b.log.Info("run started from a window", "run_id", out.Run.ID, "window", windowID, "user", c.Actor.ID, "platform", c.Platform)
	return Reply{RunID: out.Run.ID}
}
