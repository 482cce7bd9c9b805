package slackfront

import (
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/deploy"
)

// BenchmarkRenderEncode is what the poster does for a card edit after a
// click: render the card of a 20-step phase and encode its blocks for
// chat.update, one more step done each time (the run cycles through its
// steps, so most blocks repeat the previous rendering).
func BenchmarkRenderEncode(b *testing.B) {
	rb := bigRunbook(b, 20, "Check number %d")
	r := fixtureRun(rb)
	f := &Poster{blocks: newBlockCache()}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j := i % 21
		if j == 0 {
			for s := range r.Phases[0].Steps {
				r.Phases[0].Steps[s].State = deploy.StepPending
			}
		} else {
			set(&r.Phases[0].Steps[j-1], deploy.StepDone, ana, time.Minute, "")
		}
		for _, m := range []bot.Message{{Card: new(bot.BuildCard(r, 0, t0))}, {Summary: new(bot.BuildSummary(r, t0))}} {
			if _, err := f.newMessage("C1", f.render(m)); err != nil {
				b.Fatal(err)
			}
		}
	}
}
