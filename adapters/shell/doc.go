// Package shell is the `shell` adapter: it runs one command given as an argv
// list, never through a shell unless the runbook author writes ["sh", "-c", …]
// themselves, in its own process group so a timeout or cancellation ends the
// whole tree (SIGTERM, then SIGKILL after a grace period). On Linux a
// supervisor process (the binary itself, see start_linux.go) leads that group
// and kills it when the bot dies, even by SIGKILL.
//
// It must not import the engine (deploy), the chat side (bot) or other adapters.
package shell
