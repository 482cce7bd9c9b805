//go:build unix

package shell

import (
	"io"
	"os/exec"
	"time"
)

// process is a started command: pgid is its process group, wait waits for
// it to end.
type process struct {
	pgid int
	wait func() exit
}

// startDirect runs argv directly in a new process group. On Linux the
// command gets Pdeathsig (it dies when the bot does, but what it started
// does not: a binary that calls Supervise runs its steps supervised
// instead, start_linux.go); elsewhere nothing ends the group if the bot
// dies. wait must be called on the goroutine that called startDirect.
func startDirect(argv, env []string, dir string, out io.Writer, waitDelay time.Duration) (*process, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = directAttr()
	// A process that left the group but keeps our pipes open (a daemon) must not hold Wait forever.
	cmd.WaitDelay = waitDelay
	unlock := holdThread()
	if err := cmd.Start(); err != nil {
		unlock()
		return nil, err
	}
	return &process{pgid: cmd.Process.Pid, wait: func() exit {
		defer unlock()
		err := cmd.Wait()
		return exitOf(cmd.ProcessState, err)
	}}, nil
}
