package builtin_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"deploybot/adapters"
	"deploybot/adapters/builtin"
	"deploybot/adapters/github"
	"deploybot/internal/clock"
)

func TestBuiltins(t *testing.T) {
	reg, err := builtin.Builtins(builtin.Config{Environ: func() []string { return []string{"PATH=" + os.Getenv("PATH")} }})
	if err != nil {
		t.Fatal(err)
	}
	want := "github http notify prometheus shell watch webhook window"
	if got := strings.Join(reg.Names(), " "); got != want {
		t.Errorf("Names = %q, want %q", got, want)
	}
}

// TestRunbookSteps parses steps the way a runbook writes them and checks what
// each one would do.
func TestRunbookSteps(t *testing.T) {
	reg, err := builtin.Builtins(builtin.Config{
		GitHub:        github.Config{BaseURL: "https://ghe.example/api/v3/", Token: "ghp_x"},
		PrometheusURL: "http://prometheus:9090",
		Environ:       func() []string { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	v := adapters.Vars{Version: "v1.4", Env: "production", RunID: "r42", Started: time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)}
	tests := []struct {
		run  string
		with map[string]any
		plan string
	}{
		{"shell", map[string]any{"command": []any{"./scripts/check-ci.sh", "{{ .Version }}"}}, "run `./scripts/check-ci.sh v1.4`"},
		{"http", map[string]any{"url": "https://shop.example/healthz"}, "GET https://shop.example/healthz; pass on HTTP 200"},
		{"github", map[string]any{"action": "checks", "repo": "acme/shop", "ref": "{{ .Version }}"}, "GET https://ghe.example/api/v3/repos/acme/shop/commits/v1.4/check-runs"},
		{"prometheus", map[string]any{"query": "up", "min": 1}, "query `up` at http://prometheus:9090/api/v1/query"},
		{"watch", map[string]any{"for": "30m", "check": map[string]any{"run": "shell", "with": map[string]any{"command": []any{"./smoke.sh"}}}}, "for 30m, every 1m: run `./smoke.sh`"},
		{"webhook", map[string]any{"url": "https://hooks.example/deploy"}, "POST https://hooks.example/deploy"},
		{"notify", nil, "send to the notice channel: \"Deploying v1.4 to production (run r42)\""},
		{"window", map[string]any{"mode": "open"}, "wait until a maintenance window for production is open"},
	}
	for _, tc := range tests {
		t.Run(tc.run, func(t *testing.T) {
			if err := reg.Validate(tc.run, tc.with); err != nil {
				t.Fatal(err)
			}
			s, err := reg.Parse(tc.run, tc.with)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Plan(v); !strings.HasPrefix(got, tc.plan) {
				t.Errorf("Plan = %q, want it to start with %q", got, tc.plan)
			}
		})
	}
	if err := reg.Validate("ssh", nil); err == nil || !strings.Contains(err.Error(), `unknown adapter "ssh" (known: [github http notify prometheus shell watch webhook window])`) {
		t.Errorf("Validate(ssh) = %v", err)
	}
}

// TestWatchRunsNestedShellAndRedacts runs a watch whose check is a shell step,
// through the registry main builds, with the bot's secrets in its environment.
func TestWatchRunsNestedShellAndRedacts(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC))
	environ := []string{"PATH=" + os.Getenv("PATH"), "DEPLOY_API_KEY=k3y-material-42"}
	reg, err := builtin.Builtins(builtin.Config{Clock: fake, Environ: func() []string { return environ }})
	if err != nil {
		t.Fatal(err)
	}
	s, err := reg.Parse("watch", map[string]any{"for": "2m", "failures": 1, "check": map[string]any{"run": "shell",
		"with": map[string]any{"command": []any{"sh", "-c", `echo "using $DEPLOY_API_KEY"; test "$DEPLOY_ENV" = production`}}}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan adapters.Result, 1)
	go func() { done <- s.Run(context.Background(), adapters.Vars{Version: "v1.4", Env: "staging"}, nil) }()
	var res adapters.Result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not finish")
	}
	if res.OK || res.Summary != "1 consecutive check failed after 0s: exit 1: using ***" {
		t.Errorf("Run = %+v", res)
	}
}
