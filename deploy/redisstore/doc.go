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
// Open (open.go) builds the go-redis client from a URL: one server, a
// Sentinel-managed master (master_name=) or a Redis Cluster
// (redis+cluster://, with the prefix given a hash tag so every key is in one
// slot). Every client it builds honours its callers' context deadlines
// (ContextTimeoutEnabled), so a stalled Redis costs a caller no more than the
// deadline it set.
//
// go-redis types never leave this package. It must not import the engine or
// any chat platform package: only deploy (for the types it stores) and the
// standard library besides go-redis.
package redisstore
