package deploy

import (
	"testing"
	"time"
)

// The executor is woken when a transition started an automated step, and
// not for a person ticking a manual step or a running step's progress.
func TestWakeNudgesWhenAStepStarts(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	ana := Actor{ID: "U1", Name: "ana", Platform: "slack"}
	run := func(started time.Time) *Run {
		return &Run{ID: "r1", Updated: at, Phases: []PhaseRun{{ID: "one", Steps: []StepRun{
			{ID: "check", State: StepDone, By: &ana, At: at},
			{ID: "ship", State: StepRunning, Started: started},
		}}}}
	}
	tests := []struct {
		name   string
		run    *Run
		events []Event
		nudge  bool
	}{
		{"a Done that started the automated step below", run(at), []Event{
			{Kind: EventStepChanged, Phase: "one", Step: "check", Actor: ana},
			{Kind: EventStepChanged, Phase: "one", Step: "ship", Actor: System},
		}, true},
		{"a Done on a manual step", run(at.Add(-time.Minute)), []Event{
			{Kind: EventStepChanged, Phase: "one", Step: "check", Actor: ana},
		}, false},
		{"the running step's progress", run(at.Add(-time.Minute)), []Event{
			{Kind: EventStepChanged, Phase: "one", Step: "ship", Actor: System},
		}, false},
		{"a phase that starts with a manual step", run(at.Add(-time.Minute)), []Event{
			{Kind: EventPhaseStarted, Phase: "one", Actor: System},
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWake()
			w.Publish(t.Context(), tt.run, tt.events)
			if got := len(w.ch) == 1; got != tt.nudge {
				t.Errorf("nudged = %v, want %v", got, tt.nudge)
			}
		})
	}
}
