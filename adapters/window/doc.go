// Package window is the `window` adapter: it passes when a maintenance window
// for the run's environment is scheduled (mode scheduled), or waits until one
// is open (mode open), asking a Windows implementation (the engine's
// schedule) and pacing its polls with an injected clock.
//
// It declares the Windows it needs and must not import the engine (deploy),
// the chat side (bot) or other adapters.
package window
