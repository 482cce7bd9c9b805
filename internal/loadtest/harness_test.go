package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"deploybot/deploy"
	"deploybot/internal/testkit"
	"deploybot/internal/testkit/slackfake"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// secret is the Slack signing secret the bot and the bare handler share.
const secret = "loadtest-signing-secret"

// phaseTitle and stepTitle name the runbook's manual phase and steps; a
// card's line for step i contains stepTitle(i).
const phaseTitle = "Load checks"

func stepTitle(i int) string { return fmt.Sprintf("Load check %02d", i+1) }

// runbookYAML is a runbook with one phase of steps manual steps and one
// automated step after it (run by the executor), so a run whose steps are
// all done completes and posts its completion notice.
func runbookYAML(steps int) string {
	var b strings.Builder
	b.WriteString("name: loadtest\ntitle: Load test\nreminders: [1h]\nphases:\n")
	b.WriteString("  - id: checks\n    title: " + phaseTitle + "\n    steps:\n")
	for i := range steps {
		fmt.Fprintf(&b, "      - id: check-%02d\n        title: %s\n", i+1, stepTitle(i))
	}
	b.WriteString("  - id: ship\n    title: Ship\n    approval: false\n    steps:\n")
	b.WriteString("      - id: ship\n        title: Ship it\n        run: shell\n        timeout: 1m\n        with:\n          command: [\"true\"]\n")
	b.WriteString("rollback:\n  steps:\n    - id: revert\n      title: Revert\n")
	return b.String()
}

// env is one load test: the built binaries, Redis, the fake Slack and an
// HTTP client for the load.
type env struct {
	tb       testing.TB
	dir      string
	bot      string // path of the built deploybot
	bare     string // path of the built bare handler
	runbook  string
	redisURL string
	rdb      *redis.Client
	fake     *slackfake.Server
	client   *http.Client
	// profile, when set (LOADTEST_PROFILE), is the directory the bots'
	// CPU profiles of each measured load go to.
	profile string
	// prefixes are the bots' Redis key prefixes.
	prefixes []string
}

func newEnv(tb testing.TB, steps int) *env {
	tb.Helper()
	dir := tb.TempDir()
	srv := testkit.Redis(tb)
	e := &env{tb: tb, dir: dir, redisURL: srv.URL(), fake: slackfake.New(tb), profile: os.Getenv("LOADTEST_PROFILE")}
	e.rdb = redis.NewClient(&redis.Options{Addr: srv.Addr()})
	tb.Cleanup(func() { e.rdb.Close() })
	e.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute,
	}}
	e.runbook = filepath.Join(dir, "runbook.yaml")
	if err := os.WriteFile(e.runbook, []byte(runbookYAML(steps)), 0o600); err != nil {
		tb.Fatal(err)
	}
	e.build()
	return e
}

// build compiles deploybot and the bare handler with go build.
func (e *env) build() {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		e.tb.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	out := filepath.Join(e.dir, "bin") + string(filepath.Separator)
	cmd := exec.Command("go", "build", "-o", out, "./internal/loadtest/bare")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		e.tb.Fatalf("go build: %v\n%s", err, b)
	}
	// LOADTEST_BOT_SRC builds the bot from another checkout (an older
	// commit, say) while the load and the bare handler stay this one's.
	src := root
	if dir := os.Getenv("LOADTEST_BOT_SRC"); dir != "" {
		src = dir
	}
	cmd = exec.Command("go", "build", "-o", out, ".")
	if e.profile != "" {
		cmd.Args = append(cmd.Args[:2], "-overlay="+e.profileOverlay(src), "-o", out, ".")
	}
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		e.tb.Fatalf("go build in %s: %v\n%s", src, err, b)
	}
	e.bot, e.bare = filepath.Join(out, "deploybot"), filepath.Join(out, "bare")
}

