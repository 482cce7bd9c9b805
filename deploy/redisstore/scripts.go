package redisstore

import "github.com/redis/go-redis/v9"

// Every Lua script of the store. Each runs atomically on the server in one
// round trip (EVALSHA, falling back to EVAL once after a script flush).
//
// The due-queue scripts learn an item's kind only from its hash, so they
// derive the item and queue keys from prefixes passed in ARGV (the
// dueItemPrefix, dueQueuePrefix and runPrefix of keys.go) and the suffixes
// readySuffix and leasedSuffix, spliced in below. In Redis Cluster this is
// correct only when the prefix carries a hash tag (see keys).

// luaDue defines the due-queue helpers shared by the scripts that add or
// remove items. An item is in its kind's ready set while its lease field is
// "0" and in the leased set otherwise (every script keeps the two in step),
// so each helper touches the one set the item is in.
//
//	due_remove(itemp, qp, id)                         removes item id from its queue; 1 if it existed
//	due_put(itemp, qp, id, kind, due, doc, claims, pl) replaces item id with an unleased one due at due (unix ms); pl is its payload
//	due_payload(v)                                    the payload of an item whose pl and doc fields are v[1] and v[2]
const luaDue = `
local function due_remove(itemp, qp, id)
  local ik = itemp .. id
  local v = redis.call('HMGET', ik, 'kind', 'lease')
  if not v[1] then return 0 end
  if v[2] == '0' then
    redis.call('ZREM', qp .. v[1] .. '` + readySuffix + `', id)
  else
    redis.call('ZREM', qp .. v[1] .. '` + leasedSuffix + `', id)
  end
  redis.call('DEL', ik)
  return 1
end
local function due_put(itemp, qp, id, kind, due, doc, claims, pl)
  local ik = itemp .. id
  local v = redis.call('HMGET', ik, 'kind', 'lease')
  if v[1] and (v[1] ~= kind or v[2] ~= '0') then
    redis.call('ZREM', qp .. v[1] .. (v[2] == '0' and '` + readySuffix + `' or '` + leasedSuffix + `'), id)
  end
  redis.call('HSET', ik, 'kind', kind, 'doc', doc, 'claims', claims, 'lease', '0', 'pl', pl)
  redis.call('ZADD', qp .. kind .. '` + readySuffix + `', due, id)
end
local function due_payload(v)
  if v[1] then return v[1] end
  if not v[2] then return nil end
  local pl = cjson.decode(v[2])['payload']
  if type(pl) ~= 'string' then pl = '' end
  return pl
end
`

