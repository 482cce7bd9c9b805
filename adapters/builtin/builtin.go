package builtin

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"deploybot/adapters"
	"deploybot/adapters/github"
	"deploybot/adapters/httpcheck"
	"deploybot/adapters/notify"
	"deploybot/adapters/prometheus"
	"deploybot/adapters/shell"
	"deploybot/adapters/watch"
	"deploybot/adapters/webhook"
	"deploybot/adapters/window"
	"deploybot/internal/clock"
)

// Config holds what the built-in adapters need from main. The zero value
// gives a registry whose steps all parse; notify and window steps then fail
// when run, and prometheus steps fail until PrometheusURL is set.
type Config struct {
	// Notifier sends notify steps' messages (the bot implements it).
	Notifier notify.Notifier
	// Windows answers window steps (the engine's schedule implements it).
	Windows window.Windows
	// Clock paces watch, window, retries and progress; nil means the wall clock.
	Clock clock.Clock
	// HTTPClient is used by http, webhook, github and prometheus unless their
	// own config sets one; nil means a client with default settings.
	HTTPClient *http.Client
	// GitHub configures the github adapter (GITHUB_API_URL, GITHUB_TOKEN).
	GitHub github.Config
	// PrometheusURL is the Prometheus server (PROMETHEUS_URL).
	PrometheusURL string
	// Getenv reads webhook signing keys when steps run; nil means os.Getenv.
	Getenv func(string) string
	// Environ is the bot's environment for shell steps and for the secrets
	// every adapter redacts; nil means os.Environ.
	Environ func() []string
	// Secrets are further values to redact everywhere (tokens from elsewhere than the environment).
	Secrets []string
	// ShellGrace is the time between SIGTERM and SIGKILL for a cancelled shell step; 0 means 5s.
	ShellGrace time.Duration
	// ShellSupervisor runs shell steps under a supervisor (shell.Config.Supervisor).
	ShellSupervisor *shell.Supervisor
}

// Builtins returns a registry of the built-in adapters.
func Builtins(cfg Config) (*adapters.Registry, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Environ == nil {
		cfg.Environ = os.Environ
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	red := adapters.NewRedactor(adapters.SecretValues(cfg.Environ())...).With(cfg.Secrets...).With(cfg.GitHub.Token)
	gh := cfg.GitHub
	if gh.Client == nil {
		gh.Client = cfg.HTTPClient
	}
	if gh.Redactor == nil {
		gh.Redactor = red
	}

	reg, err := adapters.NewRegistry(
		shell.New(shell.Config{Environ: cfg.Environ, Redactor: red, Grace: cfg.ShellGrace, Clock: cfg.Clock, Supervisor: cfg.ShellSupervisor}),
		httpcheck.New(httpcheck.Config{Client: cfg.HTTPClient, Clock: cfg.Clock, Redactor: red}),
		github.New(gh),
		prometheus.New(prometheus.Config{BaseURL: cfg.PrometheusURL, Client: cfg.HTTPClient, Redactor: red}),
		webhook.New(webhook.Config{Client: cfg.HTTPClient, Getenv: cfg.Getenv, Clock: cfg.Clock, Redactor: red}),
		notify.New(cfg.Notifier),
		window.New(cfg.Windows, cfg.Clock),
	)
	if err != nil {
		return nil, fmt.Errorf("builtin: %w", err)
	}
	// watch parses its nested check with the registry it belongs to.
	if err := reg.Register(watch.New(reg, cfg.Clock)); err != nil {
		return nil, fmt.Errorf("builtin: %w", err)
	}
	return reg, nil
}
