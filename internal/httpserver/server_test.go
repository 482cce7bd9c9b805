package httpserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// start serves h on a fresh loopback listener through New and Serve, and
// returns the base URL. Cleanup shuts the server down.
func start(t *testing.T, h http.Handler, tweak func(*http.Server)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(ln.Addr().String(), h, slog.New(slog.DiscardHandler))
	if tweak != nil {
		tweak(srv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func TestNewSetsEveryLimit(t *testing.T) {
	h := http.NotFoundHandler()
	srv := New(":0", h, nil)
	if srv.Addr != ":0" || srv.Handler == nil || srv.ErrorLog == nil {
		t.Fatalf("Addr=%q Handler=%v ErrorLog=%v", srv.Addr, srv.Handler, srv.ErrorLog)
	}
	checks := []struct {
		name      string
		got, want time.Duration
	}{
		{"ReadHeaderTimeout", srv.ReadHeaderTimeout, 5 * time.Second},
		{"ReadTimeout", srv.ReadTimeout, 15 * time.Second},
		{"WriteTimeout", srv.WriteTimeout, 30 * time.Second},
		{"IdleTimeout", srv.IdleTimeout, 120 * time.Second},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if srv.MaxHeaderBytes != 64<<10 {
		t.Errorf("MaxHeaderBytes = %d", srv.MaxHeaderBytes)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-ShuttingDown(r.Context()) // a stream would end here
		_, _ = io.WriteString(w, "finished")
	})
	srv := New("", h, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, srv, ln) }()

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/stream")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-entered
	cancel()

	r := <-got
	if r.err != nil || r.body != "finished" {
		t.Fatalf("request in flight during shutdown: body %q, err %v", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v, want nil after a clean shutdown", err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Errorf("the listener still accepts after shutdown")
	}
}

func TestServeCutsConnectionsAfterGrace(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	entered := make(chan struct{})
	srv := New("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release // ignores the shutdown
	}), nil)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, srv, ln, 50*time.Millisecond) }()
	clientErr := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err == nil {
			resp.Body.Close()
		}
		clientErr <- err
	}()
	<-entered
	cancel()
	if err := <-served; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Serve = %v, want the shutdown deadline", err)
	}
	if err := <-clientErr; err == nil {
		t.Errorf("the stuck request got an answer; want its connection cut")
	}
}

func TestServeReportsServeFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	err = Serve(context.Background(), New("", http.NotFoundHandler(), nil), ln)
	if err == nil || !strings.HasPrefix(err.Error(), "httpserver: serve: ") {
		t.Fatalf("Serve on a closed listener = %v", err)
	}
}

func TestShuttingDownOutsideServe(t *testing.T) {
	if ch := ShuttingDown(context.Background()); ch != nil {
		t.Errorf("ShuttingDown outside Serve = %v, want nil", ch)
	}
}

// TestStreamingOutlivesTimeouts shows why a streaming handler calls
// Streaming: without it the connection's deadlines cut the stream. The
// timeouts are real network deadlines, so the test waits past them for real
// (a fraction of a second).
func TestStreamingOutlivesTimeouts(t *testing.T) {
	const timeout = 200 * time.Millisecond
	tests := []struct {
		name   string
		stream bool
		want   string // "" means the response must come out broken
	}{
		{"with Streaming the stream goes on", true, "data: a\n\ndata: b ctx-ok\n\n"},
		{"without Streaming the deadline cuts it", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.stream {
					if err := Streaming(w); err != nil {
						t.Errorf("Streaming: %v", err)
					}
				}
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, "data: a\n\n")
				_ = http.NewResponseController(w).Flush()
				<-time.After(3 * timeout) // past both deadlines
				ctxState := "ctx-ok"
				if r.Context().Err() != nil {
					ctxState = "ctx-cancelled"
				}
				_, _ = io.WriteString(w, "data: b "+ctxState+"\n\n")
			})
			base := start(t, Recover(nil, h), func(s *http.Server) {
				s.ReadTimeout, s.WriteTimeout = timeout, timeout
			})
			resp, err := http.Get(base + "/events")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if tt.want != "" {
				if err != nil || string(body) != tt.want {
					t.Errorf("body %q, err %v; want %q", body, err, tt.want)
				}
				return
			}
			if err == nil && strings.Contains(string(body), "data: b") {
				t.Errorf("the stream outlived the deadlines without Streaming: %q", body)
			}
		})
	}
}

