// Package webhook is the `webhook` adapter: it POSTs a JSON description of
// the run's step to a URL, signed with HMAC-SHA256 under a key read from an
// environment variable when the step runs, and passes on a 2xx answer.
//
// A receiver verifies X-Deploybot-Signature ("sha256=" + hex HMAC-SHA256 of
// the raw body) in constant time and refuses a body whose "sent_at" (also in
// X-Deploybot-Timestamp, Unix seconds) is more than 5 minutes old.
//
// It must not import the engine (deploy), the chat side (bot) or other adapters.
package webhook
