package console

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"deploybot/bot"
	"deploybot/deploy"
)

// insightsDays is the period the insights page covers when none is asked for.
const insightsDays = 90

// StatsReader gives the delivery figures of a period; *bot.Bot implements
// it. The insights page reads them through the console's Runs.
type StatsReader interface {
	Stats(ctx context.Context, f deploy.StatsFilter) (deploy.Stats, error)
}

// Shapes of the insights page's query values.
var (
	validService = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	validEnvName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
)

// insightsData is what the insights page shows.
type insightsData struct {
	ReadOnly bool
	// The filter as asked (shown back in the form).
	Service, Env, DaysText string
	Days                   int
	Services               []string
	// Problem is the answer to a bad query or a failed read; nothing else is shown then.
	Problem string
	// Shown is set when the figures below were computed.
	Shown    bool
	Scope    string
	From, To string
	Figures  []figure
	Charts   []chart
}

// figure is one headline figure: its name, its value ("no data" when it
// has none) and a note saying what it counts.
type figure struct {
	ID, Name, Value, Note string
	NoData                bool
}

// chart is one server-rendered SVG chart of a figure per ISO week; every
// coordinate is computed here, the template only writes them out.
type chart struct {
	ID, Title, Caption string
	Width, Height      int
	Grid               []gridLine
	Bars               []barMark
	Line               []string // polyline point lists, one per run of weeks with data
	Dots               []dotMark
	Ticks              []tick
	Empty              string // shown over a chart without any data
}

type gridLine struct {
	Y, X1, X2, LabelX, LabelY string
	Label                     string
}

type barMark struct {
	X, Y, W, H, LabelX, LabelY string
	Label, Title               string
	NoData                     bool
}

type dotMark struct {
	X, Y, LabelY string
	Label, Title string
}

type tick struct {
	X, Y  string
	Label string
}

// Chart geometry (SVG user units).
const (
	chartW, chartH                    = 760, 240
	padLeft, padRight, padTop, padBot = 56, 12, 22, 30
)

func num(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }

