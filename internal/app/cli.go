package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"deploybot/adapters/shell"
	"deploybot/runbook"
)

// Env is what the process gives the program: arguments (without the program
// name), environment, output streams and the build's version.
type Env struct {
	Args    []string
	Getenv  func(string) string
	Stdout  io.Writer
	Stderr  io.Writer
	Version string
	// ShellSupervisor is what main's shell.Supervise returned: shell steps
	// run under a supervisor that ends them when the process dies (nil: directly).
	ShellSupervisor *shell.Supervisor
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // a runbook check found problems; serving failed
	exitUsage  = 2 // bad arguments or configuration
)

const usage = `usage:
  deploybot                             serve (the console on 127.0.0.1:8080 when no chat platform is configured)
  deploybot runbook check FILE          validate a runbook; prints FILE:LINE: message per problem
  deploybot runbook check DIR           validate a directory of runbooks (one *.yaml per service) in one pass
  deploybot runbook show [SERVICE]      print a service's phases and steps (DEPLOYBOT_RUNBOOK, else the built-in runbook)
  deploybot runbook show PATH [SERVICE] print the phases and steps of the runbook(s) at PATH (a file or a directory)
  deploybot audit verify [RUN…|org]     verify the audit hash chains: every run's and the org chain (freezes, windows);
                                        exit 1 naming the first entry that does not hold
  deploybot audit export [--since DATE] [RUN…|org]  print the audit log as JSON Lines
  deploybot stats rebuild               write the delivery-metrics index from the stored runs (once, after upgrading
                                        from a version without delivery metrics; running it again changes nothing)
  deploybot version                     print the version`

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, env Env) int {
	args := env.Args
	switch {
	case len(args) == 0:
		return serveMain(ctx, env)
	case args[0] == "version" && len(args) == 1:
		fmt.Fprintln(env.Stdout, "deploybot", env.Version)
		return exitOK
	case args[0] == "runbook" && len(args) == 3 && args[1] == "check":
		return runbookCheck(env, args[2])
	case args[0] == "runbook" && len(args) <= 4 && len(args) >= 2 && args[1] == "show":
		return runbookShow(env, args[2:])
	case args[0] == "audit":
		return auditMain(ctx, env, args[1:])
	case args[0] == "stats":
		return statsMain(ctx, env, args[1:])
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		fmt.Fprintln(env.Stdout, usage)
		return exitOK
	}
	fmt.Fprintln(env.Stderr, usage)
	return exitUsage
}

// runbookCheck checks the runbook file, or every runbook of a services
// directory in one pass (every problem of every file, FILE:LINE each; two
// files for one service are a problem).
func runbookCheck(env Env, path string) int {
	if unreadable(env, path) {
		return exitUsage
	}
	reg, err := Registry(RegistryConfig{Getenv: env.Getenv})
	if err != nil {
		fmt.Fprintln(env.Stderr, "deploybot:", err)
		return exitFailed
	}
	c, err := runbook.LoadCatalog(path, reg)
	if err != nil {
		printProblems(env.Stderr, err)
		return exitFailed
	}
	several := c.Len() > 1
	for _, rb := range c.All() {
		if several {
			fmt.Fprintf(env.Stdout, "%s: ok: service %s (%s%s)\n", rb.File, rb.Service(), sizes(rb), envList(rb))
		} else {
			fmt.Fprintf(env.Stdout, "%s: ok (%s%s)\n", rb.File, sizes(rb), envList(rb))
		}
		for _, w := range rb.Warnings() {
			fmt.Fprintln(env.Stdout, w)
		}
	}
	if several {
		fmt.Fprintf(env.Stdout, "%d services: %s\n", c.Len(), strings.Join(c.Names(), ", "))
	}
	return exitOK
}

// sizes counts a runbook's phases, steps and rollback steps ("1 phase, 3 steps, 0 rollback steps").
func sizes(rb *runbook.Runbook) string {
	count := func(n int, one, many string) string { return fmt.Sprintf("%d %s", n, plural(n, one, many)) }
	return count(len(rb.Phases), "phase", "phases") + ", " + count(rb.StepCount(), "step", "steps") + ", " +
		count(len(rb.Rollback.Steps), "rollback step", "rollback steps")
}

// unreadable tells, in one line, that the runbook path given cannot be read
// (it does not exist, or may not be read): a usage error, not a runbook's
// problem. An empty path (the built-in runbook) is fine.
func unreadable(env Env, path string) bool {
	if path == "" {
		return false
	}
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return false
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(env.Stderr, "deploybot: no runbook file or directory at %s\n", path)
	default:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		fmt.Fprintf(env.Stderr, "deploybot: cannot read %s: %v\n", path, err)
	}
	return true
}

// envList names the environments a runbook lists (", environments: a, b"), or "".
func envList(rb *runbook.Runbook) string {
	if names := rb.EnvNames(); len(names) > 0 {
		return ", environments: " + strings.Join(names, ", ")
	}
	return ""
}

// runbookShow prints a service's runbook: args are [SERVICE] (the services
// of DEPLOYBOT_RUNBOOK, else the built-in one) or PATH [SERVICE]. Without
// a service, every service at the path is shown.
func runbookShow(env Env, args []string) int {
	reg, err := Registry(RegistryConfig{Getenv: env.Getenv})
	if err != nil {
		fmt.Fprintln(env.Stderr, "deploybot:", err)
		return exitFailed
	}
	path, service := "", ""
	if env.Getenv != nil {
		path = env.Getenv("DEPLOYBOT_RUNBOOK")
	}
	switch {
	case len(args) == 2:
		path, service = args[0], args[1]
	case len(args) == 1 && isPath(args[0]):
		path = args[0]
	case len(args) == 1:
		service = args[0]
	}
	if unreadable(env, path) {
		return exitUsage
	}
	c, err := runbook.LoadCatalog(path, reg)
	if err != nil {
		printProblems(env.Stderr, err)
		return exitFailed
	}
	rbs := c.All()
	if service != "" {
		rb, err := c.Lookup(service)
		if err != nil {
			fmt.Fprintln(env.Stderr, "deploybot:", err)
			return exitUsage
		}
		rbs = []*runbook.Runbook{rb}
	}
	for i, rb := range rbs {
		if i > 0 {
			fmt.Fprintln(env.Stdout)
		}
		rb.Show(env.Stdout)
	}
	return exitOK
}

// isPath reports whether s names a file or directory (else a service).
func isPath(s string) bool {
	_, err := os.Stat(s)
	return err == nil || strings.ContainsAny(s, "/.")
}

// printProblems prints a runbook error one problem per line.
func printProblems(w io.Writer, err error) {
	var ps *runbook.Problems
	if errors.As(err, &ps) {
		fmt.Fprintln(w, ps.Error())
		return
	}
	fmt.Fprintln(w, err)
}
