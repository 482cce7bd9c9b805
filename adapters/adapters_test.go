package adapters_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"deploybot/adapters"
)

type params struct {
	Command []string          `json:"command"`
	Env     map[string]string `json:"env"`
	Retries int               `json:"retries"`
	Ratio   *float64          `json:"ratio"`
	Every   adapters.Duration `json:"every"`
	Check   *struct {
		Run string `json:"run"`
	} `json:"check"`
	Enabled bool `json:"enabled"`
}

func TestDecode(t *testing.T) {
	var p params
	err := adapters.Decode(map[string]any{
		"command": []any{"./deploy.sh", "{{ .Version }}"},
		"env":     map[any]any{"A": "1"}, // as some YAML decoders produce
		"retries": uint64(3),
		"ratio":   1.2,
		"every":   "90s",
		"check":   map[string]any{"run": "http"},
		"enabled": nil, // `enabled:` with no value keeps the default
	}, &p)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(p.Command) != "[./deploy.sh {{ .Version }}]" || p.Env["A"] != "1" || p.Retries != 3 || *p.Ratio != 1.2 ||
		time.Duration(p.Every) != 90*time.Second || p.Check.Run != "http" || p.Enabled {
		t.Errorf("decoded %+v", p)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		with map[string]any
		want string
	}{
		{"unknown field", map[string]any{"comand": []any{"x"}}, `unknown parameter "comand" (known: check, command, enabled, env, every, ratio, retries)`},
		{"string for list", map[string]any{"command": "./deploy.sh"}, `parameter "command": want a list of strings, got a string`},
		{"number in list", map[string]any{"command": []any{"a", 2}}, `parameter "command": want a string, got a number`},
		{"string for int", map[string]any{"retries": "3"}, `parameter "retries": want a whole number, got a string`},
		{"fraction for int", map[string]any{"retries": 1.5}, `parameter "retries": want a whole number, got a number`},
		{"list for map", map[string]any{"env": []any{"A=1"}}, `parameter "env": want a map of strings, got a list`},
		{"bool for string", map[string]any{"check": map[string]any{"run": true}}, `parameter "check.run": want a string, got true or false`},
		{"nested unknown field", map[string]any{"check": map[string]any{"rn": "http"}}, `parameter "check": unknown field "rn"`},
		{"bad duration", map[string]any{"every": "5 minutes"}, `parameter "every": invalid duration "5 minutes" (use e.g. 90s, 15m, 2h)`},
		{"number for duration", map[string]any{"every": 300}, `parameter "every": want a duration such as "30s" or "15m", got 300`},
		{"negative duration", map[string]any{"every": "-1m"}, `parameter "every": invalid duration "-1m": negative`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p params
			err := adapters.Decode(tc.with, &p)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Decode error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTemplate(t *testing.T) {
	v := adapters.Vars{Version: "v1.4; rm -rf /", Env: "production", RunID: "r42", Phase: "deploy", Step: "migrate", Reason: "p99 up"}
	tests := []struct {
		src  string
		want string
	}{
		{"{{ .Version }}", "v1.4; rm -rf /"},
		{"release-{{ .Env }}-{{ .RunID }}", "release-production-r42"},
		{"{{ .Phase }}/{{ .Step }}: {{ .Reason }}", "deploy/migrate: p99 up"},
		{`{{ if eq .Env "production" }}prod{{ else }}{{ .Env }}{{ end }}`, "prod"},
		{"no template at all", "no template at all"},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			tp, err := adapters.ParseTemplate("p", tc.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tp.Render(v)
			if err != nil || got != tc.want {
				t.Errorf("Render = %q, %v; want %q", got, err, tc.want)
			}
			if tp.String() != tc.src {
				t.Errorf("String = %q", tp.String())
			}
		})
	}
}

func TestTemplateErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"syntax", "{{ .Version ", `parameter "p": bad template: p:1: unclosed action`},
		{"unknown variable", "{{ .version }}", `parameter "p": bad template: unknown variable .version (known: .Channel, .Env, .Phase, .Previous, .Reason, .RunID, .Service, .Started, .Step, .Version, .WindowOverride)`},
		{"unknown variable in an untaken branch", `{{ if .Reason }}{{ .Why }}{{ end }}`, `unknown variable .Why`},
		{"unknown function", "{{ env \"HOME\" }}", `parameter "p": bad template: p:1: function "env" not defined`},
		{"fails with sample values", "{{ index .Version 99 }}", `parameter "p": bad template: p:1:3: executing "p" at <index .Version 99>: error calling index: index out of range: 99`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := adapters.ParseTemplate("p", tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseTemplate error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestTemplateListKeepsElementsWhole(t *testing.T) {
	ts, err := adapters.ParseTemplates("command", []string{"printf", "%s\n", "{{ .Version }}"})
	if err != nil {
		t.Fatal(err)
	}
	argv, err := adapters.RenderTemplates(ts, adapters.Vars{Version: "a b\nc 'd' $(e)"})
	if err != nil {
		t.Fatal(err)
	}
	if len(argv) != 3 || argv[2] != "a b\nc 'd' $(e)" {
		t.Errorf("argv = %q", argv)
	}
	if _, err := adapters.ParseTemplates("command", []string{"ok", "{{ .Nope }}"}); err == nil || !strings.HasPrefix(err.Error(), `parameter "command[1]"`) {
		t.Errorf("error = %v", err)
	}
}

func TestBuffer(t *testing.T) {
	b := adapters.NewBuffer(16)
	b.Write([]byte("first line\n"))
	if b.String() != "first line\n" || b.LastLine() != "first line" {
		t.Errorf("String %q LastLine %q", b.String(), b.LastLine())
	}
	b.Write([]byte("second line\nthird\n"))
	if got := string(b.Bytes()); got != "cond line\nthird\n" {
		t.Errorf("Bytes = %q", got)
	}
	if got := b.String(); got != "[earlier output dropped]\nthird\n" {
		t.Errorf("String = %q", got)
	}
	if b.Written() != 29 {
		t.Errorf("Written = %d", b.Written())
	}
	b.Write(bytes.Repeat([]byte("x"), 100))
	if got := b.Bytes(); len(got) != 16 || string(got) != strings.Repeat("x", 16) {
		t.Errorf("after a big write Bytes = %q", got)
	}
}

func TestBufferConcurrentWrites(t *testing.T) {
	b := adapters.NewBuffer(1024)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				fmt.Fprintf(b, "writer %d\n", i)
				_ = b.LastLine()
			}
		}()
	}
	wg.Wait()
	if b.Written() != 8*1000*int64(len("writer 0\n")) || len(b.Bytes()) != 1024 {
		t.Errorf("Written %d, kept %d", b.Written(), len(b.Bytes()))
	}
}

