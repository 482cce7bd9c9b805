// Package runbook owns the runbook: the schema of a deployment procedure
// (phases of manual and automated steps, approvers, reminders, recurring
// maintenance windows and the rollback procedure), its strict YAML loading
// with a line number on every problem, its validation, its text rendering for
// `deploybot runbook show`, and the built-in runbook (the seed deployment
// checklist, embedded as builtin.yaml).
//
// Parse and Load decode with goccy/go-yaml's parser and walk the syntax tree
// themselves, so that every problem of a file is reported at once as
// FILE:LINE: message (an unknown field at the line of its key, a duplicate id
// at the line of the second use), collected in *Problems.
//
// Automated steps name an adapter and carry its parameters as a plain map;
// checking them is delegated to a StepValidator that the caller passes in
// (the adapter registry in package adapters satisfies it).
//
// runbook is the innermost package: it must not import deploy, adapters,
// commands, bot or any chat platform, store or HTTP package.
package runbook
