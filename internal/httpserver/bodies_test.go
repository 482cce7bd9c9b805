package httpserver

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingBody counts the bytes read from it.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *countingBody) Close() error { return nil }

var testNow = time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)

// signedMux has one signed route and one plain route, as the app has.
func signedMux(handled *atomic.Int32, hold <-chan struct{}) (*http.ServeMux, BodyConfig) {
	mux := http.NewServeMux()
	h := func(w http.ResponseWriter, r *http.Request) {
		handled.Add(1)
		b, _ := io.ReadAll(r.Body)
		if hold != nil {
			<-hold
		}
		_, _ = io.WriteString(w, "read "+strconv.Itoa(len(b)))
	}
	mux.HandleFunc("POST /signed", h)
	mux.HandleFunc("POST /plain", h)
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, _ *http.Request) { handled.Add(1) })
	cfg := BodyConfig{Routes: mux, Now: func() time.Time { return testNow },
		Checks: map[string]HeaderCheck{"/signed": AllChecks(RequireHeaders("X-Sig", "X-Ts"), FreshTimestamp("X-Ts", 5*time.Minute))}}
	return mux, cfg
}

func request(method, path string, size int, header map[string]string) (*http.Request, *countingBody) {
	body := &countingBody{r: bytes.NewReader(bytes.Repeat([]byte("x"), size))}
	req := httptest.NewRequest(method, path, body)
	req.ContentLength = int64(size)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req, body
}

// TestOnlyRoutesThatNeedABodyReadOne: a request no route takes, or a GET,
// is handled with its body unread.
func TestOnlyRoutesThatNeedABodyReadOne(t *testing.T) {
	var handled atomic.Int32
	mux, cfg := signedMux(&handled, nil)
	h := Bodies(mux, cfg)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/nowhere", http.StatusNotFound},
		{http.MethodPut, "/plain", http.StatusMethodNotAllowed},
		{http.MethodPost, "/page", http.StatusMethodNotAllowed},
	} {
		req, body := request(tc.method, tc.path, MaxBody, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want || body.read.Load() != 0 {
			t.Errorf("%s %s: %d after reading %d bytes, want %d and nothing read", tc.method, tc.path, rec.Code, body.read.Load(), tc.want)
		}
	}
	req, body := request(http.MethodGet, "/page", 1000, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || body.read.Load() != 0 {
		t.Errorf("GET /page: %d, read %d by the middleware", rec.Code, body.read.Load())
	}
}

// TestSignatureHeadersAreCheckedBeforeTheBody: a signed route refuses a
// request without its signature headers, or with a stale timestamp, with
// 401 and without reading a byte.
func TestSignatureHeadersAreCheckedBeforeTheBody(t *testing.T) {
	var handled atomic.Int32
	mux, cfg := signedMux(&handled, nil)
	h := Bodies(mux, cfg)
	fresh := strconv.FormatInt(testNow.Unix(), 10)
	stale := strconv.FormatInt(testNow.Add(-6*time.Minute).Unix(), 10)
	for name, hd := range map[string]map[string]string{
		"no headers":        nil,
		"no signature":      {"X-Ts": fresh},
		"no timestamp":      {"X-Sig": "v0=00"},
		"stale timestamp":   {"X-Sig": "v0=00", "X-Ts": stale},
		"garbled timestamp": {"X-Sig": "v0=00", "X-Ts": "soon"},
	} {
		req, body := request(http.MethodPost, "/signed", MaxBody, hd)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized || body.read.Load() != 0 || rec.Header().Get("Connection") != "close" {
			t.Errorf("%s: %d, read %d bytes, Connection %q; want 401, nothing read, close", name, rec.Code, body.read.Load(), rec.Header().Get("Connection"))
		}
	}
	if handled.Load() != 0 {
		t.Fatalf("the handler ran %d times", handled.Load())
	}
	req, _ := request(http.MethodPost, "/signed", 100, map[string]string{"X-Sig": "v0=00", "X-Ts": fresh})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.String() != "read 100" {
		t.Errorf("signed request: %d %q", rec.Code, rec.Body.String())
	}
}

// TestBodiesInFlightShareABudget: once the bodies held reach the budget, a
// further request gets 503 with Retry-After at once, its body unread; when
// the held requests finish, requests are served again.
func TestBodiesInFlightShareABudget(t *testing.T) {
	var handled atomic.Int32
	hold := make(chan struct{})
	mux, cfg := signedMux(&handled, hold)
	cfg.Budget = 4 * MaxBody // two 1 MiB bodies, each counted twice
	h := Bodies(mux, cfg)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := request(http.MethodPost, "/plain", MaxBody, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Errorf("held request: %d", rec.Code)
			}
		}()
	}
	for handled.Load() < 2 {
		runtime.Gosched()
	}
	req, body := request(http.MethodPost, "/plain", 1000, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" || body.read.Load() != 0 {
		t.Errorf("over budget: %d Retry-After %q, read %d; want 503, Retry-After 1, nothing read", rec.Code, rec.Header().Get("Retry-After"), body.read.Load())
	}
	close(hold)
	wg.Wait()
	req, _ = request(http.MethodPost, "/plain", MaxBody, nil)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("after the others finished: %d, want 200 (the budget is given back)", rec.Code)
	}
}

// TestFloodOfLargeUnauthenticatedPosts: 200 concurrent 1 MiB POSTs through
// the real HTTP stack (half unsigned, half with forged but fresh signature
// headers, some to no route) leave the heap small.
func TestFloodOfLargeUnauthenticatedPosts(t *testing.T) {
	var handled atomic.Int32
	mux, cfg := signedMux(&handled, nil)
	cfg.Now = time.Now
	base := start(t, Bodies(mux, cfg), nil)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()

	payload := bytes.Repeat([]byte("a"), MaxBody)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, DisableKeepAlives: true}}
	var wg sync.WaitGroup
	codes := make([]int, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := []string{"/signed", "/signed", "/plain", "/nowhere"}[i%4]
			req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(payload))
			if i%2 == 1 {
				req.Header.Set("X-Sig", "v0=forged")
				req.Header.Set("X-Ts", strconv.FormatInt(time.Now().Unix(), 10))
			}
			resp, err := client.Do(req)
			if err != nil {
				return // the server may close before the whole body is sent
			}
			codes[i] = resp.StatusCode
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	growth := int64(peak.Load()) - int64(before.HeapInuse)
	t.Logf("heap in use: %d MiB before, peak growth %.1f MiB; answers %s", before.HeapInuse>>20, float64(growth)/(1<<20), summarize(codes))
	if growth > 32<<20 {
		t.Errorf("heap grew by %d MiB under 200 concurrent 1 MiB POSTs, want under 32", growth>>20)
	}
}

func summarize(codes []int) string {
	n := map[int]int{}
	for _, c := range codes {
		n[c]++
	}
	var b strings.Builder
	for c, k := range n {
		b.WriteString(strconv.Itoa(c) + "×" + strconv.Itoa(k) + " ")
	}
	return b.String()
}
