package redisstore

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"deploybot/deploy"
	"deploybot/deploy/storetest"
	"deploybot/internal/httpserver"
	"deploybot/internal/testkit"
)

func TestTopologyOf(t *testing.T) {
	for raw, want := range map[string]Topology{
		"redis://cache:6379/0":    Single,
		"rediss://:pw@cache:6380": Single,
		"redis://s-a:26379?master_name=deploybot&addr=s-b:26379&addr=s-c:26379": Sentinel,
		"rediss://s-a:26379/1?master_name=deploybot":                            Sentinel,
		"redis+cluster://node-a:6379?addr=node-b:6379":                          Cluster,
		"rediss+cluster://node-a:6379":                                          Cluster,
	} {
		if got := TopologyOf(raw); got != want {
			t.Errorf("TopologyOf(%q) = %s, want %s", raw, got, want)
		}
	}
}

func TestClusterPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"deploybot:":    "{deploybot}:",
		"team-a:":       "{team-a}:",
		"deploy":        "{deploy}:",
		"{deploybot}:":  "{deploybot}:",
		"x:{team}:":     "x:{team}:",
		"{}:deploybot:": "{{}:deploybot}:",
	} {
		if got := ClusterPrefix(in); got != want {
			t.Errorf("ClusterPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every URL form Open accepts builds the client of its topology with
// go-redis honouring context deadlines and the default timeouts where the
// URL sets none; a Cluster store's keys carry the hash tag.
func TestOpenBuildsTheClientOfEachForm(t *testing.T) {
	type opts struct {
		ctx               bool
		dial, read, write time.Duration
	}
	get := func(c redis.UniversalClient) opts {
		switch c := c.(type) {
		case *redis.ClusterClient:
			o := c.Options()
			return opts{ctx: o.ContextTimeoutEnabled, dial: o.DialTimeout, read: o.ReadTimeout, write: o.WriteTimeout}
		case *redis.Client:
			o := c.Options()
			return opts{ctx: o.ContextTimeoutEnabled, dial: o.DialTimeout, read: o.ReadTimeout, write: o.WriteTimeout}
		}
		t.Fatalf("client %T", c)
		return opts{}
	}
	tests := []struct {
		name, url, prefix string
		wantType          string
		wantRead          time.Duration
	}{
		{"single", "redis://cache:6379/2", "deploybot:", "*redis.Client", DefaultReadTimeout},
		{"single with its own read timeout", "redis://cache:6379/2?read_timeout=5s", "deploybot:", "*redis.Client", 5 * time.Second},
		{"sentinel", "redis://s-a:26379?master_name=deploybot&addr=s-b:26379&password=pw", "deploybot:", "*redis.Client", DefaultReadTimeout},
		{"cluster", "redis+cluster://node-a:6379?addr=node-b:6379", "{deploybot}:", "*redis.ClusterClient", DefaultReadTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.url, "deploybot:")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := typeName(s.c); got != tt.wantType {
				t.Errorf("client %s, want %s", got, tt.wantType)
			}
			o := get(s.c)
			if !o.ctx || o.dial != DefaultDialTimeout || o.read != tt.wantRead || o.write != DefaultWriteTimeout {
				t.Errorf("context timeouts %v, dial %s, read %s, write %s", o.ctx, o.dial, o.read, o.write)
			}
			if s.Prefix() != tt.prefix {
				t.Errorf("prefix %q, want %q", s.Prefix(), tt.prefix)
			}
		})
	}
}

func typeName(c redis.UniversalClient) string {
	switch c.(type) {
	case *redis.ClusterClient:
		return "*redis.ClusterClient"
	case *redis.Client:
		return "*redis.Client"
	}
	return "other"
}

func TestOpenRefusesBadURLs(t *testing.T) {
	for raw, want := range map[string]string{
		"redis://cache:6379?addr=cache2:6379":     "needs master_name",
		"redis://s-a:26379?master_name=":          "master_name is empty",
		"redis+cluster://node-a:6379/3":           "only database 0",
		"redis://cache:6379?bogus=1":              "unexpected option",
		"redis://s-a:26379?master_name=x&bogus=1": "unexpected option",
		"redis+cluster://node-a:6379?addr=node-b": "addr",
		"memcached://cache:6379":                  "scheme",
	} {
		if _, err := Open(raw, "p:"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v, want an error saying %q", raw, err, want)
		}
	}
}

// A stalled Redis (the process paused) costs a caller no more than the
// deadline of its context, whatever the URL's read timeout: the call comes
// back with a timeout, marked unavailable, and /readyz answers 503 within its
// own second. Without go-redis's ContextTimeoutEnabled the reads waited for
// the client's read timeout instead.
func TestStalledRedisAnswersWithinTheDeadline(t *testing.T) {
	srv := testkit.StartRedis(t)
	// A read timeout far past the deadline: the deadline must still win.
	s, err := Open(srv.URL()+"?read_timeout=10s&write_timeout=10s", "stall:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := storetest.SampleRun("r1", "production", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := s.Apply(t.Context(), storetest.Create(r, true)); err != nil {
		t.Fatal(err)
	}
	ready := httptest.NewServer(httpserver.Ready(s.Ping))
	defer ready.Close()

	srv.Pause(t)
	const budget = 1500 * time.Millisecond
	calls := map[string]func(context.Context) error{
		"Run": func(ctx context.Context) error { _, err := s.Run(ctx, "r1"); return err },
		"Apply": func(ctx context.Context) error {
			return s.Apply(ctx, storetest.Update(r, storetest.Next(r, nil), "tick"))
		},
		"Runs": func(ctx context.Context) error { _, err := s.Runs(ctx, deploy.RunFilter{Live: true}); return err },
	}
	for name, call := range calls {
		ctx, cancel := context.WithTimeout(t.Context(), budget)
		done := make(chan error, 1)
		go func() { done <- call(ctx) }()
		// Generous: the call is due back at the deadline; without the fix it
		// took the read timeout plus retries.
		select {
		case err := <-done:
			if !errors.Is(err, deploy.ErrUnavailable) || !isTimeout(err) {
				t.Errorf("%s on a paused Redis: %v, want an unavailable timeout", name, err)
			}
			// The write was sent: Redis may still apply it (below, it does);
			// a read changed nothing either way.
			if unknown := errors.Is(err, deploy.ErrOutcomeUnknown); unknown != (name == "Apply") {
				t.Errorf("%s on a paused Redis: outcome unknown %v, want %v", name, unknown, name == "Apply")
			}
		case <-time.After(budget + 2*time.Second):
			t.Errorf("%s on a paused Redis still blocked 2s after its deadline", name)
		}
		cancel()
	}

	res := make(chan int, 1)
	go func() {
		resp, err := http.Get(ready.URL)
		if err != nil {
			res <- 0
			return
		}
		resp.Body.Close()
		res <- resp.StatusCode
	}()
	select {
	case code := <-res:
		if code != http.StatusServiceUnavailable {
			t.Errorf("/readyz on a paused Redis: %d, want 503", code)
		}
	case <-time.After(httpserver.ReadyTimeout + time.Second):
		t.Errorf("/readyz on a paused Redis did not answer within %s", httpserver.ReadyTimeout+time.Second)
	}

	srv.Resume()
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping after resume: %v", err)
	}
}

