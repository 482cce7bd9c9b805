package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"deploybot/deploy"
)

// luaScheduleOnce records a once-only key and schedules due items, only
// when the key is not recorded yet. A replay of the same call (same token,
// after a timeout) reports 1 again without scheduling twice.
//
//	KEYS[1] once:<key>   KEYS[2..] the items' hashes (for Cluster slot checks)
//	ARGV[1] token        ARGV[2] ttl in ms (0: no expiry)
//	ARGV[3] dueItemPrefix  ARGV[4] dueQueuePrefix
//	ARGV[5..] per item: id, kind, due (unix ms), doc, claims, payload
const luaScheduleOnce = luaDue + `
local prev = redis.call('GET', KEYS[1])
if prev then
  if prev == ARGV[1] then return 1 end
  return 0
end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
for i = 5, #ARGV, 6 do
  due_put(ARGV[3], ARGV[4], ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5])
end
return 1
`

// scheduleOnce is the script; a redis.Script holds only its source and hash.
var scheduleOnce = redis.NewScript(luaScheduleOnce)

// ScheduleOnce implements deploy.Store with one script: the key and the
// items are written together or not at all.
func (s *Store) ScheduleOnce(ctx context.Context, key string, ttl time.Duration, items ...deploy.DueItem) (bool, error) {
	if err := deploy.CheckItems(items); err != nil {
		return false, fmt.Errorf("redisstore schedule once: %w", err)
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	args, err := appendItems([]any{hex.EncodeToString(b[:]), max(ttl.Milliseconds(), 0), s.k.dueItemPrefix(), s.k.dueQueuePrefix()}, items)
	if err != nil {
		return false, fmt.Errorf("redisstore schedule once: %w", err)
	}
	ks := make([]string, 0, len(items)+1)
	ks = append(ks, s.k.once(key))
	for _, it := range items {
		ks = append(ks, s.k.dueItem(it.ID))
	}
	n, err := scheduleOnce.Run(ctx, s.c, ks, args...).Int()
	if err != nil {
		return false, wrap("schedule once "+key, err)
	}
	return n == 1, nil
}
