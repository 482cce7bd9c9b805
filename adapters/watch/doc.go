// Package watch is the `watch` adapter: it keeps an eye on a deployment for a
// while, running a nested http, prometheus or shell check every interval and
// failing after a number of consecutive failures; without a check it is a
// timed wait. Time comes from an injected clock.
//
// It parses nested checks through the adapters.Registry it is given, so it
// never imports the other adapters; it must not import the engine (deploy)
// or the chat side (bot).
package watch