// luaApply applies one deploy.Change.
//
//	KEYS[1]  run:<id>         KEYS[2] audit:<id>    KEYS[3] write:<writeID>
//	KEYS[4]  runs:live        KEYS[5] runs:done     KEYS[6] lock:<env>:<service>
//	KEYS[7]  freeze:<env>     KEYS[8] freeze:<env>:<service>
//	KEYS[9]  lock:<env> (the environment-only lock of runs stored before services)
//	KEYS[10] current:<env>:<service>
//	KEYS[11] stats:runs       KEYS[12] stats:ended
//	ARGV[1]  PrevRev (0 = the run must not exist)
//	ARGV[2]  new Rev          ARGV[3] run JSON      ARGV[4] status
//	ARGV[5]  "1" if the status is live, else "0"
//	ARGV[6]  env              ARGV[7] run id
//	ARGV[8]  live score (Created, unix ms)
//	ARGV[9]  finished score (Ended, else Updated, unix ms)
//	ARGV[10] "1" to lock env  ARGV[11] "1" to unlock env
//	ARGV[12] write id ("" = none)  ARGV[13] write-id TTL (ms)
//	ARGV[14] runPrefix        ARGV[15] dueItemPrefix  ARGV[16] dueQueuePrefix
//	ARGV[17] number of audit entries (A), ARGV[18] of scheduled items (S), ARGV[19] of cancelled ids (C)
//	ARGV[20] the runbook snapshot's JSON, written when the run is created ("" = keep)
//	ARGV[21] "1" to record the run's release as current   ARGV[22] release
//	then A audit JSONs, then S times (id, kind, due ms, item JSON, claims, payload), then C ids,
//	then, only when the change has a stats entry, its JSON and its Ended (unix ms).
//
// Returns {"ok"}, {"already"} (write id seen), {"conflict"} (rev moved on or
// run exists), {"frozen", freeze JSON}, {"locked", holder id} or {"rb"} (the
// stored run has no runbook snapshot of its own yet, as a document written
// before the split: call again with it). Nothing is written unless it
// returns {"ok"}.
const luaApply = luaDue + `
if ARGV[12] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then return {'already'} end
local was = redis.call('HMGET', KEYS[1], 'rev', 'live')
local cur = was[1]
if ARGV[1] == '0' then
  if cur then return {'conflict'} end
elseif cur ~= ARGV[1] then
  return {'conflict'}
end
if ARGV[20] == '' and redis.call('HEXISTS', KEYS[1], 'rb') == 0 then return {'rb'} end
local id = ARGV[7]
if ARGV[10] == '1' then
  local fz = redis.call('GET', KEYS[7]) or redis.call('GET', KEYS[8])
  if fz then return {'frozen', fz} end
  local holder = redis.call('GET', KEYS[6])
  if holder and holder ~= id and redis.call('HGET', ARGV[14] .. holder, 'live') == '1' then
    return {'locked', holder}
  end
end
redis.call('HSET', KEYS[1], 'doc', ARGV[3], 'rev', ARGV[2], 'status', ARGV[4], 'env', ARGV[6], 'live', ARGV[5])
if ARGV[20] ~= '' then redis.call('HSET', KEYS[1], 'rb', ARGV[20]) end
local na, ns, nc = tonumber(ARGV[17]), tonumber(ARGV[18]), tonumber(ARGV[19])
local i = 23
for _ = 1, na do
  redis.call('RPUSH', KEYS[2], ARGV[i])
  i = i + 1
end
if ARGV[5] == '1' then
  -- a live run stays in runs:live at its creation time: indexed once
  if was[2] ~= '1' then
    redis.call('ZADD', KEYS[4], ARGV[8], id)
    redis.call('ZREM', KEYS[5], id)
  end
else
  redis.call('ZREM', KEYS[4], id)
  redis.call('ZADD', KEYS[5], ARGV[9], id)
end
if ARGV[10] == '1' then redis.call('SET', KEYS[6], id) end
if ARGV[11] == '1' then
  if redis.call('GET', KEYS[6]) == id then redis.call('DEL', KEYS[6]) end
  if redis.call('GET', KEYS[9]) == id then redis.call('DEL', KEYS[9]) end
end
if ARGV[21] == '1' then redis.call('SET', KEYS[10], ARGV[22]) end
for _ = 1, ns do
  due_put(ARGV[15], ARGV[16], ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5])
  i = i + 6
end
for _ = 1, nc do
  due_remove(ARGV[15], ARGV[16], ARGV[i])
  i = i + 1
end
if ARGV[i] then
  -- the stats index entry (deploy.Change.Stats), one per run id
  redis.call('HSET', KEYS[11], id, ARGV[i])
  redis.call('ZADD', KEYS[12], ARGV[i+1], id)
end
-- The write id is recorded last: a script that failed part way (Redis
-- undoes nothing) leaves no id that would answer its replay "already".
if ARGV[12] ~= '' then redis.call('SET', KEYS[3], '1', 'PX', ARGV[13]) end
return {'ok'}
`

