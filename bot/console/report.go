package console

import (
	"context"
	"net/http"

	"deploybot/deploy"
)

// reportView is a run's report as the console shows it: a card in the run's
// view, a page of its own, and report.md, all made from the same document.
type reportView struct {
	RunID string
	Doc   deploy.ReportDoc
}

func newReportView(r *deploy.RunReport) *reportView {
	return &reportView{RunID: r.RunID, Doc: r.Doc()}
}

// reportOf builds run id's report from the store (the run and its audit log).
func (c *Console) reportOf(ctx context.Context, id string) (*deploy.RunReport, error) {
	run, err := c.engine.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	audit, err := c.engine.Audit(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	rep := deploy.BuildRunReport(run, audit, c.clock.Now())
	return &rep, nil
}

// reportCard is the report card of an ended run's view (nil while the run
// is open, or when its audit log cannot be read: the timeline says why).
func (c *Console) reportCard(ctx context.Context, run *deploy.Run) *reportView {
	if run.Status.Open() {
		return nil
	}
	audit, err := c.engine.Audit(ctx, run.ID)
	if err != nil {
		return nil
	}
	rep := deploy.BuildRunReport(run, audit, c.clock.Now())
	return newReportView(&rep)
}

// handleReportMarkdown serves GET /runs/{id}/report.md: the run's report as
// Markdown (the report so far, marked so, while the run is in progress).
func (c *Console) handleReportMarkdown(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readBudget)
	defer cancel()
	rep, err := c.reportOf(ctx, r.PathValue("id"))
	if err != nil {
		http.Error(w, c.refusal(err), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write([]byte(rep.Markdown(deploy.StyleMarkdown)))
}

// handleReportPage serves GET /runs/{id}/report: the same report as a page.
func (c *Console) handleReportPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readBudget)
	defer cancel()
	rep, err := c.reportOf(ctx, r.PathValue("id"))
	if err != nil {
		http.Error(w, c.refusal(err), http.StatusNotFound)
		return
	}
	c.render(w, http.StatusOK, "reportpage", newReportView(rep))
}

// broadcastReport sends a report the bot posted to the console to the open
// pages, as the card under the run's phase cards.
func (c *Page) broadcastReport(r *deploy.RunReport) {
	c.send(update{Op: "upsert", ID: "report-" + r.RunID, Parent: "report-slot-" + r.RunID, Run: r.RunID, Kind: "card"}, "reportcard", newReportView(r))
}
