package slackfront

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/runbook"
)

// This file is the part of the front shared by HTTP and Socket Mode: a
// verified command or interaction in, the answer to acknowledge with out,
// plus the work to do after the acknowledgement.

// CommandResponse is the answer to a slash command: the HTTP response body,
// or the Socket Mode acknowledgement's payload.
type CommandResponse struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

// viewErrors is the answer to a view submission that keeps the dialog open
// and shows the problem under the reason field.
type viewErrors struct {
	ResponseAction string            `json:"response_action"`
	Errors         map[string]string `json:"errors"`
}

// after is work done once the request is acknowledged, by the worker pool.
type after func(ctx context.Context)

// Time bounds inside the acknowledgement budget.
const (
	// groupsWait bounds waiting for the user groups on the ack path.
	groupsWait = time.Second
	// viewsOpenWait bounds views.open: the trigger_id lives 3 s from the click.
	viewsOpenWait = 2 * time.Second
	// checkWait bounds the check before a reason dialog opens (checkFirst),
	// so the dialog still opens within the trigger_id's 3 s.
	checkWait = 500 * time.Millisecond
)

// unescape undoes the escaping Slack applies to slash-command text.
var unescape = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

// command runs a slash command. It never fails: errors are answered as text.
func (f *Front) command(ctx context.Context, c slack.SlashCommand) CommandResponse {
	actor := f.actor(ctx, c.TeamID, c.UserID, c.UserName)
	reply := f.bot.Command(ctx, bot.Request{
		Platform: Platform, Channel: c.ChannelID, Actor: actor, Text: unescape.Replace(c.Text), RequestID: c.TriggerID,
	})
	typ := "ephemeral"
	if reply.Public {
		typ = "in_channel"
	}
	return CommandResponse{ResponseType: typ, Text: replyText(reply.Text)}
}

