package shell

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SupervisorArg, as the first argument of a binary whose main calls
// Supervise first, makes it a step's supervisor instead of what it
// normally is.
const SupervisorArg = "__shell-supervisor"

// The supervisor's inherited descriptors (os/exec ExtraFiles start at 3).
const (
	// lifeFD is the read end of a pipe whose only write end the bot holds:
	// it reads end-of-file exactly when the bot has died (the kernel closes
	// a dead process's descriptors whatever killed it).
	lifeFD = 3
	// statusFD is where the supervisor reports how the command ended.
	statusFD = 4
)

// Supervise turns this process into a step's supervisor when the bot
// started it as one (its first argument is SupervisorArg) and exits when
// the command has ended; otherwise it returns the Supervisor that lets this
// binary's steps run supervised (Config.Supervisor). main calls it before
// anything else: given these arguments, a binary that does not would run as
// itself instead of the command, so only one that did gets a Supervisor.
func Supervise() *Supervisor {
	if len(os.Args) > 1 && os.Args[1] == SupervisorArg {
		// syscall.Exit, not os.Exit: nothing is buffered, and a race-enabled
		// build would otherwise linger a second at exit (GORACE atexit_sleep_ms).
		syscall.Exit(supervise(os.Args[2:]))
	}
	return &Supervisor{exe: selfExe()}
}

// directAttr puts a directly started command in its own process group with
// Pdeathsig: it dies when the bot does (what it started does not; see start).
func directAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// holdThread keeps the calling goroutine on its thread until unlock: the
// kernel sends Pdeathsig when the thread that started the command ends,
// not the process.
func holdThread() (unlock func()) {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}

// start runs argv under a supervisor: the bot's own binary re-executed with
// SupervisorArg, the leader of a new process group, which runs the command
// as its child in that group with the bot's descriptors for output and
// forwards how it ended. It holds the read end of a pipe (lifeFD) whose write
// end only the bot holds; when the bot dies, even by SIGKILL, the pipe reads
// end-of-file and the supervisor SIGKILLs the whole group, so no part of the
// command runs on unseen while the step is shown interrupted (and could be
// retried alongside). Pdeathsig would reach only the direct child, and fires
// when the thread that started it ends rather than the process.
//
// argv[0] is looked up in the bot's PATH here, as exec.Command does; argv,
// env and dir reach the command unchanged, each argument a separate element.
func start(argv, env []string, dir string, out io.Writer, waitDelay time.Duration, sup *Supervisor) (*process, error) {
	if sup == nil {
		return startDirect(argv, env, dir, out, waitDelay)
	}
	resolved := exec.Command(argv[0])
	if resolved.Err != nil {
		return nil, resolved.Err
	}
	lifeR, lifeW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		lifeR.Close()
		lifeW.Close()
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:   sup.exe,
		Args:   append([]string{os.Args[0], SupervisorArg, resolved.Path}, argv...),
		Env:    env,
		Dir:    dir,
		Stdout: out,
		Stderr: out,
		// Both pipes are close-on-exec in the bot: no other child inherits
		// lifeW, so only the bot's death closes it.
		ExtraFiles:  []*os.File{lifeR, statusW},
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
		// A process that left the group but keeps our pipes open (a daemon) must not hold Wait forever.
		WaitDelay: waitDelay,
	}
	err = cmd.Start()
	lifeR.Close()
	statusW.Close()
	if err != nil {
		lifeW.Close()
		statusR.Close()
		return nil, err
	}
	return &process{pgid: cmd.Process.Pid, wait: func() exit {
		waitErr := cmd.Wait()
		report, _ := io.ReadAll(statusR)
		statusR.Close()
		lifeW.Close() // held open until now: the supervisor is gone
		return supervisedExit(string(report), cmd.ProcessState, waitErr)
	}}, nil
}

// selfExe is the path that executes the running binary: /proc/self/exe
// works even when the file was replaced or deleted since the bot started.
func selfExe() string {
	if _, err := os.Stat("/proc/self/exe"); err == nil {
		return "/proc/self/exe"
	}
	if p, err := os.Executable(); err == nil {
		return p
	}
	return os.Args[0]
}

// supervisedExit reads the supervisor's report: "status N" (the command's
// wait status) or "error MESSAGE" (it could not be started). Without a report
// (the supervisor was killed, with the group, before it could write one) the
// supervisor's own end stands for the command's.
func supervisedExit(report string, ps *os.ProcessState, waitErr error) exit {
	kind, rest, _ := strings.Cut(strings.TrimSuffix(report, "\n"), " ")
	switch kind {
	case "status":
		if n, err := strconv.ParseUint(rest, 10, 32); err == nil {
			return exit{status: syscall.WaitStatus(n), ok: true}
		}
	case "error":
		if rest != "" {
			return exit{startErr: rest}
		}
	}
	return exitOf(ps, waitErr)
}

// supervise is the supervisor's main: args are the resolved program path
// and then the command's argv. Its environment, working directory and
// descriptors 0-2 are the command's. It returns its exit code; how the
// command ended goes to statusFD.
func supervise(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "deploybot: "+SupervisorArg+" is internal to the shell adapter")
		return 2
	}
	for _, fd := range []int{lifeFD, statusFD} {
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
			fmt.Fprintln(os.Stderr, "deploybot: "+SupervisorArg+" is internal to the shell adapter (descriptor "+strconv.Itoa(fd)+" is not its pipe)")
			return 2
		}
		// Not for the command: the bot must see statusFD end when the supervisor does.
		syscall.CloseOnExec(fd)
	}
	status := os.NewFile(statusFD, "status")
	report := func(s string) { _, _ = status.WriteString(s + "\n") }
	// The group to end is this process's own: refuse to kill any other.
	pgid := syscall.Getpgrp()
	if pgid != os.Getpid() {
		report("error the supervisor does not lead its process group")
		return 2
	}

	// The bot's SIGTERM to the group on timeout or cancel is for the
	// command: the supervisor outlives it to report how the command ended
	// (a SIGKILL after the grace period ends both). Caught, not ignored, so
	// the command starts with these signals' default action, as before; a
	// signal the bot itself ignores stays ignored, as before.
	sigs := make(chan os.Signal, 1)
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		if !signal.Ignored(sig) {
			signal.Notify(sigs, sig)
		}
	}

	// When the bot dies its end of the life pipe closes: end the whole
	// group (the command, anything it started in the group, and this
	// process) at once. Nothing is written on the pipe; any read that
	// returns means the bot is gone.
	go func() {
		life := os.NewFile(lifeFD, "life")
		var b [1]byte
		for {
			if _, err := life.Read(b[:]); err != nil {
				break
			}
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}()

	cmd := &exec.Cmd{Path: args[0], Args: args[1:], Env: os.Environ(), Stdout: os.Stdout, Stderr: os.Stderr}
	if err := cmd.Start(); err != nil {
		report("error " + strings.ReplaceAll(startError(err), "\n", " "))
		return 0
	}
	// A signal caught before the command existed (the bot's SIGTERM to the
	// group on a cancel) is the command's: pass it on.
	select {
	case sig := <-sigs:
		_ = cmd.Process.Signal(sig)
	default:
	}
	if _ = cmd.Wait(); cmd.ProcessState == nil {
		// The command ran, but how it ended is lost: no report, so the bot
		// takes this process's own failure for it.
		return 1
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	report("status " + strconv.FormatUint(uint64(ws), 10))
	return 0
}
