package console

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"deploybot/bot"
	"deploybot/deploy"
)

// The view types hold what the templates show, computed in Go so the
// templates only place and escape it.

// runItem is a run in the run list.
type runItem struct {
	ID, Service, Release, Env, StartedBy string
	Status, StatusClass                  string
	Phase                                string
	Settled, Total                       int
	Live                                 bool
	// When is "started" or "ended", at At (Ago words it for now).
	When string
	At   stamp
	// Approval is set while the current phase waits for approval; Mine
	// when the person looking may give it.
	Approval, Mine bool
}

// stamp is a moment shown relative to now ("3 min ago"); the page's script
// keeps the words current.
type stamp struct {
	At  time.Time
	Ago string
}

// ISO is the moment for a <time datetime>.
func (s stamp) ISO() string { return s.At.UTC().Format(time.RFC3339) }

func newStamp(now, at time.Time) stamp { return stamp{At: at, Ago: deploy.Ago(now, at)} }

func newRunItem(r *deploy.Run, now time.Time, ro role) runItem {
	settled, total := r.Progress()
	it := runItem{
		ID: r.ID, Service: bot.ServiceOf(r), Release: r.Release, Env: r.Env, StartedBy: r.Started.Mention(),
		Status: statusLabel(r.Status), StatusClass: string(r.Status), Settled: settled, Total: total,
		Live: r.Status.Open(), When: "started", At: newStamp(now, r.Created),
	}
	if it.Live {
		it.Phase = r.PhaseTitle(r.Phase)
		if r.Phase >= 0 && r.Phase < len(r.Phases) {
			card := bot.BuildCard(r, r.Phase, now)
			it.Approval = waitingApproval(&card)
			it.Mine = it.Approval && ro.mayApprove()
		}
	} else if !r.Ended.IsZero() {
		it.When, it.At = "ended", newStamp(now, r.Ended)
	}
	return it
}

// runGroup is the runs of one service in a run list.
type runGroup struct {
	Service string
	// ListID is the id of the group's list: the list's id and the service
	// ("live-runs:api"); live updates insert into it.
	ListID string
	Runs   []runItem
}

// groupID is the id of the list of service's runs in the list id.
func groupID(list, service string) string { return list + ":" + service }

// groupRuns groups items by service, the services in name order, each
// group's runs in the order given.
func groupRuns(list string, items []runItem) []runGroup {
	var out []runGroup
	at := map[string]int{}
	for _, it := range items {
		i, ok := at[it.Service]
		if !ok {
			i = len(out)
			at[it.Service] = i
			out = append(out, runGroup{Service: it.Service, ListID: groupID(list, it.Service)})
		}
		out[i].Runs = append(out[i].Runs, it)
	}
	slices.SortStableFunc(out, func(a, b runGroup) int { return strings.Compare(a.Service, b.Service) })
	return out
}

// envGroup is where the environments of one service stand: the ones its
// live runs hold, the version last deployed in each, degraded ones.
type envGroup struct {
	Service string
	Lines   []string
}

// envGroups says where each service's environments stand, from its live
// runs (the environments they hold) and its recent runs, newest first.
func envGroups(live, recent []*deploy.Run, now time.Time) []envGroup {
	byService := map[string]*envGroup{}
	var names []string
	group := func(r *deploy.Run) *envGroup {
		s := bot.ServiceOf(r)
		g := byService[s]
		if g == nil {
			g = &envGroup{Service: s}
			byService[s] = g
			names = append(names, s)
		}
		return g
	}
	for _, r := range live {
		if r.Status.Live() {
			g := group(r)
			g.Lines = append(g.Lines, fmt.Sprintf("%s: held by run %s (%s, %s)", r.Env, r.ID, r.Release, statusLabel(r.Status)))
		}
	}
	recentOf := map[string][]*deploy.Run{}
	for _, r := range recent {
		group(r)
		recentOf[bot.ServiceOf(r)] = append(recentOf[bot.ServiceOf(r)], r)
	}
	slices.Sort(names)
	out := make([]envGroup, 0, len(names))
	for _, n := range names {
		g := byService[n]
		for _, l := range bot.EnvironmentLines(recentOf[n], now) {
			g.Lines = append(g.Lines, strings.TrimPrefix(l, "• "))
		}
		if len(g.Lines) > 0 {
			out = append(out, *g)
		}
	}
	return out
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
	case deploy.StatusDeployed:
		return "deployed · follow-ups open"
	}
	return string(s)
}