// proc is a started process listening on addr.
type proc struct {
	name string
	addr string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func freeAddr(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// start runs bin with the environment vars, waits until GET health on it
// answers 200 and stops it (SIGTERM, then SIGKILL) when the test ends.
func (e *env) start(name, bin, health string, vars ...string) *proc {
	e.tb.Helper()
	addr := freeAddr(e.tb)
	p := &proc{name: name, addr: addr, log: filepath.Join(e.dir, name+".log"), done: make(chan struct{})}
	logf, err := os.Create(p.log)
	if err != nil {
		e.tb.Fatal(err)
	}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.dir, "DEPLOYBOT_ADDR=" + addr, "BARE_ADDR=" + addr}, vars...)
	if e.profile != "" {
		p.cmd.Env = append(p.cmd.Env, "LOADTEST_PROFILE="+e.profile)
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		e.tb.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	e.tb.Cleanup(p.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := e.client.Get("http://" + addr + health)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			e.tb.Fatalf("%s exited at start:\n%s", name, p.tail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.tb.Fatalf("%s did not answer %s within 20s (%v):\n%s", name, health, err, p.tail())
		}
	}
}

func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// cpu returns the CPU time (user and system) the process used so far, from
// /proc (0 where there is none).
func (p *proc) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clockTick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(ut+st) * clockTick
}

// redisCPU returns the CPU time Redis used so far (INFO cpu).
func (e *env) redisCPU() time.Duration {
	info, err := e.rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		e.tb.Fatalf("INFO cpu: %v", err)
	}
	var total float64
	for _, l := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// startBot starts deploybot on the key prefix: Slack over HTTP against the
// fake, the dashboard (read-only, on the same address), executor and scheduler.
func (e *env) startBot(prefix string) *proc {
	e.prefixes = append(e.prefixes, prefix)
	return e.start("deploybot-"+strings.Trim(prefix, ":"), e.bot, "/readyz",
		"REDIS_URL="+e.redisURL, "DEPLOYBOT_REDIS_PREFIX="+prefix, "DEPLOYBOT_RUNBOOK="+e.runbook,
		"SLACK_BOT_TOKEN="+slackfake.BotToken, "SLACK_SIGNING_SECRET="+secret, "SLACK_API_URL="+e.fake.APIURL(),
		"DEPLOYBOT_LOG_LEVEL=warn")
}

func (e *env) startBare() *proc {
	return e.start("bare", e.bare, "/healthz", "REDIS_URL="+e.redisURL, "SLACK_SIGNING_SECRET="+secret, "BARE_KEY=loadtest:bare")
}

// signed is a request body with its Slack signature, made before the load.
type signed struct {
	path string
	body []byte
	ts   string
	sig  string
}

func sign(path string, body []byte) signed {
	now := time.Now().Unix()
	return signed{path: path, body: body, ts: strconv.FormatInt(now, 10), sig: slackfake.Sign(secret, now, body)}
}

// result is what one batch of requests measured.
type result struct {
	n       int
	errs    int
	errText string
	elapsed time.Duration
	lat     []time.Duration
	bodies  []string      // the answers' bodies, in request order
	busy    float64       // machine CPU-seconds not idle while the batch ran (/proc/stat)
	self    time.Duration // the test process's own CPU (load generator and fake Slack)
}

func (r result) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func (r *result) add(o result) {
	r.n += o.n
	r.errs += o.errs
	if r.errText == "" {
		r.errText = o.errText
	}
	r.elapsed += o.elapsed
	r.busy += o.busy
	r.self += o.self
	r.lat = append(r.lat, o.lat...)
	r.bodies = append(r.bodies, o.bodies...)
}

