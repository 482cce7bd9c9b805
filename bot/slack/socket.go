package slackfront

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// runSocket serves Socket Mode until ctx ends: slack-go keeps the websocket
// (reconnecting with a fresh URL from apps.connections.open), and each
// envelope is handled on its own goroutine by the same code as HTTP, then
// acknowledged with the answer as payload.
func (f *Front) runSocket(ctx context.Context) error {
	sm := socketmode.New(f.api, socketmode.OptionLog(slog.NewLogLogger(f.log.Handler(), slog.LevelDebug)))
	errc := make(chan error, 1)
	go func() { errc <- sm.RunContext(ctx) }()
	f.log.Info("socket mode starting")
	for {
		select {
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack socket mode: %w", err)
		case evt := <-sm.Events:
			f.socketEvent(ctx, sm, evt)
		}
	}
}

func (f *Front) socketEvent(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		f.log.Debug("socket mode connecting")
	case socketmode.EventTypeConnected:
		f.log.Info("socket mode connected")
	case socketmode.EventTypeConnectionError:
		f.log.Warn("socket mode connection failed; retrying", "err", errOf(evt.Data))
	case socketmode.EventTypeInvalidAuth:
		f.log.Error("socket mode: the app-level token was refused (SLACK_APP_TOKEN)")
	case socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive:
		if evt.Request == nil {
			return
		}
		select {
		case f.envs <- struct{}{}:
			go func() {
				defer func() { <-f.envs }()
				f.envelope(ctx, sm, evt)
			}()
		default:
			f.envelope(ctx, sm, evt) // too many at once: handle inline, slowing the reader down
		}
	case socketmode.EventTypeEventsAPI:
		if evt.Request != nil {
			_ = sm.AckCtx(ctx, evt.Request.EnvelopeID, nil)
		}
	}
}

func errOf(data any) any {
	if ce, ok := data.(*slack.ConnectionErrorEvent); ok {
		return ce.ErrorObj
	}
	return data
}

// maxSocketAckText is the longest command answer sent inside a Socket Mode
// acknowledgement (Slack takes payloads under about 20 KB).
const maxSocketAckText = 15000

// envelope handles one slash command or interaction and acknowledges it
// with the answer (the command's reply, a dialog's errors) as payload.
func (f *Front) envelope(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.AckBudget)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			f.log.Error("panic while handling a Socket Mode envelope", "type", evt.Type, "panic", v)
			_ = sm.AckCtx(ctx, evt.Request.EnvelopeID, nil)
		}
	}()
	var payload any
	var next after
	switch data := evt.Data.(type) {
	case slack.SlashCommand:
		resp := f.command(actx, data)
		payload = resp
		if len(resp.Text) > maxSocketAckText {
			// A Socket Mode acknowledgement carries at most about 20 KB: say the
			// answer follows, and send it through the command's response_url.
			payload = CommandResponse{ResponseType: "ephemeral", Text: "The answer is long; it follows in a moment."}
			url := data.ResponseURL
			next = func(ctx context.Context) {
				cctx, cancel := context.WithTimeout(ctx, DefaultCallTimeout)
				defer cancel()
				if err := f.postResponse(cctx, url, resp); err != nil {
					f.log.Warn("long answer not delivered", "user", data.UserID, "err", err)
				}
			}
		}
	case slack.InteractionCallback:
		payload, next = f.interaction(actx, fromCallback(&data))
	default:
		f.log.Warn("unexpected socket mode payload", "type", evt.Type)
	}
	if err := sm.AckCtx(ctx, evt.Request.EnvelopeID, payload); err != nil {
		f.log.Warn("socket mode acknowledgement failed", "envelope", evt.Request.EnvelopeID, "err", err)
	}
	if next != nil {
		f.pool.submit(next)
	}
}
