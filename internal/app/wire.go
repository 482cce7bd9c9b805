package app

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"deploybot/adapters"
	"deploybot/adapters/builtin"
	"deploybot/adapters/github"
	"deploybot/adapters/notify"
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
}

// Registry builds the adapter registry with every built-in adapter.
func Registry(cfg RegistryConfig) (*adapters.Registry, error) {
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	bc := builtin.Config{
		Notifier: cfg.Notifier, Clock: cfg.Clock, Getenv: cfg.Getenv, PrometheusURL: cfg.PrometheusURL,
		GitHub: github.Config{BaseURL: cfg.GitHubURL, Token: cfg.GitHubToken},
	}
	if cfg.Windows != nil {
		bc.Windows = cfg.Windows
	}
	return builtin.Builtins(bc)
}

// WindowSource answers the window adapter and the engine's gate.
type WindowSource interface {
	Scheduled(ctx context.Context, env, release string, now time.Time) (string, bool, error)
	Open(ctx context.Context, env, release string, now time.Time) (string, bool, error)
	IsOpen(ctx context.Context, env, release string, now time.Time) (bool, error)
}

// lateWindows lets the adapters and the engine, built before the scheduler,
// ask it about windows once it is wired.
type lateWindows struct {
	mu sync.Mutex // mu protects w
	w  WindowSource
}

var errNoScheduler = errors.New("maintenance windows are not wired")

func (l *lateWindows) set(w WindowSource) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w = w
}

func (l *lateWindows) get() WindowSource {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w
}

// Scheduled reports whether a window is booked for env.
func (l *lateWindows) Scheduled(ctx context.Context, env, release string, now time.Time) (string, bool, error) {
	if w := l.get(); w != nil {
		return w.Scheduled(ctx, env, release, now)
	}
	return "", false, errNoScheduler
}

// Open reports whether a window is open for env.
func (l *lateWindows) Open(ctx context.Context, env, release string, now time.Time) (string, bool, error) {
	if w := l.get(); w != nil {
		return w.Open(ctx, env, release, now)
	}
	return "", false, errNoScheduler
}

// IsOpen is the engine's gate.
func (l *lateWindows) IsOpen(ctx context.Context, env, release string, now time.Time) (bool, error) {
	if w := l.get(); w != nil {
		return w.IsOpen(ctx, env, release, now)
	}
	return false, errNoScheduler
}
