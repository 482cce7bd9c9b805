package bot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"deploybot/adapters"
	"deploybot/commands"
	"deploybot/deploy"
	"deploybot/runbook"
)

// Windows handles maintenance windows for the chat commands; the scheduler implements it.
type Windows interface {
	// Schedule books a window.
	Schedule(ctx context.Context, req deploy.ScheduleRequest) (deploy.Window, error)
	// Upcoming lists scheduled and recurring windows that have not ended.
	Upcoming(ctx context.Context) ([]deploy.WindowView, error)
	// Unschedule cancels a scheduled window.
	Unschedule(ctx context.Context, id string, actor deploy.Actor) error
}

// Request is a typed /deploy command from a platform.
type Request struct {
	Platform  string
	Channel   string
	Actor     deploy.Actor
	Text      string
	RequestID string
}

// Click is a button press (or a modal submission carrying a reason).
type Click struct {
	Platform  string
	Channel   string
	Actor     deploy.Actor
	ButtonID  string
	Reason    string
	RequestID string
}

// Reply is the answer to the person who typed or clicked. It is ephemeral
// unless Public is set.
type Reply struct {
	Text   string
	Public bool
	// RunID is set when the command created or concerns a run.
	RunID string
	// Refused is set when nothing was done: Text says why (or asks what
	// is missing, e.g. which service).
	Refused bool
}

// NeedsReason reports whether a button's action asks the person for a
// reason before it is sent (Skip, Rollback, Abort, ending a watch early,
// starting outside a window).
func NeedsReason(kind deploy.ActionKind) bool {
	switch kind {
	case deploy.ActSkip, deploy.ActRollback, deploy.ActAbort, deploy.ActEndWatch, deploy.ActOverrideWindow:
		return true
	}
	return false
}

// Command runs a typed command. It is safe on the 3-second path: it makes a
// few bounded store calls and queues every chat call.
func (b *Bot) Command(ctx context.Context, req Request) Reply {
	if r, ok := b.admit(req.Actor); !ok {
		return r
	}
	now := b.clock.Now()
	cmd, err := b.grammar.Parse(req.Text, now)
	if err != nil {
		return b.refuse(err)
	}
	return b.execute(ctx, req, cmd)
}

// Execute runs an already parsed command (Discord builds it from options).
func (b *Bot) Execute(ctx context.Context, req Request, cmd commands.Command) Reply {
	if r, ok := b.admit(req.Actor); !ok {
		return r
	}
	return b.execute(ctx, req, cmd)
}

