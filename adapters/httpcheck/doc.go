// Package httpcheck is the `http` adapter (named httpcheck so it does not
// shadow net/http): it requests one URL or a list of endpoints and passes when
// every one answers with an expected status, body substring and JSON fields,
// retrying with backoff on the injected clock.
//
// It must not import the engine (deploy), the chat side (bot) or other adapters.
package httpcheck
