package testkit

import (
	"os/exec"
	"runtime"
	"syscall"
)

// startWatched starts cmd so that the kernel kills it when the test binary
// dies without running Main's clean-up (a panic, a -timeout, SIGKILL), and
// closes exited once it has exited.
//
// Pdeathsig fires when the thread that forked the child exits, not the
// process, so the child is started from a goroutine locked to its own OS
// thread that stays alive, waiting for the child, until the child exits.
func startWatched(cmd *exec.Cmd, exited chan<- struct{}) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			close(exited)
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	return <-started
}