// execute runs a command of an admitted person.
func (b *Bot) execute(ctx context.Context, req Request, cmd commands.Command) Reply {
	log := b.log.With("platform", req.Platform, "user", req.Actor.ID, "command", string(cmd.Kind))
	switch cmd.Kind {
	case commands.KindHelp:
		return Reply{Text: b.grammar.Help()}
	case commands.KindRunbook:
		rb, ask := b.service(cmd)
		if rb == nil {
			return ask
		}
		var buf bytes.Buffer
		rb.Show(&buf)
		return Reply{Text: buf.String()}
	case commands.KindStart:
		rb, ask := b.service(cmd)
		if rb == nil {
			return ask
		}
		out, err := b.e.Start(ctx, deploy.StartRequest{Service: rb.Service(), Release: cmd.Version, Env: cmd.Env, Channel: req.Channel, Platform: req.Platform, Actor: req.Actor, RequestID: req.RequestID})
		if err != nil {
			return b.refuse(err)
		}
		log.Info("run started", "run_id", out.Run.ID, "service", rb.Service())
		return Reply{Text: fmt.Sprintf("Started run %s: %s to %s. The summary and the first phase follow in this channel.", out.Run.ID, what(ServiceOf(out.Run), out.Run.Release), out.Run.Env), RunID: out.Run.ID}
	case commands.KindStatus:
		r, err := b.resolve(ctx, cmd.Run, req)
		if err != nil {
			return b.refuse(err)
		}
		return Reply{Text: StatusText(r, b.clock.Now()), RunID: r.ID}
	case commands.KindList:
		return b.list(ctx, req.Actor)
	case commands.KindApprove:
		return b.approve(ctx, req, cmd)
	case commands.KindRollback, commands.KindAbort:
		r, err := b.target(ctx, cmd.Run, req)
		if err != nil {
			return b.refuse(err)
		}
		kind := map[commands.Kind]deploy.ActionKind{commands.KindRollback: deploy.ActRollback, commands.KindAbort: deploy.ActAbort}[cmd.Kind]
		a := deploy.Action{Kind: kind, RunID: r.ID, Actor: req.Actor, Channel: req.Channel, Reason: cmd.Reason, RequestID: req.RequestID}
		if _, err := b.e.Do(ctx, a); err != nil {
			return b.refuse(err)
		}
		return Reply{Text: fmt.Sprintf("Done: %s on run %s.", cmd.Kind, r.ID), RunID: r.ID}
	case commands.KindPlan:
		return b.plan(ctx, cmd)
	case commands.KindReport:
		return b.report(ctx, req, cmd)
	case commands.KindLock:
		if err := b.e.Freeze(ctx, cmd.Env, cmd.Service, req.Actor, cmd.Reason); err != nil {
			return b.refuse(err)
		}
		if cmd.Service != "" {
			return Reply{Text: fmt.Sprintf("🧊 %s is frozen in %s: no run of it starts there until /deploy unlock %s %s. Reason: %s", cmd.Service, cmd.Env, cmd.Env, cmd.Service, cmd.Reason), Public: true}
		}
		return Reply{Text: fmt.Sprintf("🧊 %s is frozen for every service: no run starts there until /deploy unlock %s. Reason: %s", cmd.Env, cmd.Env, cmd.Reason), Public: true}
	case commands.KindUnlock:
		if err := b.e.Unfreeze(ctx, cmd.Env, cmd.Service, req.Actor); err != nil {
			return b.refuse(err)
		}
		if cmd.Service != "" {
			return Reply{Text: fmt.Sprintf("%s is no longer frozen in %s (lifted by %s).", cmd.Service, cmd.Env, req.Actor.Mention()), Public: true}
		}
		return Reply{Text: fmt.Sprintf("%s is no longer frozen (lifted by %s).", cmd.Env, req.Actor.Mention()), Public: true}
	case commands.KindSchedule, commands.KindWindows, commands.KindUnschedule:
		return b.windowCommand(ctx, req, cmd)
	case commands.KindStats:
		return b.stats(ctx, req, cmd)
	}
	return Reply{Text: "unknown command. " + b.grammar.Help(), Refused: true}
}

// target returns the run a command that acts on a run names (or the one
// running in the channel). A run this process knows needs no read here:
// the transition starts from it and checks it against the store in its
// write.
func (b *Bot) target(ctx context.Context, id string, req Request) (*deploy.Run, error) {
	r := b.known(id)
	if r != nil && !visible(r, req.Actor) {
		return nil, &deploy.Error{Kind: deploy.ErrNotFound, Msg: "no such run: " + id}
	}
	if r != nil {
		return r, nil
	}
	return b.resolve(ctx, id, req)
}

// approve runs /deploy approve [RUN] [PHASE]. A named phase is approved
// only while it is the one waiting; without a phase, the current gate is
// approved only when the engine finds it safe (deploy.ChoiceCurrent): a
// command sent twice never passes the next gate, and a production phase
// must be named, as its button must be confirmed. The reply names the
// phase approved.
func (b *Bot) approve(ctx context.Context, req Request, cmd commands.Command) Reply {
	phase := cmd.Phase
	r, err := b.target(ctx, cmd.Run, req)
	if err != nil && errors.Is(err, deploy.ErrNotFound) && cmd.Run != "" && phase == "" {
		// "approve review": a lone word shaped like a run id that names
		// no run may be a phase of the channel's run.
		if here, herr := b.resolve(ctx, "", req); herr == nil && here.FindPhase(cmd.Run) >= 0 {
			r, phase, err = here, cmd.Run, nil
		}
	}
	if err != nil {
		return b.refuse(err)
	}
	a := deploy.Action{Kind: deploy.ActApprove, RunID: r.ID, Actor: req.Actor, Channel: req.Channel, RequestID: req.RequestID}
	if phase != "" {
		if r.FindPhase(phase) < 0 {
			ids := make([]string, len(r.Runbook.Phases))
			for i, p := range r.Runbook.Phases {
				ids[i] = p.ID
			}
			return b.refuse(&deploy.Error{Kind: deploy.ErrInvalid, Msg: fmt.Sprintf("run %s has no phase %q; its phases are %s", r.ID, phase, strings.Join(ids, ", "))})
		}
		a.Phase, a.Choice = phase, deploy.ChoiceNamed
	} else {
		a.Phase, a.Choice = r.Phases[r.Phase].ID, deploy.ChoiceCurrent
	}
	out, err := b.e.Do(ctx, a)
	if err != nil {
		return b.refuse(err)
	}
	if out.Run != nil {
		r = out.Run
	}
	return Reply{Text: fmt.Sprintf("Approved phase %s of run %s.", r.PhaseLabel(r.FindPhase(a.Phase)), r.ID), RunID: r.ID}
}

