package storetest

import (
	"encoding/json"
	"reflect"
	"testing"

	"deploybot/deploy"
)

// The suite compares stored runs with reflect.DeepEqual, so a sample run must
// survive a JSON round trip unchanged.
func TestSampleRunRoundTrips(t *testing.T) {
	for name, r := range map[string]*deploy.Run{
		"new":      SampleRun("r1", "production", t0),
		"finished": Finish(SampleRun("r1", "production", t0), deploy.StatusCompleted),
	} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var back deploy.Run
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&back, r) {
				t.Errorf("round trip changed the run:\n%s", b)
			}
		})
	}
}

func TestNextDoesNotAlias(t *testing.T) {
	r := SampleRun("r1", "production", t0)
	n := Next(r, func(n *deploy.Run) { n.Phases[0].Steps[0].State = deploy.StepDone })
	if n.Rev != 2 || !n.Updated.After(r.Updated) {
		t.Errorf("Next: rev %d updated %v, want rev 2 after %v", n.Rev, n.Updated, r.Updated)
	}
	if r.Phases[0].Steps[0].State != deploy.StepPending || r.Rev != 1 {
		t.Error("Next changed the run it was given")
	}
}
