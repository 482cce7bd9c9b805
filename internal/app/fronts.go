package app

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"deploybot/runbook"
)

func (s *Server) wireSchedule(rb *runbook.Runbook, opt Options, reg prometheus.Registerer, windows *lateWindows) error {
	return nil
}

func (s *Server) wireFronts(ctx context.Context, opt Options) error {
	return nil
}
