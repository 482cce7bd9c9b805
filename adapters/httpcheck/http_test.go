package httpcheck_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"deploybot/adapters"
	"deploybot/adapters/httpcheck"
	"deploybot/internal/clock"
)

var vars = adapters.Vars{Version: "v1.4", Env: "production", RunID: "r42"}

// server is a small service with health endpoints, recording what it was sent.
type server struct {
	*httptest.Server
	flaky atomic.Int32 // failures left on /flaky

	mu   sync.Mutex // mu protects seen
	seen []*http.Request
	body []string
}

func newServer(t *testing.T) *server {
	s := &server{}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "status: ok\n") })
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok","version":"v1.4","replicas":3,"checks":[{"name":"db","up":true}]}`)
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/created", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	mux.HandleFunc("/flaky", func(w http.ResponseWriter, r *http.Request) {
		if s.flaky.Add(-1) >= 0 {
			http.Error(w, "warming up", http.StatusBadGateway)
			return
		}
		io.WriteString(w, "ok")
	})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.seen = append(s.seen, r)
		s.body = append(s.body, string(b))
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) last() (*http.Request, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[len(s.seen)-1], s.body[len(s.body)-1]
}

func TestRun(t *testing.T) {
	srv := newServer(t)
	u := srv.URL
	tests := []struct {
		name    string
		with    map[string]any
		ok      bool
		summary string
	}{
		{"healthy", map[string]any{"url": u + "/healthz"}, true, "HTTP 200 from " + u + "/healthz"},
		{"body substring", map[string]any{"url": u + "/healthz", "expect_body": "status: ok"}, true, "HTTP 200 from " + u + "/healthz"},
		{"body substring missing", map[string]any{"url": u + "/healthz", "expect_body": "ready"}, false, u + `/healthz: HTTP 200 but the body lacks "ready"`},
		{"templated body expectation", map[string]any{"url": u + "/version", "expect_body": `"version":"{{ .Version }}"`}, true, "HTTP 200 from " + u + "/version"},
		{"unexpected status", map[string]any{"url": u + "/down"}, false, u + "/down: HTTP 503 (want 200)"},
		{"expected failure status", map[string]any{"url": u + "/down", "expect_status": []any{503}}, true, "HTTP 503 from " + u + "/down"},
		{"status class", map[string]any{"url": u + "/created", "method": "post", "expect_status": []any{"2xx"}}, true, "HTTP 201 from " + u + "/created"},
		{"status list", map[string]any{"url": u + "/created", "expect_status": []any{200, 204}}, false, u + "/created: HTTP 201 (want 200 or 204)"},
		{"json fields", map[string]any{"url": u + "/version", "expect_json": map[string]any{"status": "ok", "version": "{{ .Version }}", "replicas": 3, "checks.0.up": true}}, true, "HTTP 200 from " + u + "/version"},
		{"json field differs", map[string]any{"url": u + "/version", "expect_json": map[string]any{"replicas": 4}}, false, u + "/version: HTTP 200 but JSON replicas = 3 (want 4)"},
		{"json field missing", map[string]any{"url": u + "/version", "expect_json": map[string]any{"checks.1.up": true}}, false, u + "/version: HTTP 200 but JSON checks.1.up is missing"},
		{"all endpoints pass", map[string]any{"endpoints": []any{u + "/healthz", u + "/version"}}, true, "2/2 endpoints ok (HTTP 200)"},
		{"one endpoint fails", map[string]any{"endpoints": []any{u + "/healthz", u + "/down", u + "/version"}}, false, "2/3 endpoints ok; " + u + "/down: HTTP 503 (want 200)"},
		{"connection refused", map[string]any{"url": "http://127.0.0.1:1/healthz"}, false, "http://127.0.0.1:1/healthz: connection refused"},
	}
	a := httpcheck.New(httpcheck.Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := a.Parse(tc.with)
			if err != nil {
				t.Fatal(err)
			}
			res := s.Run(context.Background(), vars, nil)
			if res.OK != tc.ok || res.Summary != tc.summary {
				t.Fatalf("Run = ok %v %q, want ok %v %q\noutput:\n%s", res.OK, res.Summary, tc.ok, tc.summary, res.Output)
			}
		})
	}
}

