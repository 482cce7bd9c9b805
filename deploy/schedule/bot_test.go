package schedule_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"deploybot/adapters/window"
	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/deploy/redisstore"
	"deploybot/deploy/schedule"
	"deploybot/internal/clock"
	"deploybot/internal/testkit"
	"deploybot/runbook"
)

// *bot.Bot posts the scheduler's notices; the scheduler answers the bot's
// window commands and the window adapter's questions.
var (
	_ schedule.Notices     = (*bot.Bot)(nil)
	_ schedule.OnceNotices = (*bot.Publisher)(nil)
	_ bot.Windows          = (*schedule.Scheduler)(nil)
	_ window.Windows       = (*schedule.Scheduler)(nil)
)

var (
	now = time.Date(2030, 6, 3, 9, 0, 0, 0, time.UTC)
	ana = deploy.Actor{ID: "U0ANA", Name: "ana", Platform: "slack"}
	bob = deploy.Actor{ID: "U0BOB", Name: "bob", Platform: "slack"}
	// carol is the tiny runbook's approver.
	carol = deploy.Actor{ID: "U0CAROL", Name: "carol", Platform: "slack"}
)

func field(n bot.Notice, label string) string {
	for _, f := range n.Fields {
		if f.Label == label {
			return f.Value
		}
	}
	return ""
}

func TestWindowNotice(t *testing.T) {
	start := time.Date(2030, 6, 4, 20, 0, 0, 0, time.UTC)
	scheduled := deploy.WindowView{ID: "wabc23", Release: "v1.4", Start: start, End: start.Add(2 * time.Hour), Zone: "Europe/Berlin", By: "@ana"}
	recurring := deploy.WindowView{Start: start, End: start.Add(time.Hour), Zone: "America/Los_Angeles", Recurring: true, By: "runbook"}
	tests := []struct {
		name   string
		n      schedule.Notice
		kind   bot.NoticeKind
		title  string
		fields map[string]string
		lines  []string
		button bool
	}{
		{
			name: "reminder of a scheduled window",
			n:    schedule.Notice{Kind: schedule.KindReminder, Window: scheduled, Env: "production", Offset: time.Hour, Until: time.Hour},
			kind: bot.NoticeReminder, title: "⏰ Maintenance window for v1.4 opens in 1h 00m",
			fields: map[string]string{"Version": "v1.4", "Environment": "production", "Window": "wabc23", "Starts": "Tue 2030-06-04 20:00 UTC",
				"Starts (Europe/Berlin)": "Tue 2030-06-04 22:00 CEST", "Opens in": "1h 00m", "Length": "2h 00m"},
			button: true,
		},
		{
			name: "late reminder says so",
			n:    schedule.Notice{Kind: schedule.KindReminder, Window: scheduled, Env: "production", Offset: time.Hour, Until: 20 * time.Minute},
			kind: bot.NoticeReminder, title: "⏰ Maintenance window for v1.4 opens in 20m",
			fields: map[string]string{"Opens in": "20m"}, lines: []string{"This is the 1h reminder, sent late."}, button: true,
		},
		{
			name: "reminder of a recurring window has no Start button",
			n:    schedule.Notice{Kind: schedule.KindReminder, Window: recurring, Offset: 15 * time.Minute, Until: 15 * time.Minute},
			kind: bot.NoticeReminder, title: "⏰ Maintenance window opens in 15m",
			fields: map[string]string{"Environment": "all environments", "Window": "recurring (runbook)", "Starts (America/Los_Angeles)": "Tue 2030-06-04 13:00 PDT"},
		},
		{
			name: "window open",
			n:    schedule.Notice{Kind: schedule.KindOpen, Window: scheduled, Env: "production", Until: 2 * time.Hour},
			kind: bot.NoticeWindowOpen, title: "🟢 Maintenance window for v1.4 is open",
			fields: map[string]string{"Closes": "Tue 2030-06-04 22:00 UTC"}, lines: []string{"Start the deployment with the button or /deploy start v1.4."}, button: true,
		},
		{
			name: "window open names the run waiting for it, no Start",
			n: schedule.Notice{Kind: schedule.KindOpen, Window: scheduled, Env: "production", Until: 2 * time.Hour,
				Runs: []schedule.RunRef{{ID: "r7k2q", Release: "v1.4", Env: "production", Phase: "Production Deployment"}}},
			kind: bot.NoticeWindowOpen, title: "🟢 Maintenance window for v1.4 is open",
			lines: []string{`Run r7k2q (v1.4 to production) was waiting for it: "Production Deployment" goes ahead now.`},
		},
		{
			name: "window closing during a run",
			n: schedule.Notice{Kind: schedule.KindClosing, Window: scheduled, Env: "production", Until: 15 * time.Minute,
				Runs: []schedule.RunRef{{ID: "r7k2q", Release: "v1.4", Env: "production", Phase: "Production Deployment"}}},
			kind: bot.NoticeWindowClose, title: "⏳ Maintenance window for v1.4 closes in 15m",
			lines: []string{"Runs still in progress:", `• r7k2q: v1.4 to production, phase "Production Deployment"`},
		},
		{
			name: "window ended during a production phase",
			n: schedule.Notice{Kind: schedule.KindEnded, Window: scheduled, Env: "production",
				Runs: []schedule.RunRef{{ID: "r7k2q", Release: "v1.4", Env: "production", Phase: "Production Deployment"}}},
			kind: bot.NoticeWindowClose, title: "⚠️ Maintenance window ended while a production phase is still open",
			fields: map[string]string{"Ended": "Tue 2030-06-04 22:00 UTC"},
			lines:  []string{`• r7k2q: v1.4 to production, phase "Production Deployment"`, "Finish the phase, or roll back with the Rollback button on its card."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := bot.WindowNotice(tt.n)
			if n.Kind != tt.kind || n.Headline() != tt.title {
				t.Errorf("notice %s %q, want %s %q", n.Kind, n.Headline(), tt.kind, tt.title)
			}
			for label, want := range tt.fields {
				if got := field(n, label); got != want {
					t.Errorf("field %q = %q, want %q", label, got, want)
				}
			}
			for _, l := range tt.lines {
				if !strings.Contains(strings.Join(n.Lines, "\n"), l) {
					t.Errorf("lines %q lack %q", n.Lines, l)
				}
			}
			if !tt.button {
				if len(n.Buttons) != 0 {
					t.Errorf("buttons %+v, want none", n.Buttons)
				}
				return
			}
			if len(n.Buttons) != 1 || n.Buttons[0].Label != "Start" || n.Buttons[0].Confirm == nil {
				t.Fatalf("buttons %+v, want a Start button with a confirmation", n.Buttons)
			}
			a, err := bot.ParseButtonID(n.Buttons[0].ID())
			if err != nil || a.Kind != bot.ActStartWindow || a.RunID != "wabc23" {
				t.Errorf("Start button decodes to %+v, %v", a, err)
			}
		})
	}
}

