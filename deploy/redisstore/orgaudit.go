package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"deploybot/deploy"
)

// luaOrgAppend appends one entry to the org audit chain with the freeze or
// window change it records, when the chain's head is still the entry's Prev.
//
//	KEYS[1] orgaudit   KEYS[2] orgaudit:head
//	KEYS[3] freeze:<env>[:<service>] (the change's freeze; else orgaudit:head, unused)
//	KEYS[4] windows    KEYS[5] windows:end
//	ARGV[1] the entry's Prev   ARGV[2] its Hash   ARGV[3] its JSON
//	ARGV[4] the effect: "", "setfreeze", "delfreeze", "putwindow" or "delwindow"
//	ARGV[5] the freeze or window JSON   ARGV[6] the window id   ARGV[7] the window's end (unix ms)
//
// Returns "ok", "already" (the head is this entry: a replay of an append
// that was applied), "conflict" (the head moved on) or "notfound" (nothing
// to delete). Nothing is written unless it returns "ok".
const luaOrgAppend = `
local head = redis.call('GET', KEYS[2]) or ''
if head == ARGV[2] then return 'already' end
if head ~= ARGV[1] then return 'conflict' end
local op = ARGV[4]
if op == 'delfreeze' then
  if redis.call('EXISTS', KEYS[3]) == 0 then return 'notfound' end
  redis.call('DEL', KEYS[3])
elseif op == 'setfreeze' then
  redis.call('SET', KEYS[3], ARGV[5])
elseif op == 'putwindow' then
  redis.call('HSET', KEYS[4], ARGV[6], ARGV[5])
  redis.call('ZADD', KEYS[5], ARGV[7], ARGV[6])
elseif op == 'delwindow' then
  if redis.call('HEXISTS', KEYS[4], ARGV[6]) == 0 then return 'notfound' end
  redis.call('HDEL', KEYS[4], ARGV[6])
  redis.call('ZREM', KEYS[5], ARGV[6])
end
redis.call('RPUSH', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[2])
return 'ok'
`

// OrgHead implements deploy.Store: the head and the length, read in one MULTI.
func (s *Store) OrgHead(ctx context.Context) (deploy.OrgHead, error) {
	var head *redis.StringCmd
	var n *redis.IntCmd
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		head = p.Get(ctx, s.k.orgHead())
		n = p.LLen(ctx, s.k.orgAudit())
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return deploy.OrgHead{}, wrap("org head", err)
	}
	return deploy.OrgHead{Hash: head.Val(), Len: n.Val()}, nil
}

// AppendOrg implements deploy.Store in one script call (luaOrgAppend).
func (s *Store) AppendOrg(ctx context.Context, c deploy.OrgChange) error {
	if err := deploy.CheckOrgChange(c); err != nil {
		return fmt.Errorf("redisstore org audit: %w", err)
	}
	entry, err := json.Marshal(c.Entry)
	if err != nil {
		return fmt.Errorf("redisstore org audit: %w", err)
	}
	freezeKey := s.k.orgHead()
	var op, doc, windowID, end string
	switch {
	case c.SetFreeze != nil:
		b, err := json.Marshal(c.SetFreeze)
		if err != nil {
			return fmt.Errorf("redisstore org audit: %w", err)
		}
		op, doc, freezeKey = "setfreeze", string(b), s.k.serviceFreeze(c.SetFreeze.Service, c.SetFreeze.Env)
	case c.DeleteFreeze != nil:
		op, freezeKey = "delfreeze", s.k.serviceFreeze(c.DeleteFreeze.Service, c.DeleteFreeze.Env)
	case c.PutWindow != nil:
		b, err := json.Marshal(c.PutWindow)
		if err != nil {
			return fmt.Errorf("redisstore org audit: %w", err)
		}
		op, doc, windowID, end = "putwindow", string(b), c.PutWindow.ID, strconv.FormatInt(ms(c.PutWindow.End()), 10)
	case c.DeleteWindow != "":
		op, windowID = "delwindow", c.DeleteWindow
	}
	sent := ctx.Err() == nil // a deadline already past sends nothing
	res, err := s.sc.orgAppend.Run(ctx, s.c,
		[]string{s.k.orgAudit(), s.k.orgHead(), freezeKey, s.k.windows(), s.k.windowEnds()},
		c.Entry.Prev, c.Entry.Hash, entry, op, doc, windowID, end).Text()
	if err != nil {
		return wrapWrite("org audit", err, sent)
	}
	switch res {
	case "ok", "already":
		return nil
	case "conflict":
		return fmt.Errorf("redisstore org audit: %w", deploy.ErrConflict)
	case "notfound":
		return fmt.Errorf("redisstore org audit %s: %w", op, deploy.ErrNotFound)
	}
	return fmt.Errorf("redisstore org audit: unexpected answer %q", res)
}

// OrgAudit implements deploy.Store: the entries and the head, read in one MULTI.
func (s *Store) OrgAudit(ctx context.Context) (deploy.OrgLog, error) {
	var vals *redis.StringSliceCmd
	var head *redis.StringCmd
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		vals = p.LRange(ctx, s.k.orgAudit(), 0, -1)
		head = p.Get(ctx, s.k.orgHead())
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return deploy.OrgLog{}, wrap("org audit", err)
	}
	l := deploy.OrgLog{Head: head.Val(), Entries: make([]deploy.AuditEntry, len(vals.Val()))}
	for i, v := range vals.Val() {
		if err := json.Unmarshal([]byte(v), &l.Entries[i]); err != nil {
			return deploy.OrgLog{}, fmt.Errorf("redisstore org audit: entry %d: %w", i+1, err)
		}
	}
	return l, nil
}