// summaryView is a run summary.
type summaryView struct {
	bot.Summary
	StatusClass string
	StatusText  string
	StartedAgo  *stamp
	Lines       []iconLine
}

// iconLine is a line with an icon class (drawn by the stylesheet, so the
// page needs no emoji font).
type iconLine struct{ Icon, Text string }

func (c *Page) summaryView(s bot.Summary) summaryView {
	v := summaryView{Summary: s, StatusClass: string(s.Run.Status), StatusText: bot.RunStatusText(s.Run)}
	if !s.Started.IsZero() {
		st := newStamp(c.clock.Now(), s.Started)
		v.StartedAgo = &st
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
	// ApprovedBy and ApprovedAt say who approved the phase and when.
	ApprovedBy string
	ApprovedAt *stamp
	// Opens is when the window the phase waits for opens (OpensIn words it
	// for now), OpensZone its time in the zone it was booked in.
	Opens              *stamp
	OpensIn, OpensText string
	// Approval is set while the phase waits for approval; Mine when the
	// person looking may give it.
	Approval, Mine bool
	// Folded cards (approved phases) show their steps only on request.
	Folded        bool
	Done, Skipped int
	Steps         []stepView
	Buttons       []buttonView
	// Why are the reasons the person looking cannot use some buttons.
	Why []string
}

// stepView is one step of a card.
type stepView struct {
	bot.StepLine
	// Detail is the step's reason, progress or result; Who and When who
	// changed it last.
	Detail, Who string
	When        *stamp
	// Running is when a running step started (Elapsed words it for now), and
	// Progress what it reported.
	Running           *stamp
	Elapsed, Progress string
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
	// Why, when set, is why the person looking cannot use the button: it is
	// shown disabled, with the reason.
	Why string
}

// cardView renders a card for a person of role ro (pol decides what they
// may do; nil when the run is unknown); run, when known, supplies the steps'
// output.
func (c *Page) cardView(ctx context.Context, card bot.PhaseCard, run *deploy.Run, pol *policy, ro role) cardView {
	now := c.clock.Now()
	v := cardView{PhaseCard: card, DOMID: "card-" + card.RunID + "-" + card.PhaseID, StateClass: cardClass(card.State),
		State: cardLabel(card.State), Gate: bot.GateText(card.Gate), Current: card.State == bot.CardCurrent || card.State == bot.CardWaiting}
	if card.Gate.Kind == bot.GateApproved && card.Gate.By != nil {
		v.ApprovedBy = card.Gate.By.Who
		st := newStamp(now, card.Gate.By.At)
		v.ApprovedAt = &st
	}
	if card.State == bot.CardWaiting && run != nil {
		c.opens(ctx, &v, run, now)
	}
	v.Approval = waitingApproval(&card)
	v.Mine = v.Approval && ro.mayApprove()
	var outputs map[string]string
	var started map[string]time.Time
	if run != nil {
		if i := run.FindPhase(card.PhaseID); i >= 0 {
			outputs, started = map[string]string{}, map[string]time.Time{}
			for _, s := range run.Phases[i].Steps {
				outputs[s.ID] = s.Output
				started[s.ID] = s.Started
			}
		}
	}
	why := func(bs []bot.Button, sl *bot.StepLine) []buttonView {
		out := c.buttons(bs)
		for i := range out {
			out[i].Why = pol.why(ro, out[i].Button, sl)
			if out[i].Why != "" && !slices.Contains(v.Why, out[i].Why) {
				v.Why = append(v.Why, out[i].Why)
			}
		}
		return out
	}
	for _, s := range card.Steps {
		sv := stepView{StepLine: s, Detail: stepDetail(s), Output: strings.TrimRight(outputs[s.ID], "\n"), Buttons: why(s.Buttons, &s)}
		if s.By != nil {
			sv.Who = s.By.Who
			st := stamp{At: s.By.At, Ago: s.By.Ago}
			sv.When = &st
		}
		if s.State == deploy.StepRunning && !started[s.ID].IsZero() {
			st := stamp{At: started[s.ID]}
			sv.Running, sv.Elapsed, sv.Progress = &st, bot.Human(s.Elapsed), s.Progress
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
	v.Buttons = why(card.Buttons, nil)
	return v
}

// opens fills in when the window the waiting phase of run waits for opens:
// the first window not yet ended for the run's release (or for any release).
// The engine does not say which window; the console asks the windows.
func (c *Page) opens(ctx context.Context, v *cardView, run *deploy.Run, now time.Time) {
	if c.windows == nil {
		return
	}
	ws, err := c.windows.Upcoming(ctx)
	if err != nil {
		c.log.Debug("no window time for a waiting phase", "run_id", run.ID, "err", err)
		return
	}
	for _, w := range ws {
		if w.End.After(now) && (w.Release == "" || w.Release == run.Release) {
			st := stamp{At: w.Start}
			v.Opens, v.OpensIn, v.OpensText = &st, until(now, w.Start), windowClock(w.Start, w.Zone)
			return
		}
	}
}

// until words how long until t ("in 2 h 10 min", "now").
func until(now, t time.Time) string {
	d := t.Sub(now)
	switch {
	case d <= 0:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("in %d s", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("in %d min", int((d+time.Minute-1)/time.Minute))
	case d < 48*time.Hour:
		m := int((d + time.Minute - 1) / time.Minute)
		return fmt.Sprintf("in %d h %d min", m/60, m%60)
	}
	return fmt.Sprintf("in %d days", int(d/(24*time.Hour)))
}

// windowClock is a window's start in the zone it was booked in ("22:00
// Europe/Berlin"), with the date when it is not today there.
func windowClock(t time.Time, zone string) string {
	loc := time.UTC
	if zone != "" {
		if l, err := time.LoadLocation(zone); err == nil {
			loc = l
		}
	}
	name := zone
	if name == "" {
		name = "UTC"
	}
	return t.In(loc).Format("Mon Jan 2 15:04") + " " + name
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
	if a := n.AuditLine(); a != "" { // the audit head ends the notice
		v.Lines = append(n.Lines[:len(n.Lines):len(n.Lines)], a)
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
	Report   *reportView // the report card of an ended run
}

// auditView is a line of the audit log.
type auditView struct {
	Time, Actor, Platform, Action, Where, Reason, Change string
}

// runView builds the main area of run id from the store.
func (c *Console) runView(ctx context.Context, id string, who deploy.Actor, named bool) (*runView, error) {
	cursor := c.hub.cursor() // before reading, so nothing after the read is missed
	r, err := c.engine.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	now := c.clock.Now()
	pol := policyOf(r)
	ro := pol.roleOf(who, named && !c.readOnly)
	v := &runView{ID: r.ID, Summary: c.summaryView(bot.BuildSummary(r, now)), ReadOnly: c.readOnly, Cursor: cursor}
	for i := range r.Phases {
		if shown(r, i) {
			v.Cards = append(v.Cards, c.cardView(ctx, bot.BuildCard(r, i, now), r, pol, ro))
		}
	}
	v.Audit, v.AuditErr = c.auditView(ctx, r)
	v.Report = c.reportCard(ctx, r)
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
		titles[def.ID] = r.PhaseTitle(i)
		for j, s := range def.Steps {
			titles[def.ID+"/"+s.ID] = r.StepTitle(i, j)
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
	ID, Service, Release, When, Length, Kind string
	// Start and End bound the window; Open is set while it is open, and In
	// words how long until it opens (or, while open, until it closes).
	Start, End stamp
	Open       bool
	In         string
}

func (c *Page) windowViews(ctx context.Context) ([]windowView, string) {
	if c.windows == nil {
		return nil, ""
	}
	ws, err := c.windows.Upcoming(ctx)
	if err != nil {
		return nil, c.refusal(err)
	}
	now := c.clock.Now()
	out := make([]windowView, 0, len(ws))
	for _, w := range ws {
		if !w.End.After(now) {
			continue
		}
		v := windowView{ID: w.ID, Service: w.Service, Release: w.Release, When: bot.FormatWindowTime(w.Start, w.Zone), Length: bot.Human(w.End.Sub(w.Start)), Kind: "scheduled by " + w.By,
			Start: stamp{At: w.Start}, End: stamp{At: w.End}, Open: !w.Start.After(now)}
		if v.Open {
			v.In = "open now · closes " + until(now, w.End)
		} else {
			v.In = "opens " + until(now, w.Start)
		}
		if w.Recurring {
			v.ID, v.Kind = "", "recurring"
		}
		out = append(out, v)
	}
	return out, ""
}

// refusal is an error's text for a person, worded by bot.PersonText (the
// detail of an unexpected error is logged under a reference).
func (c *Page) refusal(err error) string { return bot.PersonText(c.log, err) }
