package browser_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"deploybot/internal/testkit/browser"
)

// TestPagesHaveTheirOwnCookies: two pages are two people; a cookie one of
// them gets is not sent by the other.
func TestPagesHaveTheirOwnCookies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/set" {
			http.SetCookie(w, &http.Cookie{Name: "who", Value: r.URL.Query().Get("v"), Path: "/"})
		}
		who := "nobody"
		if c, err := r.Cookie("who"); err == nil {
			who = c.Value
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>t</title><p id="who">%s</p>`, who)
	}))
	t.Cleanup(srv.Close)

	b := browser.Start(t)
	ana, bob := b.NewPage(t), b.NewPage(t)
	ana.Do(t, "set ana's cookie", chromedp.Navigate(srv.URL+"/set?v=ana"))
	bob.Do(t, "open as bob", chromedp.Navigate(srv.URL+"/"))
	ana.Do(t, "reload as ana", chromedp.Navigate(srv.URL+"/"))

	tests := []struct {
		name string
		page *browser.Page
		want string
	}{
		{"the person who got the cookie sends it", ana, "ana"},
		{"another person does not", bob, "nobody"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := browser.Eval[string](t, tc.page, `document.getElementById("who").textContent`)
			if got != tc.want {
				t.Errorf("page shows %q, want %q", got, tc.want)
			}
		})
	}
}

// TestWaitForSeesLaterChanges: WaitFor polls until the page changes by itself.
func TestWaitForSeesLaterChanges(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><title>t</title><p id="x">before</p>
<script>setTimeout(function(){document.getElementById("x").textContent="after"}, 50)</script>`)
	}))
	t.Cleanup(srv.Close)
	p := browser.Start(t).NewPage(t)
	p.Do(t, "open", chromedp.Navigate(srv.URL))
	p.WaitFor(t, "the text changes", `document.getElementById("x").textContent === "after"`, 10*time.Second)
	if png := p.Screenshot(t); len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Errorf("screenshot is not a PNG (%d bytes)", len(png))
	}
}