func TestStreamingUnderRecorder(t *testing.T) {
	if err := Streaming(httptest.NewRecorder()); !errors.Is(err, http.ErrNotSupported) {
		t.Errorf("Streaming(recorder) = %v, want ErrNotSupported", err)
	}
}

func TestLimitBody(t *testing.T) {
	var ran atomic.Int32
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran.Add(1)
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("handler read: %v", err)
		}
		if r.ContentLength != int64(len(b)) {
			t.Errorf("ContentLength %d for %d bytes", r.ContentLength, len(b))
		}
		_, _ = io.WriteString(w, "got "+http.StatusText(http.StatusOK))
	})
	base := start(t, LimitBody(MaxBody, echo), nil)

	tests := []struct {
		name    string
		size    int
		chunked bool // no Content-Length: the size is learnt by reading
		want    int
	}{
		{"no body", 0, false, http.StatusOK},
		{"small body", 100, false, http.StatusOK},
		{"exactly 1 MiB", MaxBody, false, http.StatusOK},
		{"exactly 1 MiB chunked", MaxBody, true, http.StatusOK},
		{"1 MiB and a byte", MaxBody + 1, false, http.StatusRequestEntityTooLarge},
		{"1 MiB and a byte chunked", MaxBody + 1, true, http.StatusRequestEntityTooLarge},
		{"2 MiB with Content-Length", 2 * MaxBody, false, http.StatusRequestEntityTooLarge},
		{"2 MiB chunked", 2 * MaxBody, true, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran.Store(0)
			var body io.Reader = bytes.NewReader(bytes.Repeat([]byte("x"), tt.size))
			if tt.chunked {
				body = io.MultiReader(body) // hides the length from the client
			}
			req, err := http.NewRequest(http.MethodPost, base+"/slack/commands", body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("POST: %v", err)
			}
			defer resp.Body.Close()
			text, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, text, tt.want)
			}
			wantRan := int32(1)
			if tt.want == http.StatusRequestEntityTooLarge {
				wantRan = 0
				if !strings.Contains(string(text), "request body too large") {
					t.Errorf("413 body %q", text)
				}
			}
			if got := ran.Load(); got != wantRan {
				t.Errorf("handler ran %d times, want %d", got, wantRan)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	rec := httptest.NewRecorder()
	Health().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "ok\n" {
		t.Errorf("GET /healthz = %d %q", rec.Code, rec.Body.String())
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
}

func TestReadyFollowsThePing(t *testing.T) {
	var failing atomic.Bool
	ping := func(ctx context.Context) error {
		if failing.Load() {
			return errors.New("dial tcp 10.1.2.3:6379: connect: connection refused")
		}
		return nil
	}
	h := Ready(ping)
	steps := []struct {
		name     string
		failing  bool
		wantCode int
		wantBody string
	}{
		{"store answers", false, http.StatusOK, "ready\n"},
		{"store down", true, http.StatusServiceUnavailable, "not ready: store unavailable\n"},
		{"store back", false, http.StatusOK, "ready\n"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			failing.Store(s.failing)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != s.wantCode || rec.Body.String() != s.wantBody {
				t.Errorf("GET /readyz = %d %q, want %d %q", rec.Code, rec.Body.String(), s.wantCode, s.wantBody)
			}
			if strings.Contains(rec.Body.String(), "10.1.2.3") {
				t.Errorf("readyz shows the ping's error: %q", rec.Body.String())
			}
		})
	}
}

