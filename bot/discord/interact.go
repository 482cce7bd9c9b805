package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"deploybot/bot"
	"deploybot/commands"
	"deploybot/deploy"
)

// maxBody is the largest interaction body accepted on the HTTP endpoint.
const maxBody = 1 << 20

// maxSkew is how far an interaction's signed timestamp may be from now.
const maxSkew = 5 * time.Minute

// workTimeout bounds the work an interaction starts after its acknowledgement.
const workTimeout = 30 * time.Second

// responder sends an interaction's first response: inline as the HTTP
// answer, or on the callback route for Gateway interactions.
type responder func(*discordgo.InteractionResponse) error

// serveInteractions is POST /discord/interactions: it refuses bodies over
// 1 MiB (413) and requests whose Ed25519 signature or timestamp does not
// verify (401) before anything else is done with them, answers PING with
// PONG, and answers everything else within Discord's 3 seconds.
func (f *Front) serveInteractions(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read the request body", http.StatusBadRequest)
		return
	}
	if why := f.verify(r.Header, body); why != "" {
		f.log.Warn("refused an interaction request", "reason", why, "remote", r.RemoteAddr)
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	var in discordgo.Interaction
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, "malformed interaction", http.StatusBadRequest)
		return
	}
	answered := false
	f.handle(r.Context(), &in, func(resp *discordgo.InteractionResponse) error {
		if answered {
			return errors.New("interaction already answered")
		}
		answered = true
		b, err := json.Marshal(resp)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		if _, err := w.Write(b); err != nil {
			return err
		}
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		return nil
	})
	if !answered {
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

// verify checks the request's Ed25519 signature over timestamp + body and
// the timestamp's age; it returns why the request is refused, or "".
func (f *Front) verify(h http.Header, body []byte) string {
	sig, err := hex.DecodeString(h.Get("X-Signature-Ed25519"))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "missing or malformed signature"
	}
	ts := h.Get("X-Signature-Timestamp")
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "missing or malformed timestamp"
	}
	msg := make([]byte, 0, len(ts)+len(body))
	msg = append(append(msg, ts...), body...)
	if !ed25519.Verify(f.pub, msg, sig) {
		return "signature does not verify"
	}
	if d := f.clock.Now().Sub(time.Unix(secs, 0)); d > maxSkew || d < -maxSkew {
		return "timestamp older than 5 minutes (or too far ahead)"
	}
	return ""
}

// onGateway handles an interaction received over the Gateway; the first
// response goes to the callback route.
func (f *Front) onGateway(ctx context.Context, in *discordgo.Interaction) {
	f.handle(ctx, in, func(resp *discordgo.InteractionResponse) error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer cancel()
		return platformError("respond to interaction", f.cb.InteractionRespond(in, resp, discordgo.WithContext(rctx)))
	})
}

// handle answers one interaction: exactly one call of respond, then maybe
// work that goes on after it (an action, followups). Everything before the
// response shares one budget (a command may make several store calls, each
// bounded on its own), and it is not cut off when the caller hangs up, so a
// transition never stops halfway.
func (f *Front) handle(parent context.Context, in *discordgo.Interaction, respond responder) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), f.budget)
	defer cancel()
	if in.AppID == "" {
		in.AppID = f.appID
	}
	answered := false
	once := func(resp *discordgo.InteractionResponse) error {
		answered = true
		err := respond(resp)
		if err != nil {
			f.log.Warn("could not answer an interaction", "interaction", in.ID, "err", err)
		}
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			f.log.Error("interaction handler panicked", "interaction", in.ID, "panic", p)
			if !answered {
				_ = once(message(ephemeral(f.bot.Recovered(p))))
			}
		}
	}()
	switch in.Type {
	case discordgo.InteractionPing:
		_ = once(&discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong})
	case discordgo.InteractionApplicationCommand:
		f.command(ctx, in, once)
	case discordgo.InteractionMessageComponent:
		f.component(ctx, in, once)
	case discordgo.InteractionModalSubmit:
		f.modalSubmit(ctx, in, once)
	default:
		_ = once(message(ephemeral("deploybot does not handle this kind of interaction")))
	}
}