// service returns the runbook of the command's service. Left out with
// several services, nothing runs: the reply asks which, with the list and
// an example (rb is nil then).
func (b *Bot) service(cmd commands.Command) (rb *runbook.Runbook, ask Reply) {
	cat := b.e.Services()
	if cmd.Service == "" && cat.Len() > 1 {
		ex := cmd
		ex.Service = cat.Names()[0]
		example := "/deploy " + ex.String()
		if (cmd.Kind == commands.KindStart || cmd.Kind == commands.KindPlan) && cmd.Env == commands.DefaultEnv {
			example = strings.TrimSuffix(example, " to "+commands.DefaultEnv)
		}
		return nil, Reply{Text: fmt.Sprintf("Which service? %s — e.g. %s", strings.Join(cat.Names(), ", "), example), Refused: true}
	}
	rb, err := cat.Lookup(cmd.Service)
	if err != nil {
		return nil, b.refuse(&deploy.Error{Kind: deploy.ErrInvalid, Msg: err.Error()})
	}
	return rb, Reply{}
}

func (b *Bot) windowCommand(ctx context.Context, req Request, cmd commands.Command) Reply {
	if b.windows == nil {
		return Reply{Text: "maintenance windows are not available in this deployment of deploybot", Refused: true}
	}
	switch cmd.Kind {
	case commands.KindSchedule:
		rb, ask := b.service(cmd)
		if rb == nil {
			return ask
		}
		w, err := b.windows.Schedule(ctx, deploy.ScheduleRequest{Service: rb.Service(), Release: cmd.Version, Start: cmd.Start, Zone: cmd.StartZone, Length: cmd.Duration, Channel: req.Channel, Platform: req.Platform, Actor: req.Actor,
			RequestID: req.RequestID})
		if err != nil {
			return b.refuse(err)
		}
		b.rewaitWindows(ctx)
		return Reply{Public: true, Text: fmt.Sprintf("🗓️ Maintenance window %s booked for %s %s: %s (for %s). Reminders go to the notice channel.",
			w.ID, rb.Service(), w.Release, FormatWindowTime(w.Start, w.Zone), Human(w.Length))}
	case commands.KindUnschedule:
		if err := b.windows.Unschedule(ctx, cmd.Window, req.Actor); err != nil {
			return b.refuse(err)
		}
		b.rewaitWindows(ctx)
		return Reply{Public: true, Text: fmt.Sprintf("Maintenance window %s cancelled by %s.", cmd.Window, req.Actor.Mention())}
	default:
		ws, err := b.windows.Upcoming(ctx)
		if err != nil {
			return b.refuse(err)
		}
		if len(ws) == 0 {
			return Reply{Text: "No maintenance windows are scheduled. Book one with " + b.scheduleUsage() + "."}
		}
		var lines []string
		for _, w := range ws {
			kind := "scheduled by " + w.By
			id := w.ID
			if w.Recurring {
				kind, id = "recurring", "(runbook)"
			}
			rel := ""
			if w.Service != "" && b.e.Services().Len() > 1 {
				rel = " " + w.Service
			}
			if w.Release != "" {
				rel += " " + w.Release
			}
			lines = append(lines, fmt.Sprintf("• %s%s: %s, %s (%s)", id, rel, FormatWindowTime(w.Start, w.Zone), Human(w.End.Sub(w.Start)), kind))
		}
		return Reply{Text: "Upcoming maintenance windows:\n" + strings.Join(lines, "\n")}
	}
}