func TestFailureOutputShowsEachEndpoint(t *testing.T) {
	srv := newServer(t)
	s, err := httpcheck.New(httpcheck.Config{}).Parse(map[string]any{"endpoints": []any{srv.URL + "/healthz", srv.URL + "/down"}})
	if err != nil {
		t.Fatal(err)
	}
	res := s.Run(context.Background(), vars, nil)
	lines := strings.Split(strings.TrimSpace(res.Output), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "GET "+srv.URL+"/healthz: HTTP 200 in ") ||
		!strings.HasPrefix(lines[1], "GET "+srv.URL+"/down: HTTP 503 in ") || !strings.HasSuffix(lines[1], " — HTTP 503 (want 200)") ||
		lines[2] != "upstream unavailable" {
		t.Errorf("Output =\n%s", res.Output)
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		failures int32
		retries  int
		ok       bool
		summary  string
		requests int
	}{
		{"passes on the third attempt", 2, 2, true, "HTTP 200 from %s/flaky", 3},
		{"gives up after the retries", 5, 2, false, "%s/flaky: HTTP 502 (want 200) after 3 attempts", 3},
		{"no retries by default", 1, 0, false, "%s/flaky: HTTP 502 (want 200)", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			srv.flaky.Store(tc.failures)
			fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			s, err := httpcheck.New(httpcheck.Config{Clock: fake}).Parse(map[string]any{"url": srv.URL + "/flaky", "retries": tc.retries, "retry_delay": "10s"})
			if err != nil {
				t.Fatal(err)
			}
			var progress []string
			done := make(chan adapters.Result, 1)
			go func() { done <- s.Run(context.Background(), vars, func(l string) { progress = append(progress, l) }) }()
			var res adapters.Result
			waits := []time.Duration{}
			for finished := false; !finished; {
				select {
				case res = <-done:
					finished = true
				case <-time.After(time.Millisecond):
					if fake.Waiters() > 0 {
						// The backoff doubles: 10s, then 20s.
						d := 10 * time.Second << len(waits)
						waits = append(waits, d)
						fake.Advance(d)
					}
				}
			}
			if res.OK != tc.ok || res.Summary != strings.ReplaceAll(tc.summary, "%s", srv.URL) {
				t.Fatalf("Run = ok %v %q, want ok %v %q", res.OK, res.Summary, tc.ok, tc.summary)
			}
			srv.mu.Lock()
			n := len(srv.seen)
			srv.mu.Unlock()
			if n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			if len(progress) != tc.requests-1 {
				t.Errorf("progress = %q", progress)
			} else if len(progress) > 0 && progress[0] != srv.URL+"/flaky: HTTP 502 (want 200); retry 1 of 2 in 10s" {
				t.Errorf("progress[0] = %q", progress[0])
			}
		})
	}
}

func TestRequestCarriesMethodHeadersAndBody(t *testing.T) {
	srv := newServer(t)
	a := httpcheck.New(httpcheck.Config{})
	s, err := a.Parse(map[string]any{
		"url":           srv.URL + "/created?v={{ .Version }}",
		"method":        "POST",
		"headers":       map[string]any{"Authorization": "Bearer s3cr3t-t0ken", "X-Env": "{{ .Env }}"},
		"body":          `{"version":"{{ .Version }}"}`,
		"expect_status": []any{201},
	})
	if err != nil {
		t.Fatal(err)
	}
	plan := s.Plan(vars)
	wantPlan := "POST " + srv.URL + "/created?v=v1.4 with headers Authorization: ***, X-Env: production and a 18-byte body; pass on HTTP 201; each request times out after 10s"
	if plan != wantPlan {
		t.Errorf("Plan =\n%s\nwant\n%s", plan, wantPlan)
	}
	res := s.Run(context.Background(), vars, nil)
	if !res.OK {
		t.Fatalf("Run = %+v", res)
	}
	r, body := srv.last()
	if r.Method != "POST" || r.URL.Query().Get("v") != "v1.4" || r.Header.Get("Authorization") != "Bearer s3cr3t-t0ken" ||
		r.Header.Get("X-Env") != "production" || body != `{"version":"v1.4"}` {
		t.Errorf("request = %s %s %v %q", r.Method, r.URL, r.Header, body)
	}
	if strings.Contains(plan+res.Output+res.Summary, "s3cr3t") {
		t.Error("the token is visible")
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	srv := newServer(t)
	srv.flaky.Store(100)
	s, err := httpcheck.New(httpcheck.Config{Clock: clock.NewFake(time.Now())}).Parse(map[string]any{"url": srv.URL + "/flaky", "retries": 5})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan adapters.Result, 1)
	go func() { done <- s.Run(ctx, vars, nil) }()
	for srv.flaky.Load() == 100 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if res := <-done; res.OK || res.Summary != "cancelled" {
		t.Errorf("Run = %+v", res)
	}
}

