package console_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/internal/httpserver"
)

// TestEventsStreamOnTheRealServer serves the console as deploybot does
// (httpserver.New and httpserver.Serve, with their read and write deadlines)
// and checks the stream's life: it outlives the server's ReadTimeout (which
// would otherwise cancel the request), and it ends by itself when the server
// starts its graceful shutdown, so Serve returns cleanly instead of waiting
// out its grace period.
func TestEventsStreamOnTheRealServer(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	cases := []struct {
		name string
		// act happens on the open stream; want is the line the page must get.
		act  func(t *testing.T, f *fixture, stop context.CancelFunc)
		want func(line string) bool
		// ends: the stream must end (and Serve return nil) after act.
		ends bool
	}{
		{
			name: "an update after the read timeout still reaches the page",
			act: func(t *testing.T, f *fixture, _ context.CancelFunc) {
				// The server's read deadline is a wall-clock deadline on the
				// connection: waiting past it is the point of the case.
				<-time.After(4 * readTimeout)
				n := bot.Notice{Kind: bot.NoticeText, Title: "after the read timeout"}
				if _, err := f.Console.Post(context.Background(), "console", "", bot.Message{Notice: &n}); err != nil {
					t.Errorf("Post: %v", err)
				}
			},
			want: func(l string) bool {
				return strings.HasPrefix(l, "data: ") && strings.Contains(l, "after the read timeout")
			},
		},
		{
			name: "the stream ends when the server shuts down",
			act:  func(_ *testing.T, _ *fixture, stop context.CancelFunc) { stop() },
			ends: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, options{})
			mux := http.NewServeMux()
			f.Console.Routes(mux)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := httpserver.New(ln.Addr().String(), mux, nil)
			srv.ReadTimeout = readTimeout
			ctx, stop := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- httpserver.Serve(ctx, srv, ln) }()
			t.Cleanup(func() {
				stop()
				<-served
			})
			base := "http://" + ln.Addr().String()
			_, page := get(t, base, "/", nil, nil)
			i := strings.Index(page, `data-cursor="`)
			if i < 0 {
				t.Fatal("the page has no cursor")
			}
			cursor := page[i+len(`data-cursor="`):]
			cursor = cursor[:strings.IndexByte(cursor, '"')]

			rctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(rctx, http.MethodGet, base+"/console/events?since="+cursor, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("GET events: %v", err)
			}
			defer res.Body.Close()
			lines := make(chan string)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(res.Body)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
			go tc.act(t, f, stop)
			var got []string
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						if !tc.ends {
							t.Fatalf("the stream ended before the update arrived; lines %q", got)
						}
						select {
						case err := <-served:
							served <- err
							if err != nil {
								t.Errorf("Serve: %v (the stream held up the shutdown)", err)
							}
						case <-time.After(5 * time.Second):
							t.Error("Serve did not return after the stream ended")
						}
						return
					}
					got = append(got, l)
					if tc.want != nil && tc.want(l) {
						return
					}
				case <-rctx.Done():
					t.Fatalf("timed out; lines %q", got)
				}
			}
		})
	}
}
