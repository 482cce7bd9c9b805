package httpserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// DefaultBodyBudget is how many bytes the bodies of all requests in flight
// may hold at once when BodyConfig.Budget is zero: four bodies of MaxBody,
// or a thousand Slack commands of a few kilobytes.
const DefaultBodyBudget = 8 << 20

// bodyChunk is how much of a body without a Content-Length is read (and
// taken from the budget) at a time.
const bodyChunk = 32 << 10

// HeaderCheck judges a request's headers before its body is read, at now;
// an error refuses the request with 401 and the body is never read.
type HeaderCheck func(h http.Header, now time.Time) error

// Router says which pattern serves a request; *http.ServeMux is one.
type Router interface {
	Handler(r *http.Request) (h http.Handler, pattern string)
}

// BodyConfig configures Bodies. The zero value limits bodies to MaxBody
// and DefaultBodyBudget and checks no headers.
type BodyConfig struct {
	// Limit is the largest body one request may send; larger ones get 413.
	// Zero means MaxBody.
	Limit int64
	// Budget bounds the bytes held by the bodies of all requests in flight.
	// A body counts twice its size (the handler's copy and what reading it
	// leaves behind). A request that would go over it gets 503 with
	// Retry-After at once, its body unread. Zero means DefaultBodyBudget.
	Budget int64
	// Routes, when set, tells which requests have a route: the body of a
	// request that no route takes is never read (the router answers 404 or
	// 405). Without it every request whose method carries a body is read.
	Routes Router
	// Checks are the header checks of the routes that need them, by URL
	// path (the signature headers of /slack/commands); they run before the
	// body is read.
	Checks map[string]HeaderCheck
	// Now tells the time for Checks; nil means time.Now.
	Now func() time.Time
}

// Bodies returns h behind the body rules of PRODUCT.md section 3 and a
// global memory budget:
//
//   - a GET, HEAD, OPTIONS or DELETE request, or one no route takes, is
//     handed on with its body unread (the server discards or drops it);
//   - a route's header check (a signature's presence and freshness) runs
//     before a byte of the body is read: a failing one gets 401;
//   - a Content-Length over Limit gets 413 before a byte is read, a body
//     without one is refused with 413 once it passes Limit;
//   - a body that would take the bodies in flight over Budget gets 503 with
//     Retry-After: 1, so a flood of large requests cannot grow the process;
//   - otherwise h gets the body: one with a Content-Length as it comes
//     (h reads it, and its bytes stay counted until h returns), one without
//     read here in full, chunk by chunk within the budget, and replayable.
//
// Every refusal closes the connection. A body that cannot be read (the
// client went away, ReadTimeout) gets 400.
func Bodies(h http.Handler, cfg BodyConfig) http.Handler {
	if cfg.Limit <= 0 {
		cfg.Limit = MaxBody
	}
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultBodyBudget
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &budget{size: cfg.Budget}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !needsBody(r, cfg.Routes) {
			h.ServeHTTP(w, r)
			return
		}
		if check := cfg.Checks[r.URL.Path]; check != nil {
			if err := check(r.Header, cfg.Now()); err != nil {
				refuse(w, http.StatusUnauthorized, "refused: "+err.Error())
				return
			}
		}
		if r.ContentLength > cfg.Limit {
			tooLarge(w, cfg.Limit)
			return
		}
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			h.ServeHTTP(w, r)
			return
		}
		if n := r.ContentLength; n > 0 {
			if !b.take(2 * n) {
				busy(w)
				return
			}
			defer b.release(2 * n)
			h.ServeHTTP(w, r)
			return
		}
		body, held, status := b.readChunked(r, cfg.Limit)
		defer b.release(held)
		switch status {
		case http.StatusOK:
		case http.StatusRequestEntityTooLarge:
			tooLarge(w, cfg.Limit)
			return
		case http.StatusServiceUnavailable:
			busy(w)
			return
		default:
			plain(w, http.StatusBadRequest, "bad request: the body could not be read")
			return
		}
		r2 := r.WithContext(r.Context()) // a shallow copy: never change the caller's request
		r2.Body = io.NopCloser(bytes.NewReader(body))
		r2.ContentLength = int64(len(body))
		h.ServeHTTP(w, r2)
	})
}

// needsBody reports whether r's body is to be read: its method carries one
// and, with routes, a route takes it.
func needsBody(r *http.Request, routes Router) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodDelete, http.MethodTrace:
		return false
	}
	if routes == nil {
		return true
	}
	_, pattern := routes.Handler(r)
	return pattern != ""
}

// busy answers 503 with Retry-After: 1, the body unread.
func busy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	refuse(w, http.StatusServiceUnavailable, "busy: too many request bodies in flight, try again in a second")
}

// refuse answers code with text and closes the connection, so the unread
// body is never read.
func refuse(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Connection", "close")
	plain(w, code, text)
}

// budget is a byte semaphore that never waits: a request takes bytes or is refused.
type budget struct {
	size int64

	mu   sync.Mutex // mu protects used
	used int64
}

func (b *budget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.size {
		return false
	}
	b.used += n
	return true
}

func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// readChunked reads the body of r, which has no Content-Length, within
// limit, taking twice each chunk from the budget as it goes. It returns the
// body, the bytes taken (to release when the request is done, whatever the
// status) and 200, 413, 503 or 400.
func (b *budget) readChunked(r *http.Request, limit int64) ([]byte, int64, int) {
	// No Content-Length (chunked): read and take a chunk at a time.
	var held int64
	var buf bytes.Buffer
	body := http.MaxBytesReader(nil, r.Body, limit)
	for {
		if !b.take(2 * bodyChunk) {
			return nil, held, http.StatusServiceUnavailable
		}
		held += 2 * bodyChunk
		_, err := io.CopyN(&buf, body, bodyChunk)
		if errors.Is(err, io.EOF) {
			return buf.Bytes(), held, http.StatusOK
		}
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return nil, held, http.StatusRequestEntityTooLarge
			}
			return nil, held, http.StatusBadRequest
		}
	}
}

// RequireHeaders returns a HeaderCheck refusing a request that lacks any of the named headers.
func RequireHeaders(names ...string) HeaderCheck {
	return func(h http.Header, _ time.Time) error {
		for _, n := range names {
			if h.Get(n) == "" {
				return fmt.Errorf("missing %s header", n)
			}
		}
		return nil
	}
}

// FreshTimestamp returns a HeaderCheck refusing a request whose header name
// is not a Unix time within maxSkew of now.
func FreshTimestamp(name string, maxSkew time.Duration) HeaderCheck {
	return func(h http.Header, now time.Time) error {
		sec, err := strconv.ParseInt(h.Get(name), 10, 64)
		if err != nil {
			return fmt.Errorf("%s is not a Unix time", name)
		}
		if d := now.Sub(time.Unix(sec, 0)); d > maxSkew || d < -maxSkew {
			return fmt.Errorf("%s is more than %s from now", name, maxSkew)
		}
		return nil
	}
}

// AllChecks returns a HeaderCheck that runs checks in order and refuses at the first error.
func AllChecks(checks ...HeaderCheck) HeaderCheck {
	return func(h http.Header, now time.Time) error {
		for _, c := range checks {
			if err := c(h, now); err != nil {
				return err
			}
		}
		return nil
	}
}