// message is a type 4 response.
func message(d *discordgo.InteractionResponseData) *discordgo.InteractionResponse {
	return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource, Data: d}
}

// actor returns the person behind an interaction: the guild member (with
// their role IDs, matched against the runbook's approvers) or the DM user,
// named by their username (their global display name when it has none).
func actor(in *discordgo.Interaction) (deploy.Actor, bool) {
	var u *discordgo.User
	var roles []string
	switch {
	case in.Member != nil && in.Member.User != nil:
		u, roles = in.Member.User, in.Member.Roles
	case in.User != nil:
		u = in.User
	}
	if u == nil || u.ID == "" {
		return deploy.Actor{}, false
	}
	name := u.Username
	if name == "" {
		name = u.GlobalName
	}
	return deploy.Actor{ID: u.ID, Name: name, Platform: PlatformName, Groups: roles, Workspace: in.GuildID}, true
}

// command answers /deploy with a message (type 4): the reply of the
// subcommand, ephemeral unless it is meant for the channel.
func (f *Front) command(ctx context.Context, in *discordgo.Interaction, respond responder) {
	data, ok := in.Data.(discordgo.ApplicationCommandInteractionData)
	who, known := actor(in)
	if !ok || !known || data.Name != CommandName {
		_ = respond(message(ephemeral("unknown command. Try /deploy help")))
		return
	}
	kind, opts, ok := subcommand(data)
	if !ok {
		_ = respond(message(ephemeral("pick a subcommand, e.g. /deploy help")))
		return
	}
	cmd, err := f.bot.Grammar().FromOptions(kind, opts, f.clock.Now())
	if err != nil {
		_ = respond(message(ephemeral(err.Error()))) // commands' errors are written for people
		return
	}
	req := bot.Request{Platform: PlatformName, Channel: in.ChannelID, Actor: who, Text: "/deploy " + cmd.String(), RequestID: in.ID}
	reply := f.bot.Execute(ctx, req, cmd)
	chunks := split(orDefault(reply.Text, "Done."), maxContent)
	first := ephemeral(chunks[0])
	if reply.Public {
		first.Flags = 0
	}
	if respond(message(first)) != nil {
		return
	}
	for _, c := range chunks[1:] {
		f.followup(in, c, reply.Public)
	}
}

// subcommand reads the subcommand and its options; option values that are
// not strings (Discord sends none for this command) are formatted.
func subcommand(data discordgo.ApplicationCommandInteractionData) (commands.Kind, map[string]string, bool) {
	if len(data.Options) != 1 || data.Options[0] == nil || data.Options[0].Type != discordgo.ApplicationCommandOptionSubCommand {
		return "", nil, false
	}
	sub := data.Options[0]
	opts := map[string]string{}
	for _, o := range sub.Options {
		if o == nil {
			continue
		}
		if o.Type == discordgo.ApplicationCommandOptionString {
			opts[o.Name] = o.StringValue()
			continue
		}
		if o.Value != nil {
			b, _ := json.Marshal(o.Value)
			opts[o.Name] = strings.Trim(string(b), `"`)
		}
	}
	return commands.Kind(sub.Name), opts, true
}

// split cuts text into pieces of at most n characters, at line breaks when it can.
func split(text string, n int) []string {
	var out []string
	for utf8.RuneCountInString(text) > n {
		r := []rune(text)
		cut := n
		if i := strings.LastIndex(string(r[:n]), "\n"); i > 0 {
			cut = utf8.RuneCountInString(string(r[:n])[:i])
		}
		out = append(out, string(r[:cut]))
		text = strings.TrimPrefix(string(r[cut:]), "\n")
	}
	return append(out, text)
}

