package shell

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"deploybot/adapters"
	"deploybot/internal/clock"
)

// Name is the value of `run:` that selects this adapter.
const Name = "shell"

// Defaults for Config.
const (
	DefaultGrace         = 5 * time.Second
	DefaultProgressEvery = 2 * time.Second
)

// Config configures the shell adapter. The zero value is usable.
type Config struct {
	// Environ returns the bot's environment ("NAME=value" entries); nil means os.Environ.
	// Commands inherit only PATH, HOME, LANG, TZ, the DEPLOY_* variables and
	// what the step's pass_env names (see InheritedVars).
	Environ func() []string
	// Redactor hides known secrets in output; the secret-looking values of
	// Environ are hidden in any case.
	Redactor *adapters.Redactor
	// Grace is how long a cancelled command's process group has between
	// SIGTERM and SIGKILL; 0 means DefaultGrace.
	Grace time.Duration
	// Clock paces progress lines; nil means the wall clock.
	Clock clock.Clock
	// ProgressEvery is how often the last output line is reported at most; 0 means DefaultProgressEvery.
	ProgressEvery time.Duration
	// OutputLimit is how many bytes of output are kept (the tail); 0 means adapters.DefaultOutputLimit.
	OutputLimit int
	// Supervisor, when set, runs each command under a supervisor (on
	// Linux): this binary started again as SupervisorArg, which ends the
	// command's whole process group when the bot dies, even by SIGKILL. Only
	// Supervise returns one, so only a binary whose main called it first can
	// run its steps supervised; nil runs them directly.
	Supervisor *Supervisor
}

// Supervisor is what Supervise returns in a binary that can be a step's
// supervisor: the executable to start again as one.
type Supervisor struct{ exe string }

// Adapter is the `shell` adapter.
type Adapter struct {
	cfg Config
}

var (
	_ adapters.Adapter = (*Adapter)(nil)
	_ adapters.Step    = (*step)(nil)
)

// New returns the shell adapter. It has no side effects.
func New(cfg Config) *Adapter {
	if cfg.Environ == nil {
		cfg.Environ = os.Environ
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = DefaultProgressEvery
	}
	if cfg.OutputLimit <= 0 {
		cfg.OutputLimit = adapters.DefaultOutputLimit
	}
	return &Adapter{cfg: cfg}
}

// Name returns "shell".
func (a *Adapter) Name() string { return Name }

// Params are the shell adapter's `with:` parameters.
type Params struct {
	// Command is the argv list; each element is a template rendering to
	// exactly one argument. A single string is split on white space outside
	// {{ }} (no quoting, no shell): "./deploy.sh {{ .Version }}" is two arguments.
	Command Argv `json:"command"`
	// Env adds variables to the command's environment; values are templates.
	Env map[string]string `json:"env"`
	// Dir is the working directory (a template); empty means the bot's.
	Dir string `json:"dir"`
	// PassEnv names variables of the bot's environment to pass on; nothing
	// else of it is inherited but PATH, HOME, LANG, TZ and DEPLOY_*. Their
	// values are redacted from output.
	PassEnv []string `json:"pass_env"`
}

// Argv is a command line: a list of arguments, or one string split on white space.
type Argv []string

// UnmarshalJSON accepts ["a", "b"] or "a b".
func (a *Argv) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = splitArgs(one)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("command must be a list of arguments (or one string of space-separated arguments)")
	}
	*a = list
	return nil
}

// splitArgs splits s on white space that is not inside a {{ }} template action.
func splitArgs(s string) []string {
	var out []string
	var cur strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "{{"):
			depth++
			cur.WriteString("{{")
			i++
			continue
		case strings.HasPrefix(s[i:], "}}") && depth > 0:
			depth--
			cur.WriteString("}}")
			i++
			continue
		case depth == 0 && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'):
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteByte(s[i])
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reserved are the variables deploybot sets itself.
var reserved = []string{"DEPLOY_SERVICE", "DEPLOY_VERSION", "DEPLOY_PREVIOUS", "DEPLOY_ENV", "DEPLOY_RUN_ID", "DEPLOY_PHASE", "DEPLOY_STEP", "DEPLOY_REASON"}

