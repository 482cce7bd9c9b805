package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"deploybot/adapters"
	"deploybot/adapters/shell"
	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/deploy/redisstore"
	appcore "deploybot/internal/app/core"
	"deploybot/internal/clock"
	"deploybot/internal/testkit"
	"deploybot/runbook"
)

// threeGates is the QA pass's runbook: three phases of one automated step
// each, every one behind an approval, the last one a production phase.
const threeGates = `
name: twice
approvers: [U0BOB, U0CARL]
distinct_approver: true
phases:
  - id: A
    title: Prepare
    steps:
      - {id: a, title: Check the build, run: shell, with: {command: ["/bin/true"]}}
  - id: B
    title: Staging rollout
    steps:
      - {id: b, title: Roll out to staging, run: shell, with: {command: ["/bin/true"]}}
  - id: C
    title: Production rollout
    production: true
    steps:
      - {id: c, title: Roll out to production, run: shell, with: {command: ["/bin/true"]}}
rollback:
  steps:
    - {id: revert, title: Revert}
`

var carl = deploy.Actor{ID: "U0CARL", Name: "carl", Platform: "slack"}

// gates is a bot process on a real Redis running threeGates, with its
// executor running the shell steps and a fake clock the test moves.
type gates struct {
	core *appcore.Core
	clk  *clock.Fake
	run  string
}

func newGates(t *testing.T) *gates {
	t.Helper()
	return newGatesOf(t, threeGates)
}

