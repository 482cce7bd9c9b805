// Package redisstore implements deploy.Store on Redis (go-redis v9), for one
// or several bot processes sharing a Redis.
//
// It owns every Redis key name of the store (keys.go) and every Lua script
// (scripts.go, with KEYS and ARGV documented). Each run transition
// (deploy.Change) is one Lua script run with EVALSHA: the write-id replay
// check, the revision compare-and-set, the freeze and environment-lock checks
// and all writes (run document, append-only audit list, run indexes, lock,
// due-queue items, write id with a TTL) happen atomically in one round trip.
// The due queue keeps, per kind, a sorted set of unleased items by due time
// and one of leased items by lease expiry; Claim moves items between them in
// one script. Errors reaching Redis wrap deploy.ErrUnavailable.
//
// go-redis types never leave this package. It must not import the engine or
// any chat platform package: only deploy (for the types it stores) and the
// standard library besides go-redis.
package redisstore