func TestParseErrors(t *testing.T) {
	a := httpcheck.New(httpcheck.Config{})
	tests := []struct {
		name string
		with map[string]any
		want string
	}{
		{"unknown field", map[string]any{"url": "https://x/", "expect": 200}, `http: unknown parameter "expect"`},
		{"no url", map[string]any{}, `http: parameter "url" (or "endpoints") is required`},
		{"both", map[string]any{"url": "https://x/", "endpoints": []any{"https://y/"}}, `http: set either "url" or "endpoints", not both`},
		{"relative url", map[string]any{"url": "/healthz"}, `http: parameter "url": "/healthz" is not an absolute http(s) URL`},
		{"other scheme", map[string]any{"url": "file:///etc/passwd"}, `is not an absolute http(s) URL`},
		{"templated host missing", map[string]any{"url": "{{ .Env }}/healthz"}, `http: parameter "url": the URL's scheme and host must be written out`},
		{"bad endpoint", map[string]any{"endpoints": []any{"https://ok/", "nope"}}, `http: parameter "endpoints[1]"`},
		{"bad template", map[string]any{"url": "https://x/{{ .Version"}, `http: parameter "url": bad template`},
		{"bad method", map[string]any{"url": "https://x/", "method": "FETCH"}, `http: parameter "method": "FETCH" is not one of`},
		{"bad status", map[string]any{"url": "https://x/", "expect_status": []any{"6xx"}}, `http: parameter "expect_status": want a status such as 200 or "2xx", got "6xx"`},
		{"status out of range", map[string]any{"url": "https://x/", "expect_status": []any{42}}, `status 42 is not an HTTP status`},
		{"retries not a number", map[string]any{"url": "https://x/", "retries": "three"}, `http: parameter "retries": want a whole number, got a string`},
		{"bad timeout", map[string]any{"url": "https://x/", "timeout": "soon"}, `http: parameter "timeout": invalid duration "soon"`},
		{"negative retries", map[string]any{"url": "https://x/", "retries": -1}, `must not be negative`},
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

// A redirect to another origin (host or port) must not carry the step's
// credentials there; a redirect within the origin keeps them.
func TestRedirectDropsCredentialsAcrossOrigins(t *testing.T) {
	type got struct{ auth, key, plain string }
	var mu sync.Mutex
	seen := map[string]got{}
	record := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen[name] = got{r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"), r.Header.Get("X-Plain")}
			mu.Unlock()
			io.WriteString(w, "ok")
		}
	}
	other := httptest.NewServer(record("other"))
	t.Cleanup(other.Close)
	otherByName := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/same", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/landing", http.StatusFound) })
	mux.HandleFunc("/landing", record("same"))
	mux.HandleFunc("/port", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, other.URL+"/x", http.StatusFound) })
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, otherByName+"/x", http.StatusFound) })
	origin := httptest.NewServer(mux)
	t.Cleanup(origin.Close)

	tests := []struct {
		name, path, where string
		want              got
	}{
		{"same origin keeps the credentials", "/same", "same", got{"Bearer s3cr3t-token", "k3y-value", "visible"}},
		{"another port gets none", "/port", "other", got{"", "", "visible"}},
		{"another host gets none", "/host", "other", got{"", "", "visible"}},
	}
	a := httpcheck.New(httpcheck.Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			clear(seen)
			mu.Unlock()
			s, err := a.Parse(map[string]any{"url": origin.URL + tc.path, "headers": map[string]any{
				"Authorization": "Bearer s3cr3t-token", "X-Api-Key": "k3y-value", "X-Plain": "visible"}})
			if err != nil {
				t.Fatal(err)
			}
			if res := s.Run(context.Background(), vars, nil); !res.OK {
				t.Fatalf("Run = %+v", res)
			}
			mu.Lock()
			defer mu.Unlock()
			if g, ok := seen[tc.where]; !ok || g != tc.want {
				t.Errorf("%s server saw %+v (reached: %v), want %+v", tc.where, g, ok, tc.want)
			}
		})
	}
}

func TestExpectStatusMayBeOneStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	defer srv.Close()
	for _, want := range []any{uint64(202), "2xx", []any{uint64(200), uint64(202)}} {
		st, err := httpcheck.New(httpcheck.Config{}).Parse(map[string]any{"url": srv.URL, "expect_status": want})
		if err != nil {
			t.Fatalf("expect_status %v: %v", want, err)
		}
		if res := st.Run(context.Background(), adapters.Vars{Version: "v1"}, nil); !res.OK {
			t.Errorf("expect_status %v: %+v", want, res)
		}
	}
}