// A write sent to a Redis that stalls comes back at its deadline as
// outcome unknown — and Redis applies it when it goes on, so nobody may be
// told that nothing changed. A write whose deadline had passed before the
// call sends nothing and is not unknown.
func TestATimedOutWriteMayStillBeApplied(t *testing.T) {
	srv := testkit.StartRedis(t)
	s, err := Open(srv.URL(), "late:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := storetest.SampleRun("r1", "production", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := s.Apply(t.Context(), storetest.Create(r, true)); err != nil {
		t.Fatal(err)
	}
	expired, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Apply(expired, storetest.Update(r, storetest.Next(r, nil), "late")); err == nil || errors.Is(err, deploy.ErrOutcomeUnknown) {
		t.Errorf("Apply with a deadline already past: %v, want an error that is not outcome unknown", err)
	}

	srv.Pause(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	err = s.Apply(ctx, storetest.Update(r, storetest.Next(r, nil), "tick"))
	cancel()
	if !errors.Is(err, deploy.ErrOutcomeUnknown) {
		t.Fatalf("Apply on a paused Redis: %v, want outcome unknown", err)
	}
	srv.Resume()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := s.Run(t.Context(), "r1")
		if err == nil && got.Rev == r.Rev+1 {
			return // applied after all
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("after resume: %v; want the timed-out write applied (rev %d)", err, r.Rev+1)
			}
			t.Fatalf("after resume: rev %d; want the timed-out write applied (rev %d)", got.Rev, r.Rev+1)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// A store opened with a redis+cluster:// URL keeps the store contract on a
// Redis Cluster, whose rules refuse a script touching keys of several
// slots: the hash tag Open adds to the prefix keeps every key in one slot.
func TestClusterContract(t *testing.T) {
	srv := testkit.StartCluster(t)
	url := "redis+cluster://" + srv.Addr()
	storetest.Run(t, func(t *testing.T) deploy.Store {
		s, err := Open(url, srv.Prefix(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// The org audit chain on a Redis Cluster: its script and reads touch the
// chain's, the freezes' and the windows' keys, all in the store's slot; two
// processes (two clients) append to one chain.
func TestClusterOrgAudit(t *testing.T) {
	srv := testkit.StartCluster(t)
	url := "redis+cluster://" + srv.Addr()
	storetest.RunOrgAudit(t, func(t *testing.T) (deploy.Store, deploy.Store, storetest.AuditEditor) {
		prefix := srv.Prefix(t)
		open := func() deploy.Store {
			s, err := Open(url, prefix)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr()}})
		t.Cleanup(func() { _ = c.Close() })
		return open(), open(), auditEditor{c: c, k: keys{p: ClusterPrefix(prefix)}}
	})
}

// Without the hash tag the same store breaks Cluster's rules: the control
// for TestClusterContract.
func TestClusterNeedsTheHashTag(t *testing.T) {
	srv := testkit.StartCluster(t)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr()}})
	defer c.Close()
	s := New(c, "untagged:")
	r := storetest.SampleRun("r1", "production", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := s.Apply(t.Context(), storetest.Create(r, true)); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("Apply without a hash tag on a cluster: %v, want CROSSSLOT", err)
	}
}
