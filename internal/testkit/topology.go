package testkit

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartRedis starts a redis-server of the test's own (not the binary's
// shared one: a test may pause, kill or reconfigure it), on a free loopback
// port, with args appended to the standard ones (e.g. "--replicaof",
// "127.0.0.1", "6379"). It is stopped when the test ends.
func StartRedis(t testing.TB, args ...string) *RedisServer {
	t.Helper()
	return startOwn(t, nil, args...)
}

// StartReplica starts a redis-server replicating master and waits until its
// link to the master is up. It is stopped when the test ends.
func StartReplica(t testing.TB, master *RedisServer) *RedisServer {
	t.Helper()
	host, port, _ := net.SplitHostPort(master.Addr())
	r := StartRedis(t, "--replicaof", host, port)
	waitFor(t, 15*time.Second, "replica "+r.Addr()+" linked to "+master.Addr(), func(ctx context.Context, c *redis.Client) (bool, error) {
		info, err := c.Info(ctx, "replication").Result()
		return strings.Contains(info, "master_link_status:up"), err
	}, r)
	return r
}

// SentinelTimings are the Sentinel's failure detection settings: the master
// is taken as down after DownAfter without an answer, and a failover attempt
// is given up after FailoverTimeout.
type SentinelTimings struct {
	DownAfter       time.Duration
	FailoverTimeout time.Duration
}

// StartSentinel starts `redis-server --sentinel` on a free loopback port,
// monitoring master under name with a quorum of 1 (its sentinel.conf lives
// in the server's temporary directory, since Sentinel rewrites it), and
// waits until it knows the master's replicas when want > 0. It is stopped
// when the test ends.
func StartSentinel(t testing.TB, name string, master *RedisServer, timings SentinelTimings, want int) *RedisServer {
	t.Helper()
	if timings.DownAfter <= 0 {
		timings.DownAfter = time.Second
	}
	if timings.FailoverTimeout <= 0 {
		timings.FailoverTimeout = 5 * time.Second
	}
	host, port, _ := net.SplitHostPort(master.Addr())
	conf := func(dir string) ([]string, error) {
		path := filepath.Join(dir, "sentinel.conf")
		text := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s 1\n"+
			"sentinel down-after-milliseconds %[1]s %[4]d\n"+
			"sentinel failover-timeout %[1]s %[5]d\n"+
			"sentinel parallel-syncs %[1]s 1\n",
			name, host, port, timings.DownAfter.Milliseconds(), timings.FailoverTimeout.Milliseconds())
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			return nil, fmt.Errorf("sentinel.conf: %w", err)
		}
		return []string{path, "--sentinel"}, nil
	}
	s := startOwn(t, conf)
	if want > 0 {
		sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
		defer sc.Close()
		waitFor(t, 30*time.Second, fmt.Sprintf("sentinel %s to know %d replica(s) of %s", s.Addr(), want, name), func(ctx context.Context, _ *redis.Client) (bool, error) {
			rs, err := sc.Replicas(ctx, name).Result()
			return len(rs) >= want, err
		}, s)
	}
	return s
}

// Kill stops the server at once (SIGKILL), as a crash would, and waits until
// it has exited.
func (s *RedisServer) Kill() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
	}
}

// Client returns a go-redis client of the server, closed when the test ends.
func (s *RedisServer) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func startOwn(t testing.TB, conf func(dir string) ([]string, error), args ...string) *RedisServer {
	t.Helper()
	bin, err := lookupRedis()
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	var errs []error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testkit: %v", err)
		}
		srv, err := startRedisWith(bin, port, conf, args...)
		if err == nil {
			t.Cleanup(srv.stop)
			return srv
		}
		errs = append(errs, err)
	}
	t.Fatalf("testkit: start redis-server %s: %v", strings.Join(args, " "), errs)
	return nil
}

// waitFor polls check with a client of srv every 50 ms until it reports
// true, failing the test after within.
func waitFor(t testing.TB, within time.Duration, what string, check func(context.Context, *redis.Client) (bool, error), srv *RedisServer) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ok, err := check(ctx, c)
		cancel()
		if ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("testkit: waited %s for %s (last error: %v)", within, what, last)
}

// StartCluster starts a one-node Redis Cluster (cluster mode on, all 16384
// slots on the node) and waits until the cluster state is ok. One node is
// enough to hold a store to Cluster's rules: a command or script whose keys
// hash to different slots is refused (CROSSSLOT) even there. It is stopped
// when the test ends.
func StartCluster(t testing.TB) *RedisServer {
	t.Helper()
	conf := func(dir string) ([]string, error) {
		return []string{"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf")}, nil
	}
	s := startOwn(t, conf)
	c := s.Client(t)
	if err := c.Do(context.Background(), "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatalf("testkit: cluster slots: %v", err)
	}
	waitFor(t, 15*time.Second, "cluster state ok on "+s.Addr(), func(ctx context.Context, c *redis.Client) (bool, error) {
		info, err := c.ClusterInfo(ctx).Result()
		return strings.Contains(info, "cluster_state:ok"), err
	}, s)
	return s
}