// component answers a click on a button or a choice in a menu.
func (f *Front) component(ctx context.Context, in *discordgo.Interaction, respond responder) {
	data, ok := in.Data.(discordgo.MessageComponentInteractionData)
	who, known := actor(in)
	if !ok || !known {
		_ = respond(message(ephemeral("that button is not one of mine")))
		return
	}
	id := data.CustomID
	switch {
	case strings.HasPrefix(id, prefixPick):
		f.pick(ctx, in, data, respond)
	case strings.HasPrefix(id, prefixConfirm):
		f.confirm(ctx, in, strings.TrimPrefix(id, prefixConfirm), respond)
	case strings.HasPrefix(id, prefixCancel):
		_ = respond(&discordgo.InteractionResponse{Type: discordgo.InteractionResponseUpdateMessage,
			Data: settled(in, "Cancelled: nothing was changed.")})
	case strings.HasPrefix(id, prefixReason):
		f.askReason(in, strings.TrimPrefix(id, prefixReason), respond)
	case strings.HasPrefix(id, prefixOK):
		f.actOrAsk(ctx, in, who, strings.TrimPrefix(id, prefixOK), respond)
	default:
		f.actOrAsk(ctx, in, who, id, respond)
	}
}

// checkWait bounds the check before a reason dialog opens, well inside
// the 3 s Discord gives the interaction's answer.
const checkWait = 500 * time.Millisecond

// actOrAsk acts on the button id, or asks for a reason first when its action needs one.
func (f *Front) actOrAsk(ctx context.Context, in *discordgo.Interaction, who deploy.Actor, id string, respond responder) {
	a, err := bot.ParseButtonID(id)
	if err != nil {
		_ = respond(message(ephemeral("that button is not one of mine")))
		return
	}
	if bot.NeedsReason(a.Kind) {
		// A click that would be refused anyway is refused before anyone
		// writes a reason for it.
		cctx, cancel := context.WithTimeout(ctx, checkWait)
		r := f.bot.CheckClick(cctx, bot.Click{Platform: PlatformName, Channel: in.ChannelID, Actor: who, ButtonID: id})
		cancel()
		if r.Text != "" {
			_ = respond(message(ephemeral(r.Text)))
			return
		}
		f.askReason(in, id, respond)
		return
	}
	f.act(ctx, in, who, id, "", respond)
}

// askReason answers with the reason modal of the button id.
func (f *Front) askReason(in *discordgo.Interaction, id string, respond responder) {
	a, err := bot.ParseButtonID(id)
	if err != nil {
		_ = respond(message(ephemeral("that button is not one of mine")))
		return
	}
	_ = respond(&discordgo.InteractionResponse{Type: discordgo.InteractionResponseModal, Data: reasonModal(a.Kind, id)})
}

// confirm answers with an ephemeral Confirm/Cancel message for the button
// id, worded as the card's button asks (read from the stored run).
func (f *Front) confirm(ctx context.Context, in *discordgo.Interaction, id string, respond responder) {
	a, err := bot.ParseButtonID(id)
	if err != nil {
		_ = respond(message(ephemeral("that button is not one of mine")))
		return
	}
	b, c := f.findButton(ctx, a, id)
	if c == nil {
		label, text := "", ""
		if in.Message != nil {
			label, text = componentLabel(in.Message.Components, prefixConfirm+id), in.Message.Content
		}
		c = genericConfirm(a.Kind, label, text)
	}
	_ = respond(message(confirmPrompt(b, c)))
}

// components returns the components of the action rows among rows.
func components(rows []discordgo.MessageComponent) []discordgo.MessageComponent {
	var out []discordgo.MessageComponent
	for _, row := range rows {
		switch r := row.(type) {
		case *discordgo.ActionsRow:
			out = append(out, r.Components...)
		case discordgo.ActionsRow:
			out = append(out, r.Components...)
		}
	}
	return out
}

