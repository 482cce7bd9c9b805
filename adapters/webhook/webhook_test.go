package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"deploybot/adapters"
	"deploybot/adapters/webhook"
	"deploybot/internal/clock"
)

const key = "whsec_0123456789abcdef"

var (
	now  = time.Date(2026, 3, 1, 22, 15, 0, 0, time.UTC)
	vars = adapters.Vars{Version: "v1.4", Env: "production", RunID: "r42", Phase: "deploy", Step: "announce"}
)

// receiver is a webhook consumer that verifies deliveries the way the package
// documentation tells receivers to.
type receiver struct {
	*httptest.Server
	status int

	mu         sync.Mutex // mu protects the fields below
	deliveries []map[string]any
	verified   []bool
	stamps     []string
}

func newReceiver(t *testing.T, status int) *receiver {
	r := &receiver{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw, _ := io.ReadAll(req.Body)
		ok := webhook.Verify([]byte(key), raw, req.Header.Get(webhook.SignatureHeader))
		var doc map[string]any
		json.Unmarshal(raw, &doc)
		r.mu.Lock()
		r.deliveries = append(r.deliveries, doc)
		r.verified = append(r.verified, ok)
		r.stamps = append(r.stamps, req.Header.Get(webhook.TimestampHeader))
		r.mu.Unlock()
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if r.status != 0 {
			http.Error(w, "rejected: key "+key+" unknown", r.status)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(r.Close)
	return r
}

func newAdapter(env map[string]string) *webhook.Adapter {
	return webhook.New(webhook.Config{
		Getenv: func(k string) string { return env[k] },
		Clock:  clock.NewFake(now),
	})
}

func TestDeliverySignedAndVerified(t *testing.T) {
	rcv := newReceiver(t, 0)
	a := newAdapter(map[string]string{"HOOK_KEY": key})
	s, err := a.Parse(map[string]any{
		"url":        rcv.URL + "/hooks/{{ .Env }}",
		"secret_env": "HOOK_KEY",
		"payload":    map[string]any{"text": "Deploying {{ .Version }}", "count": 2, "tags": []any{"{{ .Env }}", "release"}, "meta": map[string]any{"by": "{{ .RunID }}"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	res := s.Run(context.Background(), vars, nil)
	if !res.OK || res.Summary != "HTTP 202 from "+rcv.URL+"/hooks/production" {
		t.Fatalf("Run = %+v", res)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.deliveries) != 1 || !rcv.verified[0] {
		t.Fatalf("deliveries %v verified %v", rcv.deliveries, rcv.verified)
	}
	got, _ := json.Marshal(rcv.deliveries[0])
	want := `{"count":2,"environment":"production","meta":{"by":"r42"},"phase":"deploy","run":"r42","sent_at":` +
		strconv.FormatInt(now.Unix(), 10) + `,"step":"announce","tags":["production","release"],"text":"Deploying v1.4","version":"v1.4"}`
	if string(got) != want {
		t.Errorf("body =\n%s\nwant\n%s", got, want)
	}
	if rcv.stamps[0] != strconv.FormatInt(now.Unix(), 10) {
		t.Errorf("timestamp header = %q", rcv.stamps[0])
	}
}

func TestSignatureDetectsTampering(t *testing.T) {
	body := []byte(`{"run":"r42"}`)
	sig := webhook.Sign([]byte(key), body)
	tests := []struct {
		name string
		key  string
		body string
		sig  string
		ok   bool
	}{
		{"genuine", key, string(body), sig, true},
		{"changed body", key, `{"run":"r43"}`, sig, false},
		{"other key", "whsec_other", string(body), sig, false},
		{"missing prefix", key, string(body), strings.TrimPrefix(sig, "sha256="), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := webhook.Verify([]byte(tc.key), []byte(tc.body), tc.sig); got != tc.ok {
				t.Errorf("Verify = %v, want %v", got, tc.ok)
			}
		})
	}
}

func TestFailures(t *testing.T) {
	rejecting := newReceiver(t, http.StatusForbidden)
	accepting := newReceiver(t, 0)
	tests := []struct {
		name    string
		env     map[string]string
		url     string
		summary string
		sent    *receiver
	}{
		{"missing key variable", map[string]string{}, accepting.URL, "webhook signing key variable HOOK_KEY is not set", nil},
		{"rejected", map[string]string{"HOOK_KEY": key}, rejecting.URL, "HTTP 403 from " + rejecting.URL + ": rejected: key *** unknown", rejecting},
		{"unreachable", map[string]string{"HOOK_KEY": key}, "http://127.0.0.1:1/x", "POST http://127.0.0.1:1/x: dial tcp 127.0.0.1:1: connect: connection refused", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := newAdapter(tc.env).Parse(map[string]any{"url": tc.url, "secret_env": "HOOK_KEY"})
			if err != nil {
				t.Fatal(err)
			}
			res := s.Run(context.Background(), vars, nil)
			if res.OK || res.Summary != tc.summary {
				t.Fatalf("Run = %q, want %q", res.Summary, tc.summary)
			}
			if strings.Contains(res.Summary+res.Output, key) {
				t.Error("the key is visible")
			}
		})
	}
	accepting.mu.Lock()
	defer accepting.mu.Unlock()
	if len(accepting.deliveries) != 0 {
		t.Errorf("a delivery without its key was sent: %v", accepting.deliveries)
	}
}

func TestUnsigned(t *testing.T) {
	rcv := newReceiver(t, 0)
	s, err := newAdapter(nil).Parse(map[string]any{"url": rcv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if res := s.Run(context.Background(), vars, nil); !res.OK {
		t.Fatalf("Run = %+v", res)
	}
	if !strings.HasSuffix(s.Plan(vars), ", unsigned; pass on a 2xx answer") {
		t.Errorf("Plan = %q", s.Plan(vars))
	}
}

func TestPlan(t *testing.T) {
	s, err := newAdapter(nil).Parse(map[string]any{"url": "https://hooks.example/{{ .Env }}", "secret_env": "HOOK_KEY", "payload": map[string]any{"text": "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "POST https://hooks.example/production with a JSON body of environment, phase, run, sent_at, step, text, version, signed in X-Deploybot-Signature with HMAC-SHA256 under the key in $HOOK_KEY; pass on a 2xx answer"
	if got := s.Plan(vars); got != want {
		t.Errorf("Plan =\n%s\nwant\n%s", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	a := newAdapter(nil)
	tests := []struct {
		name string
		with map[string]any
		want string
	}{
		{"unknown field", map[string]any{"url": "https://x/", "secret": "HOOK_KEY"}, `webhook: unknown parameter "secret"`},
		{"missing url", map[string]any{}, `webhook: parameter "url" is required`},
		{"bad url", map[string]any{"url": "hooks.example/x"}, `webhook: parameter "url": "hooks.example/x" is not an absolute http(s) URL`},
		{"secret value instead of name", map[string]any{"url": "https://x/", "secret_env": "whsec-abc 123"}, `name the variable, not its value`},
		{"reserved payload field", map[string]any{"url": "https://x/", "payload": map[string]any{"version": "v9"}}, `webhook: parameter "payload": field "version" is set by deploybot`},
		{"bad payload template", map[string]any{"url": "https://x/", "payload": map[string]any{"m": map[string]any{"t": "{{ .Nope }}"}}}, `webhook: parameter "payload.m.t": bad template: unknown variable .Nope`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Parse(tc.with)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