// fire sends reqs to addr from clients concurrent clients (each takes the
// next request when its previous one is answered) and measures them.
func (e *env) fire(addr string, reqs []signed, clients int) result {
	res := result{n: len(reqs), lat: make([]time.Duration, len(reqs)), bodies: make([]string, len(reqs))}
	var next atomic.Int64
	var errs atomic.Int64
	var errOnce sync.Once
	var wg sync.WaitGroup
	busy0, self0 := machineBusy(), selfCPU()
	start := time.Now()
	for range min(clients, len(reqs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) {
					return
				}
				s := reqs[i]
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+s.path, strings.NewReader(string(s.body)))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Slack-Request-Timestamp", s.ts)
				req.Header.Set("X-Slack-Signature", s.sig)
				t0 := time.Now()
				r, err := e.client.Do(req)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(r.Body)
					r.Body.Close()
					if err == nil && r.StatusCode != http.StatusOK {
						err = fmt.Errorf("HTTP %d: %s", r.StatusCode, body)
					}
				}
				res.lat[i] = time.Since(t0)
				res.bodies[i] = string(body)
				if err != nil {
					errs.Add(1)
					errOnce.Do(func() { res.errText = err.Error() })
				}
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.busy, res.self = machineBusy()-busy0, selfCPU()-self0
	res.errs = int(errs.Load())
	return res
}

// commandStats returns INFO commandstats: calls per command.
func (e *env) commandStats() map[string]int64 {
	info, err := e.rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		e.tb.Fatalf("INFO commandstats: %v", err)
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		name, rest, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		v, _ := strconv.ParseInt(n, 10, 64)
		out[name] = v
	}
	return out
}

// cmdDelta is the commands Redis ran between two commandStats, without the
// load test's own INFO calls.
type cmdDelta map[string]int64

func delta(before, after map[string]int64) cmdDelta {
	d := cmdDelta{}
	for k, v := range after {
		if k == "info" || k == "zcard" { // the load test's own (env.owedEffects)
			continue
		}
		if n := v - before[k]; n > 0 {
			d[k] = n
		}
	}
	return d
}

func (d cmdDelta) total() int64 {
	var t int64
	for _, v := range d {
		t += v
	}
	return t
}

