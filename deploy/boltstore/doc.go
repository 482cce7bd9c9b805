// Package boltstore implements deploy.Store on an embedded bbolt file, for a
// single bot process that does without Redis.
//
// Every Apply is one bbolt write transaction, so a Change is applied entirely
// or not at all, and bbolt's single writer serialises transitions. The file
// holds one bucket per kind of record (runs, audit logs, run indexes, locks,
// freezes, windows, message references, due items, write ids, once-keys).
// Write ids and once-keys expire by the injected clock and are swept lazily.
//
// bbolt types never leave this package. It must not import the engine or any
// chat platform package: only deploy, internal/clock and the standard library
// besides bbolt.
package boltstore
