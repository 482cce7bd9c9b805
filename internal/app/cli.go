package app

import (
	"context"
	"errors"
	"fmt"
	"io"

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
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // a runbook check found problems; serving failed
	exitUsage  = 2 // bad arguments or configuration
)

const usage = `usage:
  deploybot                      serve (the console on 127.0.0.1:8080 when no chat platform is configured)
  deploybot runbook check FILE   validate a runbook; prints FILE:LINE: message per problem
  deploybot runbook show [FILE]  print the phases and steps (the built-in runbook without FILE)
  deploybot audit verify [RUN…]  verify the audit log's hash chain (exit 1 naming the first entry that does not hold)
  deploybot audit export [--since DATE] [RUN…]  print the audit log as JSON Lines
  deploybot version              print the version`

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
	case args[0] == "runbook" && len(args) <= 3 && len(args) >= 2 && args[1] == "show":
		file := ""
		if len(args) == 3 {
			file = args[2]
		}
		return runbookShow(env, file)
	case args[0] == "audit":
		return auditMain(ctx, env, args[1:])
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		fmt.Fprintln(env.Stdout, usage)
		return exitOK
	}
	fmt.Fprintln(env.Stderr, usage)
	return exitUsage
}

func runbookCheck(env Env, file string) int {
	reg, err := Registry(RegistryConfig{Getenv: env.Getenv})
	if err != nil {
		fmt.Fprintln(env.Stderr, "deploybot:", err)
		return exitFailed
	}
	rb, err := runbook.Load(file, reg)
	if err != nil {
		printProblems(env.Stderr, err)
		return exitFailed
	}
	fmt.Fprintf(env.Stdout, "%s: ok (%d phases, %d steps, %d rollback steps)\n", file, len(rb.Phases), rb.StepCount(), len(rb.Rollback.Steps))
	for _, w := range rb.Warnings() {
		fmt.Fprintln(env.Stdout, w)
	}
	return exitOK
}

func runbookShow(env Env, file string) int {
	reg, err := Registry(RegistryConfig{Getenv: env.Getenv})
	if err != nil {
		fmt.Fprintln(env.Stderr, "deploybot:", err)
		return exitFailed
	}
	rb, err := loadRunbook(file, reg)
	if err != nil {
		printProblems(env.Stderr, err)
		return exitFailed
	}
	rb.Show(env.Stdout)
	return exitOK
}

func loadRunbook(file string, v runbook.StepValidator) (*runbook.Runbook, error) {
	if file == "" {
		return runbook.Builtin(v)
	}
	return runbook.Load(file, v)
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
