//go:build unix && !linux

package shell

import (
	"io"
	"time"
)

// Supervise does nothing outside Linux: steps run directly (startDirect).
func Supervise() {}

// start runs argv directly in a new process group. Outside Linux nothing
// ends that group if the bot itself dies (see start_linux.go).
func start(argv, env []string, dir string, out io.Writer, waitDelay time.Duration, _ bool) (*process, error) {
	return startDirect(argv, env, dir, out, waitDelay)
}
