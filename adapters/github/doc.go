// Package github is the `github` adapter: it checks that a ref's check runs
// are green (checks), that no pull request into a base branch is open
// (merged), tags a release idempotently (tag), and locks or unlocks a branch
// through its protection settings (freeze, unfreeze), against the REST API
// at a configured base URL with a configured token.
//
// It must not import the engine (deploy), the chat side (bot) or other adapters.
package github