// componentLabel returns the label of the button customID among rows.
func componentLabel(rows []discordgo.MessageComponent, customID string) string {
	for _, c := range components(rows) {
		switch b := c.(type) {
		case *discordgo.Button:
			if b.CustomID == customID {
				return b.Label
			}
		case discordgo.Button:
			if b.CustomID == customID {
				return b.Label
			}
		}
	}
	return ""
}

// findButton finds the button id on its phase's card as it is now, for its
// confirmation text; a button no longer on the card gets a generic one.
func (f *Front) findButton(ctx context.Context, a deploy.Action, id string) (bot.Button, *bot.Confirm) {
	fallback := bot.Button{Action: a.Kind, RunID: a.RunID, Phase: a.Phase, Step: a.Step}
	run, err := f.bot.Get(ctx, a.RunID)
	if err != nil {
		return fallback, nil
	}
	i := run.FindPhase(a.Phase)
	if i < 0 {
		return fallback, nil
	}
	card := bot.BuildCard(run, i, f.clock.Now())
	bs := append([]bot.Button(nil), card.Buttons...)
	for _, s := range card.Steps {
		bs = append(bs, s.Buttons...)
	}
	for _, b := range bs {
		if b.ID() == id {
			return b, b.Confirm
		}
	}
	return fallback, nil
}

// pick answers a choice in a "Tick a step…" menu with the chosen step's
// buttons, ephemerally.
func (f *Front) pick(ctx context.Context, in *discordgo.Interaction, data discordgo.MessageComponentInteractionData, respond responder) {
	runID, phase, ok := parsePick(data.CustomID)
	if !ok || len(data.Values) != 1 {
		_ = respond(message(ephemeral("that menu is not one of mine")))
		return
	}
	run, err := f.bot.Get(ctx, runID)
	if err != nil {
		_ = respond(message(ephemeral(f.bot.PersonText(err))))
		return
	}
	i := run.FindPhase(phase)
	if i < 0 {
		_ = respond(message(ephemeral("that phase is not in the run any more")))
		return
	}
	card := bot.BuildCard(run, i, f.clock.Now())
	for j, s := range card.Steps {
		if s.ID == data.Values[0] {
			_ = respond(message(stepPicker(j+1, s)))
			return
		}
	}
	_ = respond(message(ephemeral("that step is not in the phase")))
}

// modalSubmit takes a reason from the modal and applies its action.
func (f *Front) modalSubmit(ctx context.Context, in *discordgo.Interaction, respond responder) {
	data, ok := in.Data.(discordgo.ModalSubmitInteractionData)
	who, known := actor(in)
	if !ok || !known || !strings.HasPrefix(data.CustomID, prefixModal) {
		_ = respond(message(ephemeral("that form is not one of mine")))
		return
	}
	id := strings.TrimPrefix(data.CustomID, prefixModal)
	if _, err := bot.ParseButtonID(id); err != nil {
		_ = respond(message(ephemeral("that form is not one of mine")))
		return
	}
	reason := strings.TrimSpace(textInput(data.Components, reasonInput))
	switch {
	case reason == "":
		_ = respond(message(ephemeral("a reason is required; nothing was changed")))
		return
	case utf8.RuneCountInString(reason) > maxReason:
		_ = respond(message(ephemeral("the reason is too long (at most 500 characters); nothing was changed")))
		return
	}
	f.act(ctx, in, who, id, reason, respond)
}

// textInput returns the value of the text input named id in modal rows.
func textInput(rows []discordgo.MessageComponent, id string) string {
	for _, c := range components(rows) {
		switch t := c.(type) {
		case *discordgo.TextInput:
			if t.CustomID == id {
				return t.Value
			}
		case discordgo.TextInput:
			if t.CustomID == id {
				return t.Value
			}
		}
	}
	return ""
}

