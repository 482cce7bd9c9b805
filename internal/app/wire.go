package app

import (
	"context"
	"os"
	"time"

	"deploybot/adapters"
	"deploybot/adapters/builtin"
	"deploybot/adapters/github"
	"deploybot/adapters/notify"
	"deploybot/adapters/shell"
	"deploybot/internal/clock"
)

// RegistryConfig is what the built-in adapters need.
type RegistryConfig struct {
	Getenv        func(string) string
	Notifier      notify.Notifier
	Windows       WindowSource
	Clock         clock.Clock
	GitHubURL     string
	GitHubToken   string
	PrometheusURL string
	// ShellSupervisor runs shell steps under a supervisor (Options.ShellSupervisor).
	ShellSupervisor *shell.Supervisor
}

// Registry builds the adapter registry with every built-in adapter.
func Registry(cfg RegistryConfig) (*adapters.Registry, error) {
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	bc := builtin.Config{
		Notifier: cfg.Notifier, Clock: cfg.Clock, Getenv: cfg.Getenv, PrometheusURL: cfg.PrometheusURL, ShellSupervisor: cfg.ShellSupervisor,
		GitHub: github.Config{BaseURL: cfg.GitHubURL, Token: cfg.GitHubToken},
	}
	if cfg.Windows != nil {
		bc.Windows = cfg.Windows
	}
	return builtin.Builtins(bc)
}

// WindowSource answers the window adapter (per service and environment).
type WindowSource interface {
	Scheduled(ctx context.Context, service, env, release string, now time.Time) (string, bool, error)
	Open(ctx context.Context, service, env, release string, now time.Time) (string, bool, error)
}