func isReserved(name string) bool {
	for _, r := range reserved {
		if strings.EqualFold(r, name) {
			return true
		}
	}
	return false
}

// Parse decodes and validates the step's parameters.
func (a *Adapter) Parse(with map[string]any) (adapters.Step, error) {
	var p Params
	if err := adapters.Decode(with, &p); err != nil {
		return nil, fmt.Errorf("shell: %w", err)
	}
	if len(p.Command) == 0 {
		return nil, errors.New(`shell: parameter "command" is required: an argv list such as ["./deploy.sh", "{{ .Version }}"]`)
	}
	if strings.TrimSpace(p.Command[0]) == "" {
		return nil, errors.New(`shell: parameter "command": the program (first element) is empty`)
	}
	cmd, err := adapters.ParseTemplates("command", p.Command)
	if err != nil {
		return nil, fmt.Errorf("shell: %w", err)
	}
	for k := range p.Env {
		if !envName.MatchString(k) {
			return nil, fmt.Errorf("shell: parameter \"env\": %q is not a valid variable name", k)
		}
		if isReserved(k) {
			return nil, fmt.Errorf("shell: parameter \"env\": %s is set by deploybot", k)
		}
	}
	env, err := adapters.ParseTemplateMap("env", p.Env)
	if err != nil {
		return nil, fmt.Errorf("shell: %w", err)
	}
	var dir *adapters.Template
	if p.Dir != "" {
		if dir, err = adapters.ParseTemplate("dir", p.Dir); err != nil {
			return nil, fmt.Errorf("shell: %w", err)
		}
	}
	for _, n := range p.PassEnv {
		if !envName.MatchString(n) {
			return nil, fmt.Errorf("shell: parameter \"pass_env\": %q is not a valid variable name", n)
		}
	}
	return &step{a: a, command: cmd, env: env, dir: dir, passEnv: p.PassEnv}, nil
}

type step struct {
	a       *Adapter
	command []*adapters.Template
	env     adapters.TemplateMap
	dir     *adapters.Template
	passEnv []string
}

// Plan shows the exact command line, shell-quoted for display, the working
// directory and the names of the variables set.
func (s *step) Plan(v adapters.Vars) string {
	argv, err := adapters.RenderTemplates(s.command, v)
	if err != nil {
		return "run a command (cannot render it: " + err.Error() + ")"
	}
	var b strings.Builder
	b.WriteString("run `" + QuoteArgs(argv) + "`")
	if s.dir != nil {
		if d, err := s.dir.Render(v); err == nil {
			b.WriteString(" in " + Quote(d))
		}
	}
	names := append([]string(nil), reserved...)
	names = append(names, s.env.Keys()...)
	b.WriteString(" with " + strings.Join(names, ", ") + " set")
	if len(s.passEnv) > 0 {
		b.WriteString(" and " + strings.Join(s.passEnv, ", ") + " passed from the bot's environment")
	}
	b.WriteString(", in its own process group (SIGTERM then SIGKILL after " + adapters.FormatDuration(s.a.cfg.Grace) + " on timeout)")
	return s.a.cfg.Redactor.Redact(b.String())
}

