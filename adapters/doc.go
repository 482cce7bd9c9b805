// Package adapters owns the automated-step contract: the Adapter and Step
// interfaces, the run variables (Vars) steps see, the Registry built in main,
// and the helpers every built-in adapter shares: strict decoding of a step's
// `with:` map (Decode), per-value templating (Template), a bounded output tail
// (Buffer) and secret redaction (Redactor).
//
// The adapters themselves live in subpackages (shell, httpcheck, github,
// prometheus, watch, webhook, notify, window) and are assembled by builtin.
//
// This package must not import the engine (deploy), the chat side (bot and its
// platforms), the store, or any adapter subpackage.
package adapters
