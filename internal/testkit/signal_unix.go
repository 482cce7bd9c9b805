//go:build unix

package testkit

import (
	"syscall"
	"testing"
)

// Pause stops the server's process (SIGSTOP): connections stay open and
// nothing is answered, as with a Redis stalled by a fork or a slow disk.
// Resume, or the end of the test, lets it go on.
func (s *RedisServer) Pause(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("testkit: pause redis-server: %v", err)
	}
	t.Cleanup(s.Resume)
}

// Resume continues a paused server (SIGCONT).
func (s *RedisServer) Resume() {
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
}
