// Package httpserver owns deploybot's HTTP plumbing: the http.Server with
// every timeout and size limit set (RELIABILITY.md, "Requests from outside"),
// serving with a graceful shutdown, and the small handlers and middleware
// every route shares: the body limit (413), /healthz, /readyz and panic
// recovery ("internal error (ref …)").
//
// It knows no route but the two probes and nothing of Slack, Discord, the
// console or the store: readiness is a ping function handed in by main. It
// must not import any other deploybot package.
package httpserver