// Run runs the command and waits for it, or for ctx to end.
func (s *step) Run(ctx context.Context, v adapters.Vars, progress adapters.Progress) adapters.Result {
	budget := adapters.Budget(ctx)
	argv, err := adapters.RenderTemplates(s.command, v)
	if err != nil {
		return adapters.Result{Summary: "cannot render command: " + err.Error()}
	}
	if argv[0] == "" {
		return adapters.Result{Summary: "cannot run: the program name rendered empty"}
	}
	if err := optionFromValue(s.command, argv); err != nil {
		return adapters.Result{Summary: err.Error()}
	}
	environ := s.a.cfg.Environ()
	env, secrets, err := s.environment(environ, v)
	if err != nil {
		return adapters.Result{Summary: err.Error()}
	}
	red := s.a.cfg.Redactor.With(adapters.SecretValues(environ)...).With(secrets...)
	dir := ""
	if s.dir != nil {
		if dir, err = s.dir.Render(v); err != nil {
			return adapters.Result{Summary: "cannot render dir: " + err.Error()}
		}
	}
	if ctx.Err() != nil {
		return adapters.Stopped(ctx, budget, "")
	}

	buf := adapters.NewBuffer(s.a.cfg.OutputLimit)
	// start runs the command in a process group of its own (see
	// start_linux.go: on Linux under a supervisor that ends the group when
	// the bot dies, even by SIGKILL).
	p, err := start(argv, env, dir, buf, s.a.cfg.Grace, s.a.cfg.Supervisor)
	if err != nil {
		return adapters.Result{Summary: red.Redact("cannot start " + argv[0] + ": " + startError(err))}
	}
	pgid := p.pgid

	stop := make(chan struct{})
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		select {
		case <-stop:
			return
		case <-ctx.Done():
		}
		s.a.terminate(pgid)
	}()
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		s.a.report(stop, buf, red, progress)
	}()

	ex := p.wait()
	stopped := ctx.Err() != nil
	close(stop)
	<-killerDone
	<-progressDone
	leftover := !stopped && groupAlive(pgid)
	if leftover {
		// The command exited but left processes in its group: the step is
		// over, so they must not keep running into the next one.
		s.a.terminate(pgid)
	}

	out := red.Redact(buf.String())
	if ex.startErr != "" {
		// The supervisor could not start the command (see start_linux.go).
		return adapters.Result{Summary: red.Redact("cannot start " + argv[0] + ": " + ex.startErr), Output: out}
	}
	if stopped {
		return adapters.Stopped(ctx, budget, out)
	}
	if leftover {
		out += "\n[deploybot: stopped the processes the command left running in its process group]\n"
	}
	return exitResult(ex, red.Redact(buf.LastLine()), out)
}