// interaction is the part of Slack's interaction payload the front reads.
// Decoding only this is several times cheaper than slack-go's full
// InteractionCallback, and it is what both HTTP and Socket Mode hand over.
type interaction struct {
	Type string `json:"type"`
	Team struct {
		ID string `json:"id"`
	} `json:"team"`
	User    payloadUser `json:"user"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	Container struct {
		ChannelID string `json:"channel_id"`
		MessageTS string `json:"message_ts"`
	} `json:"container"`
	TriggerID   string          `json:"trigger_id"`
	ResponseURL string          `json:"response_url"`
	Actions     []payloadAction `json:"actions"`
	View        struct {
		ID              string `json:"id"`
		CallbackID      string `json:"callback_id"`
		PrivateMetadata string `json:"private_metadata"`
		State           struct {
			Values map[string]map[string]struct {
				Value string `json:"value"`
			} `json:"values"`
		} `json:"state"`
	} `json:"view"`
}

type payloadUser struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
}

type payloadAction struct {
	Type           string `json:"type"`
	ActionID       string `json:"action_id"`
	Value          string `json:"value"`
	SelectedOption struct {
		Value string `json:"value"`
	} `json:"selected_option"`
}

// fromCallback converts slack-go's decoded payload (Socket Mode) to an interaction.
func fromCallback(cb *slack.InteractionCallback) *interaction {
	in := &interaction{Type: string(cb.Type), TriggerID: cb.TriggerID, ResponseURL: cb.ResponseURL,
		User: payloadUser{ID: cb.User.ID, Username: cb.User.Username, Name: cb.User.Name}}
	in.Channel.ID = cb.Channel.ID
	in.Team.ID = cb.Team.ID
	in.Container.ChannelID, in.Container.MessageTS = cb.Container.ChannelID, cb.Container.MessageTs
	for _, a := range cb.ActionCallback.BlockActions {
		pa := payloadAction{Type: string(a.Type), ActionID: a.ActionID, Value: a.Value}
		pa.SelectedOption.Value = a.SelectedOption.Value
		in.Actions = append(in.Actions, pa)
	}
	in.View.ID, in.View.CallbackID, in.View.PrivateMetadata = cb.View.ID, cb.View.CallbackID, cb.View.PrivateMetadata
	if cb.View.State != nil {
		in.View.State.Values = map[string]map[string]struct {
			Value string `json:"value"`
		}{}
		for b, acts := range cb.View.State.Values {
			m := map[string]struct {
				Value string `json:"value"`
			}{}
			for id, a := range acts {
				m[id] = struct {
					Value string `json:"value"`
				}{a.Value}
			}
			in.View.State.Values[b] = m
		}
	}
	return in
}

// interaction handles an interaction payload. body is what to acknowledge
// with (nil: an empty 200); next, when set, runs after the acknowledgement.
func (f *Front) interaction(ctx context.Context, cb *interaction) (body any, next after) {
	switch cb.Type {
	case string(slack.InteractionTypeBlockActions):
		return nil, f.blockAction(ctx, cb)
	case string(slack.InteractionTypeViewSubmission):
		if cb.View.CallbackID == reasonCallbackID {
			return f.reasonSubmitted(ctx, cb), nil
		}
	}
	return nil, nil // view_closed, shortcuts, other apps' views: nothing to do
}

// userName is the name a person is mentioned by.
func userName(u payloadUser) string {
	if u.Username != "" {
		return u.Username
	}
	return u.Name
}

// checkFirst returns the refusal a click that needs a reason would get
// (bot.CheckClick), within checkWait. It checks nothing when the runbooks
// name user groups and none came back for the person (Slack may not have
// answered): a refusal from missing groups would be wrong, and the action
// is checked again when it comes.
func (f *Front) checkFirst(ctx context.Context, cb *interaction, id, channel string) bot.Reply {
	cctx, cancel := context.WithTimeout(ctx, checkWait)
	defer cancel()
	who := f.actor(cctx, cb.Team.ID, cb.User.ID, userName(cb.User))
	if len(who.Groups) == 0 && len(serviceHandles(f.bot.Services().All())) > 0 {
		return bot.Reply{}
	}
	return f.bot.CheckClick(cctx, bot.Click{Platform: Platform, Channel: channel, Actor: who, ButtonID: id})
}

// clickedButton returns the button id of a block action: the action_id of a
// button, the chosen option's value of a menu.
func clickedButton(a payloadAction) string {
	switch a.Type {
	case slack.OptTypeStatic, "overflow":
		return a.SelectedOption.Value
	}
	return a.ActionID
}

func (f *Front) blockAction(ctx context.Context, cb *interaction) after {
	if len(cb.Actions) == 0 {
		return nil
	}
	id := clickedButton(cb.Actions[0])
	act, err := bot.ParseButtonID(id)
	if err != nil {
		f.log.Debug("ignoring an action that is not a deploybot button", "action_id", id)
		return nil
	}
	channel := cb.Channel.ID
	if channel == "" {
		channel = cb.Container.ChannelID
	}
	user, responseURL := cb.User.ID, cb.ResponseURL
	if bot.NeedsReason(act.Kind) {
		// A click that would be refused anyway is refused before anyone
		// writes a reason for it.
		if r := f.checkFirst(ctx, cb, id, channel); r.Text != "" {
			return func(ctx context.Context) { f.respond(ctx, responseURL, channel, user, r.Text) }
		}
		vctx, cancel := context.WithTimeout(ctx, viewsOpenWait)
		defer cancel()
		if _, err := f.api.OpenViewContext(vctx, cb.TriggerID, reasonModal(act, id, channel, f.bot.Known(act.RunID))); err != nil {
			f.log.Warn("could not open the reason dialog", "user", user, "action", act.Kind, "run_id", act.RunID, "err", err)
			return func(ctx context.Context) {
				f.respond(ctx, responseURL, channel, user, "I could not open the dialog that asks for a reason (Slack did not answer in time). Please click again.")
			}
		}
		return nil
	}
	team, name, reqID := cb.Team.ID, userName(cb.User), cb.TriggerID
	tell := func(ctx context.Context, r bot.Reply) {
		if r.Text != "" {
			f.respond(ctx, responseURL, channel, user, r.Text)
		}
	}
	reply, ready := f.answer(ctx, func(ctx context.Context) bot.Reply {
		return f.bot.Click(ctx, bot.Click{Platform: Platform, Channel: channel, Actor: f.actor(ctx, team, user, name), ButtonID: id, RequestID: reqID})
	}, tell)
	if !ready || reply.Text == "" {
		return nil
	}
	return func(ctx context.Context) { tell(ctx, reply) }
}

// workTimeout bounds applying a click once it outlasted its acknowledgement.
const workTimeout = 30 * time.Second

// answer applies work under the acknowledgement discipline (bot.Handoff):
// it waits for work's reply until ctx's deadline (the acknowledgement
// budget) and returns it with ready set; when the reply is not ready by
// then, it returns ready false and the work goes on under its own deadline,
// its reply going to late through the reply workers. Work is never cut off
// by the acknowledgement.
func (f *Front) answer(ctx context.Context, work func(context.Context) bot.Reply, late func(context.Context, bot.Reply)) (reply bot.Reply, ready bool) {
	select {
	case f.slots <- struct{}{}:
	default:
		f.log.Warn("click refused: too many being applied", "max", cap(f.slots))
		return bot.Reply{Text: "deploybot is busy right now; nothing was changed. Try again in a moment."}, true
	}
	f.workMu.Lock()
	if f.closing {
		f.workMu.Unlock()
		<-f.slots
		return bot.Reply{Text: "deploybot is shutting down; nothing was changed. Try again in a moment."}, true
	}
	f.work.Add(1)
	f.workMu.Unlock()
	h := bot.NewHandoff(func(r bot.Reply) {
		f.pool.submit(func(ctx context.Context) { late(ctx, r) })
	})
	f.clicks.Go(func() {
		defer f.work.Done()
		defer func() { <-f.slots }()
		defer func() {
			if v := recover(); v != nil {
				h.Deliver(bot.Reply{Text: f.bot.Recovered(v)})
			}
		}()
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), workTimeout)
		defer cancel()
		h.Deliver(work(wctx))
	})
	wait := f.cfg.AckBudget
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	return h.Wait(wait)
}

// reasonSubmitted applies the action of a reason dialog. A refusal keeps the
// dialog open with the reason under the field; success closes it.
func (f *Front) reasonSubmitted(ctx context.Context, cb *interaction) any {
	meta, ok := decodeReasonMeta(cb.View.PrivateMetadata)
	if !ok {
		f.log.Warn("reason dialog with unreadable metadata", "user", cb.User.ID)
		return nil
	}
	reason := strings.TrimSpace(cb.View.State.Values[reasonBlockID][reasonActionID].Value)
	if reason == "" {
		return viewErrors{ResponseAction: "errors", Errors: map[string]string{reasonBlockID: "Please say why."}}
	}
	reqID := cb.TriggerID
	if reqID == "" {
		reqID = cb.View.ID
	}
	team, user, name := cb.Team.ID, cb.User.ID, userName(cb.User)
	reply, ready := f.answer(ctx, func(ctx context.Context) bot.Reply {
		return f.bot.Click(ctx, bot.Click{
			Platform: Platform, Channel: meta.Channel, Actor: f.actor(ctx, team, user, name),
			ButtonID: meta.Button, Reason: reason, RequestID: reqID,
		})
	}, func(ctx context.Context, r bot.Reply) {
		// The dialog has closed: the refusal reaches the person as an
		// ephemeral message in the channel.
		if r.Text != "" {
			f.respond(ctx, "", meta.Channel, user, r.Text)
		}
	})
	if !ready || reply.Text == "" {
		return nil // the dialog closes
	}
	return viewErrors{ResponseAction: "errors", Errors: map[string]string{reasonBlockID: clip(reply.Text, 300)}}
}

// actor is the person as the engine sees them, with the user groups the
// approver and operator lists of every service's runbook name.
func (f *Front) actor(ctx context.Context, team, id, name string) deploy.Actor {
	a := deploy.Actor{ID: id, Name: name, Platform: Platform, Workspace: team}
	handles := serviceHandles(f.bot.Services().All())
	if len(handles) > 0 {
		gctx, cancel := context.WithTimeout(ctx, groupsWait)
		defer cancel()
		a.Groups = f.groups.of(gctx, id, handles)
	}
	return a
}

// serviceHandles returns the user-group handles (without "@") that the
// runbooks' approvers and operators name, their environments' approvers
// among them, sorted and each once.
func serviceHandles(rbs []*runbook.Runbook) []string {
	var all []string
	for _, rb := range rbs {
		all = append(all, approverHandles(rb.Approvers)...)
		all = append(all, approverHandles(rb.Operators)...)
		for _, env := range rb.EnvNames() {
			all = append(all, approverHandles(rb.Policy(env).Approvers)...)
		}
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// approverHandles returns the user-group handles (without "@") of an approver list.
func approverHandles(approvers []string) []string {
	var out []string
	for _, a := range approvers {
		if h, ok := strings.CutPrefix(a, "@"); ok && h != "" {
			out = append(out, h)
		}
	}
	return out
}