// world is a scheduler, an engine and a bot over one real store.
type world struct {
	sched  *schedule.Scheduler
	engine *deploy.Engine
	bot    *bot.Bot
	clk    *clock.Fake
	poster *poster
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldOver(t, func(s deploy.Store) deploy.Store { return s })
}

// newWorldOver is newWorld over wrap(the store), its runbook changed by edits.
func newWorldOver(t *testing.T, wrap func(deploy.Store) deploy.Store, edits ...func(*runbook.Runbook)) *world {
	t.Helper()
	srv := testkit.Redis(t)
	rs, err := redisstore.Open(srv.URL(), srv.Prefix(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Close() })
	store := wrap(rs)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rb := &runbook.Runbook{Name: "tiny", Approvers: []string{"U0CAROL"}, Phases: []runbook.Phase{{ID: "go", Title: "Go", Window: runbook.WindowRequired, Steps: []runbook.Step{{ID: "check", Title: "Check"}}}}}
	for _, edit := range edits {
		edit(rb)
	}
	w := &world{clk: clock.NewFake(now), poster: &poster{}}
	cal := schedule.NewCalendar(schedule.CalendarConfig{Store: store, Runbook: rb, Clock: w.clk, Logger: log})
	w.engine = deploy.NewEngine(deploy.Config{Store: store, Runbook: rb, Clock: w.clk, Logger: log, Windows: cal})
	w.bot = bot.New(bot.Config{Engine: w.engine, Posters: []bot.Poster{w.poster}, NoticeChannel: "C-notices", Windows: cal, Clock: w.clk, Logger: log})
	t.Cleanup(w.bot.Outbox().Close)
	w.sched = schedule.New(schedule.Config{Calendar: cal, Store: store, Engine: w.engine, Notices: w.bot, Clock: w.clk, Logger: log, NoticeChannel: "C-notices"})
	return w
}

// poster records posted notices of a fake "slack".
type poster struct {
	mu    sync.Mutex // mu protects posts
	posts []string   // "channel: title"
}

func (p *poster) Platform() string { return "slack" }

func (p *poster) Post(_ context.Context, channel, _ string, m bot.Message) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m.Notice != nil {
		p.posts = append(p.posts, channel+": "+m.Notice.Headline())
	}
	return "ts-1", nil
}

