package testkit

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RedisServer is a real redis-server process started for a test binary. It
// keeps nothing on disk (no RDB snapshots, no AOF) and listens on 127.0.0.1.
type RedisServer struct {
	addr   string
	dir    string
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited
}

// shared is the one redis-server of this test binary. It is the only
// package-level state of the test kit, and it is unavoidable: one server per
// binary is shared by every test, which tells tests apart by key prefix.
// Main stops it after the tests ran.
var shared struct {
	once sync.Once
	srv  *RedisServer
	err  error
}

// errRedisNotFound is the failure when no redis-server binary can be found.
var errRedisNotFound = errors.New("redis-server not found: install it (apt-get install redis-server) or set REDIS_SERVER")

// Redis returns the test binary's redis-server, starting it on first use.
// It fails the test when redis-server cannot be found or started; it never
// skips. Packages that call it should stop the server with
//
//	func TestMain(m *testing.M) { testkit.Main(m) }
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	shared.once.Do(func() {
		bin, err := lookupRedis()
		if err != nil {
			shared.err = err
			return
		}
		shared.srv, shared.err = startRedis(bin)
	})
	if shared.err != nil {
		t.Fatalf("testkit: %v", shared.err)
	}
	return shared.srv
}

// Main runs the tests of a package and then stops the redis-server that
// Redis started (if any). Use it as the package's TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.stop()
	}
	os.Exit(code)
}

// Addr returns the server's host:port.
func (s *RedisServer) Addr() string { return s.addr }

// URL returns the server's address as a redis:// URL.
func (s *RedisServer) URL() string { return "redis://" + s.addr + "/0" }

// Prefix returns a key prefix unique to the test ("test:<TestName>:<random>:"),
// so tests sharing the server never see each other's keys.
func (s *RedisServer) Prefix(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "test:" + t.Name() + ":" + hex.EncodeToString(b[:]) + ":"
}

// lookupRedis finds the redis-server binary: $REDIS_SERVER if set, else PATH.
func lookupRedis() (string, error) {
	if p := os.Getenv("REDIS_SERVER"); p != "" {
		bin, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%w (REDIS_SERVER=%q: %v)", errRedisNotFound, p, err)
		}
		return bin, nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", errRedisNotFound
	}
	return bin, nil
}

// startRedis starts bin on a free port in a fresh temporary directory. The
// port is found by listening on :0 and closing the listener; another process
// may take it meanwhile, so a failed start is retried on a new port.
func startRedis(bin string) (*RedisServer, error) {
	const attempts = 5
	var errs []error
	for range attempts {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("start redis-server: %w", err)
		}
		srv, err := startRedisOn(bin, port)
		if err == nil {
			return srv, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("start redis-server: %d attempts failed: %w", attempts, errors.Join(errs...))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}

// startRedisOn starts bin on port; extra arguments go after the standard ones
// (--replicaof …), and a leading config file plus --sentinel (see
// StartSentinel) before them, as redis-server wants.
func startRedisOn(bin string, port int, extra ...string) (*RedisServer, error) {
	return startRedisWith(bin, port, nil, extra...)
}

func startRedisWith(bin string, port int, conf func(dir string) ([]string, error), extra ...string) (*RedisServer, error) {
	dir, err := os.MkdirTemp("", "testkit-redis-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	var lead []string
	if conf != nil {
		if lead, err = conf(dir); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	logFile := filepath.Join(dir, "redis.log")
	args := append(lead,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--logfile", logFile,
	)
	cmd := exec.Command(bin, append(args, extra...)...)
	cmd.Dir = dir
	srv := &RedisServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, cmd: cmd, exited: make(chan struct{})}
	if err := startWatched(cmd, srv.exited); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	if err := srv.waitReady(10 * time.Second); err != nil {
		srv.stop()
		log, _ := os.ReadFile(logFile)
		return nil, fmt.Errorf("redis-server on port %d: %w; log:\n%s", port, err, tail(string(log), 2000))
	}
	return srv, nil
}

// waitReady polls the server with PING until it answers PONG, the process
// exits, or the deadline passes.
func (s *RedisServer) waitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		select {
		case <-s.exited:
			return errors.New("exited before answering")
		default:
		}
		err := ping(s.addr)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %s: %w", within, err)
		}
		select {
		case <-s.exited:
			return errors.New("exited before answering")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// ping sends a RESP PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// stop kills the server, waits for it to exit and removes its directory.
func (s *RedisServer) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
	}
	_ = os.RemoveAll(s.dir)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
