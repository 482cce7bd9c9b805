package httpserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

// MaxBody is the body limit of PRODUCT.md section 3: bodies over 1 MiB get 413.
const MaxBody = 1 << 20

// ReadyTimeout is how long Ready waits for its ping.
const ReadyTimeout = time.Second

// plain writes a short text/plain answer that no cache keeps.
func plain(w http.ResponseWriter, code int, text string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, text+"\n")
}

// LimitBody is Bodies with a limit of n bytes per body, the default
// budget and no routes or header checks: a body over n gets 413 (before a
// byte is read when its Content-Length says so), and h gets any other body
// read in full and replayable, never one over the limit.
func LimitBody(n int64, h http.Handler) http.Handler {
	return Bodies(h, BodyConfig{Limit: n})
}

func tooLarge(w http.ResponseWriter, n int64) {
	refuse(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body too large (limit %d bytes)", n))
}

// Health returns the liveness handler for GET /healthz: 200 "ok" while the
// process serves. It checks nothing else, so a store outage never gets the
// process restarted or taken out of the load balancer.
func Health() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		plain(w, http.StatusOK, "ok")
	})
}

// Ready returns the readiness handler for GET /readyz: 200 "ready" while
// ping (the store's) succeeds within ReadyTimeout, else 503 with a short
// reason that shows nothing of ping's error. ping gets a context that ends
// at the deadline; the answer never waits longer, even for a ping that
// ignores it. An error with a NotReadyReason (the state store lost its data)
// is answered with that reason.
func Ready(ping func(context.Context) error) http.Handler {
	return ready(ping, ReadyTimeout)
}

// ready is Ready with the timeout as a parameter, for tests.
func ready(ping func(context.Context) error, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		done := make(chan error, 1) // buffered: a late ping never blocks
		go func() { done <- ping(ctx) }()
		select {
		case err := <-done:
			var r interface{ NotReadyReason() string }
			if errors.As(err, &r) {
				plain(w, http.StatusServiceUnavailable, "not ready: "+r.NotReadyReason())
				return
			}
			if err != nil {
				plain(w, http.StatusServiceUnavailable, "not ready: store unavailable")
				return
			}
			plain(w, http.StatusOK, "ready")
		case <-ctx.Done():
			plain(w, http.StatusServiceUnavailable, "not ready: store did not answer in time")
		}
	})
}

// Recover returns h with panics caught: the panic, its stack, the method,
// the path (never the query, which may carry a token) and a reference are
// logged at error level, and the client gets 500 "internal error (ref X)"
// with the same reference. When h had already begun its response, the
// connection is aborted instead (http.ErrAbortHandler), so the client sees a
// broken response rather than a truncated one that looks whole. A panic
// with http.ErrAbortHandler itself passes through unlogged.
func Recover(log *slog.Logger, h http.Handler) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "httpserver")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &startedWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			ref := newRef()
			log.Error("panic serving request", "ref", ref, "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if rw.started {
				panic(http.ErrAbortHandler)
			}
			plain(w, http.StatusInternalServerError, "internal error (ref "+ref+")")
		}()
		h.ServeHTTP(rw, r)
	})
}

// newRef returns a short random reference that ties an answer to a log line.
func newRef() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:])
}

// startedWriter records whether the response has begun. It unwraps to the
// underlying writer, so http.ResponseController (deadlines, Flush, Hijack)
// still reaches the connection.
type startedWriter struct {
	http.ResponseWriter
	started bool
}

func (s *startedWriter) WriteHeader(code int) {
	if code >= 200 { // 1xx answers do not begin the final response
		s.started = true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *startedWriter) Write(b []byte) (int, error) {
	s.started = true
	return s.ResponseWriter.Write(b)
}

// Flush implements http.Flusher for handlers that assert it.
func (s *startedWriter) Flush() {
	s.started = true
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (s *startedWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

var _ http.Flusher = (*startedWriter)(nil)
