package webhook_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"deploybot/adapters/webhook"
)

type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return nil, http.ErrHandlerTimeout
}

// TestURLValueCannotMoveTheHost: a version that would end the URL's host
// fails the delivery before anything (or the signature) is sent.
func TestURLValueCannotMoveTheHost(t *testing.T) {
	tr := &countingTransport{}
	a := webhook.New(webhook.Config{Client: &http.Client{Transport: tr}, Getenv: func(string) string { return key }})
	s, err := a.Parse(map[string]any{"url": "https://{{ .Version }}.hooks.example.com/deploy", "secret_env": "HOOK_KEY"})
	if err != nil {
		t.Fatal(err)
	}
	v := vars
	v.Version = "127.0.0.1/x"
	res := s.Run(context.Background(), v, nil)
	if res.OK || !strings.Contains(res.Summary, "cannot go in the URL's host") {
		t.Errorf("Run = ok %v %q, want refused", res.OK, res.Summary)
	}
	if tr.n.Load() != 0 {
		t.Errorf("%d requests sent, want none", tr.n.Load())
	}
}

// TestPathValueIsOneSegment: a value in the webhook URL's path is escaped.
func TestPathValueIsOneSegment(t *testing.T) {
	rcv := newReceiver(t, 0)
	s, err := newAdapter(nil).Parse(map[string]any{"url": rcv.URL + "/hooks/{{ .Version }}"})
	if err != nil {
		t.Fatal(err)
	}
	v := vars
	v.Version = "a/../../admin?x"
	res := s.Run(context.Background(), v, nil)
	if !res.OK || !strings.HasSuffix(res.Summary, "/hooks/a%2F..%2F..%2Fadmin%3Fx") {
		t.Errorf("Run = ok %v %q", res.OK, res.Summary)
	}
}

// TestPayloadReasonStaysOneString: payload values are JSON-encoded, so a
// reason written to add fields stays one string.
func TestPayloadReasonStaysOneString(t *testing.T) {
	rcv := newReceiver(t, 0)
	s, err := newAdapter(nil).Parse(map[string]any{"url": rcv.URL + "/hooks", "payload": map[string]any{"reason": "{{ .Reason }}"}})
	if err != nil {
		t.Fatal(err)
	}
	v := vars
	v.Reason = `--force", "admin": true, "x": "`
	if res := s.Run(context.Background(), v, nil); !res.OK {
		t.Fatalf("Run = %q", res.Summary)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	doc := rcv.deliveries[0]
	if doc["reason"] != v.Reason || doc["admin"] != nil || doc["x"] != nil {
		t.Errorf("delivery = %v, want the reason as one string", doc)
	}
}