// luaStatsSince returns the stats index entries whose end is at or after
// since, oldest first, in one snapshot.
//
//	KEYS[1] stats:ended  KEYS[2] stats:runs
//	ARGV[1] since (unix ms)
const luaStatsSince = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')
local out = {}
for from = 1, #ids, 1000 do
  local to = math.min(from + 999, #ids)
  for _, v in ipairs(redis.call('HMGET', KEYS[2], unpack(ids, from, to))) do
    if v then out[#out+1] = v end
  end
end
return out
`

// luaEnvHolder returns the id of the live run holding a service's lock in
// an environment, else of a live run stored before services still holding
// the environment-only lock, or "".
//
//	KEYS[1] lock:<env>:<service>  KEYS[2] lock:<env>
//	ARGV[1] runPrefix
const luaEnvHolder = `
for _, k in ipairs(KEYS) do
  local holder = redis.call('GET', k)
  if holder and redis.call('HGET', ARGV[1] .. holder, 'live') == '1' then return holder end
end
return ''
`

// luaRuns returns the runs listed in a runs index, in one snapshot: for
// each, its JSON and its runbook snapshot's JSON ("" when the document
// carries its runbook itself, as documents written before the split do).
//
//	KEYS[1] runs:live or runs:done
//	ARGV[1] runPrefix
//	ARGV[2] last index to return (-1 = all)
//	ARGV[3] "1" for highest score first, else lowest first
const luaRuns = `
local ids
if ARGV[3] == '1' then
  ids = redis.call('ZREVRANGE', KEYS[1], 0, ARGV[2])
else
  ids = redis.call('ZRANGE', KEYS[1], 0, ARGV[2])
end
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('HMGET', ARGV[1] .. id, 'doc', 'rb')
  if v[1] then
    out[#out+1] = v[1]
    out[#out+1] = v[2] or ''
  end
end
return out
`

// luaSchedule adds or replaces due items (unleased).
//
//	KEYS    dueitem:<id> of each item (declared so a Cluster client routes the call)
//	ARGV[1] dueItemPrefix  ARGV[2] dueQueuePrefix
//	then (id, kind, due ms, item JSON, claims, payload) per item.
const luaSchedule = luaDue + `
for i = 3, #ARGV, 6 do
  due_put(ARGV[1], ARGV[2], ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5])
end
return 1
`

// luaClaim leases up to max items of one kind: first those whose lease
// expired before now (oldest expiry first), then unleased ones due at or
// before now (earliest first). Each moves to the leased set with the new
// expiry, and its claims count is incremented.
//
//	KEYS[1] due:<kind>:ready  KEYS[2] due:<kind>:leased
//	ARGV[1] now (unix ms)     ARGV[2] lease expiry (unix ms)
//	ARGV[3] max               ARGV[4] dueItemPrefix
//
// Returns a list of {item JSON, claims, lease expiry ms}. Ids whose item
// hash vanished are dropped from the sets.
const luaClaim = `
local max = tonumber(ARGV[3])
local out = {}
local function claim(from, id)
  redis.call('ZREM', from, id)
  local ik = ARGV[4] .. id
  local doc = redis.call('HGET', ik, 'doc')
  if not doc then return end
  local claims = redis.call('HINCRBY', ik, 'claims', 1)
  redis.call('HSET', ik, 'lease', ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[2], id)
  out[#out+1] = {doc, tostring(claims), ARGV[2]}
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1], 'LIMIT', 0, max)
for _, id in ipairs(expired) do claim(KEYS[2], id) end
if #out < max then
  local ready = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, max - #out)
  for _, id in ipairs(ready) do claim(KEYS[1], id) end
end
return out
`

// luaExtend sets the lease expiry of a claimed item. An item that is not
// leased (it was rescheduled, which clears its lease) or, when claims is
// given, was claimed again since (its claims count moved on) is not the
// caller's any more: the caller learns it lost the item and nothing changes.
//
//	KEYS[1] dueitem:<id>
//	ARGV[1] id  ARGV[2] new expiry (unix ms)  ARGV[3] dueQueuePrefix
//	ARGV[4] the claims count the caller holds ("" = any)
//
// Returns 1, or 0 when the item does not exist or is not the caller's.
const luaExtend = `
local kind = redis.call('HGET', KEYS[1], 'kind')
if not kind then return 0 end
local v = redis.call('HMGET', KEYS[1], 'lease', 'claims')
if v[1] == '0' or not v[1] then return 0 end
if ARGV[4] ~= '' and v[2] ~= ARGV[4] then return 0 end
redis.call('ZADD', ARGV[3] .. kind .. '` + leasedSuffix + `', ARGV[2], ARGV[1])
redis.call('HSET', KEYS[1], 'lease', ARGV[2])
return 1
`

// luaAck removes a due item.
//
//	KEYS[1] dueitem:<id> (declared so a Cluster client routes the call)
//	ARGV[1] id  ARGV[2] dueItemPrefix  ARGV[3] dueQueuePrefix
//
// Returns 1, or 0 when the item did not exist.
const luaAck = luaDue + `
return due_remove(ARGV[2], ARGV[3], ARGV[1])
`

// luaHold leases an item to the caller while it is still the version the
// caller has: the same claims count and the same payload. An unleased item
// (its writer's) moves to the leased set, so Claim skips it until the lease
// runs out.
//
//	KEYS[1] dueitem:<id>
//	ARGV[1] id  ARGV[2] claims  ARGV[3] payload  ARGV[4] lease expiry (unix ms)
//	ARGV[5] dueQueuePrefix
//
// Returns 1, or 0 when the item is gone or is not the caller's version.
const luaHold = luaDue + `
local v = redis.call('HMGET', KEYS[1], 'pl', 'doc', 'kind', 'claims', 'lease')
if not v[3] then return 0 end
if v[4] ~= ARGV[2] then return 0 end
if due_payload(v) ~= ARGV[3] then return 0 end
if v[5] == '0' then redis.call('ZREM', ARGV[5] .. v[3] .. '` + readySuffix + `', ARGV[1]) end
redis.call('ZADD', ARGV[5] .. v[3] .. '` + leasedSuffix + `', ARGV[4], ARGV[1])
redis.call('HSET', KEYS[1], 'lease', ARGV[4])
return 1
`

// luaAckIf removes the items whose payload is still the given one.
//
//	KEYS    dueitem:<id> of each item (declared so a Cluster client routes the call)
//	ARGV[1] dueItemPrefix  ARGV[2] dueQueuePrefix
//	then (id, payload) per item.
//
// Returns how many items it removed.
const luaAckIf = luaDue + `
local n = 0
for i = 3, #ARGV, 2 do
  local ik = ARGV[1] .. ARGV[i]
  local v = redis.call('HMGET', ik, 'pl', 'doc', 'kind', 'lease')
  if v[3] and due_payload(v) == ARGV[i+1] then
    n = n + 1
    redis.call('ZREM', ARGV[2] .. v[3] .. (v[4] == '0' and '` + readySuffix + `' or '` + leasedSuffix + `'), ARGV[i])
    redis.call('DEL', ik)
  end
end
return n
`

// luaAckEach is luaAckIf answering per item.
//
//	KEYS    dueitem:<id> of each item (declared so a Cluster client routes the call)
//	ARGV[1] dueItemPrefix  ARGV[2] dueQueuePrefix
//	then (id, payload) per item.
//
// Returns a list with 1 for each item it removed, 0 for each it left.
const luaAckEach = luaDue + `
local out = {}
for i = 3, #ARGV, 2 do
  local r = 0
  local ik = ARGV[1] .. ARGV[i]
  local v = redis.call('HMGET', ik, 'pl', 'doc', 'kind', 'lease')
  if v[3] and due_payload(v) == ARGV[i+1] then
    r = 1
    redis.call('ZREM', ARGV[2] .. v[3] .. (v[4] == '0' and '` + readySuffix + `' or '` + leasedSuffix + `'), ARGV[i])
    redis.call('DEL', ik)
  end
  out[#out+1] = r
end
return out
`

// luaPending returns every item of a kind, unleased ones (by due time) first.
//
//	KEYS[1] due:<kind>:ready  KEYS[2] due:<kind>:leased
//	ARGV[1] dueItemPrefix
//
// Returns a list of {item JSON, claims, lease expiry ms}.
const luaPending = `
local out = {}
for _, z in ipairs({KEYS[1], KEYS[2]}) do
  for _, id in ipairs(redis.call('ZRANGE', z, 0, -1)) do
    local v = redis.call('HMGET', ARGV[1] .. id, 'doc', 'claims', 'lease')
    if v[1] then out[#out+1] = v end
  end
end
return out
`

// scripts holds the compiled scripts of one Store (kept per store, not in
// package variables, so no state is shared between stores).
type scripts struct {
	apply, envHolder, runs, schedule, claim, extend, ack, pending, hold, ackIf, ackEach *redis.Script
	statsSince                                                                          *redis.Script
	orgAppend                                                                           *redis.Script
}

func newScripts() *scripts {
	return &scripts{
		apply:     redis.NewScript(luaApply),
		envHolder: redis.NewScript(luaEnvHolder),
		runs:      redis.NewScript(luaRuns),
		schedule:  redis.NewScript(luaSchedule),
		claim:     redis.NewScript(luaClaim),
		extend:    redis.NewScript(luaExtend),
		ack:       redis.NewScript(luaAck),
		pending:   redis.NewScript(luaPending),
		hold:      redis.NewScript(luaHold),
		ackIf:     redis.NewScript(luaAckIf),
		ackEach:   redis.NewScript(luaAckEach),

		statsSince: redis.NewScript(luaStatsSince),
		orgAppend:  redis.NewScript(luaOrgAppend),
	}
}