// rewaitWindows re-evaluates the runs waiting for a maintenance window
// after a window was booked or cancelled, so their cards say when the next
// one opens. A failure only leaves a card's time behind; it is logged.
func (b *Bot) rewaitWindows(ctx context.Context) {
	live, err := b.e.Live(ctx)
	if err != nil {
		b.log.Warn("could not update the runs waiting for a window", "err", err)
		return
	}
	for _, r := range live {
		if r.WaitsForWindow(r.Phase) {
			if _, err := b.e.Advance(ctx, r.ID); err != nil {
				b.log.Warn("could not update a run waiting for a window", "run_id", r.ID, "err", err)
			}
		}
	}
}

// FormatWindowTime renders a window's start in UTC and, when another zone
// was given, in that zone too.
func FormatWindowTime(t time.Time, zone string) string {
	s := t.UTC().Format("Mon 2006-01-02 15:04 UTC")
	if zone != "" && zone != "UTC" {
		if loc, err := time.LoadLocation(zone); err == nil {
			s += " / " + t.In(loc).Format("15:04 MST") + " (" + zone + ")"
		}
	}
	return s
}

// admit refuses people of a Slack workspace or Discord guild that is not on
// the allow-list (DEPLOYBOT_WORKSPACES). The console has no workspace and is
// always admitted; it is guarded by its own sign-in.
func (b *Bot) admit(who deploy.Actor) (Reply, bool) {
	if len(b.allowed) == 0 || who.Platform == "console" || slices.Contains(b.allowed, who.Workspace) {
		return Reply{}, true
	}
	b.log.Warn("request from a workspace that is not allowed", "platform", who.Platform, "workspace", who.Workspace, "user", who.ID)
	return Reply{Text: "this deploybot does not serve this workspace; ask its operators to add it to DEPLOYBOT_WORKSPACES", Refused: true}, false
}

// resolve finds the run a command names (or the one running in the
// channel) among the runs of the asker's workspace: a run of another
// workspace is answered as if it did not exist.
func (b *Bot) resolve(ctx context.Context, id string, req Request) (*deploy.Run, error) {
	r, err := b.e.Resolve(ctx, id, req.Channel)
	if err != nil {
		return nil, err
	}
	if !visible(r, req.Actor) {
		return nil, &deploy.Error{Kind: deploy.ErrNotFound, Msg: "no such run: " + id}
	}
	return r, nil
}

// visible reports whether a person may see a run: runs belong to the
// workspace (Slack team, Discord guild) they were started in.
func visible(r *deploy.Run, who deploy.Actor) bool {
	return r.Workspace == "" || r.Workspace == who.Workspace
}

// mine keeps the runs the person may see.
func mine(runs []*deploy.Run, who deploy.Actor) []*deploy.Run {
	out := runs[:0:0]
	for _, r := range runs {
		if visible(r, who) {
			out = append(out, r)
		}
	}
	return out
}

func (b *Bot) list(ctx context.Context, who deploy.Actor) Reply {
	live, err := b.e.Live(ctx)
	if err != nil {
		return b.refuse(err)
	}
	recent, err := b.e.Recent(ctx, 10)
	if err != nil {
		return b.refuse(err)
	}
	live, recent = mine(live, who), mine(recent, who)
	now := b.clock.Now()
	freezes := b.freezes(ctx, live, recent)
	names := b.e.Services().Names()
	if len(names) <= 1 {
		return Reply{Text: strings.TrimSpace(listText(live, recent, freezes, now))}
	}
	// Several services: one section per service, in the catalog's order,
	// then any service only old runs name.
	order := append([]string(nil), names...)
	for _, r := range append(append([]*deploy.Run(nil), live...), recent...) {
		if s := ServiceOf(r); !slices.Contains(order, s) {
			order = append(order, s)
		}
	}
	var sb strings.Builder
	for _, svc := range order {
		var fz []deploy.Freeze
		for _, f := range freezes {
			if f.Service == svc {
				fz = append(fz, f)
			}
		}
		text := listText(ofService(live, svc), ofService(recent, svc), fz, now)
		fmt.Fprintf(&sb, "— %s —\n%s\n", svc, text)
	}
	var all []string
	for _, f := range freezes {
		if f.Service == "" {
			all = append(all, FreezeLine(f, now))
		}
	}
	if len(all) > 0 {
		sb.WriteString("Frozen for every service:\n" + strings.Join(all, "\n") + "\n")
	}
	return Reply{Text: strings.TrimSpace(sb.String())}
}