// groupAlive reports whether the process group pgid still has a member.
func groupAlive(pgid int) bool {
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

// terminate sends SIGTERM to the process group, then SIGKILL once the grace
// period is over unless the group is gone by then.
func (a *Adapter) terminate(pgid int) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.Now().Add(a.cfg.Grace)
	poll := min(50*time.Millisecond, a.cfg.Grace)
	for time.Now().Before(deadline) {
		time.Sleep(poll)
		if !groupAlive(pgid) {
			return
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// report sends the last output line to progress at most every ProgressEvery, until stop closes.
func (a *Adapter) report(stop <-chan struct{}, buf *adapters.Buffer, red *adapters.Redactor, progress adapters.Progress) {
	if progress == nil {
		return
	}
	last := ""
	for {
		select {
		case <-stop:
			return
		case <-a.cfg.Clock.After(a.cfg.ProgressEvery):
		}
		line := adapters.Truncate(red.Redact(finishedLastLine(buf)), 200)
		if line != "" && line != last {
			last = line
			progress(line)
		}
	}
}

// finishedLastLine returns the last line of buf that was ended (by a
// newline, or a carriage return redrawing it). The line being written is left
// out: it may end in the first part of a secret the redactor cannot match yet.
func finishedLastLine(buf *adapters.Buffer) string {
	b := buf.Bytes()
	i := bytes.LastIndexAny(b, "\n\r")
	if i < 0 {
		return ""
	}
	return adapters.LastLine(string(b[:i]))
}

// exit is how a started command ended.
type exit struct {
	// status is the command's wait status; valid when ok.
	status syscall.WaitStatus
	ok     bool
	// startErr says why the command could not be started, when that was
	// learnt only after starting a supervisor.
	startErr string
	// err is why waiting failed when !ok.
	err error
}

func exitResult(ex exit, lastLine, out string) adapters.Result {
	if !ex.ok {
		return adapters.Result{Summary: "wait failed: " + ex.err.Error(), Output: out}
	}
	lastLine = adapters.Truncate(lastLine, 200)
	ws := ex.status
	if ws.Exited() && ws.ExitStatus() == 0 {
		return adapters.Result{OK: true, Summary: "exit 0", Output: out}
	}
	var sum string
	if ws.Signaled() {
		sum = fmt.Sprintf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
	} else {
		sum = fmt.Sprintf("exit %d", ws.ExitStatus())
	}
	if lastLine != "" {
		sum += ": " + lastLine
	}
	return adapters.Result{Summary: sum, Output: out}
}

// exitOf is the exit of a process waited for with os/exec.
func exitOf(ps *os.ProcessState, waitErr error) exit {
	if ps == nil {
		if waitErr == nil {
			waitErr = errors.New("no process state")
		}
		return exit{err: waitErr}
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return exit{err: fmt.Errorf("unexpected wait status %T", ps.Sys())}
	}
	return exit{status: ws, ok: true}
}

func startError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	if errors.Is(err, exec.ErrNotFound) {
		return "not found in PATH"
	}
	return err.Error()
}

// InheritedVars are the variables of the bot's environment every command
// inherits; DEPLOY_* variables are inherited too, and a step's pass_env adds
// more. Nothing else of the bot's environment (DATABASE_URL, cloud
// credentials, the bot's tokens) reaches a command.
var InheritedVars = []string{"PATH", "HOME", "LANG", "TZ"}

func inherited(name string) bool {
	for _, n := range InheritedVars {
		if name == n {
			return true
		}
	}
	return strings.HasPrefix(name, "DEPLOY_")
}

// probeVars are variables in which no value begins with "-": an argument
// that begins with "-" when rendered with them got its "-" from the runbook.
var probeVars = adapters.Vars{Service: "x", Version: "x", Previous: "x", Env: "x", RunID: "x", Phase: "x", Step: "x", Reason: "x", Channel: "x", WindowOverride: "x"}

// optionFromValue refuses an argument (after the program) that begins with
// "-" only because a template value does: chat text (a rollback reason) must
// never become a command-line option. An option written in the runbook
// ("--reason={{ .Reason }}") is fine.
func optionFromValue(cmd []*adapters.Template, argv []string) error {
	for i := 1; i < len(argv); i++ {
		if !strings.HasPrefix(argv[i], "-") {
			continue
		}
		if probe, err := cmd[i].Render(probeVars); err == nil && strings.HasPrefix(probe, "-") {
			continue
		}
		return &adapters.ValueError{Msg: fmt.Sprintf("refused to run: argument %d (%s) would begin with \"-\" from a template value, "+
			"and chat text never becomes a command-line option; nothing was run. Pass it as an option's value "+
			"(--reason={{ .Reason }}) or read it from $DEPLOY_REASON", i, Quote(adapters.Truncate(argv[i], 60)))}
	}
	return nil
}

// environment builds the command's environment: the variables of the
// bot's it inherits (InheritedVars, DEPLOY_*, pass_env), the DEPLOY_*
// variables of the run, then the step's env. It also returns the values to
// redact.
func (s *step) environment(environ []string, v adapters.Vars) ([]string, []string, error) {
	conf, err := s.env.Render(v)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot render env: %w", err)
	}
	pass := map[string]bool{}
	for _, n := range s.passEnv {
		pass[n] = true
	}
	var secrets []string
	var env []string
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if isReserved(name) {
			continue
		}
		if _, set := conf[name]; set {
			continue
		}
		if pass[name] {
			secrets = append(secrets, value)
			env = append(env, kv)
			continue
		}
		if !inherited(name) || adapters.IsBotSecret(name) {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"DEPLOY_SERVICE="+v.Service,
		"DEPLOY_VERSION="+v.Version,
		"DEPLOY_PREVIOUS="+v.Previous,
		"DEPLOY_ENV="+v.Env,
		"DEPLOY_RUN_ID="+v.RunID,
		"DEPLOY_PHASE="+v.Phase,
		"DEPLOY_STEP="+v.Step,
		"DEPLOY_REASON="+v.Reason,
	)
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+conf[k])
		if adapters.IsSecretName(k) {
			secrets = append(secrets, conf[k])
		}
	}
	return env, secrets, nil
}

// Quote quotes s for display as one POSIX shell word.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_@%+=:,./-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// QuoteArgs quotes each element of argv with Quote and joins them with spaces.
func QuoteArgs(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}