func (p *poster) Update(context.Context, string, bot.Message) error { return nil }

func (p *poster) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.posts...)
}

// /deploy schedule through the bot, the reminder in the notice channel, and
// its Start button starting a run of the window's version, once.
func TestBookRemindAndStartFromChat(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	refused := w.bot.Command(ctx, bot.Request{Platform: "slack", Channel: "C-team", Actor: ana, Text: "schedule v1.4 2030-06-03 12:00 Europe/Berlin for 1h"})
	if !strings.Contains(refused.Text, "only approvers may book") || !strings.Contains(refused.Text, "U0CAROL") {
		t.Fatalf("schedule by a non-approver: %+v, want a refusal naming the approvers", refused)
	}
	reply := w.bot.Command(ctx, bot.Request{Platform: "slack", Channel: "C-team", Actor: carol, Text: "schedule v1.4 2030-06-03 12:00 Europe/Berlin for 1h"})
	if !reply.Public || !strings.Contains(reply.Text, "booked for tiny v1.4") {
		t.Fatalf("schedule reply %+v", reply)
	}
	ws, err := w.sched.Upcoming(ctx)
	if err != nil || len(ws) != 1 {
		t.Fatalf("upcoming = %v, %v", ws, err)
	}
	id := ws[0].ID
	if got := w.bot.Command(ctx, bot.Request{Platform: "slack", Channel: "C-team", Actor: bob, Text: "windows"}); !strings.Contains(got.Text, id+" v1.4") {
		t.Errorf("/deploy windows = %q, want %s listed", got.Text, id)
	}

	w.clk.Set(ws[0].Start.Add(-time.Hour)) // 1h before: 09:00 UTC is 11:00 in Berlin
	if err := w.sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.bot.Outbox().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := w.poster.all(); len(got) != 1 || got[0] != "C-notices: ⏰ Maintenance window for tiny v1.4 opens in 1h 00m" {
		t.Fatalf("posted %q, want the 1h reminder in the notice channel", got)
	}

	start := bot.StartWindowButton(id, "v1.4", "production").ID()
	r := w.bot.Click(ctx, bot.Click{Platform: "slack", Channel: "C-notices", Actor: bob, ButtonID: start, RequestID: "click-1"})
	if r.Text != "" || r.RunID == "" {
		t.Fatalf("Start click reply %+v, want the run started", r)
	}
	run, err := w.engine.Get(ctx, r.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Release != "v1.4" || run.Env != "production" || run.Channel != "C-team" || run.Started.ID != bob.ID {
		t.Errorf("run %s: %s to %s in %s by %s; want v1.4 to production in C-team by bob", run.ID, run.Release, run.Env, run.Channel, run.Started.ID)
	}
	again := w.bot.Click(ctx, bot.Click{Platform: "slack", Channel: "C-notices", Actor: ana, ButtonID: start, RequestID: "click-2"})
	if !strings.Contains(again.Text, "already has a deployment in progress") {
		t.Errorf("second Start click: %q, want a refusal naming the run", again.Text)
	}

	if r := w.bot.Command(ctx, bot.Request{Platform: "slack", Channel: "C-team", Actor: bob, Text: "unschedule " + id}); !strings.Contains(r.Text, "only approvers may cancel") {
		t.Errorf("unschedule by bob: %q", r.Text)
	}
	if r := w.bot.Command(ctx, bot.Request{Platform: "slack", Channel: "C-team", Actor: carol, Text: "unschedule " + id}); !strings.Contains(r.Text, "cancelled by @carol") {
		t.Errorf("unschedule by carol: %q", r.Text)
	}
	gone := w.bot.Click(ctx, bot.Click{Platform: "slack", Channel: "C-notices", Actor: bob, ButtonID: start, RequestID: "click-3"})
	if !strings.Contains(gone.Text, "cancelled or has ended") {
		t.Errorf("Start click on a cancelled window: %q", gone.Text)
	}
}

// failFirstRecord fails the first store write that records a notice (the
// bot's Schedule or ScheduleOnce), as a process dying between claiming a
// notice and recording it would.
type failFirstRecord struct {
	deploy.Store
	failed atomic.Bool
}

func (s *failFirstRecord) fail() error {
	if s.failed.CompareAndSwap(false, true) {
		return errors.New("connection reset by peer")
	}
	return nil
}

func (s *failFirstRecord) Schedule(ctx context.Context, items ...deploy.DueItem) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.Schedule(ctx, items...)
}

func (s *failFirstRecord) ScheduleOnce(ctx context.Context, key string, ttl time.Duration, items ...deploy.DueItem) (bool, error) {
	if err := s.fail(); err != nil {
		return false, err
	}
	return s.Store.ScheduleOnce(ctx, key, ttl, items...)
}

