// Package notify is the `notify` adapter: it sends a templated message to a
// channel (by default the notice channel) through a Notifier, which the chat
// side implements.
//
// It declares the Notifier it needs and must not import the chat side (bot),
// the engine (deploy) or other adapters.
package notify
