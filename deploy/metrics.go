package deploy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	transitions  *prometheus.CounterVec
	runs         *prometheus.CounterVec
	stepDuration *prometheus.HistogramVec
	storeHist    *prometheus.HistogramVec
}

// NewMetrics registers the engine's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deploybot_transitions_total", Help: "Run transitions by action and outcome.",
		}, []string{"action", "outcome"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deploybot_runs_finished_total", Help: "Finished runs by outcome (completed, rolled_back, aborted).",
		}, []string{"outcome"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "deploybot_step_duration_seconds", Help: "Automated step durations by adapter and result.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 7200},
		}, []string{"adapter", "result"}),
		storeHist: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "deploybot_store_latency_seconds", Help: "Store call latency by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"op"}),
	}
	reg.MustRegister(m.transitions, m.runs, m.stepDuration, m.storeHist)
	return m
}

func (m *Metrics) transition(action, outcome string) {
	if m != nil {
		m.transitions.WithLabelValues(action, outcome).Inc()
	}
}

func (m *Metrics) runEnded(s Status) {
	if m != nil {
		m.runs.WithLabelValues(string(s)).Inc()
	}
}

func (m *Metrics) storeLatency(op string, d time.Duration) {
	if m != nil {
		m.storeHist.WithLabelValues(op).Observe(d.Seconds())
	}
}

// StepFinished records an automated step's duration.
func (m *Metrics) StepFinished(adapter string, ok bool, d time.Duration) {
	if m == nil {
		return
	}
	res := "ok"
	if !ok {
		res = "failed"
	}
	m.stepDuration.WithLabelValues(adapter, res).Observe(d.Seconds())
}
