package loadtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// profileSource is added to the bot's main package, only when the load test
// builds it with LOADTEST_PROFILE set (go build -overlay): SIGUSR2 starts a
// CPU profile into $LOADTEST_PROFILE/cpu-<pid>-<n>.pprof, SIGUSR1 stops it.
// The product binary has no such hook.
const profileSource = `package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
)

func init() {
	dir := os.Getenv("LOADTEST_PROFILE")
	if dir == "" {
		return
	}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		var f *os.File
		n := 0
		for s := range sig {
			switch {
			case s == syscall.SIGUSR2 && f == nil:
				n++
				var err error
				f, err = os.Create(filepath.Join(dir, fmt.Sprintf("cpu-%d-%d.pprof", os.Getpid(), n)))
				if err == nil && pprof.StartCPUProfile(f) != nil {
					f.Close()
					f = nil
				}
			case s == syscall.SIGUSR1 && f != nil:
				pprof.StopCPUProfile()
				f.Close()
				f = nil
			}
		}
	}()
}
`

// profileOverlay writes the profiling hook and the overlay that adds it to
// the main package in src, and returns the overlay's path.
func (e *env) profileOverlay(src string) string {
	e.tb.Helper()
	hook := filepath.Join(e.dir, "loadtest_profile.go")
	if err := os.WriteFile(hook, []byte(profileSource), 0o600); err != nil {
		e.tb.Fatal(err)
	}
	b, _ := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(src, "zz_loadtest_profile.go"): hook}})
	overlay := filepath.Join(e.dir, "overlay.json")
	if err := os.WriteFile(overlay, b, 0o600); err != nil {
		e.tb.Fatal(err)
	}
	if err := os.MkdirAll(e.profile, 0o755); err != nil {
		e.tb.Fatal(err)
	}
	return overlay
}

// profiling starts the bot's CPU profile (when LOADTEST_PROFILE is set) and
// returns the function that stops it and names it after the load.
func (e *env) profiling(bot *proc, name string) func() {
	if e.profile == "" {
		return func() {}
	}
	before, _ := filepath.Glob(filepath.Join(e.profile, "cpu-*.pprof"))
	_ = bot.cmd.Process.Signal(syscall.SIGUSR2)
	return func() {
		_ = bot.cmd.Process.Signal(syscall.SIGUSR1)
		time.Sleep(300 * time.Millisecond) // the profile is written on stop
		after, _ := filepath.Glob(filepath.Join(e.profile, "cpu-*.pprof"))
		for _, f := range after {
			if !slices.Contains(before, f) {
				_ = os.Rename(f, filepath.Join(e.profile, filepath.Base(name)+".pprof"))
			}
		}
	}
}