// handleInsights serves GET /insights: the delivery figures of a period
// (?service=&env=&days=) and the same figures per ISO week as SVG charts,
// without any script.
func (c *Console) handleInsights(w http.ResponseWriter, r *http.Request) {
	sr, ok := c.engine.(StatsReader)
	if !ok {
		http.Error(w, "insights are not available on this console", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	d := insightsData{ReadOnly: c.readOnly, Service: q.Get("service"), Env: q.Get("env"), DaysText: q.Get("days"), Days: insightsDays}
	if c.bot != nil {
		d.Services = c.bot.Services().Names()
	}
	if d.Problem = checkInsightsQuery(&d); d.Problem != "" {
		c.render(w, http.StatusBadRequest, "insights", d)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readBudget)
	defer cancel()
	f := deploy.Period(d.Service, d.Env, d.Days, c.clock.Now())
	s, err := sr.Stats(ctx, f)
	if err != nil {
		d.Problem = c.refusal(err)
		c.render(w, http.StatusServiceUnavailable, "insights", d)
		return
	}
	d.Shown = true
	d.Scope = scopeName(d.Service, d.Env, d.Services)
	d.From, d.To = f.From.Format("2 Jan 2006"), f.To.Format("2 Jan 2006")
	d.Figures = figuresOf(s)
	d.Charts = []chart{deploymentsChart(s), leadChart(s), failureChart(s)}
	c.render(w, http.StatusOK, "insights", d)
}

// checkInsightsQuery validates the query (setting Days) and returns the
// problem with it, or "".
func checkInsightsQuery(d *insightsData) string {
	if d.DaysText != "" {
		n, err := strconv.Atoi(d.DaysText)
		if err != nil || n < 1 || n > bot.MaxStatsDays {
			return fmt.Sprintf("days is a whole number from 1 to %d", bot.MaxStatsDays)
		}
		d.Days = n
	}
	if d.Service != "" {
		if len(d.Services) > 0 && !slices.Contains(d.Services, d.Service) {
			return fmt.Sprintf("unknown service %q: the services are %s", d.Service, strings.Join(d.Services, ", "))
		}
		if !validService.MatchString(d.Service) {
			return fmt.Sprintf("invalid service %q", d.Service)
		}
	}
	if d.Env != "" && !validEnvName.MatchString(d.Env) {
		return fmt.Sprintf("invalid environment %q: lowercase letters, digits, - and _ (at most 32)", d.Env)
	}
	return ""
}

func scopeName(service, env string, services []string) string {
	if service == "" {
		service = "all services"
		if len(services) == 1 {
			service = services[0]
		}
	}
	if env == "" {
		return service + ", every environment"
	}
	return service + " to " + env
}

// figuresOf returns the headline figures, as /deploy stats words them.
func figuresOf(s deploy.Stats) []figure {
	noData := func(id, name, why string) figure {
		return figure{ID: id, Name: name, Value: "no data", Note: why, NoData: true}
	}
	out := []figure{{ID: "fig-deployments", Name: "Deployments per week", Value: fmt.Sprintf("%.1f", s.PerWeek),
		Note: fmt.Sprintf("%d completed in the period", s.Deployments)}}
	if r, ok := s.FailureRate(); ok {
		out = append(out, figure{ID: "fig-failure", Name: "Change failure rate", Value: fmt.Sprintf("%.0f%%", r*100),
			Note: fmt.Sprintf("%d of %s that reached production rolled back or aborted", s.Failed, count(s.Production, "run"))})
	} else {
		out = append(out, noData("fig-failure", "Change failure rate", "no run reached a production phase"))
	}
	if s.Lead.N > 0 {
		out = append(out, figure{ID: "fig-lead", Name: "Lead time (start to completion)",
			Value: "median " + bot.StatsDuration(s.Lead.Median) + " · p90 " + bot.StatsDuration(s.Lead.P90),
			Note:  count(s.Lead.N, "completed run")})
	} else {
		out = append(out, noData("fig-lead", "Lead time (start to completion)", "no completed run"))
	}
	if s.Approval.N > 0 {
		out = append(out, figure{ID: "fig-approval", Name: "Waiting for approval", Value: "median " + bot.StatsDuration(s.Approval.Median),
			Note: count(s.Approval.N, "approval")})
	} else {
		out = append(out, noData("fig-approval", "Waiting for approval", "no gate approved by a person"))
	}
	open := ""
	if s.Unrestored > 0 {
		open = fmt.Sprintf("; %d not restored yet", s.Unrestored)
	}
	if s.Restore.N > 0 {
		out = append(out, figure{ID: "fig-restore", Name: "Time to restore", Value: "mean " + bot.StatsDuration(s.Restore.Mean),
			Note: count(s.Restore.N, "rollback") + open})
	} else {
		why := "no rollback"
		if s.Unrestored > 0 {
			why = count(s.Unrestored, "rollback") + " not restored yet"
		}
		out = append(out, noData("fig-restore", "Time to restore", why))
	}
	return out
}

// count says n things ("1 run", "3 runs").
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}

// frame is the plot area of a chart with n weekly slots.
type frame struct {
	n          int
	x0, y0     float64 // the plot's left and bottom
	w, h, slot float64
}

func newFrame(n int) frame {
	f := frame{n: n, x0: padLeft, y0: chartH - padBot, w: chartW - padLeft - padRight, h: chartH - padTop - padBot}
	if n > 0 {
		f.slot = f.w / float64(n)
	}
	return f
}

// center is the x of week i's slot.
func (f frame) center(i int) float64 { return f.x0 + f.slot*(float64(i)+0.5) }

// y is the y of value v on a scale from 0 to top.
func (f frame) y(v, top float64) float64 { return f.y0 - f.h*v/top }

// base returns a chart with its frame: horizontal grid lines at the given
// values (labelled by label) and a week label under every k-th slot.
func base(id, title, caption string, weeks []deploy.WeekStats, fr frame, top float64, grid []float64, label func(float64) string) chart {
	c := chart{ID: id, Title: title, Caption: caption, Width: chartW, Height: chartH}
	for _, g := range grid {
		y := fr.y(g, top)
		c.Grid = append(c.Grid, gridLine{Y: num(y), X1: num(fr.x0), X2: num(fr.x0 + fr.w), LabelX: num(fr.x0 - 6), LabelY: num(y + 4), Label: label(g)})
	}
	every := (len(weeks) + 12) / 13 // at most 13 week labels, the latest week's always
	for i, w := range weeks {
		if (len(weeks)-1-i)%every != 0 {
			continue
		}
		c.Ticks = append(c.Ticks, tick{X: num(fr.center(i)), Y: num(fr.y0 + 18), Label: fmt.Sprintf("W%02d", w.Week)})
	}
	return c
}

// niceTop returns a round upper bound of a scale holding max (at least 1).
func niceTop(max float64) float64 {
	if max <= 1 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(max)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= max {
			return m * mag
		}
	}
	return 10 * mag
}

