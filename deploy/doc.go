// Package deploy is the run engine: a Run and its phases and steps, the
// transitions people and the executor make (start, done, skip, retry,
// approve, rollback, abort, step results), each applied as one compare-and-set
// on the Store together with its audit entry and the chat effects it owes
// (Effect: the summary, a card, a notice, as due-queue items), and the
// Executor that runs automated steps from the store's due queue under a lease.
//
// It knows nothing of Slack or Discord; it must not import bot or any
// platform package. The Store interface is implemented by deploy/redisstore
// and deploy/boltstore and pinned by the contract suite in deploy/storetest.
package deploy
