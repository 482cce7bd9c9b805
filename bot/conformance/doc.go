// Package conformance holds the run-control table every chat front must pass
// (in its tests): start, done, skip with a reason, retry, approve, a refused
// approve, rollback, abort, status and schedule, each played by people
// through a front against the real engine on a real Redis, and checked twice
// — the engine's result (the stored run) and what the person sees (the step
// states on the phase card, the refusal or answer shown to them). The same
// expectations hold for every front, so the fronts agree with each other.
//
// A front joins the table with a driver in this package's tests: a type
// implementing the front interface of table_test.go (Command, Press, Card,
// Notices) on the front's own fake platform (internal/testkit/discordfake,
// internal/testkit/slackfake). The Discord and Slack drivers are
// discord_test.go and slack_test.go.
//
// It has no non-test code: it imports the fronts and the test kits from its
// tests only, and nothing imports it.
package conformance
