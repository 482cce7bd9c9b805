// Package deploy is the run engine: a Run and its phases and steps, the
// transitions people and the executor make (start, done, skip, retry,
// approve, rollback, abort, step results), each applied as one compare-and-set
// on the Store together with its audit entry and the chat effects it owes
// (Effect: the summary, a card, a notice, as due-queue items), and the
// Executor that runs automated steps from the store's due queue under a lease.
//
// Files by concern: run.go (the typed run), engine.go (Engine: the
// per-run lock and run cache of runcache.go, one Store.Apply per
// transition), txn.go (the transitions on a copy of the run), authz.go (who
// may do what, workspaces and channels), due.go (due items: steps and
// approval expiries), effects.go (the chat effects a transition owes),
// plan.go (the /deploy plan rehearsal), services.go (a run's service, its
// environment's policy, runs stored before services), executor.go (automated steps from
// the due queue), wiring.go (RunCache, Wake and Sinks: what the composition
// root makes before the engine and the executor so neither needs the other),
// store.go (Change and the Store interface), errors.go, events.go,
// metrics.go.
//
// Consumers declare the part of the store they use: RunStore (the engine),
// StepQueue (the executor), bot.Store (the effect publisher),
// schedule.WindowStore and schedule.NoticeStore (the calendar and the
// reminder loop). Store is what deploy/redisstore and deploy/boltstore
// implement and the contract suite in deploy/storetest pins.
//
// It knows nothing of Slack or Discord; it must not import bot or any
// platform package.
package deploy