// ofService keeps the runs of one service.
func ofService(runs []*deploy.Run, service string) []*deploy.Run {
	out := runs[:0:0]
	for _, r := range runs {
		if ServiceOf(r) == service {
			out = append(out, r)
		}
	}
	return out
}

// ServiceOf returns the service a run deploys: Run.Service, or, on a run
// stored before services existed, its runbook's service (the only one).
func ServiceOf(r *deploy.Run) string {
	if r.Service != "" {
		return r.Service
	}
	return r.Runbook.Service()
}

// freezes returns the freezes in place in the environments people deploy
// to: those the runbooks list, those of the runs shown, and the default
// (a failure is logged: the list shows the runs all the same).
func (b *Bot) freezes(ctx context.Context, runs ...[]*deploy.Run) []deploy.Freeze {
	envs := []string{commands.DefaultEnv}
	for _, rb := range b.e.Services().All() {
		envs = append(envs, rb.EnvNames()...)
	}
	for _, rs := range runs {
		for _, r := range rs {
			envs = append(envs, r.Env)
		}
	}
	slices.Sort(envs)
	fs, err := b.e.Freezes(ctx, slices.Compact(envs))
	if err != nil {
		b.log.Warn("could not list the freezes", "err", err)
	}
	return fs
}

// FreezeLine words a freeze for /deploy list ("• production: 🧊 frozen by
// @bob 2 min ago: incident").
func FreezeLine(f deploy.Freeze, now time.Time) string {
	return fmt.Sprintf("• %s: 🧊 frozen by %s %s: %s", f.Env, f.By.Mention(), deploy.Ago(now, f.At), f.Reason)
}

// listText is /deploy list for one service's runs (or the only service's).
func listText(live, recent []*deploy.Run, freezes []deploy.Freeze, now time.Time) string {
	var sb strings.Builder
	if len(live) == 0 {
		sb.WriteString("No active runs.\n")
	} else {
		sb.WriteString("Active runs:\n")
		for _, r := range live {
			settled, total := r.Progress()
			fmt.Fprintf(&sb, "• %s — %s to %s by %s, %s, phase %q (%d/%d steps), started %s\n",
				r.ID, r.Release, r.Env, r.Started.Mention(), statusText(r, now), r.PhaseTitle(r.Phase), settled, total, deploy.Ago(now, r.Created))
		}
	}
	// A deployed run with open follow-ups is shown once, under its own
	// heading, not again with the finished runs.
	var follow, finished []*deploy.Run
	for _, r := range recent {
		if r.Status == deploy.StatusDeployed {
			follow = append(follow, r)
		} else {
			finished = append(finished, r)
		}
	}
	if len(follow) > 0 {
		sb.WriteString("Deployed, follow-ups open:\n")
		for _, r := range follow {
			settled, total := r.Progress()
			fmt.Fprintf(&sb, "• %s — %s to %s, deployed %s; phase %q open (%d/%d steps)\n",
				r.ID, r.Release, r.Env, deploy.Ago(now, r.Ended), r.PhaseTitle(r.Phase), settled, total)
		}
	}
	if len(finished) > 0 {
		sb.WriteString("Recently finished:\n")
		for _, r := range finished {
			fmt.Fprintf(&sb, "• %s — %s to %s: %s, %s\n", r.ID, r.Release, r.Env, statusText(r, now), deploy.Ago(now, r.Ended))
		}
	}
	envs := EnvironmentLines(recent, now)
	for _, r := range live {
		if r.Status.Live() {
			envs = append(envs, fmt.Sprintf("• %s: 🔒 held by run %s (%s, %s)", r.Env, r.ID, r.Release, statusText(r, now)))
		}
	}
	for _, f := range freezes {
		envs = append(envs, FreezeLine(f, now))
	}
	if len(envs) > 0 {
		sb.WriteString("Environments:\n" + strings.Join(envs, "\n") + "\n")
	}
	return sb.String()
}

