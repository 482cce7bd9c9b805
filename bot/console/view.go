package console

import (
	"context"
	"strings"
	"time"

	"deploybot/bot"
	"deploybot/deploy"
)

// The view types hold what the templates show, computed in Go so the
// templates only place and escape it.

// runItem is a run in the run list.
type runItem struct {
	ID, Release, Env, StartedBy string
	Status, StatusClass         string
	Phase                       string
	Settled, Total              int
	Live                        bool
	When                        string
}

func newRunItem(r *deploy.Run, now time.Time) runItem {
	settled, total := r.Progress()
	it := runItem{
		ID: r.ID, Release: r.Release, Env: r.Env, StartedBy: r.Started.Mention(),
		Status: statusLabel(r.Status), StatusClass: string(r.Status), Settled: settled, Total: total,
		Live: r.Status.Live(), When: "started " + deploy.Ago(now, r.Created),
	}
	if it.Live {
		it.Phase = r.PhaseDef(r.Phase).Title
	} else if !r.Ended.IsZero() {
		it.When = "ended " + deploy.Ago(now, r.Ended)
	}
	return it
}

func statusLabel(s deploy.Status) string {
	switch s {
	case deploy.StatusActive:
		return "in progress"
	case deploy.StatusRollingBack:
		return "rolling back"
	case deploy.StatusCompleted:
		return "completed"
	case deploy.StatusRolledBack:
		return "rolled back"
	case deploy.StatusAborted:
		return "aborted"
	}
	return string(s)
}

// summaryView is a run summary.
type summaryView struct {
	bot.Summary
	StatusClass string
	StatusText  string
	StartedAgo  string
	Lines       []iconLine
}

// iconLine is a line with an icon class (drawn by the stylesheet, so the
// page needs no emoji font).
type iconLine struct{ Icon, Text string }

func (c *Page) summaryView(s bot.Summary) summaryView {
	v := summaryView{Summary: s, StatusClass: string(s.Run.Status), StatusText: bot.RunStatusText(s.Run)}
	if !s.Started.IsZero() {
		v.StartedAgo = "started " + deploy.Ago(c.clock.Now(), s.Started)
	}
	for _, l := range s.Phases {
		v.Lines = append(v.Lines, phaseLine(l))
	}
	return v
}

// ---- words and icon classes: every state's, in one place ----

// phaseLine is a phase's line on the summary.
func phaseLine(l bot.PhaseLine) iconLine {
	switch l.State {
	case bot.PhaseApproved:
		return iconLine{"done", l.Title + " — approved by " + l.ApprovedBy}
	case bot.PhasePassed:
		return iconLine{"done", l.Title + " — passed"}
	case bot.PhaseInProgress:
		return iconLine{"current", l.Title + " — in progress"}
	case bot.PhaseStopped:
		return iconLine{"stopped", l.Title + " — stopped"}
	}
	return iconLine{"pending", l.Title}
}

// cardClass is the class of a card's state; cardLabel its pill.
func cardClass(s bot.CardState) string {
	switch s {
	case bot.CardCurrent, bot.CardWaiting, bot.CardStopped:
		return string(s)
	case bot.CardApproved, bot.CardPassed:
		return "approved"
	}
	return "stopped"
}

func cardLabel(s bot.CardState) string {
	if s == bot.CardWaiting {
		return "waiting for a maintenance window"
	}
	return string(s)
}

// stepDetail is what the step line says after its state label: the state
// label already says "skipped", so a skip shows its reason alone.
func stepDetail(l bot.StepLine) string {
	if l.State == deploy.StepSkipped {
		return l.Reason
	}
	return bot.StepDetail(l)
}

// noticeIcon is the icon class of a notice.
func noticeIcon(n *bot.Notice) string {
	switch n.Icon {
	case bot.IconStart:
		return "start"
	case bot.IconDone:
		return "done"
	case bot.IconAlert:
		return "alert"
	case bot.IconRolledBack:
		return "rolledback"
	case bot.IconStopped:
		return "stopped"
	case bot.IconClock, bot.IconOpen, bot.IconClosing, bot.IconWarning:
		return "clock"
	}
	return "info"
}

// cardView is a phase card.
type cardView struct {
	bot.PhaseCard
	DOMID      string
	StateClass string
	// State is the pill's word; Gate what the phase waits for.
	State, Gate string
	Current     bool
	// Folded cards (approved phases) show their steps only on request.
	Folded        bool
	Done, Skipped int
	Steps         []stepView
	Buttons       []buttonView
}

// stepView is one step of a card.
type stepView struct {
	bot.StepLine
	// Detail is the step's reason, progress or result; Who and When who
	// changed it last.
	Detail, Who, When string
	// LastLine is the last line of the step's output, when it says more than Detail.
	LastLine string
	Output   string
	Buttons  []buttonView
}

// buttonView is a button with its encoded action.
type buttonView struct {
	bot.Button
	Action string
	Class  string
}

