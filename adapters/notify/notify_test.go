package notify_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"deploybot/adapters"
	"deploybot/adapters/notify"
)

var vars = adapters.Vars{Version: "v1.4", Env: "production", RunID: "r42"}

// recorder is the test's Notifier: it remembers what it was asked to send.
type recorder struct {
	mu   sync.Mutex // mu protects sent
	sent []string
	err  error
}

func (r *recorder) Notify(_ context.Context, channel, text string) error {
	if r.err != nil {
		return r.err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, channel+"|"+text)
	return nil
}

func TestRun(t *testing.T) {
	rollback := vars
	rollback.Reason = "error rate 12%"
	withService := vars
	withService.Service = "payments"
	rollbackService := rollback
	rollbackService.Service, rollbackService.Previous = "payments", "v1.3"
	tests := []struct {
		name    string
		with    map[string]any
		v       adapters.Vars
		err     error
		ok      bool
		summary string
		sent    string
	}{
		{"notice channel", map[string]any{"text": "Deploying {{ .Version }} to {{ .Env }}"}, vars, nil, true, "sent to the notice channel", "|Deploying v1.4 to production"},
		{"named channel", map[string]any{"text": "hi", "channel": "C0OPS"}, vars, nil, true, "sent to C0OPS", "C0OPS|hi"},
		{"default text", nil, vars, nil, true, "sent to the notice channel", "|Deploying v1.4 to production (run r42)"},
		{"default text in a rollback", map[string]any{}, rollback, nil, true, "sent to the notice channel", "|Rolling back v1.4 on production: error rate 12% (run r42)"},
		{"default text names the service", nil, withService, nil, true, "sent to the notice channel", "|Deploying payments v1.4 to production (run r42)"},
		{"default text names the version rolled back to", map[string]any{}, rollbackService, nil, true, "sent to the notice channel", "|Rolling back payments v1.4 on production to v1.3: error rate 12% (run r42)"},
		{"delivery fails", map[string]any{"text": "hi"}, vars, errors.New("channel_not_found"), false, "sending to the notice channel failed: channel_not_found", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{err: tc.err}
			s, err := notify.New(rec).Parse(tc.with)
			if err != nil {
				t.Fatal(err)
			}
			res := s.Run(context.Background(), tc.v, nil)
			if res.OK != tc.ok || res.Summary != tc.summary {
				t.Fatalf("Run = ok %v %q, want ok %v %q", res.OK, res.Summary, tc.ok, tc.summary)
			}
			if got := strings.Join(rec.sent, "\n"); got != tc.sent {
				t.Errorf("sent %q, want %q", got, tc.sent)
			}
		})
	}
}

func TestNotConfigured(t *testing.T) {
	s, err := notify.New(nil).Parse(map[string]any{"text": "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if res := s.Run(context.Background(), vars, nil); res.OK || res.Summary != "notifications are not configured" {
		t.Errorf("Run = %+v", res)
	}
}

func TestPlan(t *testing.T) {
	s, err := notify.New(nil).Parse(map[string]any{"text": "Deploying {{ .Version }}"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Plan(vars); got != `send to the notice channel: "Deploying v1.4"` {
		t.Errorf("Plan = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		with map[string]any
		want string
	}{
		{"unknown field", map[string]any{"message": "hi"}, `notify: unknown parameter "message" (known: channel, text)`},
		{"bad template", map[string]any{"text": "{{ .Version"}, `notify: parameter "text": bad template`},
		{"text not a string", map[string]any{"text": []any{"a"}}, `notify: parameter "text": want a string, got a list`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := notify.New(nil).Parse(tc.with)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// runRecorder also knows the run's channel, for the fallback when no notice
// channel is configured.
type runRecorder struct{ recorder }

func (r *runRecorder) NotifyRun(_ context.Context, channel, runChannel, text string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, channel+"|"+runChannel+"|"+text)
	return nil
}

func TestRunNotifierGetsTheRunsChannel(t *testing.T) {
	rec := &runRecorder{}
	s, err := notify.New(rec).Parse(map[string]any{"text": "hi"})
	if err != nil {
		t.Fatal(err)
	}
	v := vars
	v.Channel = "C0DEPLOY"
	if res := s.Run(context.Background(), v, nil); !res.OK {
		t.Fatalf("Run: %+v", res)
	}
	if len(rec.sent) != 1 || rec.sent[0] != "|C0DEPLOY|hi" {
		t.Fatalf("sent %q", rec.sent)
	}
}
