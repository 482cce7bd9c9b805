package console_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestLocalModeRefusesProxiedRequests: without a token, a request that came
// through a reverse proxy on this machine (it connects from and to
// localhost) is refused, with a line saying why and what to set.
func TestLocalModeRefusesProxiedRequests(t *testing.T) {
	f := newFixture(t, options{readOnly: true})
	f.start(t, "v3.1", "slack", "C0DEPLOY", slackUser)
	for _, hdr := range []map[string]string{
		{"X-Forwarded-For": "203.0.113.9"},
		{"X-Forwarded-Proto": "https"},
		{"X-Forwarded-Host": "deploy.example.com"},
		{"Forwarded": "for=203.0.113.9"},
		{"Via": "1.1 nginx"},
	} {
		res, body := get(t, f.URL, "/", nil, hdr)
		if res.StatusCode != http.StatusForbidden || strings.Contains(body, "v3.1") ||
			!strings.Contains(body, "came through a proxy") || !strings.Contains(body, "DEPLOYBOT_DASHBOARD_TOKEN") {
			t.Errorf("GET / with %v = %d %q, want 403 naming the proxy and DEPLOYBOT_DASHBOARD_TOKEN", hdr, res.StatusCode, strings.TrimSpace(body))
		}
	}
	if res, body := get(t, f.URL, "/", nil, nil); res.StatusCode != http.StatusOK || !strings.Contains(body, "v3.1") {
		t.Errorf("GET / from localhost = %d, want 200 with the run", res.StatusCode)
	}
	// nginx's default upstream request: HTTP/1.0, Host 127.0.0.1, no forwarding headers.
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
	answer, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(answer), "HTTP/1.0 403") || !strings.Contains(string(answer), "it is HTTP/1.0") || strings.Contains(string(answer), "v3.1") {
		t.Errorf("an HTTP/1.0 request (nginx's default) = %.200q, want 403", answer)
	}
}

// TestProxiedRequestsNeedTheTokenNotMore: with a token, proxy headers are fine.
func TestProxiedRequestsNeedTheTokenNotMore(t *testing.T) {
	f := newFixture(t, options{readOnly: true, token: "tok-123"})
	if res, _ := get(t, f.URL, "/", nil, map[string]string{"X-Forwarded-For": "203.0.113.9"}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET / through a proxy with a token configured = %d, want 401 (the login form)", res.StatusCode)
	}
}

func signIn(t *testing.T, f *fixture, token string) (*http.Response, *http.Cookie) {
	t.Helper()
	res, _ := post(t, f.URL, "/console/login", url.Values{"token": {token}}, nil, nil)
	for _, c := range res.Cookies() {
		if c.Name == "deploybot_session" {
			return res, c
		}
	}
	return res, nil
}

// TestSessionIsSignedAndExpires: a sign-in issues a Secure, HttpOnly,
// SameSite=Strict session that lasts 12 hours; it is not the token, and a
// session whose issue time is changed is refused.
func TestSessionIsSignedAndExpires(t *testing.T) {
	const token = "s3cret-dashboard-token"
	f := newFixture(t, options{readOnly: true, token: token})
	f.start(t, "v3.1", "slack", "C0DEPLOY", slackUser)
	res, session := signIn(t, f, token)
	if res.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("sign-in = %d, session %v", res.StatusCode, session)
	}
	if !session.Secure || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.MaxAge != int((12*time.Hour).Seconds()) ||
		strings.Contains(session.Value, token) {
		t.Fatalf("session cookie %+v: want Secure, HttpOnly, SameSite=Strict, Max-Age 12h, not the token", session)
	}
	if res, body := get(t, f.URL, "/", []*http.Cookie{session}, nil); res.StatusCode != http.StatusOK || !strings.Contains(body, "v3.1") {
		t.Fatalf("GET / signed in = %d", res.StatusCode)
	}
	// Moving the issue time forward (to live longer) breaks the signature.
	parts := strings.Split(session.Value, ".")
	if len(parts) != 3 {
		t.Fatalf("session %q: want version.issued.mac", session.Value)
	}
	forged := &http.Cookie{Name: session.Name, Value: parts[0] + "." + "9999999999" + "." + parts[2]}
	if res, _ := get(t, f.URL, "/", []*http.Cookie{forged}, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET / with a re-dated session = %d, want 401", res.StatusCode)
	}
	f.Clock.Advance(11*time.Hour + 59*time.Minute)
	if res, _ := get(t, f.URL, "/", []*http.Cookie{session}, nil); res.StatusCode != http.StatusOK {
		t.Errorf("GET / after 11h59m = %d, want 200", res.StatusCode)
	}
	f.Clock.Advance(2 * time.Minute)
	if res, body := get(t, f.URL, "/", []*http.Cookie{session}, nil); res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `action="/console/login"`) {
		t.Errorf("GET / after 12h = %d, want 401 with the login form", res.StatusCode)
	}
}

// TestWrongTokensAreThrottled: after three wrong tokens a client must wait,
// twice as long after each further one, and is answered 429 with
// Retry-After meanwhile, even with the right token.
func TestWrongTokensAreThrottled(t *testing.T) {
	const token = "s3cret-dashboard-token"
	f := newFixture(t, options{readOnly: true, token: token})
	for i := range 4 {
		if res, _ := signIn(t, f, "guess"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token %d = %d, want 401", i+1, res.StatusCode)
		}
	}
	res, _ := post(t, f.URL, "/console/login", url.Values{"token": {token}}, nil, nil)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "1" || len(res.Cookies()) != 0 {
		t.Fatalf("right token right after 4 wrong ones = %d, Retry-After %q, %d cookies; want 429, 1, none", res.StatusCode, res.Header.Get("Retry-After"), len(res.Cookies()))
	}
	f.Clock.Advance(time.Second)
	if res, _ := signIn(t, f, "guess"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("5th wrong token after the wait = %d, want 401", res.StatusCode)
	}
	res, page := post(t, f.URL, "/console/login", url.Values{"token": {token}}, nil, nil)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "2" || !strings.Contains(page, "try again in 2 seconds") {
		t.Fatalf("after the 5th wrong token = %d, Retry-After %q; want 429 and 2 seconds", res.StatusCode, res.Header.Get("Retry-After"))
	}
	f.Clock.Advance(2 * time.Second)
	if res, session := signIn(t, f, token); res.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("right token after the wait = %d, want 303 with a session", res.StatusCode)
	}
	// A success forgets the client's wrong tokens.
	for i := range 3 {
		if res, _ := signIn(t, f, "guess"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token %d after a sign-in = %d, want 401", i+1, res.StatusCode)
		}
	}
}