// cardView renders a card; run, when known, supplies the steps' output.
func (c *Page) cardView(card bot.PhaseCard, run *deploy.Run) cardView {
	v := cardView{PhaseCard: card, DOMID: "card-" + card.RunID + "-" + card.PhaseID, StateClass: cardClass(card.State),
		State: cardLabel(card.State), Gate: bot.GateText(card.Gate), Current: card.State == bot.CardCurrent || card.State == bot.CardWaiting}
	var outputs map[string]string
	if run != nil {
		if i := run.FindPhase(card.PhaseID); i >= 0 {
			outputs = map[string]string{}
			for _, s := range run.Phases[i].Steps {
				outputs[s.ID] = s.Output
			}
		}
	}
	for _, s := range card.Steps {
		sv := stepView{StepLine: s, Detail: stepDetail(s), Output: strings.TrimRight(outputs[s.ID], "\n"), Buttons: c.buttons(s.Buttons)}
		if s.By != nil {
			sv.Who, sv.When = s.By.Who, s.By.Ago
		}
		if last := bot.LastLine(sv.Output); last != "" && !strings.Contains(bot.StepDetail(s), last) {
			sv.LastLine = last
		}
		v.Steps = append(v.Steps, sv)
		switch s.State {
		case deploy.StepDone:
			v.Done++
		case deploy.StepSkipped:
			v.Skipped++
		}
	}
	v.Folded = card.State.Settled() && !card.Rollback
	v.Buttons = c.buttons(card.Buttons)
	return v
}

func (c *Page) buttons(bs []bot.Button) []buttonView {
	if c.readOnly {
		return nil
	}
	out := make([]buttonView, 0, len(bs))
	for _, b := range bs {
		class := "btn-default"
		switch b.Style {
		case bot.StylePrimary:
			class = "btn-primary"
		case bot.StyleDanger:
			class = "btn-danger"
		}
		out = append(out, buttonView{Button: b, Action: b.ID(), Class: class})
	}
	return out
}

// shown reports whether phase i of run has a card: it started, or it is current.
func shown(r *deploy.Run, i int) bool {
	return !r.Phases[i].Started.IsZero() || (i == r.Phase && r.Status.Live())
}

// noticeView is a notice in the feed.
type noticeView struct {
	DOMID  string
	Kind   string
	Icon   string
	Title  string
	Fields []bot.Field
	Lines  []string
	RunID  string
	Time   string
	// Buttons are the notice's buttons (none in read-only mode).
	Buttons []buttonView
}

func (c *Page) noticeView(m message) noticeView {
	n := m.Msg.Notice
	v := noticeView{
		DOMID: m.domID(), Kind: string(n.Kind), Icon: noticeIcon(n), Title: n.Title,
		Fields: n.Fields, Lines: n.Lines, RunID: n.RunID, Time: m.Posted.UTC().Format("15:04"), Buttons: c.buttons(n.Buttons),
	}
	return v
}

// runView is the main area: a run's summary, its cards and its timeline.
type runView struct {
	ID       string
	Summary  summaryView
	Cards    []cardView
	Audit    []auditView
	AuditErr string
	ReadOnly bool
	Cursor   string
}

// auditView is a line of the audit log.
type auditView struct {
	Time, Actor, Platform, Action, Where, Reason, Change string
}

// runView builds the main area of run id from the store.
func (c *Console) runView(ctx context.Context, id string) (*runView, error) {
	cursor := c.hub.cursor() // before reading, so nothing after the read is missed
	r, err := c.engine.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	now := c.clock.Now()
	v := &runView{ID: r.ID, Summary: c.summaryView(bot.BuildSummary(r, now)), ReadOnly: c.readOnly, Cursor: cursor}
	for i := range r.Phases {
		if shown(r, i) {
			v.Cards = append(v.Cards, c.cardView(bot.BuildCard(r, i, now), r))
		}
	}
	v.Audit, v.AuditErr = c.auditView(ctx, r)
	return v, nil
}

func (c *Console) auditView(ctx context.Context, r *deploy.Run) ([]auditView, string) {
	entries, err := c.engine.Audit(ctx, r.ID)
	if err != nil {
		return nil, c.refusal(err)
	}
	titles := map[string]string{}
	for i := range r.Phases {
		def := r.PhaseDef(i)
		titles[def.ID] = def.Title
		for _, s := range def.Steps {
			titles[def.ID+"/"+s.ID] = s.Title
		}
	}
	out := make([]auditView, 0, len(entries))
	for _, e := range entries {
		a := auditView{
			Time: e.At.UTC().Format("Jan 02 15:04:05"), Actor: e.Actor.Mention(), Platform: e.Actor.Platform,
			Action: e.Action, Reason: e.Reason,
		}
		switch {
		case e.Step != "":
			a.Where = titles[e.Phase+"/"+e.Step]
			if a.Where == "" {
				a.Where = e.Phase + "/" + e.Step
			}
		case e.Phase != "":
			a.Where = titles[e.Phase]
			if a.Where == "" {
				a.Where = e.Phase
			}
		}
		switch {
		case e.Before != "" && e.After != "":
			a.Change = e.Before + " → " + e.After
		default:
			a.Change = e.Before + e.After
		}
		out = append(out, a)
	}
	return out, ""
}

// windowView is an upcoming maintenance window.
type windowView struct {
	ID, Release, When, Length, Kind string
}

func (c *Console) windowViews(ctx context.Context) ([]windowView, string) {
	if c.windows == nil {
		return nil, ""
	}
	ws, err := c.windows.Upcoming(ctx)
	if err != nil {
		return nil, c.refusal(err)
	}
	out := make([]windowView, 0, len(ws))
	for _, w := range ws {
		v := windowView{ID: w.ID, Release: w.Release, When: bot.FormatWindowTime(w.Start, w.Zone), Length: bot.Human(w.End.Sub(w.Start)), Kind: "scheduled by " + w.By}
		if w.Recurring {
			v.ID, v.Kind = "", "recurring"
		}
		out = append(out, v)
	}
	return out, ""
}

// refusal is an error's text for a person, worded by bot.PersonText (the
// detail of an unexpected error is logged under a reference).
func (c *Console) refusal(err error) string { return bot.PersonText(c.log, err) }
