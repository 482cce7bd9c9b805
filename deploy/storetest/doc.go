// Package storetest is the contract test suite of deploy.Store: every store
// implementation runs Run (and RunRestart for durable stores) from its own
// tests, so all stores behave the same to the engine.
//
// It imports deploy and runbook (to build sample runs) and the standard
// library only; it must not import a store implementation or the engine.
package storetest
