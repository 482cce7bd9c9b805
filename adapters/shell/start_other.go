//go:build unix && !linux

package shell

import (
	"io"
	"syscall"
	"time"
)

// Supervise returns nil outside Linux: steps run directly (startDirect).
func Supervise() *Supervisor { return nil }

// directAttr puts a directly started command in its own process group.
func directAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// holdThread does nothing outside Linux (no Pdeathsig to keep a thread for).
func holdThread() (unlock func()) { return func() {} }

// start runs argv directly in a new process group. Outside Linux nothing
// ends that group if the bot itself dies (see start_linux.go).
func start(argv, env []string, dir string, out io.Writer, waitDelay time.Duration, _ *Supervisor) (*process, error) {
	return startDirect(argv, env, dir, out, waitDelay)
}
