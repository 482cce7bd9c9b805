//go:build !linux

package testkit

import "os/exec"

// startWatched starts cmd and closes exited once it has exited. Outside Linux
// a test binary that dies without running Main leaves the server running.
func startWatched(cmd *exec.Cmd, exited chan<- struct{}) error {
	if err := cmd.Start(); err != nil {
		close(exited)
		return err
	}
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	return nil
}