// newGatesOf is newGates with another runbook, named twice.
func newGatesOf(t *testing.T, yaml string) *gates {
	t.Helper()
	reg, err := adapters.NewRegistry(shell.New(shell.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := runbook.Parse("twice.yaml", []byte(yaml), reg)
	if err != nil {
		t.Fatal(err)
	}
	srv := testkit.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	g := &gates{clk: clock.NewFake(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))}
	g.core, err = appcore.Build(appcore.Config{Store: redisstore.New(rdb, srv.Prefix(t)), Runbook: rb, Steps: reg, Clock: g.clk, Logger: quiet(),
		NoticeChannel: noticeChannel, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.core.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		g.core.Close()
	})
	r := g.say(t, ana, "start twice v2")
	if r.RunID == "" {
		t.Fatalf("start: %q", r.Text)
	}
	g.run = r.RunID
	return g
}

// say sends a /deploy command from who in the run's channel.
func (g *gates) say(t *testing.T, who deploy.Actor, text string) bot.Reply {
	t.Helper()
	return g.core.Bot.Command(t.Context(), bot.Request{Platform: "slack", Channel: runChannel, Actor: who, Text: text})
}

// stored returns the run as the store has it.
func (g *gates) stored(t *testing.T) *deploy.Run {
	t.Helper()
	r, err := g.core.Engine.Get(t.Context(), g.run)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waiting waits until phase id is the current phase and waits for approval
// (its step ran).
func (g *gates) waiting(t *testing.T, id string) {
	t.Helper()
	waitFor(t, "phase "+id+" to wait for approval", func() bool {
		r := g.stored(t)
		return r.Status == deploy.StatusActive && r.Phases[r.Phase].ID == id && !r.Phases[r.Phase].AwaitingSince.IsZero()
	})
}

// approved fails unless exactly the phases listed are approved and the run
// is at phase at ("" when it ended).
func (g *gates) approved(t *testing.T, at string, ids ...string) {
	t.Helper()
	r := g.stored(t)
	var got []string
	for _, p := range r.Phases {
		if p.Approval != nil {
			got = append(got, p.ID)
		}
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Errorf("approved phases %v, want %v", got, ids)
	}
	cur := ""
	if r.Status.Open() {
		cur = r.Phases[r.Phase].ID
	}
	if cur != at {
		t.Errorf("run at phase %q (%s), want %q", cur, r.Status, at)
	}
}

func wantReply(t *testing.T, what string, got bot.Reply, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(got.Text, p) {
			t.Errorf("%s answered %q; want it to say %q", what, got.Text, p)
		}
	}
	if got.Public {
		t.Errorf("%s answered in public: %q", what, got.Text)
	}
}

// The QA pass: bob sends /deploy approve three times. The first approves
// A and says so; the second, sent while bob's approval of A is seconds old,
// does not pass B (it names B and the command that approves it); the third
// does not pass the production phase either. The run does not complete.
func TestApproveSentTwiceDoesNotPassTheNextGate(t *testing.T) {
	g := newGates(t)
	g.waiting(t, "A")
	wantReply(t, "the first approve", g.say(t, bob, "approve"), "Approved phase A (Prepare) of run "+g.run+".")
	g.waiting(t, "B")
	g.clk.Advance(2 * time.Second)
	wantReply(t, "the second approve", g.say(t, bob, "approve"),
		"phase B (Staging rollout) of run "+g.run+" is waiting for approval", "you approved phase A (Prepare)",
		"nothing was approved", "/deploy approve "+g.run+" B")
	g.approved(t, "B", "A")
	// A third one some seconds later, as the QA pass sent it: still nothing.
	g.clk.Advance(5 * time.Second)
	wantReply(t, "the third approve", g.say(t, bob, "approve"), "/deploy approve "+g.run+" B")
	g.approved(t, "B", "A")

	// Named, B is approved at once, and the reply names it.
	wantReply(t, "approve RUN B", g.say(t, bob, "approve "+g.run+" B"), "Approved phase B (Staging rollout) of run "+g.run+".")
	g.waiting(t, "C")
	g.approved(t, "C", "A", "B")
}

// Without a phase, the current gate is approved when it is safe: another
// approver may approve the next gate right after bob approved one.
func TestApproveWithoutAPhaseWhenItIsSafe(t *testing.T) {
	g := newGates(t)
	g.waiting(t, "A")
	wantReply(t, "bob's approve", g.say(t, bob, "approve "+g.run), "Approved phase A (Prepare) of run "+g.run+".")
	g.waiting(t, "B")
	wantReply(t, "carl's approve", g.say(t, carl, "approve"), "Approved phase B (Staging rollout) of run "+g.run+".")
	g.approved(t, "C", "A", "B")
}

// Bob waits past the double-submit window: his unnamed approve passes B.
func TestApproveWithoutAPhaseAfterTheDoubleSubmitWindow(t *testing.T) {
	g := newGates(t)
	g.waiting(t, "A")
	wantReply(t, "approve A", g.say(t, bob, "approve"), "Approved phase A (Prepare)")
	g.waiting(t, "B")
	g.clk.Advance(deploy.DoubleSubmitWindow - time.Second)
	wantReply(t, "approve within the window", g.say(t, bob, "approve"), "/deploy approve "+g.run+" B")
	g.clk.Advance(time.Second)
	wantReply(t, "approve after the window", g.say(t, bob, "approve"), "Approved phase B (Staging rollout) of run "+g.run+".")
	g.approved(t, "C", "A", "B")
}

// A production phase is approved by a command only when the command names
// it, as its button asks to confirm: an unnamed approve is refused however
// long ago the approver last approved, and by anyone.
func TestProductionPhaseNeedsItsName(t *testing.T) {
	g := newGates(t)
	g.waiting(t, "A")
	wantReply(t, "approve A", g.say(t, bob, "approve A"), "Approved phase A (Prepare)")
	g.waiting(t, "B")
	wantReply(t, "approve B", g.say(t, carl, "approve B"), "Approved phase B (Staging rollout)")
	g.waiting(t, "C")
	g.clk.Advance(time.Hour)
	for _, who := range []deploy.Actor{bob, carl} {
		wantReply(t, who.Name+"'s unnamed approve", g.say(t, who, "approve"),
			"phase C (Production rollout) of run "+g.run+" is waiting for approval and is a production phase",
			"nothing", "/deploy approve "+g.run+" C")
	}
	g.approved(t, "C", "A", "B")
	wantReply(t, "approve C", g.say(t, bob, "approve C"), "Approved phase C (Production rollout) of run "+g.run+".")
	g.approved(t, "", "A", "B", "C")
	if r := g.stored(t); r.Status != deploy.StatusCompleted {
		t.Errorf("run %s after the last gate, want completed", r.Status)
	}
}

// Naming a phase that is not the one waiting is refused and says where the
// run is: a phase already approved, one not reached, one that does not exist.
func TestApproveOfAPhaseThatIsNotWaitingIsRefused(t *testing.T) {
	g := newGates(t)
	g.waiting(t, "A")
	wantReply(t, "approve C at A", g.say(t, bob, "approve "+g.run+" C"),
		"phase C (Production rollout) is not waiting for approval; the run is at phase A (Prepare)")
	wantReply(t, "approve nope", g.say(t, bob, "approve nope"), `run `+g.run+` has no phase "nope"; its phases are A, B, C`)
	g.approved(t, "A")
	wantReply(t, "approve A", g.say(t, bob, "approve A"), "Approved phase A (Prepare)")
	g.waiting(t, "B")
	wantReply(t, "approve A again", g.say(t, bob, "approve A"),
		"phase A (Prepare) is not waiting for approval (approved by @bob just now); the run is at phase B (Staging rollout)")
	g.approved(t, "B", "A")
	// Somebody who is no approver may still not approve, named or not.
	wantReply(t, "ana's approve", g.say(t, ana, "approve B"), "not on this runbook's approver list")
	g.approved(t, "B", "A")
}

// A phase whose id has the shape of a run id ("review") can be named
// alone: no run has that id, so it is the channel's run's phase.
func TestApproveAPhaseShapedLikeARunID(t *testing.T) {
	g := newGatesOf(t, `
name: twice
approvers: [U0BOB]
phases:
  - id: review
    title: Review
    steps:
      - {id: a, title: Check the build, run: shell, with: {command: ["/bin/true"]}}
  - id: ship
    title: Ship
    production: true
    steps:
      - {id: b, title: Ship it, run: shell, with: {command: ["/bin/true"]}}
`)
	g.waiting(t, "review")
	wantReply(t, "approve rabcde", g.say(t, bob, "approve rabcde"), `no run "rabcde"`)
	wantReply(t, "approve review", g.say(t, bob, "approve review"), "Approved phase review (Review) of run "+g.run+".")
	g.waiting(t, "ship")
	g.approved(t, "ship", "review")
}
