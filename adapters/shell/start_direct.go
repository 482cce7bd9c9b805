//go:build unix

package shell

import (
	"io"
	"os/exec"
	"syscall"
	"time"
)

// process is a started command: pgid is its process group, wait waits for
// it to end.
type process struct {
	pgid int
	wait func() exit
}

// startDirect runs argv directly in a new process group. Nothing ends that
// group if the bot itself dies: on Linux a binary that calls Supervise runs
// its steps supervised instead (start_linux.go).
func startDirect(argv, env []string, dir string, out io.Writer, waitDelay time.Duration) (*process, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A process that left the group but keeps our pipes open (a daemon) must not hold Wait forever.
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &process{pgid: cmd.Process.Pid, wait: func() exit {
		err := cmd.Wait()
		return exitOf(cmd.ProcessState, err)
	}}, nil
}
