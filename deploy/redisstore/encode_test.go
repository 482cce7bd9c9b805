package redisstore

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"deploybot/deploy"
	"deploybot/deploy/storetest"
)

// The document Apply writes, with the steps' JSON from the cache, is the
// JSON value json.Marshal(runDoc{Run: r}) gives (the members of the run in
// another order), whatever the cache remembers, and a step that changed is
// encoded afresh.
func TestEncodeRunIsTheDocument(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r := storetest.SampleRun("r1", "production", at)
	if len(r.Phases) == 0 || len(r.Phases[0].Steps) < 2 {
		t.Fatalf("sample run has %d phases", len(r.Phases))
	}
	ana := &deploy.Actor{ID: "U1", Name: "ana <&>", Platform: "slack", Groups: []string{"ops"}}
	runs := []*deploy.Run{r}
	next := r
	for i := range r.Phases[0].Steps {
		next = storetest.Next(next, func(n *deploy.Run) {
			s := &n.Phases[0].Steps[i]
			s.State, s.By, s.At, s.Reason = deploy.StepDone, ana, at.Add(time.Duration(i)*time.Minute), fmt.Sprintf("reason \"%d\"\n", i)
		})
		runs = append(runs, next)
	}
	odd := next.Clone()
	odd.Phases = append(odd.Phases, deploy.PhaseRun{ID: "empty"}, deploy.PhaseRun{ID: "none", Steps: []deploy.StepRun{}})
	odd.Rollback = &deploy.RollbackInfo{By: *ana, Reason: "bad", FromPhase: "p1", At: at}
	odd.Phases[0].Steps[0].Output = strings.Repeat("output line\n", 200) // too large to keep
	runs = append(runs, odd, &deploy.Run{ID: "bare"})
	c := newStepCache()
	cached := 0
	for round := range 2 {
		for i, r := range runs {
			got, err := c.encodeRun(r)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(runDoc{Run: r})
			if err != nil {
				t.Fatal(err)
			}
			var gv, wv any
			if err := json.Unmarshal(got, &gv); err != nil {
				t.Fatalf("round %d, run %d: %s: %v", round, i, got, err)
			}
			if err := json.Unmarshal(want, &wv); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gv, wv) {
				t.Fatalf("round %d, run %d:\n got %s\nwant %s", round, i, got, want)
			}
		}
		// The second time, every step comes from the cache: nothing is added.
		if n := len(c.cur); round == 1 && n != cached {
			t.Fatalf("%d steps cached after the first round, %d after the second", cached, n)
		}
		cached = len(c.cur)
	}
	for k := range c.cur {
		if len(k.Output) > maxCachedStep {
			t.Error("a step too large to keep was cached")
		}
	}
	// Successive revisions share their unchanged steps: one entry per distinct step.
	if want := 2 * len(r.Phases[0].Steps); cached > want+len(r.Phases[1:])*8 {
		t.Errorf("%d steps cached for %d runs: unchanged steps were not shared", cached, len(runs))
	}
	// A step changed in place (not through a Clone) is a new value: encoded afresh.
	s := &runs[1].Phases[0].Steps[0]
	s.Result = "changed"
	got, err := c.encodeRun(runs[1])
	if err != nil {
		t.Fatal(err)
	}
	var back deploy.Run
	if err := json.Unmarshal(got, &back); err != nil || back.Phases[0].Steps[0].Result != "changed" {
		t.Fatalf("changed step read back as %+v (%v)", back.Phases[0].Steps[0], err)
	}
}

// BenchmarkEncodeRun encodes the document of a run of 3 phases × 20 steps
// after one more step is done, with the step cache (cached) and with
// json.Marshal (marshal), as Apply did before.
func BenchmarkEncodeRun(b *testing.B) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r := storetest.SampleRun("r1", "production", at)
	for i := range r.Phases {
		r.Phases[i].Steps = nil
		for j := range 20 {
			r.Phases[i].Steps = append(r.Phases[i].Steps, deploy.StepRun{ID: fmt.Sprintf("step-%d", j), State: deploy.StepPending})
		}
	}
	ana := &deploy.Actor{ID: "U1", Name: "ana", Platform: "slack"}
	runs := []*deploy.Run{r}
	for j := range 20 {
		runs = append(runs, storetest.Next(runs[len(runs)-1], func(n *deploy.Run) {
			s := &n.Phases[0].Steps[j]
			s.State, s.By, s.At = deploy.StepDone, ana, at.Add(time.Minute)
		}))
	}
	b.Run("cached", func(b *testing.B) {
		c := newStepCache()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := c.encodeRun(runs[i%len(runs)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := json.Marshal(runDoc{Run: runs[i%len(runs)]}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