func deploymentsChart(s deploy.Stats) chart {
	fr := newFrame(len(s.Weeks))
	max := 0.0
	for _, w := range s.Weeks {
		max = math.Max(max, float64(w.Deployments))
	}
	top := niceTop(max)
	if top < 4 {
		top = 4 // whole-number grid lines
	}
	c := base("chart-deployments", "Deployments per week", "completed runs per ISO week (UTC)", s.Weeks, fr, top,
		[]float64{0, top / 2, top}, func(v float64) string { return num(v) })
	for i, w := range s.Weeks {
		v := float64(w.Deployments)
		bw := fr.slot * 0.7
		y := fr.y(v, top)
		c.Bars = append(c.Bars, barMark{
			X: num(fr.center(i) - bw/2), Y: num(y), W: num(bw), H: num(fr.y0 - y), LabelX: num(fr.center(i)), LabelY: num(y - 4),
			Label: strconv.Itoa(w.Deployments), Title: fmt.Sprintf("%s (from %s): %d completed", w.Label(), w.Start.Format("2 Jan"), w.Deployments),
		})
	}
	if s.Deployments == 0 {
		c.Empty = "no data: no completed run in this period"
	}
	return c
}

func leadChart(s deploy.Stats) chart {
	fr := newFrame(len(s.Weeks))
	max := 0.0
	for _, w := range s.Weeks {
		max = math.Max(max, w.Lead.Median.Hours())
	}
	top := niceTop(max)
	c := base("chart-lead", "Lead time", "median start to completion per ISO week, in hours", s.Weeks, fr, top,
		[]float64{0, top / 2, top}, func(v float64) string { return num(v) + "h" })
	var seg []string
	for i, w := range s.Weeks {
		if w.Lead.N == 0 {
			if len(seg) > 0 {
				c.Line = append(c.Line, strings.Join(seg, " "))
				seg = nil
			}
			continue
		}
		x, y := fr.center(i), fr.y(w.Lead.Median.Hours(), top)
		seg = append(seg, num(x)+","+num(y))
		c.Dots = append(c.Dots, dotMark{X: num(x), Y: num(y), LabelY: num(y - 8), Label: bot.StatsDuration(w.Lead.Median),
			Title: fmt.Sprintf("%s: median %s, p90 %s (%s)", w.Label(), bot.StatsDuration(w.Lead.Median), bot.StatsDuration(w.Lead.P90), count(w.Lead.N, "run"))})
	}
	if len(seg) > 0 {
		c.Line = append(c.Line, strings.Join(seg, " "))
	}
	if s.Lead.N == 0 {
		c.Empty = "no data: no completed run in this period"
	}
	return c
}

func failureChart(s deploy.Stats) chart {
	fr := newFrame(len(s.Weeks))
	c := base("chart-failure", "Change failure rate", "runs that reached production and were rolled back or aborted, per ISO week", s.Weeks, fr, 100,
		[]float64{0, 50, 100}, func(v float64) string { return num(v) + "%" })
	for i, w := range s.Weeks {
		bw := fr.slot * 0.7
		r, ok := w.FailureRate()
		if !ok {
			c.Bars = append(c.Bars, barMark{X: num(fr.center(i) - bw/2), Y: num(fr.y0 - 2), W: num(bw), H: "2", LabelX: num(fr.center(i)), LabelY: num(fr.y0 - 6),
				Label: "–", Title: w.Label() + ": no data (no run reached production)", NoData: true})
			continue
		}
		y := fr.y(r*100, 100)
		c.Bars = append(c.Bars, barMark{
			X: num(fr.center(i) - bw/2), Y: num(y), W: num(bw), H: num(fr.y0 - y), LabelX: num(fr.center(i)), LabelY: num(y - 4),
			Label: fmt.Sprintf("%.0f%%", r*100), Title: fmt.Sprintf("%s: %d of %d rolled back or aborted", w.Label(), w.Failed, w.Production),
		})
	}
	if s.Production == 0 {
		c.Empty = "no data: no run reached a production phase in this period"
	}
	return c
}
