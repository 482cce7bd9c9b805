package console

import (
	"strconv"
	"testing"
	"time"
)

// TestGlobalSigninThrottle: wrong tokens from many clients drain one global
// bucket, so spreading guesses over addresses does not help.
func TestGlobalSigninThrottle(t *testing.T) {
	th := newSigninThrottle()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range globalBurst {
		client := "198.51.100." + strconv.Itoa(i)
		if d := th.wait(client, now); d != 0 {
			t.Fatalf("client %d waits %s before any guess of its own", i, d)
		}
		th.failed(client, now)
	}
	if d := th.wait("203.0.113.1", now); d != globalRefill {
		t.Fatalf("a fresh client after %d wrong tokens elsewhere waits %s, want %s", globalBurst, d, globalRefill)
	}
	if d := th.wait("203.0.113.1", now.Add(globalRefill)); d != 0 {
		t.Fatalf("after %s the bucket should hold a token again; wait %s", globalRefill, d)
	}
}

// TestThrottleMemoryIsBounded: the per-client memory never passes maxClients.
func TestThrottleMemoryIsBounded(t *testing.T) {
	th := newSigninThrottle()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxClients + 10 {
		th.failed("c"+strconv.Itoa(i), now)
	}
	if n := len(th.clients); n > maxClients {
		t.Fatalf("%d clients remembered, want at most %d", n, maxClients)
	}
}