// per returns the commands per unit, the largest first ("hget 4.2, evalsha 1.0").
func (d cmdDelta) per(units int) string {
	type kv struct {
		k string
		v int64
	}
	var all []kv
	for k, v := range d {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	var parts []string
	for _, x := range all {
		f := float64(x.v) / float64(units)
		if f < 0.05 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.1f", x.k, f))
	}
	return strings.Join(parts, ", ")
}

// run is one started run as the load test knows it: its channel and the
// Done buttons of its manual steps, in step order.
type run struct {
	channel string
	done    []string
}

func channelOf(prefix string, i int) string {
	return fmt.Sprintf("C%s%04d", strings.ToUpper(strings.Trim(prefix, ":")), i)
}

// seed starts n runs through signed /deploy start commands, one run per
// channel and environment, and waits until each run's card of the manual
// phase shows its Done buttons.
func (e *env) seed(bot *proc, tag string, n, steps, clients int) ([]run, result) {
	e.tb.Helper()
	reqs := make([]signed, n)
	runs := make([]run, n)
	for i := range n {
		ch := channelOf(tag, i)
		runs[i].channel = ch
		u := slackfake.User{ID: "U0STARTER", Name: "starter"}
		c := e.fake.Command(u, ch, fmt.Sprintf("start v1.%d to %s-%04d", i, strings.ToLower(tag), i))
		reqs[i] = sign("/slack/commands", []byte(c.Form().Encode()))
	}
	res := e.fire(bot.addr, reqs, clients)
	if res.errs > 0 {
		e.tb.Fatalf("seeding: %d of %d starts failed: %s\n%s", res.errs, n, res.errText, bot.tail())
	}
	for i, b := range res.bodies {
		if !strings.Contains(b, "Started run") {
			e.tb.Fatalf("seeding: start %d answered %s", i, b)
		}
	}
	deadline := time.Now().Add(30*time.Second + time.Duration(n)*50*time.Millisecond)
	prefix := string(deploy.ActDone) + ":"
	for i := 0; i < n; {
		ids := doneButtons(e.fake, runs[i].channel, prefix)
		if len(ids) >= steps {
			runs[i].done = ids[:steps]
			i++
			continue
		}
		if time.Now().After(deadline) {
			e.tb.Fatalf("seeding: run in %s shows %d Done buttons, want %d:\n%s\n%s", runs[i].channel, len(ids), steps,
				e.fake.Transcript(runs[i].channel), bot.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return runs, res
}

// doneButtons returns the Done button ids (buttons or menu options) of the
// channel's card of the manual phase, sorted (so in step order when the ids
// name the steps). A Done button is one labelled Done or whose id starts
// with prefix.
func doneButtons(fake *slackfake.Server, channel, prefix string) []string {
	m, ok := fake.Find(channel, phaseTitle, stepTitle(0))
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	var ids []string
	add := func(id string, done bool) {
		if id != "" && (done || strings.HasPrefix(id, prefix)) && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, a := range m.Actions() {
		add(a.ActionID, a.Type == "button" && a.Label == "Done")
		add(a.Value, a.Type == "button" && a.Label == "Done")
		for _, o := range a.Options {
			add(o.Value, o.Text == "Done" || strings.HasSuffix(o.Text, " Done"))
		}
	}
	sort.Strings(ids)
	return ids
}

// click is the signed block_actions request of user clicking Done (id) in channel.
func (e *env) click(user int, channel, id string) signed {
	u := slackfake.User{ID: fmt.Sprintf("U0LOAD%03d", user), Name: fmt.Sprintf("loader%d", user)}
	m := slackfake.Message{Channel: channel, TS: "1700000000.000100"}
	a := slackfake.Action{Type: "button", ActionID: id, Value: id, Label: "Done", BlockID: "load"}
	return sign("/slack/interactions", []byte(url.Values{"payload": {string(e.fake.Click(u, m, a, "").Payload())}}.Encode()))
}

// spread returns the clicks on every step of runs, interleaved so that
// concurrent clients click different runs: step 1 of every run, then step 2…
func (e *env) spread(runs []run, clients int) []signed {
	var out []signed
	for s := range runs[0].done {
		for _, r := range runs {
			out = append(out, e.click(len(out)%clients, r.channel, r.done[s]))
		}
	}
	return out
}

// refusals counts the answers people got on their clicks (ephemeral
// messages) since the index from, and those among them that refused a click because
// the run was changing; sample lists the distinct answers with their counts.
func (e *env) refusals(from int) (answers, quickly int, sample string) {
	rs := e.fake.Ephemerals("") // through the response_url, or chat.postEphemeral when that failed
	count := map[string]int{}
	var order []string
	for _, r := range rs[from:] {
		answers++
		if strings.Contains(r.Text, "changing quickly") {
			quickly++
		}
		line, _, _ := strings.Cut(r.Text, "\n")
		if count[line] == 0 {
			order = append(order, line)
		}
		count[line]++
	}
	var parts []string
	for _, l := range order {
		parts = append(parts, fmt.Sprintf("%d× %q", count[l], l))
	}
	return answers, quickly, strings.Join(parts, ", ")
}

// settle waits until every run's card of the manual phase shows every step
// done (✅ on the line of each step), at most within; it returns how many
// runs' cards still miss a click and how long it took.
func (e *env) settle(runs []run, steps int, within time.Duration) (missing int, took time.Duration, example string) {
	start := time.Now()
	deadline := start.Add(within)
	pending := slices.Clone(runs)
	for {
		var still []run
		for _, r := range pending {
			if !cardComplete(e.fake, r.channel, steps) {
				still = append(still, r)
			}
		}
		pending = still
		if len(pending) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(pending) > 0 {
		example = e.fake.Transcript(pending[0].channel)
	}
	return len(pending), time.Since(start), example
}

// cardComplete reports whether the channel's card of the manual phase shows
// every step done: each step's line carries the done mark (✅), or, should
// a renderer mark done steps otherwise, no Done button is left on a card
// that lists every step.
func cardComplete(fake *slackfake.Server, channel string, steps int) bool {
	m, ok := fake.Find(channel, phaseTitle, stepTitle(0))
	if !ok {
		return false
	}
	visible := m.Visible()
	lines := strings.Split(visible, "\n")
	marked := true
	for i := range steps {
		t := stepTitle(i)
		if !strings.Contains(visible, t) {
			return false
		}
		done := false
		for _, l := range lines {
			if strings.Contains(l, t) && (strings.Contains(l, "✅") || strings.Contains(l, ":white_check_mark:")) {
				done = true
				break
			}
		}
		marked = marked && done
	}
	return marked || len(doneButtons(fake, channel, string(deploy.ActDone)+":")) == 0
}

// errNoRuns is returned by a scale too small to run.
var errNoRuns = errors.New("loadtest: the scale needs runs, steps and clients")

// monitor is a Redis MONITOR connection: it tells the round trips clients
// make from the commands scripts run inside Redis ("[0 lua]").
type monitor struct {
	conn  net.Conn
	lines chan string
}

func (e *env) monitor() *monitor {
	e.tb.Helper()
	addr := e.rdb.Options().Addr
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		e.tb.Fatal(err)
	}
	if _, err := c.Write([]byte("*1\r\n$7\r\nMONITOR\r\n")); err != nil {
		e.tb.Fatal(err)
	}
	m := &monitor{conn: c, lines: make(chan string, 4096)}
	go func() {
		defer close(m.lines)
		sc := bufio.NewScanner(c)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			m.lines <- sc.Text()
		}
	}()
	e.tb.Cleanup(func() { c.Close() })
	return m
}

// roundTrips runs act between two ECHO markers and returns the commands
// clients sent to Redis meanwhile (not those scripts ran, not the markers
// and not the load test's INFO), by name. act returns when the answer
// arrived; commands MONITOR stamps later than that (the bot's work after
// its answer, racing the end marker) are not counted. Redis and the load
// test read the same clock.
func (e *env) roundTrips(m *monitor, tag string, act func()) (cmdDelta, error) {
	ctx := context.Background()
	start, end := "loadtest-start-"+tag, "loadtest-end-"+tag
	if err := e.rdb.Echo(ctx, start).Err(); err != nil {
		return nil, err
	}
	act()
	answered := float64(time.Now().UnixMicro()) / 1e6
	if err := e.rdb.Echo(ctx, end).Err(); err != nil {
		return nil, err
	}
	out := cmdDelta{}
	in := false
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-m.lines:
			if !ok {
				return nil, errors.New("MONITOR connection closed")
			}
			switch {
			case strings.Contains(l, `"`+start+`"`):
				in = true
				continue
			case strings.Contains(l, `"`+end+`"`):
				return out, nil
			}
			// +1700000000.123456 [0 127.0.0.1:6379] "hget" "key" "doc"
			i := strings.Index(l, "] \"")
			if !in || i < 0 || strings.Contains(l[:i], " lua") {
				continue
			}
			if at, _, ok := strings.Cut(strings.TrimPrefix(l, "+"), " "); ok {
				if t, err := strconv.ParseFloat(at, 64); err == nil && t > answered {
					continue // after the answer
				}
			}
			name := scriptLabel(l[i+2:])
			if name != "info" && name != "echo" {
				out[name]++
			}
		case <-timeout:
			return nil, errors.New("MONITOR did not show the end marker within 10s")
		}
	}
}

// scriptLabel names the command of a MONITOR line's arguments
// ("\"evalsha\" \"<sha>\" \"1\" \"lt2:run:r1\" …"): its name, and for a script
// the kind of its first key ("evalsha run", "evalsha dueitem"), so the
// transition's script tells from the acknowledgements of delivered effects.
func scriptLabel(args string) string {
	var parts []string
	for _, f := range strings.SplitN(args, " ", 5) {
		parts = append(parts, strings.Trim(f, "\""))
	}
	name := strings.ToLower(parts[0])
	if (name == "evalsha" || name == "eval") && len(parts) > 3 && parts[2] != "0" {
		if k := strings.Split(parts[3], ":"); len(k) > 2 {
			return name + " " + k[1] // the load test's prefixes are "lt1:", "lt2:"…
		}
	}
	return name
}

// machineBusy returns the CPU-seconds all cores have spent not idle since
// boot (/proc/stat; 0 where there is none).
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy float64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		busy += n
	}
	return busy / 100 // USER_HZ
}

// selfCPU returns the test process's user and system time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
