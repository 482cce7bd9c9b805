package app

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"deploybot/deploy/schedule"
	"deploybot/runbook"
)

// wireSchedule builds the maintenance-window scheduler: the engine's gate,
// the window adapter's source, the bot's /deploy schedule, and the reminder
// loop every replica runs (each notice is claimed once in the store).
func (s *Server) wireSchedule(rb *runbook.Runbook, opt Options, reg prometheus.Registerer, windows *lateWindows) error {
	sched := schedule.New(schedule.Config{Store: s.store, Runbook: rb, Clock: opt.Clock, Logger: opt.Logger,
		Metrics: reg, NoticeChannel: s.cfg.NoticeChannel})
	sched.SetEngine(s.core.Engine)
	sched.SetNotices(s.core.Bot)
	s.core.Bot.SetWindows(sched)
	windows.set(sched)
	s.sched = sched
	s.runners = append(s.runners, sched.Run)
	return nil
}

func (s *Server) wireFronts(ctx context.Context, opt Options) error {
	return nil
}
