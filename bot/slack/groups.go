package slackfront

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"deploybot/internal/clock"
)

// groupAPI is the slice of slack-go the user-group cache calls.
type groupAPI interface {
	GetUserGroupsContext(ctx context.Context, options ...slack.GetUserGroupsOption) ([]slack.UserGroup, error)
	GetUserGroupMembersContext(ctx context.Context, group string, options ...slack.GetUserGroupMembersOption) ([]string, error)
}

// Timing of the user-group cache.
const (
	// groupsFetchTimeout bounds one refresh (it runs on its own, so a request
	// that stops waiting does not cancel it for the others).
	groupsFetchTimeout = 10 * time.Second
	// groupsRetryAfter is how long a failed refresh is not retried.
	groupsRetryAfter = 30 * time.Second
)

// groupCache knows the members of the user groups the runbook's approver
// list names, fetched at most once per TTL (usergroups.list, then
// usergroups.users.list per named group). It fails closed: when Slack cannot
// say (an error, or no answer in time), a person is in no group, and data
// older than the TTL is never used.
type groupCache struct {
	api   groupAPI
	clock clock.Clock
	ttl   time.Duration
	log   *slog.Logger

	mu       sync.Mutex // mu protects the fields below
	key      string     // the handles the members were fetched for
	members  map[string]map[string]bool
	ids      map[string]string // handle -> user-group ID, for mentions
	fetched  time.Time
	failed   time.Time
	inflight chan struct{} // closed when the running refresh ends
}

func newGroupCache(api groupAPI, clk clock.Clock, ttl time.Duration, log *slog.Logger) *groupCache {
	return &groupCache{api: api, clock: clk, ttl: ttl, log: log}
}

// of returns the handles among handles whose group has user as a member.
// It waits for a refresh at most until ctx ends.
func (g *groupCache) of(ctx context.Context, user string, handles []string) []string {
	m := g.snapshot(ctx, handles)
	var out []string
	for _, h := range handles {
		if m[h][user] {
			out = append(out, h)
		}
	}
	return out
}

// fresh returns the members when they were fetched for key within the TTL.
// g.mu must be held.
func (g *groupCache) fresh(key string) (map[string]map[string]bool, bool) {
	if g.key == key && g.members != nil && g.clock.Now().Sub(g.fetched) < g.ttl {
		return g.members, true
	}
	return nil, false
}

func (g *groupCache) snapshot(ctx context.Context, handles []string) map[string]map[string]bool {
	key := strings.Join(handles, ",")
	g.mu.Lock()
	if m, ok := g.fresh(key); ok {
		g.mu.Unlock()
		return m
	}
	if g.key == key && !g.failed.IsZero() && g.clock.Now().Sub(g.failed) < groupsRetryAfter {
		g.mu.Unlock()
		return nil // Slack failed a moment ago: do not ask again on every click
	}
	if g.inflight == nil {
		ch := make(chan struct{})
		g.inflight = ch
		go g.refresh(slices.Clone(handles), key, ch)
	}
	wait := g.inflight
	g.mu.Unlock()
	select {
	case <-wait:
	case <-ctx.Done():
		g.log.Warn("user groups not fetched in time; treating the person as in no group")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	m, _ := g.fresh(key)
	return m
}

func (g *groupCache) refresh(handles []string, key string, done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), groupsFetchTimeout)
	defer cancel()
	members, ids, err := g.fetch(ctx, handles)
	g.mu.Lock()
	defer g.mu.Unlock()
	defer close(done)
	g.inflight = nil
	if err != nil {
		g.log.Warn("user groups unavailable; approvers named by group are not recognised until they are", "err", err)
		g.key, g.members, g.failed = key, nil, g.clock.Now()
		return
	}
	g.key, g.members, g.ids, g.fetched, g.failed = key, members, ids, g.clock.Now(), time.Time{}
}

// groupIDs returns the user-group IDs of handles (handle -> ID) as the last
// refresh for handles found them, so a message can mention a group
// (<!subteam^ID>); nil when Slack could not say in time.
func (g *groupCache) groupIDs(ctx context.Context, handles []string) map[string]string {
	if g.snapshot(ctx, handles) == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ids
}

func (g *groupCache) fetch(ctx context.Context, handles []string) (map[string]map[string]bool, map[string]string, error) {
	groups, err := g.api.GetUserGroupsContext(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("usergroups.list: %w", err)
	}
	out := map[string]map[string]bool{}
	ids := map[string]string{}
	for _, grp := range groups {
		if !slices.Contains(handles, grp.Handle) {
			continue
		}
		ids[grp.Handle] = grp.ID
		users, err := g.api.GetUserGroupMembersContext(ctx, grp.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("usergroups.users.list %s: %w", grp.Handle, err)
		}
		set := make(map[string]bool, len(users))
		for _, u := range users {
			set[u] = true
		}
		out[grp.Handle] = set
	}
	return out, ids, nil
}