type lostData struct{}

func (lostData) Error() string          { return "lost" }
func (lostData) NotReadyReason() string { return "state store lost its data at T" }

// An error that carries its own reason (the store lost its data) is
// answered with it, also when wrapped.
func TestReadySaysWhyWhenTheErrorCan(t *testing.T) {
	h := Ready(func(context.Context) error { return fmt.Errorf("check: %w", lostData{}) })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "not ready: state store lost its data at T\n" {
		t.Errorf("GET /readyz = %d %q", rec.Code, rec.Body.String())
	}
}

func TestReadyTimesOut(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	tests := []struct {
		name string
		ping func(context.Context) error
	}{
		{"ping honours its deadline", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		{"ping ignores its deadline", func(context.Context) error { <-stuck; return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			ready(tt.ping, 20*time.Millisecond).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "not ready: store did not answer in time\n" {
				t.Errorf("GET /readyz = %d %q", rec.Code, rec.Body.String())
			}
		})
	}
	if ReadyTimeout != time.Second {
		t.Errorf("ReadyTimeout = %v, want 1s", ReadyTimeout)
	}
}

func TestRecover(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	h := http.NewServeMux()
	h.HandleFunc("/boom", func(http.ResponseWriter, *http.Request) { panic("nil map somewhere") })
	h.HandleFunc("/late", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "partial")
		_ = http.NewResponseController(w).Flush()
		panic("after the headers")
	})
	h.HandleFunc("/abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	h.HandleFunc("/fine", func(w http.ResponseWriter, _ *http.Request) {
		if err := Streaming(w); err != nil { // reaches the connection through the wrapper
			t.Errorf("Streaming through Recover: %v", err)
		}
		_, _ = io.WriteString(w, "fine")
	})
	base := start(t, Recover(log, h), nil)

	t.Run("panic before the response", func(t *testing.T) {
		logs.Reset()
		resp, err := http.Get(base + "/boom?token=hunter2")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var ref string
		if resp.StatusCode != http.StatusInternalServerError || !strings.HasPrefix(string(body), "internal error (ref ") {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		ref = strings.TrimSuffix(strings.TrimPrefix(string(body), "internal error (ref "), ")\n")
		if len(ref) != 8 {
			t.Errorf("ref %q", ref)
		}
		line := logs.String()
		for _, want := range []string{"level=ERROR", "ref=" + ref, "path=/boom", `panic="nil map somewhere"`, "stack="} {
			if !strings.Contains(line, want) {
				t.Errorf("log lacks %q:\n%s", want, line)
			}
		}
		if strings.Contains(line, "hunter2") || strings.Contains(string(body), "nil map") {
			t.Errorf("query or panic leaked: log %q body %q", line, body)
		}
	})
	t.Run("panic after the response began aborts it", func(t *testing.T) {
		logs.Reset()
		resp, err := http.Get(base + "/late")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Errorf("a response cut by a panic read as complete")
		}
		if !strings.Contains(logs.String(), "after the headers") {
			t.Errorf("panic not logged: %s", logs.String())
		}
	})
	t.Run("ErrAbortHandler passes through unlogged", func(t *testing.T) {
		logs.Reset()
		if resp, err := http.Get(base + "/abort"); err == nil {
			resp.Body.Close()
			t.Errorf("an aborted request got status %d", resp.StatusCode)
		}
		if logs.Len() != 0 {
			t.Errorf("logged: %s", logs.String())
		}
	})
	t.Run("no panic", func(t *testing.T) {
		resp, err := http.Get(base + "/fine")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "fine" {
			t.Errorf("got %d %q", resp.StatusCode, body)
		}
	})
}

// syncBuffer is a bytes.Buffer the server's goroutines and the test share.
type syncBuffer struct {
	mu  sync.Mutex // mu protects buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}
