package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// orphansRunbook's migrate step runs a shell whose child (the "migration")
// outlives it; the step's timeout is long, so only the bot's death can be
// what ends it in time.
const orphansRunbook = `
name: orphans
phases:
  - id: build
    title: Build and verify
    approval: false
    steps:
      - id: notes
        title: Release notes written
      - id: migrate
        title: Migrate
        run: shell
        timeout: 2m
        with:
          command: ["sh", "-c", "echo start-$$ >> %DIR%/marks; sh -c 'echo $$ > %DIR%/pid.tmp; mv %DIR%/pid.tmp %DIR%/pid; exec sleep 45'; echo end-by-orphan >> %DIR%/marks"]
  - id: prod
    title: Production
    approval: false
    steps:
      - id: rollout
        title: Roll out
`

// processAlive reports whether pid is a running (not zombie) process.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return !(i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X'))
}

// TestKilledBotTakesItsStepWithIt SIGKILLs the real binary while a shell
// step's command and its child run: both must be gone within two seconds
// (not run on unseen, past the step's timeout), so the next life's
// "interrupted" is true and a Retry is the only copy running.
func TestKilledBotTakesItsStepWithIt(t *testing.T) {
	dir := t.TempDir()
	d := newSlackDriver(t, strings.ReplaceAll(orphansRunbook, "%DIR%", dir))
	p := d.start()
	if got := d.command(p, ana, "start v1.0"); !strings.Contains(got, "Started run") {
		t.Fatalf("start: %q", got)
	}
	card := d.find(deployChannel, "Build and verify", "Release notes written")
	d.click(p, bob, card, "Done", ":notes")
	marks, pidFile := filepath.Join(dir, "marks"), filepath.Join(dir, "pid")
	readInt := func(file, prefix string) int {
		var n int
		waitFor(t, "a pid in "+file, 10*time.Second, func() bool {
			b, _ := os.ReadFile(file)
			var err error
			n, err = strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(string(b)), prefix))
			return err == nil
		})
		return n
	}
	child, grandchild := readInt(marks, "start-"), readInt(pidFile, "")
	t.Cleanup(func() { _ = syscall.Kill(grandchild, syscall.SIGKILL); _ = syscall.Kill(child, syscall.SIGKILL) })
	if !processAlive(child) || !processAlive(grandchild) {
		t.Fatalf("the step's processes %d and %d are not running", child, grandchild)
	}

	p.kill(syscall.SIGKILL)
	killed := time.Now()
	deadline := killed.Add(2 * time.Second)
	for processAlive(child) || processAlive(grandchild) {
		if time.Now().After(deadline) {
			t.Fatalf("2s after the bot was SIGKILLed, its step still runs (child alive %v, grandchild alive %v)", processAlive(child), processAlive(grandchild))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the step's processes were gone %s after the kill", time.Since(killed))

	// The next life shows the step interrupted; Retry runs the only copy.
	os.Remove(pidFile)
	p = d.start()
	m := d.findWithin(60*time.Second, deployChannel, "Build and verify", "interrupted")
	if !hasButton(d.fake, m, "Retry", ":migrate") {
		t.Fatalf("no Retry on the interrupted step:\n%s", m.Visible())
	}
	d.click(p, bob, m, "Retry", ":migrate")
	retried := readInt(pidFile, "")
	t.Cleanup(func() { _ = syscall.Kill(retried, syscall.SIGKILL) })
	b, _ := os.ReadFile(marks)
	if strings.Count(string(b), "start-") != 2 || strings.Contains(string(b), "end-by-orphan") {
		t.Fatalf("marks %q, want two starts and no end by the first copy", b)
	}
	if processAlive(grandchild) {
		t.Fatalf("the first copy's process %d runs alongside the retry", grandchild)
	}
	// The bot's end (SIGKILL by the test's cleanup) ends the retry too.
	p.kill(syscall.SIGKILL)
	waitFor(t, "the retry to end with the bot", 2*time.Second, func() bool { return !processAlive(retried) })
}