// EnvironmentLines says where each environment stands after its most recent
// finished run (recent is newest first): the version last deployed (a run
// that completed, or was deployed with its follow-ups still open), and
// "degraded" while the newest run there ended rolled back, or aborted once
// a production phase had started, until a run is deployed there again. A
// run aborted before any production phase changed nothing.
func EnvironmentLines(recent []*deploy.Run, now time.Time) []string {
	var order []string
	newest := map[string]*deploy.Run{}
	good := map[string]*deploy.Run{}
	for _, r := range recent {
		if r.Status == deploy.StatusAborted && !r.ProductionStarted() {
			continue // nothing was deployed: the environment is as it was
		}
		if newest[r.Env] == nil {
			newest[r.Env] = r
			order = append(order, r.Env)
		}
		if deployed(r) && good[r.Env] == nil {
			good[r.Env] = r
		}
	}
	var out []string
	for _, env := range order {
		line := "• " + env
		if g := good[env]; g != nil {
			line += fmt.Sprintf(": %s deployed %s (run %s)", g.Release, deploy.Ago(now, g.Ended), g.ID)
		}
		if n := newest[env]; !deployed(n) {
			verb := "rolled back"
			if n.Status == deploy.StatusAborted {
				verb = "aborted"
			}
			line += fmt.Sprintf(" — ⚠️ degraded: %s was %s %s (run %s); a completed run clears this", n.Release, verb, deploy.Ago(now, n.Ended), n.ID)
		}
		out = append(out, line)
	}
	return out
}

// deployed reports whether the run's release went out (completed, or
// deployed with its follow-ups open).
func deployed(r *deploy.Run) bool {
	return r.Status == deploy.StatusCompleted || r.Status == deploy.StatusDeployed
}

func (b *Bot) plan(ctx context.Context, cmd commands.Command) Reply {
	if b.steps == nil {
		return Reply{Text: "planning is not available", Refused: true}
	}
	rb, ask := b.service(cmd)
	if rb == nil {
		return ask
	}
	if err := rb.CheckEnv(cmd.Env); err != nil {
		return b.refuse(&deploy.Error{Kind: deploy.ErrInvalid, Msg: err.Error()})
	}
	prev, err := b.e.Previous(ctx, rb.Service(), cmd.Env)
	if err != nil {
		return b.refuse(err)
	}
	v := adapters.Vars{Service: rb.Service(), Version: cmd.Version, Env: cmd.Env, Previous: prev}
	phases, err := deploy.Plan(rb, b.steps, v)
	if err != nil {
		return b.refuse(err)
	}
	return Reply{Text: PlanFor(phases, v)}
}

// PlanText renders a rehearsal for chat (of the only service, with no
// earlier version known).
func PlanText(phases []deploy.PlannedPhase, release, env string) string {
	return PlanFor(phases, adapters.Vars{Version: release, Env: env})
}

// PlanFor renders a rehearsal for chat: the service, the version and
// environment, and what a rollback returns to.
func PlanFor(phases []deploy.PlannedPhase, v adapters.Vars) string {
	var sb strings.Builder
	what := v.Version
	if v.Service != "" {
		what = v.Service + " " + v.Version
	}
	fmt.Fprintf(&sb, "Plan for %s to %s (nothing runs, no lock is taken):\n", what, v.Env)
	if v.Previous != "" {
		fmt.Fprintf(&sb, "A rollback returns to %s, the version last completed in %s.\n", v.Previous, v.Env)
	} else {
		fmt.Fprintf(&sb, "A rollback has no earlier completed version in %s to return to.\n", v.Env)
	}
	for _, p := range phases {
		gate := ""
		if p.Window {
			gate += " · waits for a maintenance window"
		}
		if p.Approval {
			gate += " · approval to leave"
		}
		fmt.Fprintf(&sb, "\n%s%s\n", p.Title, gate)
		for i, s := range p.Steps {
			if s.Adapter == "" {
				fmt.Fprintf(&sb, "  %d. %s — manual\n", i+1, s.Title)
				continue
			}
			fmt.Fprintf(&sb, "  %d. %s — %s: %s\n", i+1, s.Title, s.Adapter, s.Plan)
		}
	}
	return sb.String()
}