// A reminder whose record fails is not lost: the record is the once-only
// claim, so nothing was claimed and the next scan records and posts it,
// once.
func TestReminderWhoseRecordFailedIsSentByTheNextScan(t *testing.T) {
	flaky := &failFirstRecord{}
	w := newWorldOver(t, func(s deploy.Store) deploy.Store { flaky.Store = s; return flaky })
	ctx := t.Context()
	reply := w.bot.Command(ctx, bot.Request{Platform: "slack", Channel: "C-team", Actor: carol, Text: "schedule v1.4 2030-06-03 12:00 Europe/Berlin for 1h"})
	if !strings.Contains(reply.Text, "booked for tiny v1.4") {
		t.Fatalf("schedule reply %+v", reply)
	}
	ws, err := w.sched.Upcoming(ctx)
	if err != nil || len(ws) != 1 {
		t.Fatalf("upcoming = %v, %v", ws, err)
	}
	w.clk.Set(ws[0].Start.Add(-time.Hour))
	if err := w.sched.Tick(ctx); err == nil {
		t.Error("the scan whose record failed reported no error")
	}
	for range 2 {
		if err := w.sched.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.bot.Outbox().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := w.poster.all(); len(got) != 1 || got[0] != "C-notices: ⏰ Maintenance window for tiny v1.4 opens in 1h 00m" {
		t.Fatalf("posted %q, want the 1h reminder once", got)
	}
}

// The same for a recurring window in the first day of a process, when its
// notices take the claim older versions took too before their record: the
// claim this process took is its own, so the next scan still records and
// posts the reminder, once.
func TestRecurringReminderWhoseRecordFailedIsSentByTheNextScan(t *testing.T) {
	flaky := &failFirstRecord{}
	w := newWorldOver(t, func(s deploy.Store) deploy.Store { flaky.Store = s; return flaky }, func(rb *runbook.Runbook) {
		rb.Windows = []runbook.RecurringWindow{{Cron: "0 12 * * *", Duration: runbook.Duration(time.Hour)}}
	})
	ctx := t.Context()
	w.clk.Set(time.Date(2030, 6, 3, 11, 0, 0, 0, time.UTC))
	if err := w.sched.Tick(ctx); err == nil {
		t.Error("the scan whose record failed reported no error")
	}
	for range 2 {
		if err := w.sched.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.bot.Outbox().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := w.poster.all(); len(got) != 1 || !strings.Contains(got[0], "opens in 1h 00m") {
		t.Fatalf("posted %q, want the 1h reminder once", got)
	}
}

// Booking a window tells the run waiting for it when it opens (card and
// /deploy status, in the zone it was booked in); cancelling it forgets.
func TestBookingTellsTheWaitingRunWhen(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	out, err := w.engine.Start(ctx, deploy.StartRequest{Release: "v1.5", Env: "production", Channel: "C-team", Platform: "slack", Actor: ana})
	if err != nil {
		t.Fatal(err)
	}
	if nw := out.Run.Current().NextWindow; nw != nil {
		t.Fatalf("no window is booked, yet the run waits for %+v", nw)
	}
	reply := w.bot.Command(ctx, bot.Request{Platform: "slack", Channel: "C-team", Actor: carol, Text: "schedule v1.5 2030-06-03 12:00 Europe/Berlin for 1h"})
	if !strings.Contains(reply.Text, "booked for tiny v1.5") {
		t.Fatalf("schedule reply %+v", reply)
	}
	run, err := w.engine.Get(ctx, out.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2030, 6, 3, 10, 0, 0, 0, time.UTC)
	if nw := run.Current().NextWindow; nw == nil || !nw.Start.Equal(want) || nw.Zone != "Europe/Berlin" {
		t.Fatalf("after the booking the run waits for %+v, want %v Europe/Berlin", nw, want)
	}
	status := w.bot.Command(ctx, bot.Request{Platform: "slack", Channel: "C-team", Actor: ana, Text: "status " + run.ID})
	if !strings.Contains(status.Text, "opens 12:00 Europe/Berlin, in ") {
		t.Errorf("status does not say when the window opens:\n%s", status.Text)
	}
	ws, _ := w.sched.Upcoming(ctx)
	w.bot.Command(ctx, bot.Request{Platform: "slack", Channel: "C-team", Actor: carol, Text: "unschedule " + ws[0].ID})
	if run, _ = w.engine.Get(ctx, out.Run.ID); run.Current().NextWindow != nil {
		t.Errorf("after the cancellation the run still waits for %+v", run.Current().NextWindow)
	}
}
