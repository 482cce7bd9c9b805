// Package loadtest is the click load test of issue 10: it builds the real
// deploybot binary, starts it wired as in production (Slack over HTTP against
// the recording fake Slack Web API, the read-only dashboard, the executor and
// the scheduler) on a real redis-server, and drives it with signed Slack
// requests from concurrent clients. In the same run it drives a bare handler
// (bare/: verify the signature, one Redis SET, answer 200) on the same Redis
// and cores, and prints the bot's figures beside the bare handler's.
//
// Run the full load (about a minute on 2 cores):
//
//	go test -run '^$' -bench BenchmarkClickLoad -benchtime 1x -timeout 20m ./internal/loadtest
//
// LOADTEST_PROFILE=dir writes the bot's CPU profile of each measured load
// into dir (a hook added to the bot's build with go build -overlay; the
// product binary has none).
//
// go test ./... runs only TestLoadSmoke, the same tool end to end with tiny
// numbers (skipped with -short). Everything talks to 127.0.0.1 only, and
// every loop is bounded in count and time.
package loadtest