// act applies the button's action under the acknowledgement discipline
// (bot.Handoff): it waits for the reply until the budget of ctx runs out.
// A refusal ready in time is the interaction's answer (ephemeral; on an
// ephemeral message, that message's new text); a success is a deferred
// update of the card (its edit shows the result), or on an ephemeral
// message (a confirmation, a step's buttons) the removal of its buttons.
// When the reply is not ready in time, that same acknowledgement goes out
// at once, the action goes on under its own deadline, and a refusal
// follows up as an ephemeral message.
func (f *Front) act(ctx context.Context, in *discordgo.Interaction, who deploy.Actor, id, reason string, respond responder) {
	ephemeralSource := in.Message != nil && in.Message.Flags&discordgo.MessageFlagsEphemeral != 0
	var ack *discordgo.InteractionResponse
	switch {
	case in.Message == nil:
		ack = message(ephemeral("Sent."))
	case ephemeralSource:
		note := "✔️ Sent."
		if reason != "" {
			note = "✔️ Sent with your reason."
		}
		ack = &discordgo.InteractionResponse{Type: discordgo.InteractionResponseUpdateMessage, Data: settled(in, note)}
	default:
		ack = &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}
	}
	// A worker is taken first: when all are busy the click is refused at
	// once rather than parked, so the goroutines and the work waiting stay
	// bounded however many clicks arrive.
	select {
	case f.slot <- struct{}{}:
	default:
		f.log.Warn("interaction refused: every worker is busy", "interaction", in.ID, "workers", cap(f.slot))
		_ = respond(message(ephemeral("deploybot is busy right now; nothing was changed. Try again in a moment.")))
		return
	}
	h := bot.NewHandoff(func(r bot.Reply) {
		if r.Text != "" {
			f.followup(in, r.Text, r.Public)
		}
	})
	click := bot.Click{Platform: PlatformName, Channel: in.ChannelID, Actor: who, ButtonID: id, Reason: reason, RequestID: in.ID}
	started := f.work.start(func() {
		defer func() { <-f.slot }()
		defer func() {
			if v := recover(); v != nil {
				h.Deliver(bot.Reply{Text: f.bot.Recovered(v)})
			}
		}()
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), workTimeout)
		defer cancel()
		h.Deliver(f.bot.Click(wctx, click))
	})
	if !started {
		<-f.slot
		_ = respond(message(ephemeral("deploybot is shutting down; nothing was changed. Try again in a moment.")))
		return
	}
	wait := f.budget
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	reply, ready := h.Wait(wait)
	switch {
	case ready && reply.Text != "" && ephemeralSource:
		_ = respond(&discordgo.InteractionResponse{Type: discordgo.InteractionResponseUpdateMessage, Data: settled(in, reply.Text)})
	case ready && reply.Text != "":
		_ = respond(message(ephemeral(reply.Text)))
	default:
		_ = respond(ack)
	}
}

// settled is the new content of an ephemeral message whose button was used:
// its text with a note, and no buttons.
func settled(in *discordgo.Interaction, note string) *discordgo.InteractionResponseData {
	text := note
	if in.Message != nil && in.Message.Content != "" {
		text = in.Message.Content + "\n" + note
	}
	d := ephemeral(text)
	d.Flags = 0 // the message keeps its flags; updates may not set ephemeral
	return d
}

// followup sends text to the person behind the interaction (ephemeral
// unless public) through the interaction webhook, via the outbox so rate
// limits delay it rather than drop it.
func (f *Front) followup(in *discordgo.Interaction, text string, public bool) {
	params := &discordgo.WebhookParams{Content: truncate(text, maxContent), AllowedMentions: noMentions(), Components: []discordgo.MessageComponent{}}
	if !public {
		params.Flags = discordgo.MessageFlagsEphemeral
	}
	f.bot.Outbox().Enqueue(PlatformName+":followup:"+in.ID, "", func(ctx context.Context) error {
		_, err := f.cb.FollowupMessageCreate(in, true, params, discordgo.WithContext(ctx))
		return platformError("send followup", err)
	})
}
