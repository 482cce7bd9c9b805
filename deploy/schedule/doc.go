// Package schedule owns maintenance windows over time, in two parts built in
// dependency order:
//
//   - Calendar books, lists and cancels scheduled windows (it implements
//     bot.Windows), knows the recurring windows from the runbook's `windows:`
//     (cron expression, duration, time zone), and answers whether a window is
//     open: it is the gate the engine asks before a `window: required` phase
//     runs (deploy.WindowGate) and the window adapter's source. It needs only
//     the store and the runbook, so it is built before the adapters and the
//     engine.
//   - Scheduler is the reminder loop, built after the engine and the effect
//     publisher and given both at construction: it sends the notices that go
//     with windows (reminders at the runbook's `reminders:` offsets, "window
//     open", "window closes in 15 minutes" and "window ended while a
//     production phase is open") and moves on runs that wait for a window
//     when one opens. It embeds its Calendar.
//
// Everything it knows lives in the deploy.Store, never in goroutines or
// timers: each Tick reads the windows, computes which notices are due at the
// injected clock's time, and takes a once-only claim on each notice
// occurrence in the store (keyed on the occurrence: window and start time
// plus the reminder offset; a recurring window by its service and its
// definition, the same whether the service is alone or one of several, so
// adding a service re-sends nothing), so several processes sharing one store
// send each notice exactly once. A scan may find what is due from windows
// it read up to WindowsRefresh ago, but it checks a booked window against
// the store (the org chain's head, and the windows again when another
// process moved it) just before claiming a notice about it, so a window
// cancelled or changed by any process gets no notice. Older versions keyed a lone service's
// recurring windows without the service; a process claims those keys too
// for the occurrences whose notices fall due within a day of its start (see
// Scheduler.legacyKey), so an upgrade re-sends nothing either. With OnceNotices (the bot's publisher) the claim
// and the notice's durable record are one atomic write
// (deploy.Store.ScheduleOnce), so a crash cannot leave a notice claimed but
// unrecorded, and a failed write is retried by the next scan; notices that
// are dropped only take the claim (ClaimOnce). A process that was down
// catches up on start-up: a reminder whose window has not started yet is sent late, one
// whose window has started is dropped, logged and counted.
//
// Environments: a scheduled window applies to the environment in its Env
// field, and a window without one (what /deploy schedule books) to
// DefaultEnv ("production"). A recurring window from the runbook has no
// environment and applies to every environment the runbook deploys to.
//
// Services: every window belongs to one service and gates only its runs: a
// recurring window to the service whose runbook defines it, a booked window
// to its Service field (one booked before services to the only service, or
// with several to every service). Reminders follow the offsets of the
// window's service's runbook, and notices name the service.
//
// Cron: robfig/cron v3 parses the expressions and matches their fields; its
// types never leave this package and its scheduler is not used. Occurrences
// are computed on the wall clock of the window's zone: a time that falls in a
// spring-forward gap fires at the first instant after the gap (robfig/cron
// would skip it), and a time in the repeated hour of a fall-back fires once,
// at its first instance.
//
// It imports deploy, runbook, internal/clock, robfig/cron and the Prometheus
// client; it must not import bot, a platform package or a store implementation (posting is behind the Notices
// interface, which *bot.Bot implements in bot/window_notices.go).
package schedule
