package conformance_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"deploybot/adapters"
	"deploybot/adapters/shell"
	"deploybot/bot"
	"deploybot/commands"
	"deploybot/deploy"
	"deploybot/deploy/redisstore"
	appcore "deploybot/internal/app/core"
	"deploybot/internal/clock"
	"deploybot/internal/testkit"
	"deploybot/runbook"

	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// Person is somebody in the chat. Every front knows the same three people
// by the same names: Ana starts runs, Bob approves, Carl looks on.
type Person string

// The people of the table.
const (
	Ana  Person = "ana"
	Bob  Person = "bob"
	Carl Person = "carl"
)

// Command is a /deploy command in both of its forms: the text typed in
// Slack (and the console) and the subcommand with options of Discord.
type Command struct {
	Text string
	Kind commands.Kind
	Opts map[string]string
}

// Answer is the answer to a command as its author sees it.
type Answer struct {
	Text   string
	Public bool
}

// Press is a click on a button of a phase card: the step's button for
// Action (the phase's when Step is empty), through whatever the platform
// asks first (a confirmation; a dialog for Reason).
type Press struct {
	Phase, Step string
	Action      deploy.ActionKind
	Reason      string
	// Refused: the press is expected to be refused, and the refusal is returned.
	Refused bool
}

// front drives one chat front from the outside, as people use it.
type front interface {
	// Command types c as who in the run channel and returns the answer.
	Command(t *testing.T, who Person, c Command) Answer
	// Press presses a button as who. With p.Refused it waits for the
	// refusal shown to who and returns its text; else it returns "" once
	// the press was acknowledged.
	Press(t *testing.T, who Person, p Press) string
	// Card returns the visible text of the card whose header contains
	// header ("Phase 1/2 · Build"), or false while there is none.
	Card(t *testing.T, header string) (string, bool)
	// Notices returns the visible texts of the notice channel's messages.
	Notices(t *testing.T) []string
	// RunMessages returns the visible texts of the messages posted in the
	// run's channel and thread (summary, cards, requests for approval).
	RunMessages(t *testing.T) []string
}

// env is what the table sets up for a front: the core on a real Redis, with
// the scheduler for windows; newFront adds the front to env.Core.Bot.
type env struct {
	Core     *appcore.Core
	Store    deploy.Store
	exitFile string
}

// tableRunbook is the runbook of the table. The check step exits with the
// code written in exitFile, so a case can make it fail once.
func tableRunbook(exitFile string) string {
	return `
name: conformance
distinct_approver: true
phases:
  - id: build
    title: Build
    steps:
      - id: review
        title: Code review completed
      - id: check
        title: CI check passes
        run: shell
        with:
          command: ["sh", "-c", "exit $(cat \"$0\")", "` + exitFile + `"]
      - id: notes
        title: Release notes drafted
  - id: ship
    title: Ship
    production: true
    steps:
      - id: rollout
        title: Roll out the new version
rollback:
  steps:
    - id: revert
      title: Revert the release
`
}

// The visible card headers and step titles of tableRunbook.
const (
	buildCard    = "Phase 1/2 · Build"
	shipCard     = "Phase 2/2 · Ship"
	rollbackCard = "↩️ Rollback Procedure"
)

var stepTitles = map[string][]string{
	buildCard:    {"Code review completed", "CI check passes", "Release notes drafted"},
	shipCard:     {"Roll out the new version"},
	rollbackCard: {"Revert the release"},
}

// envOptions shape a table case's env.
type envOptions struct {
	// web deploys a second service, web, beside conformance.
	web bool
}

// webRunbook is the runbook of the second service of envOptions.web.
const webRunbook = `
name: web
phases:
  - id: ship
    title: Ship the web app
    steps:
      - {id: upload, title: Upload the bundle}
rollback:
  steps:
    - {id: revert, title: Restore the previous bundle}
`

