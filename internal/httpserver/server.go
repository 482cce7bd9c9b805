package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Limits every server of New has.
const (
	// ReadHeaderTimeout bounds reading a request's headers (slowloris).
	ReadHeaderTimeout = 5 * time.Second
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout = 15 * time.Second
	// WriteTimeout bounds writing a response, counted from the end of the
	// request headers.
	WriteTimeout = 30 * time.Second
	// IdleTimeout bounds how long a keep-alive connection waits for its next request.
	IdleTimeout = 120 * time.Second
	// MaxHeaderBytes caps the size of a request's headers.
	MaxHeaderBytes = 64 << 10
	// ShutdownTimeout is how long Serve waits for requests in flight once its
	// context is done, before it closes the remaining connections.
	ShutdownTimeout = 10 * time.Second
)

// New returns an http.Server for addr serving h, with ReadHeaderTimeout,
// ReadTimeout, WriteTimeout, IdleTimeout and MaxHeaderBytes set, and the
// server's own error log (TLS handshakes, accept errors) sent to log at warn
// level. A nil log discards those messages.
//
// A handler that streams events (server-sent events, a long poll) outlives
// ReadTimeout and WriteTimeout: it must lift both deadlines for its own
// request first, by calling Streaming(w), which does
//
//	rc := http.NewResponseController(w)
//	rc.SetReadDeadline(time.Time{})  // else the connection's expired read deadline cancels r.Context()
//	rc.SetWriteDeadline(time.Time{}) // else writes fail after WriteTimeout
//
// and it should end when ShuttingDown(r.Context()) is closed, so that Serve's
// graceful shutdown does not wait for it.
func New(addr string, h http.Handler, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.With("component", "httpserver").Handler(), slog.LevelWarn),
	}
}

// Streaming lifts the read and write deadlines of w's connection for the
// rest of this request, as a handler streaming events must (see New). It
// returns an error when w cannot set deadlines (http.ErrNotSupported, e.g.
// under httptest.ResponseRecorder).
func Streaming(w http.ResponseWriter) error {
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("httpserver: lift read deadline: %w", err)
	}
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		return fmt.Errorf("httpserver: lift write deadline: %w", err)
	}
	return nil
}

// shuttingDownKey is the context key of the channel ShuttingDown returns.
type shuttingDownKey struct{}

// ShuttingDown returns a channel that is closed when the server serving the
// request of ctx (a request's r.Context()) begins its graceful shutdown.
// Long-lived handlers select on it to end their stream. For a request not
// served by Serve it returns nil, a channel that is never closed.
func ShuttingDown(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(shuttingDownKey{}).(<-chan struct{})
	return ch
}

// Serve serves srv on ln until ctx is done, then shuts down gracefully: it
// stops accepting, closes ShuttingDown's channel, waits up to ShutdownTimeout
// for requests in flight, and then closes what is left. It returns nil after
// a clean shutdown, and an error when serving failed or the shutdown had to
// cut connections. Serve takes over srv.BaseContext (wrapping the one set).
func Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	return serve(ctx, srv, ln, ShutdownTimeout)
}

// serve is Serve with the shutdown grace period as a parameter, for tests.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration) error {
	stopping := make(chan struct{})
	base := srv.BaseContext
	srv.BaseContext = func(l net.Listener) context.Context {
		c := context.Background()
		if base != nil {
			c = base(l)
		}
		return context.WithValue(c, shuttingDownKey{}, (<-chan struct{})(stopping))
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		close(stopping)
		if errors.Is(err, http.ErrServerClosed) {
			return nil // closed by someone else
		}
		return fmt.Errorf("httpserver: serve: %w", err)
	case <-ctx.Done():
	}

	close(stopping)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
		err = fmt.Errorf("httpserver: shutdown: %w", err)
	}
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("httpserver: serve: %w", serr)
	}
	return err
}
