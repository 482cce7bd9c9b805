package httpcheck_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"deploybot/adapters/httpcheck"
)

// countingTransport fails every request and counts them: a step that must
// send nothing is caught sending anything.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return nil, http.ErrHandlerTimeout
}

// TestAValueCannotMoveTheHost: a version that would end the host
// ("127.0.0.1/x") fails the step with a clear error and nothing is sent,
// so the runbook's Authorization header never reaches another machine.
func TestAValueCannotMoveTheHost(t *testing.T) {
	tr := &countingTransport{}
	a := httpcheck.New(httpcheck.Config{Client: &http.Client{Transport: tr}})
	s, err := a.Parse(map[string]any{
		"url":     "http://{{ .Version }}.preview.example.com/health",
		"headers": map[string]any{"Authorization": "Bearer s3cret-token"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, version := range []string{"127.0.0.1/x", "evil.com#", "x@127.0.0.1", "127.0.0.1:9000"} {
		v := vars
		v.Version = version
		res := s.Run(context.Background(), v, nil)
		if res.OK || !strings.Contains(res.Summary, "cannot go in the URL's host") || !strings.Contains(res.Summary, "nothing was sent") {
			t.Errorf("version %q: Run = ok %v %q, want a failure saying the value cannot go in the host", version, res.OK, res.Summary)
		}
	}
	if n := tr.n.Load(); n != 0 {
		t.Fatalf("%d requests were sent, want none", n)
	}
	// A version that is a DNS name stays under the runbook's domain.
	v := vars
	v.Version = "pr-12"
	if plan := s.Plan(v); !strings.Contains(plan, "http://pr-12.preview.example.com/health") {
		t.Errorf("Plan = %q", plan)
	}
}

// TestAHostValueNeedsAFixedDomain: a runbook cannot let a value be the whole host.
func TestAHostValueNeedsAFixedDomain(t *testing.T) {
	for _, u := range []string{"http://{{ .Version }}/health", "http://preview-{{ .Version }}/x", "{{ .Env }}://example.com/", "http://example.com{{ .Version }}"} {
		_, err := httpcheck.New(httpcheck.Config{}).Parse(map[string]any{"url": u})
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", u)
		}
	}
}

// TestPathAndQueryValuesAreEscaped: a value in the path stays one segment,
// a value in the query one query value.
func TestPathAndQueryValuesAreEscaped(t *testing.T) {
	srv := newServer(t)
	s, err := httpcheck.New(httpcheck.Config{}).Parse(map[string]any{
		"url": srv.URL + "/healthz/{{ .Version }}?env={{ .Env }}&reason={{ .Reason }}", "expect_status": []any{404}})
	if err != nil {
		t.Fatal(err)
	}
	v := vars
	v.Version = "../admin?x=1#"
	v.Reason = "a&admin=true"
	res := s.Run(context.Background(), v, nil)
	if !res.OK {
		t.Fatalf("Run = %q\n%s", res.Summary, res.Output)
	}
	r, _ := srv.last()
	if got := r.URL.EscapedPath(); got != "/healthz/..%2Fadmin%3Fx=1%23" {
		t.Errorf("path = %q, want the version as one escaped segment", got)
	}
	q := r.URL.Query()
	if q.Get("reason") != "a&admin=true" || q.Has("admin") || q.Get("env") != "production" {
		t.Errorf("query = %v, want reason=%q and no admin field", q, v.Reason)
	}
}

// TestJSONBodyValuesStayStrings: a reason written to break out of its JSON
// string stays one string value; a value where a JSON value goes is quoted.
func TestJSONBodyValuesStayStrings(t *testing.T) {
	srv := newServer(t)
	s, err := httpcheck.New(httpcheck.Config{}).Parse(map[string]any{
		"url": srv.URL + "/created", "method": "POST", "expect_status": []any{201},
		"body": `{"reason": "{{ .Reason }}", "version": {{ .Version }}, "note": "rollback of {{ .Version }}"}`})
	if err != nil {
		t.Fatal(err)
	}
	v := vars
	v.Reason = `--force", "admin": true, "x": "`
	if res := s.Run(context.Background(), v, nil); !res.OK {
		t.Fatalf("Run = %q", res.Summary)
	}
	_, body := srv.last()
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("body %s is not JSON: %v", body, err)
	}
	want := map[string]any{"reason": v.Reason, "version": "v1.4", "note": "rollback of v1.4"}
	if len(got) != len(want) || got["reason"] != want["reason"] || got["version"] != want["version"] || got["note"] != want["note"] {
		t.Errorf("body = %s, want exactly %v", body, want)
	}
}

// TestFormBodyValuesAreEscaped: a form body's value cannot add a field.
func TestFormBodyValuesAreEscaped(t *testing.T) {
	srv := newServer(t)
	s, err := httpcheck.New(httpcheck.Config{}).Parse(map[string]any{
		"url": srv.URL + "/created", "method": "POST", "expect_status": []any{201},
		"headers": map[string]any{"Content-Type": "application/x-www-form-urlencoded"},
		"body":    "reason={{ .Reason }}&v={{ .Version }}"})
	if err != nil {
		t.Fatal(err)
	}
	v := vars
	v.Reason = "x&admin=true"
	if res := s.Run(context.Background(), v, nil); !res.OK {
		t.Fatalf("Run = %q", res.Summary)
	}
	_, body := srv.last()
	if body != "reason=x%26admin%3Dtrue&v=v1.4" {
		t.Errorf("body = %q", body)
	}
}

// TestPlainBodyIsSentAsRendered: a body that is neither JSON nor a form
// (it starts with a template action) is sent as rendered.
func TestPlainBodyIsSentAsRendered(t *testing.T) {
	srv := newServer(t)
	s, err := httpcheck.New(httpcheck.Config{}).Parse(map[string]any{
		"url": srv.URL + "/created", "method": "POST", "expect_status": []any{201}, "body": `{{ .Version }} "ok"`})
	if err != nil {
		t.Fatal(err)
	}
	if res := s.Run(context.Background(), vars, nil); !res.OK {
		t.Fatalf("Run = %q", res.Summary)
	}
	if _, body := srv.last(); body != `v1.4 "ok"` {
		t.Errorf("body = %q", body)
	}
}

// TestURLPasswordNeverShows: a password written into a URL is hidden in the
// plan, the summary and the output.
func TestURLPasswordNeverShows(t *testing.T) {
	srv := newServer(t)
	u := strings.Replace(srv.URL, "http://", "http://monitor:pw-4711@", 1) + "/down"
	s, err := httpcheck.New(httpcheck.Config{}).Parse(map[string]any{"url": u})
	if err != nil {
		t.Fatal(err)
	}
	res := s.Run(context.Background(), vars, nil)
	for what, text := range map[string]string{"plan": s.Plan(vars), "summary": res.Summary, "output": res.Output} {
		if strings.Contains(text, "pw-4711") || !strings.Contains(text, "monitor:***@") {
			t.Errorf("%s = %q, want the password hidden", what, text)
		}
	}
}