// newEnv builds the core on a real Redis, with the scheduler wired for
// windows and notices going to the front's noticeChannelID.
func newEnv(t *testing.T, noticeChannelID string, o envOptions, posters ...bot.Poster) *env {
	t.Helper()
	srv := testkit.Redis(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rc.Close() })
	store := redisstore.New(rc, srv.Prefix(t))
	exitFile := filepath.Join(t.TempDir(), "exit-code")
	writeExit(t, exitFile, "0")
	reg, err := adapters.NewRegistry(shell.New(shell.Config{Grace: 200 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := runbook.Parse("conformance.yaml", []byte(tableRunbook(exitFile)), reg)
	if err != nil {
		t.Fatalf("runbook: %v", err)
	}
	services := runbook.Single(rb)
	if o.web {
		web, err := runbook.Parse("web.yaml", []byte(webRunbook), reg)
		if err != nil {
			t.Fatalf("runbook: %v", err)
		}
		if services, err = runbook.NewCatalog(rb, web); err != nil {
			t.Fatal(err)
		}
	}
	log := testLogger()
	core, err := appcore.Build(appcore.Config{Store: store, Services: services, Runbook: rb, Steps: reg, Posters: posters, Clock: clock.Real{}, Logger: log,
		NoticeChannel: noticeChannelID, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = core.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		core.Close()
	})
	return &env{Core: core, Store: store, exitFile: exitFile}
}

func writeExit(t *testing.T, file, code string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(code+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("DEPLOYBOT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// play is one table case being played: the front, the core, and the run.
type play struct {
	t   *testing.T
	f   front
	env *env
}

// run returns the one run of the case as stored.
func (p *play) run() *deploy.Run {
	p.t.Helper()
	runs, err := p.env.Store.Runs(context.Background(), deploy.RunFilter{Live: true})
	if err != nil {
		p.t.Fatal(err)
	}
	if len(runs) == 0 {
		runs, err = p.env.Store.Runs(context.Background(), deploy.RunFilter{Limit: 1})
		if err != nil {
			p.t.Fatal(err)
		}
	}
	if len(runs) != 1 {
		p.t.Fatalf("%d runs, want 1", len(runs))
	}
	return runs[0]
}

// eventually polls cond with a deadline.
func (p *play) eventually(what string, cond func() (bool, string)) {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s; last seen:\n%s", what, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// engine waits until the stored run satisfies check (which returns what is
// wrong, or "").
func (p *play) engine(check func(r *deploy.Run) string) {
	p.t.Helper()
	p.eventually("the stored run", func() (bool, string) {
		problem := check(p.run())
		return problem == "", problem
	})
}

// shows waits until the card with header shows the step states and every
// one of the texts.
func (p *play) shows(header string, states []deploy.StepState, texts ...string) {
	p.t.Helper()
	p.eventually("the card "+header, func() (bool, string) {
		text, ok := p.f.Card(p.t, header)
		if !ok {
			return false, "(no such card)"
		}
		if states != nil {
			got := visibleStates(text, stepTitles[header])
			if !sameStates(got, states) {
				return false, text
			}
		}
		for _, s := range texts {
			if !strings.Contains(text, s) {
				return false, text
			}
		}
		return true, text
	})
}

// visibleStates reads each step's state from its icon on the card: the
// first state icon on the line holding the step's title.
func visibleStates(card string, titles []string) []deploy.StepState {
	all := []deploy.StepState{deploy.StepPending, deploy.StepRunning, deploy.StepDone, deploy.StepSkipped, deploy.StepFailed, deploy.StepInterrupted}
	var out []deploy.StepState
	lines := strings.Split(card, "\n")
	for _, title := range titles {
		state := deploy.StepState("?")
		for _, l := range lines {
			if !strings.Contains(l, title) {
				continue
			}
			best := len(l) + 1
			for _, s := range all {
				if i := strings.Index(l, iconOf(s)); i >= 0 && i < best {
					best, state = i, s
				}
			}
			break
		}
		out = append(out, state)
	}
	return out
}

func iconOf(s deploy.StepState) string {
	switch s {
	case deploy.StepDone:
		return "✅"
	case deploy.StepSkipped:
		return "⏭"
	case deploy.StepRunning:
		return "⏳"
	case deploy.StepFailed:
		return "❌"
	case deploy.StepInterrupted:
		return "⚠"
	}
	return "⬜"
}

func sameStates(a, b []deploy.StepState) bool {
	return strings.Join(stateStrings(a), ",") == strings.Join(stateStrings(b), ",")
}

func stateStrings(s []deploy.StepState) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = string(x)
	}
	return out
}

// Shorthands for the table.
var (
	pending = deploy.StepPending
	done    = deploy.StepDone
	skipped = deploy.StepSkipped
	failed  = deploy.StepFailed
)

func start(p *play) Answer {
	return p.f.Command(p.t, Ana, Command{Text: "start v1.4.2", Kind: commands.KindStart, Opts: map[string]string{"version": "v1.4.2"}})
}

func started(p *play) {
	a := start(p)
	if !strings.Contains(a.Text, "Started run") {
		p.t.Fatalf("start answered %q", a.Text)
	}
	p.shows(buildCard, []deploy.StepState{pending, pending, pending})
}

func reviewed(p *play) {
	started(p)
	p.f.Press(p.t, Ana, Press{Phase: "build", Step: "review", Action: deploy.ActDone})
	p.shows(buildCard, []deploy.StepState{done, done, pending})
}

// shipping: the build phase is approved; the production phase is current.
func shipping(p *play) {
	settled(p)
	p.f.Press(p.t, Bob, Press{Phase: "build", Action: deploy.ActApprove})
	p.shows(shipCard, []deploy.StepState{pending})
}

func settled(p *play) {
	reviewed(p)
	p.f.Press(p.t, Ana, Press{Phase: "build", Step: "notes", Action: deploy.ActSkip, Reason: "drafted in the wiki"})
	p.shows(buildCard, []deploy.StepState{done, done, skipped}, "Waiting for approval")
}

// tableCase is one run-control action: its setup, the action, and the
// engine result and visible outcome every front must produce.
type tableCase struct {
	name string
	// env shapes the case's env (envOptions.web: two services).
	env    envOptions
	setup  func(p *play)
	act    func(p *play) string // returns the answer or refusal the person saw, if any
	saw    []string             // substrings of what the person saw
	engine func(r *deploy.Run) string
	card   string // the card to look at afterwards
	states []deploy.StepState
	texts  []string // more substrings of that card
	notice string   // a substring of a notice, if one is expected
	// thread is a substring of exactly one new message in the run's
	// thread (a request for approval), if one is expected.
	thread string
}

var table = []tableCase{
	{
		name:  "start",
		setup: func(*play) {},
		act:   func(p *play) string { return start(p).Text },
		saw:   []string{"Started run", "v1.4.2 to production"},
		engine: func(r *deploy.Run) string {
			if r.Status != deploy.StatusActive || r.Release != "v1.4.2" || r.Env != "production" || r.Started.Name != string(Ana) || r.Phase != 0 {
				return "run not started as asked: " + string(r.Status) + " " + r.Release + " " + r.Env + " by " + r.Started.Name
			}
			return ""
		},
		card: buildCard, states: []deploy.StepState{pending, pending, pending}, texts: []string{"3 of 3 steps open"},
		notice: "🚀 conformance: Deployment of v1.4.2 to production started",
	},
	{
		name:  "done",
		setup: started,
		act: func(p *play) string {
			return p.f.Press(p.t, Ana, Press{Phase: "build", Step: "review", Action: deploy.ActDone})
		},
		engine: func(r *deploy.Run) string {
			s := r.Phases[0].Steps
			if s[0].State != done || s[0].By == nil || s[0].By.Name != string(Ana) {
				return "review is not done by ana"
			}
			if s[1].State != done || s[1].Result != "exit 0" {
				return "check did not run after review: " + string(s[1].State) + " " + s[1].Result
			}
			return ""
		},
		card: buildCard, states: []deploy.StepState{done, done, pending}, texts: []string{"@ana", "exit 0", "1 of 3 steps open"},
	},
	{
		name:  "skip with a reason",
		setup: started,
		act: func(p *play) string {
			return p.f.Press(p.t, Bob, Press{Phase: "build", Step: "notes", Action: deploy.ActSkip, Reason: "drafted in the wiki"})
		},
		engine: func(r *deploy.Run) string {
			s := r.Phases[0].Steps[2]
			if s.State != skipped || s.Reason != "drafted in the wiki" || s.By == nil || s.By.Name != string(Bob) {
				return "notes not skipped by bob with the reason: " + string(s.State) + " " + s.Reason
			}
			return ""
		},
		card: buildCard, states: []deploy.StepState{pending, pending, skipped}, texts: []string{"drafted in the wiki", "@bob"},
	},
	{
		name: "retry",
		setup: func(p *play) {
			started(p)
			writeExit(p.t, p.env.exitFile, "3")
			p.f.Press(p.t, Ana, Press{Phase: "build", Step: "review", Action: deploy.ActDone})
			p.shows(buildCard, []deploy.StepState{done, failed, pending}, "exit 3")
			writeExit(p.t, p.env.exitFile, "0")
		},
		act: func(p *play) string {
			return p.f.Press(p.t, Ana, Press{Phase: "build", Step: "check", Action: deploy.ActRetry})
		},
		engine: func(r *deploy.Run) string {
			s := r.Phases[0].Steps[1]
			if s.State != done || s.Attempt != 2 || s.Result != "exit 0" {
				return "check not passed on its second attempt"
			}
			return ""
		},
		card: buildCard, states: []deploy.StepState{done, done, pending}, texts: []string{"exit 0"},
	},
	{
		name:  "approve",
		setup: settled,
		act: func(p *play) string {
			return p.f.Press(p.t, Bob, Press{Phase: "build", Action: deploy.ActApprove})
		},
		engine: func(r *deploy.Run) string {
			if a := r.Phases[0].Approval; a == nil || a.By.Name != string(Bob) || r.Phase != 1 {
				return "build not approved by bob"
			}
			return ""
		},
		card: buildCard, states: []deploy.StepState{done, done, skipped}, texts: []string{"Approved by @bob"},
	},
	{
		name:  "refused approve",
		setup: settled,
		act: func(p *play) string {
			return p.f.Press(p.t, Ana, Press{Phase: "build", Action: deploy.ActApprove, Refused: true})
		},
		saw: []string{`you started this run, so someone else must approve "Build" (two-person rule)`},
		engine: func(r *deploy.Run) string {
			if r.Phases[0].Approval != nil || r.Phase != 0 {
				return "build was approved after a refusal"
			}
			return ""
		},
		card: buildCard, states: []deploy.StepState{done, done, skipped}, texts: []string{"Waiting for approval"},
	},
	{
		name:  "ask the approvers",
		setup: reviewed,
		act: func(p *play) string {
			return p.f.Press(p.t, Ana, Press{Phase: "build", Step: "notes", Action: deploy.ActSkip, Reason: "drafted in the wiki"})
		},
		card: buildCard, states: []deploy.StepState{done, done, skipped}, texts: []string{"Waiting for approval"},
		thread: "“Build” of v1.4.2 to production is ready for approval by anyone but @ana",
	},
	{
		name:  "rollback",
		setup: shipping,
		act: func(p *play) string {
			return p.f.Press(p.t, Bob, Press{Phase: "ship", Action: deploy.ActRollback, Reason: "error rate up"})
		},
		engine: func(r *deploy.Run) string {
			if r.Status != deploy.StatusRollingBack || r.Rollback == nil || r.Rollback.Reason != "error rate up" || r.Rollback.By.Name != string(Bob) {
				return "not rolling back as asked: " + string(r.Status)
			}
			return ""
		},
		card: rollbackCard, states: []deploy.StepState{pending},
		notice: "🚨 conformance: Rolling back v1.4.2 on production",
	},
	{
		name:  "rollback before production points to abort",
		setup: started,
		act: func(p *play) string {
			return p.f.Command(p.t, Bob, Command{Text: "rollback error rate up", Kind: commands.KindRollback, Opts: map[string]string{"reason": "error rate up"}}).Text
		},
		saw: []string{"nothing to roll back", "/deploy abort"},
		engine: func(r *deploy.Run) string {
			if r.Status != deploy.StatusActive {
				return "a refused rollback changed the run: " + string(r.Status)
			}
			return ""
		},
		card: buildCard, states: []deploy.StepState{pending, pending, pending},
	},
	{
		name:  "abort button with a reason",
		setup: started,
		act: func(p *play) string {
			return p.f.Press(p.t, Bob, Press{Phase: "build", Action: deploy.ActAbort, Reason: "wrong version"})
		},
		engine: func(r *deploy.Run) string {
			if r.Status != deploy.StatusAborted || r.AbortReason != "wrong version" || r.AbortedBy == nil || r.AbortedBy.Name != string(Bob) {
				return "not aborted by bob: " + string(r.Status)
			}
			return ""
		},
		card: buildCard, states: []deploy.StepState{pending, pending, pending}, texts: []string{"Stopped: run aborted by @bob: wrong version"},
		notice: "⏹️ conformance: Deployment of v1.4.2 to production aborted",
	},
	{
		name:  "abort",
		setup: started,
		act: func(p *play) string {
			return p.f.Command(p.t, Ana, Command{Text: "abort wrong version", Kind: commands.KindAbort, Opts: map[string]string{"reason": "wrong version"}}).Text
		},
		saw: []string{"Done: abort on run"},
		engine: func(r *deploy.Run) string {
			if r.Status != deploy.StatusAborted || r.AbortReason != "wrong version" {
				return "not aborted: " + string(r.Status)
			}
			return ""
		},
		card: buildCard, states: []deploy.StepState{pending, pending, pending}, texts: []string{"Stopped: run aborted by @ana: wrong version"},
		notice: "⏹️ conformance: Deployment of v1.4.2 to production aborted",
	},
	{
		name:  "status",
		setup: reviewed,
		act: func(p *play) string {
			return p.f.Command(p.t, Carl, Command{Text: "status", Kind: commands.KindStatus, Opts: map[string]string{}}).Text
		},
		saw: []string{"v1.4.2 to production, started by @ana", "▶ Build — 1 of 3 steps open", "✅ Code review completed (@ana", "✅ CI check passes", ": exit 0", "⬜ Release notes drafted"},
		engine: func(r *deploy.Run) string {
			if r.Phases[0].Steps[2].State != pending {
				return "status changed the run"
			}
			return ""
		},
		card: buildCard, states: []deploy.StepState{done, done, pending},
	},
	{
		name:  "schedule",
		setup: func(*play) {},
		act: func(p *play) string {
			at := windowStart.Format(time.RFC3339)
			return p.f.Command(p.t, Ana, Command{Text: "schedule v1.4.2 " + at + " for 90m", Kind: commands.KindSchedule,
				Opts: map[string]string{"version": "v1.4.2", "start": at, "duration": "90m"}}).Text
		},
		saw: []string{"booked for conformance v1.4.2: " + windowStart.Format("Mon 2006-01-02 15:04") + " UTC (for 1h 30m)"},
	},
	{
		name:  "start without a service when there are two",
		env:   envOptions{web: true},
		setup: func(*play) {},
		act: func(p *play) string {
			a := start(p)
			if a.Public {
				p.t.Errorf("the question %q was posted in the channel, want it for the person only", a.Text)
			}
			p.noRuns()
			return a.Text
		},
		saw: []string{"Which service? conformance, web — e.g. /deploy start conformance v1.4.2"},
	},
	{
		name:  "start of a service that is not one of them",
		env:   envOptions{web: true},
		setup: func(*play) {},
		act: func(p *play) string {
			a := p.f.Command(p.t, Ana, Command{Text: "start db v1.4.2", Kind: commands.KindStart, Opts: map[string]string{"service": "db", "version": "v1.4.2"}})
			p.noRuns()
			return a.Text
		},
		saw: []string{`unknown service "db": the services are conformance, web`},
	},
	{
		name:  "runbook of a service",
		env:   envOptions{web: true},
		setup: func(*play) {},
		act: func(p *play) string {
			return p.f.Command(p.t, Ana, Command{Text: "runbook web", Kind: commands.KindRunbook, Opts: map[string]string{"service": "web"}}).Text
		},
		saw: []string{"Upload the bundle"},
	},
}

// noRuns fails the case when a run exists.
func (p *play) noRuns() {
	p.t.Helper()
	for _, f := range []deploy.RunFilter{{Live: true}, {Limit: 10}} {
		runs, err := p.env.Store.Runs(context.Background(), f)
		if err != nil {
			p.t.Fatal(err)
		}
		if len(runs) != 0 {
			p.t.Errorf("%d runs exist (%+v), want none: nothing runs", len(runs), f)
		}
	}
}

// windowStart is when the schedule case books its window: 22:00 UTC ten
// days from now (the real clock; windows are booked at most 90 days ahead).
var windowStart = time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 10).Add(22 * time.Hour)

// windowID matches the id in "Maintenance window w4k9zt booked".
var windowID = regexp.MustCompile(`Maintenance window (\w+) booked`)

// runTable plays every case on a fresh front from newFront.
func runTable(t *testing.T, newFront func(t *testing.T, o envOptions) (front, *env)) {
	for _, tc := range table {
		t.Run(tc.name, func(t *testing.T) {
			f, e := newFront(t, tc.env)
			p := &play{t: t, f: f, env: e}
			tc.setup(p)
			saw := tc.act(p)
			for _, s := range tc.saw {
				if !strings.Contains(saw, s) {
					t.Errorf("the person saw %q, want it to contain %q", saw, s)
				}
			}
			if tc.engine != nil {
				p.engine(tc.engine)
			}
			if tc.card != "" {
				p.shows(tc.card, tc.states, tc.texts...)
			}
			if tc.notice != "" {
				p.eventually("the notice "+tc.notice, func() (bool, string) {
					ns := f.Notices(t)
					for _, n := range ns {
						if strings.Contains(n, tc.notice) {
							return true, ""
						}
					}
					return false, strings.Join(ns, "\n--\n")
				})
			}
			if tc.thread != "" {
				p.eventually("one message in the thread saying "+tc.thread, func() (bool, string) {
					ms := f.RunMessages(t)
					n := 0
					for _, m := range ms {
						if strings.Contains(m, tc.thread) {
							n++
						}
					}
					return n == 1, strings.Join(ms, "\n--\n")
				})
			}
			if tc.name == "schedule" {
				m := windowID.FindStringSubmatch(saw)
				if m == nil {
					t.Fatalf("no window id in %q", saw)
				}
				ws, err := e.Store.Windows(context.Background(), time.Now())
				if err != nil {
					t.Fatal(err)
				}
				if len(ws) != 1 || ws[0].ID != m[1] || ws[0].Release != "v1.4.2" || ws[0].Length != 90*time.Minute ||
					!ws[0].Start.Equal(windowStart) {
					t.Errorf("stored windows = %+v", ws)
				}
			}
		})
	}
}

// pressable reports whether the button id performs the press's action on its step.
func pressable(id string, p Press) bool {
	a, err := bot.ParseButtonID(id)
	return err == nil && a.Kind == p.Action && a.Phase == p.Phase && a.Step == p.Step
}