func FuzzBufferKeepsTail(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), 5, uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, limit int, chunk uint8) {
		if limit <= 0 || limit > 1<<16 {
			return
		}
		b := adapters.NewBuffer(limit)
		step := int(chunk) + 1
		for i := 0; i < len(data); i += step {
			b.Write(data[i:min(i+step, len(data))])
		}
		want := data[max(0, len(data)-limit):]
		if !bytes.Equal(b.Bytes(), want) {
			t.Fatalf("Bytes = %q, want %q", b.Bytes(), want)
		}
	})
}

func TestLastLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"one", "one"},
		{"one\ntwo\n", "two"},
		{"one\ntwo\n\n  \n", "two"},
		{"  padded  \n", "padded"},
		{"progress 10%\rprogress 50%\rprogress 90%\n", "progress 90%"},
		{"done\r\n", "done"},
		{"bar 1\rbar 2\r   \n", "bar 2"},
	}
	for _, tc := range tests {
		if got := adapters.LastLine(tc.in); got != tc.want {
			t.Errorf("LastLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactor(t *testing.T) {
	r := adapters.NewRedactor("hunter22", "abc", "", "hunter22-extended").With("xoxb-123")
	got := r.Redact("pw hunter22, long hunter22-extended, token xoxb-123, short abc")
	want := "pw ***, long ***, token ***, short abc"
	if got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
	var none *adapters.Redactor
	if none.Redact("hunter22") != "hunter22" || none.With("hunter22").Redact("hunter22") != "***" {
		t.Error("the nil Redactor")
	}
}

func TestSecretNames(t *testing.T) {
	tests := []struct {
		name      string
		secret    bool
		botSecret bool
	}{
		{"SLACK_BOT_TOKEN", true, true},
		{"SLACK_API_URL", true, true},
		{"DISCORD_PUBLIC_KEY", true, true},
		{"GITHUB_TOKEN", true, true},
		{"SLACK_SIGNING_SECRET", true, true},
		{"REDIS_URL", true, true},
		{"DB_PASSWORD", true, true},
		{"AWS_SECRET_ACCESS_KEY", true, false},
		{"API_KEY", true, false},
		{"Authorization", true, false},
		{"PATH", false, false},
		{"GIT_AUTHOR_NAME", false, false},
		{"DEPLOYBOT_ADDR", false, false},
	}
	for _, tc := range tests {
		if got := adapters.IsSecretName(tc.name); got != tc.secret {
			t.Errorf("IsSecretName(%s) = %v", tc.name, got)
		}
		if got := adapters.IsBotSecret(tc.name); got != tc.botSecret {
			t.Errorf("IsBotSecret(%s) = %v", tc.name, got)
		}
	}
	got := adapters.SecretValues([]string{"PATH=/bin", "GITHUB_TOKEN=ghp_1", "EMPTY_TOKEN=", "API_KEY=k=v"})
	if fmt.Sprint(got) != "[ghp_1 k=v]" {
		t.Errorf("SecretValues = %q", got)
	}
}

func TestStopSummary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	budget := adapters.Budget(ctx)
	cancel()
	if got := adapters.StopSummary(ctx, budget); got != "cancelled" {
		t.Errorf("cancelled: %q", got)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if got := adapters.StopSummary(ctx, 10*time.Minute); got != "timed out after 10m" {
		t.Errorf("timed out: %q", got)
	}
	if got := adapters.FormatDuration(90*time.Minute + 400*time.Millisecond); got != "1h30m" {
		t.Errorf("FormatDuration = %q", got)
	}
	if got := adapters.FormatDuration(250 * time.Millisecond); got != "250ms" {
		t.Errorf("FormatDuration = %q", got)
	}
}

type named string

func (n named) Name() string { return string(n) }
func (n named) Parse(map[string]any) (adapters.Step, error) {
	return nil, errors.New(string(n) + ": nothing to parse")
}

func TestRegistry(t *testing.T) {
	if _, err := adapters.NewRegistry(named("shell"), named("http"), named("shell")); err == nil || err.Error() != `adapters: "shell" registered twice` {
		t.Errorf("duplicate: %v", err)
	}
	var r adapters.Registry
	if err := r.Register(named("b")); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(named("a")); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(r.Names()) != "[a b]" {
		t.Errorf("Names = %v", r.Names())
	}
	if err := r.Validate("c", nil); err == nil || err.Error() != `unknown adapter "c" (known: [a b])` {
		t.Errorf("Validate = %v", err)
	}
	if err := r.Validate("a", nil); err == nil || err.Error() != "a: nothing to parse" {
		t.Errorf("Validate = %v", err)
	}
}

func TestValidateURL(t *testing.T) {
	for s, ok := range map[string]bool{
		"https://shop.example/healthz": true,
		"http://127.0.0.1:8080/":       true,
		"/healthz":                     false,
		"ftp://x/":                     false,
		"https:///nohost":              false,
		"shop.example":                 false,
	} {
		if err := adapters.ValidateURL(s); (err == nil) != ok {
			t.Errorf("ValidateURL(%q) = %v", s, err)
		}
	}
}

// TestRedactURLPasswords: URL passwords are hidden by any redactor, the nil one too.
func TestRedactURLPasswords(t *testing.T) {
	var none *adapters.Redactor
	in := "DATABASE_URL=postgres://u:pass@db:5432/x and redis://:hunter2@cache:6379, not http://example.com/a:b@c or mailto:x@y"
	want := "DATABASE_URL=postgres://u:***@db:5432/x and redis://:***@cache:6379, not http://example.com/a:b@c or mailto:x@y"
	for _, r := range []*adapters.Redactor{none, adapters.NewRedactor("unrelated")} {
		if got := r.Redact(in); got != want {
			t.Errorf("Redact =\n%s\nwant\n%s", got, want)
		}
	}
}

// TestURLTemplateBranches: control structures may not move a value from
// one part of the URL to another.
func TestURLTemplateBranches(t *testing.T) {
	ok := []string{
		`https://example.com/{{ if eq .Env "production" }}prod{{ else }}{{ .Env }}{{ end }}/health`,
		`https://example.com/x?{{ with .Reason }}why={{ . }}{{ end }}`,
	}
	for _, src := range ok {
		if _, err := adapters.ParseURLTemplate("url", src); err != nil {
			t.Errorf("ParseURLTemplate(%q): %v", src, err)
		}
	}
	bad := []string{
		`https://example.com/{{ if .Reason }}?q={{ end }}{{ .Reason }}`,
		`https://example.com/{{ range .Version }}?{{ end }}`,
		`https://{{ if .Reason }}evil.com/{{ end }}example.com/`,
	}
	for _, src := range bad {
		if _, err := adapters.ParseURLTemplate("url", src); err == nil {
			t.Errorf("ParseURLTemplate(%q) succeeded, want an error", src)
		}
	}
}
