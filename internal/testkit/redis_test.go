package testkit

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { Main(m) }

func TestRedisAnswersAndIsShared(t *testing.T) {
	srv := Redis(t)
	if err := ping(srv.Addr()); err != nil {
		t.Fatalf("PING %s: %v", srv.Addr(), err)
	}
	if again := Redis(t); again != srv {
		t.Errorf("second Redis call started another server (%s, first %s)", again.Addr(), srv.Addr())
	}
	if want := "redis://" + srv.Addr() + "/0"; srv.URL() != want {
		t.Errorf("URL() = %q, want %q", srv.URL(), want)
	}
}

func TestPrefixIsUniquePerCall(t *testing.T) {
	srv := Redis(t)
	a, b := srv.Prefix(t), srv.Prefix(t)
	if a == b {
		t.Fatalf("two prefixes are equal: %q", a)
	}
	for _, p := range []string{a, b} {
		if !strings.HasPrefix(p, "test:"+t.Name()+":") || !strings.HasSuffix(p, ":") {
			t.Errorf("prefix %q does not look like test:%s:<random>:", p, t.Name())
		}
	}
}

func TestLookupRedis(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		wantErr bool
	}{
		{name: "REDIS_SERVER points nowhere", env: "/nonexistent/redis-server", wantErr: true},
		{name: "found on PATH", env: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("REDIS_SERVER", tt.env)
			bin, err := lookupRedis()
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "redis-server not found: install it (apt-get install redis-server) or set REDIS_SERVER") {
					t.Fatalf("lookupRedis() = %q, %v; want the not-found message", bin, err)
				}
				return
			}
			if err != nil || bin == "" {
				t.Fatalf("lookupRedis() = %q, %v", bin, err)
			}
		})
	}
}

// A port taken meanwhile makes redis-server exit; startRedisOn must report
// it (so startRedis retries on another port) instead of hanging.
func TestStartOnBusyPortFails(t *testing.T) {
	bin, err := lookupRedis()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	srv, err := startRedisOn(bin, port)
	if err == nil {
		srv.stop()
		t.Fatalf("redis-server started on busy port %d", port)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Errorf("error does not name the port: %v", err)
	}
}

func TestStartAndStopOwnServer(t *testing.T) {
	bin, err := lookupRedis()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := startRedis(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := ping(srv.Addr()); err != nil {
		t.Fatalf("PING: %v", err)
	}
	srv.stop()
	if err := ping(srv.Addr()); err == nil {
		t.Fatal("server still answers after stop")
	}
}

// A master, a replica and a Sentinel that knows them both start on loopback,
// and a paused server answers again once resumed.
func TestSentinelTopology(t *testing.T) {
	master := StartRedis(t)
	replica := StartReplica(t, master)
	sentinel := StartSentinel(t, "deploybot", master, SentinelTimings{}, 1)
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel.Addr()})
	defer sc.Close()
	addr, err := sc.GetMasterAddrByName(t.Context(), "deploybot").Result()
	if err != nil || net.JoinHostPort(addr[0], addr[1]) != master.Addr() {
		t.Fatalf("sentinel's master: %v %v, want %s", addr, err, master.Addr())
	}
	if err := master.Client(t).Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := master.Client(t).Do(t.Context(), "WAIT", 1, 2000).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := replica.Client(t).Get(t.Context(), "k").Result(); v != "v" {
		t.Fatalf("replica has k = %q, %v", v, err)
	}

	master.Pause(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := master.Client(t).Ping(ctx).Err(); err == nil {
		t.Fatal("a paused server answered PING")
	}
	master.Resume()
	if err := ping(master.Addr()); err != nil {
		t.Fatalf("resumed server: %v", err)
	}
}
