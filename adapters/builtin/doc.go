// Package builtin assembles the built-in adapters (shell, http, github,
// prometheus, watch, webhook, notify, window) into one adapters.Registry from
// a single Config, so main wires them in one call.
//
// It is the only adapters package that imports the others; it must not import
// the engine (deploy) or the chat side (bot), which reach it only through the
// notify.Notifier and window.Windows interfaces.
package builtin