// StatusText renders /deploy status: the phase, each step's state, who did what.
func StatusText(r *deploy.Run, now time.Time) string {
	var sb strings.Builder
	settled, total := r.Progress()
	fmt.Fprintf(&sb, "Run %s: %s to %s, started by %s %s — %s (%d/%d steps)\n", r.ID, what(ServiceOf(r), r.Release), r.Env, r.Started.Mention(), deploy.Ago(now, r.Created), statusText(r, now), settled, total)
	for i := range r.Phases {
		c := BuildCard(r, i, now)
		marker := "  "
		if i == r.Phase && r.Status.Open() {
			marker = "▶ "
		}
		fmt.Fprintf(&sb, "%s%s — %s\n", marker, c.Title, GateText(c.Gate))
		if i != r.Phase && c.State != CardStopped {
			continue
		}
		for _, s := range c.Steps {
			who := ""
			if s.By != nil {
				who = fmt.Sprintf(" (%s %s)", s.By.Who, s.By.Ago)
			}
			detail := ""
			if d := StepDetail(s); d != "" {
				detail = ": " + d
			}
			fmt.Fprintf(&sb, "    %s %s%s%s\n", StepText(s.State), s.Title, who, detail)
		}
	}
	return strings.TrimRight(sb.String(), "\n")
}

// known returns the newest revision of run id this process knows, or nil.
func (b *Bot) known(id string) *deploy.Run {
	if id == "" {
		return nil
	}
	return b.e.Latest(id)
}

// Click applies a button press. An empty reply means it took effect (the
// message update shows it); a refusal ("already done by …") is for the clicker only.
// The acknowledgement path is the engine's transition alone: one atomic
// store write (plus one read when this process does not know the run at
// its current rev); rendering and posting happen behind it.
func (b *Bot) Click(ctx context.Context, c Click) Reply {
	if r, ok := b.admit(c.Actor); !ok {
		return r
	}
	a, err := ParseButtonID(c.ButtonID)
	if err != nil {
		return Reply{Text: "that button is not one of mine", Refused: true}
	}
	if a.Kind == ActStartWindow {
		return b.startWindow(ctx, c, a.RunID)
	}
	a.Actor, a.Channel, a.Reason, a.RequestID = c.Actor, c.Channel, c.Reason, c.RequestID
	if _, err := b.e.Do(ctx, a); err != nil {
		return b.refuse(err)
	}
	return Reply{RunID: a.RunID}
}

// CheckClick returns the refusal a click would get, without acting on it:
// the fronts ask before they open a reason dialog, so a person who may not
// take the action, or whose action is stale, is told at once instead of
// after writing a reason. An empty reply means: ask for the reason. When
// the store does not answer, the dialog opens anyway (the action itself is
// checked when it comes).
func (b *Bot) CheckClick(ctx context.Context, c Click) Reply {
	if r, ok := b.admit(c.Actor); !ok {
		return r
	}
	a, err := ParseButtonID(c.ButtonID)
	if err != nil {
		return Reply{Text: "that button is not one of mine", Refused: true}
	}
	a.Actor, a.Channel, a.Reason, a.RequestID = c.Actor, c.Channel, c.Reason, c.RequestID
	err = b.e.Check(ctx, a)
	for _, kind := range []error{deploy.ErrNotAllowed, deploy.ErrAlreadyDone, deploy.ErrInvalid, deploy.ErrNotFound} {
		if errors.Is(err, kind) {
			return b.refuse(err)
		}
	}
	return Reply{}
}

// refuse turns an error into an ephemeral reply, worded by PersonText.
func (b *Bot) refuse(err error) Reply { return Reply{Text: b.PersonText(err), Refused: true} }

// scheduleUsage is how to book a window, with the service when there are several.
func (b *Bot) scheduleUsage() string {
	if b.e.Services().Len() > 1 {
		return "/deploy schedule SERVICE VERSION START [for DURATION]"
	}
	return "/deploy schedule VERSION START [for DURATION]"
}
