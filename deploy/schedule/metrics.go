package schedule

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the scheduler's Prometheus counters. They always exist; they
// are registered only when a registerer is given.
type metrics struct {
	sent    *prometheus.CounterVec
	dropped *prometheus.CounterVec
	panics  prometheus.Counter
	errors  prometheus.Counter
	advance prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deploybot_reminders_sent_total",
			Help: "Window notices sent, by kind (reminder, window_open, window_closing, window_ended).",
		}, []string{"kind"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deploybot_reminders_dropped_total",
			Help: "Window notices not sent, by kind and reason (stale: the window had started or ended; superseded: a later reminder of the same window was due at once; failed: posting failed or panicked; cancelled: another process cancelled or changed the window since this one read it).",
		}, []string{"kind", "reason"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "deploybot_scheduler_panics_total",
			Help: "Panics recovered in the window scheduler (its loop or a notice).",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "deploybot_scheduler_errors_total",
			Help: "Window scheduler scans that failed (store unavailable, ...).",
		}),
		advance: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "deploybot_scheduler_advances_total",
			Help: "Runs waiting for a maintenance window that the scheduler moved on when a window was open.",
		}),
	}
	if reg != nil {
		m.sent = register(reg, m.sent)
		m.dropped = register(reg, m.dropped)
		m.panics = register(reg, m.panics)
		m.errors = register(reg, m.errors)
		m.advance = register(reg, m.advance)
	}
	return m
}

// register registers c, or returns the collector already registered under
// the same name (several schedulers in one process share their counters).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	return c
}
