package deploy_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"deploybot/deploy"
)

// A transition's chat effects are written with it, one queue item per
// message slot: later transitions replace the summary's and the card's item
// with their newer revision, and one-shot notices keep their own.
func TestEffectsAreWrittenWithTheTransition(t *testing.T) {
	h := newHarness(t, twoPhase)
	r := h.start(t, ana)
	slots := func() map[string]int64 {
		items, err := h.store.Pending(context.Background(), deploy.DueKindEffect)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, it := range items {
			f, err := deploy.ParseEffect(it)
			if err != nil {
				t.Fatal(err)
			}
			if it.Due.Before(h.clk.Now().Add(deploy.DefaultEffectHeadStart)) {
				t.Errorf("effect %s is due %s, before the writer's head start", it.ID, it.Due)
			}
			out[f.Slot()] = f.Rev
		}
		return out
	}
	want := map[string]int64{"notice:announcement": 1, "summary": 1, "phase:prep": 1}
	if got := slots(); !equalMap(got, want) {
		t.Errorf("after start: effects %v, want %v", got, want)
	}
	out, err := h.e.Do(context.Background(), deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "review", Actor: bob})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range out.Effects {
		kinds = append(kinds, o.Slot())
	}
	if !slices.Equal(kinds, []string{"summary", "phase:prep"}) {
		t.Errorf("a Done click owes %v, want the summary and the card", kinds)
	}
	want = map[string]int64{"notice:announcement": 1, "summary": 2, "phase:prep": 2}
	if got := slots(); !equalMap(got, want) {
		t.Errorf("after Done: effects %v, want %v", got, want)
	}
	// A refused click writes nothing.
	if _, err := h.e.Do(context.Background(), deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "review", Actor: cat}); err == nil {
		t.Fatal("a second Done was applied")
	}
	if got := slots(); !equalMap(got, want) {
		t.Errorf("after a refusal: effects %v, want %v", got, want)
	}
}

func equalMap(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// A process whose known revision of a run is behind the store (another
// process moved it on) does not refuse a click from it: the refusal is
// checked against the stored run first.
func TestAProcessBehindTheStoreChecksBeforeRefusing(t *testing.T) {
	h := newHarness(t, twoPhase)
	r := h.start(t, ana)
	h.must(t, deploy.Action{Kind: deploy.ActDone, RunID: r.ID, Phase: "prep", Step: "review", Actor: bob})
	// Another process reports the build failed; this engine still knows it running.
	other := deploy.NewEngine(deploy.Config{Store: h.store, Runbook: parseRunbook(t, twoPhase), Clock: h.clk, Logger: slog.New(slog.DiscardHandler)})
	if _, err := other.Report(context.Background(), deploy.StepReport{RunID: r.ID, Phase: "prep", Step: "build", Attempt: 1, Summary: "exit 3"}); err != nil {
		t.Fatal(err)
	}
	if got := stepState(h.e.Latest(r.ID), "prep", "build"); got != deploy.StepRunning {
		t.Fatalf("this engine knows build as %s; the test needs it behind (running)", got)
	}
	r2 := h.must(t, deploy.Action{Kind: deploy.ActRetry, RunID: r.ID, Phase: "prep", Step: "build", Actor: bob})
	if s := r2.Phases[0].Steps[1]; s.State != deploy.StepRunning || s.Attempt != 2 {
		t.Fatalf("after the retry: %+v, want attempt 2 running", s)
	}
	// And a click computed from a stale revision is recomputed on the stored one.
	if _, err := other.Do(context.Background(), deploy.Action{Kind: deploy.ActRetry, RunID: r.ID, Phase: "prep", Step: "build", Actor: cat}); err == nil {
		t.Fatal("a second retry from the other process was applied")
	}
}
