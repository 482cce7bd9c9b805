package bot

import (
	"context"
	"errors"
	"fmt"

	"deploybot/commands"
	"deploybot/deploy"
)

// recentForReport is how many finished runs /deploy report without a run
// looks through for the newest one of the channel.
const recentForReport = 50

// runReport builds run's report from its audit log, read from the store.
func (b *Publisher) runReport(ctx context.Context, run *deploy.Run) (*deploy.RunReport, error) {
	audit, err := b.store.Audit(ctx, run.ID)
	if err != nil {
		return nil, fmt.Errorf("audit log of %s: %w", run.ID, err)
	}
	r := deploy.BuildRunReport(run, audit, b.clock.Now())
	return &r, nil
}

// report answers /deploy report [RUN]: the run's report, to the person who
// asked. A run still in progress gets the report so far, marked so. Without
// a run it is the run in progress in the channel, else the channel's most
// recently finished one.
func (b *Bot) report(ctx context.Context, req Request, cmd commands.Command) Reply {
	r, err := b.resolve(ctx, cmd.Run, req)
	if err != nil && cmd.Run == "" && errors.Is(err, deploy.ErrNotFound) {
		r, err = b.lastHere(ctx, req)
	}
	if err != nil {
		return b.refuse(err)
	}
	audit, err := b.e.Audit(ctx, r.ID)
	if err != nil {
		return b.refuse(err)
	}
	rep := deploy.BuildRunReport(r, audit, b.clock.Now())
	return Reply{Text: rep.Markdown(replyStyle(req.Platform)), RunID: r.ID}
}

// lastHere returns the channel's most recently finished run the person may see.
func (b *Bot) lastHere(ctx context.Context, req Request) (*deploy.Run, error) {
	recent, err := b.e.Recent(ctx, recentForReport)
	if err != nil {
		return nil, err
	}
	for _, r := range mine(recent, req.Actor) {
		if r.Channel == req.Channel {
			return r, nil
		}
	}
	return nil, &deploy.Error{Kind: deploy.ErrNotFound, Msg: "no run was started in this channel yet: name one, e.g. /deploy report RUN (/deploy list shows the runs)"}
}

// replyStyle is the markup a reply on platform is written in: the fronts
// put a reply's text on screen as their platform reads it.
func replyStyle(platform string) deploy.ReportStyle {
	switch platform {
	case "slack":
		return deploy.StyleSlackText // the front escapes it for mrkdwn
	case "discord":
		return deploy.StyleMarkdown
	}
	return deploy.StyleText
}
