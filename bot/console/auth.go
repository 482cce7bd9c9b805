package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"deploybot/deploy"
)

// Cookie names.
const (
	sessionCookie = "deploybot_session"
	nameCookie    = "deploybot_name"
)

// validName is what a person may call themselves in the console.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)

// SessionTTL is how long a console sign-in lasts.
const SessionTTL = 12 * time.Hour

// sessionSkew is how far in the future a session's issue time may lie
// (clocks of several instances differ a little).
const sessionSkew = time.Minute

// sessionValue is the key sessions are signed with: an HMAC of a fixed text
// keyed by the token, so a session is never the token itself and a new
// token ends every session.
func sessionValue(token string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("deploybot console session v1"))
	return []byte(hex.EncodeToString(m.Sum(nil)))
}

// newSession returns a session cookie value issued at now:
// "v2.UNIXTIME.MAC", the MAC an HMAC-SHA256 of the issue time under the key.
func (c *Console) newSession(now time.Time) string {
	issued := strconv.FormatInt(now.Unix(), 10)
	return "v2." + issued + "." + c.sessionMAC(issued)
}

func (c *Console) sessionMAC(issued string) string {
	m := hmac.New(sha256.New, c.session)
	m.Write([]byte("deploybot console session v2|" + issued))
	return hex.EncodeToString(m.Sum(nil))
}

// validSession reports whether v is a session this console issued that has
// not expired at now.
func (c *Console) validSession(v string, now time.Time) bool {
	rest, ok := strings.CutPrefix(v, "v2.")
	if !ok {
		return false
	}
	issued, mac, ok := strings.Cut(rest, ".")
	if !ok || subtle.ConstantTimeCompare([]byte(mac), []byte(c.sessionMAC(issued))) != 1 {
		return false
	}
	sec, err := strconv.ParseInt(issued, 10, 64)
	if err != nil {
		return false
	}
	at := time.Unix(sec, 0)
	return !at.After(now.Add(sessionSkew)) && now.Sub(at) < SessionTTL
}

// tokenMatches compares a submitted token with the configured one in constant time.
func (c *Console) tokenMatches(given string) bool {
	a := sha256.Sum256([]byte(given))
	b := sha256.Sum256([]byte(c.token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// signedIn reports whether the request carries a valid, unexpired session cookie.
func (c *Console) signedIn(r *http.Request) bool {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	return c.validSession(ck.Value, c.clock.Now())
}

// proxySign returns what says the request came through a proxy (a
// Forwarded, Via, X-Forwarded-* or X-Real-IP header, or HTTP/1.0, which
// nginx speaks to its upstreams by default and browsers never do), or "".
func proxySign(r *http.Request) string {
	for _, k := range []string{"Forwarded", "Via", "X-Real-Ip"} {
		if _, ok := r.Header[k]; ok {
			return "it carries " + k
		}
	}
	for k := range r.Header {
		if strings.HasPrefix(k, "X-Forwarded-") {
			return "it carries " + k
		}
	}
	if r.ProtoMajor == 1 && r.ProtoMinor == 0 {
		return "it is HTTP/1.0"
	}
	return ""
}

// local sets the security headers and, when no token is configured, refuses
// requests that do not come from and are not addressed to this machine (the
// Host check also defeats DNS rebinding).
func (c *Console) local(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		if c.token == "" && !(loopbackHost(r.Host) && loopbackAddr(r.RemoteAddr)) {
			http.Error(w, "the console answers only on localhost; set DEPLOYBOT_DASHBOARD_TOKEN to open it to other machines", http.StatusForbidden)
			return
		}
		// A reverse proxy on this machine connects from and to localhost
		// (nginx sends Host 127.0.0.1 by default) for anyone on the internet:
		// without a token, a request that says it was forwarded is refused.
		if p := proxySign(r); c.token == "" && p != "" {
			http.Error(w, "the console answers only on localhost, and this request came through a proxy ("+p+
				"); set DEPLOYBOT_DASHBOARD_TOKEN to open the console through a proxy", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// guard is local plus, with a token configured, the sign-in check: the page
// answers with the login form (401), anything else with a plain 401.
func (c *Console) guard(h http.Handler) http.Handler {
	return c.local(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.token != "" && !c.signedIn(r) {
			if r.Method == http.MethodGet && r.URL.Query().Get("part") == "" && (r.URL.Path == "/" || r.URL.Path == "/insights" || strings.HasPrefix(r.URL.Path, "/runs/") || strings.HasPrefix(r.URL.Path, "/console/runs/")) {
				c.renderLoginNext(w, http.StatusUnauthorized, "", r.URL.Path)
				return
			}
			http.Error(w, "sign in first: open the console's page", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
}

// writable refuses changes in read-only mode and cross-origin POSTs.
func (c *Console) writable(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.readOnly {
			writeJSON(w, http.StatusForbidden, replyJSON{Text: "This dashboard is read-only: act on runs in chat."})
			return
		}
		c.sameOrigin(h).ServeHTTP(w, r)
	})
}

// sameOrigin refuses cross-origin requests (Sec-Fetch-Site, else Origin against Host).
func (c *Console) sameOrigin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := c.cop.Check(r); err != nil {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// actor returns the person the request acts as, from the name cookie.
func actor(r *http.Request) (deploy.Actor, bool) {
	ck, err := r.Cookie(nameCookie)
	if err != nil || !validName.MatchString(ck.Value) {
		return deploy.Actor{}, false
	}
	return deploy.Actor{ID: "console:" + ck.Value, Name: ck.Value, Platform: PlatformName}, true
}

// personName returns the name in the request's cookie, or "".
func personName(r *http.Request) string {
	if a, ok := actor(r); ok {
		return a.Name
	}
	return ""
}

func (c *Console) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	if c.token == "" || c.signedIn(r) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.renderLogin(w, http.StatusOK, "")
}

func (c *Console) handleLogin(w http.ResponseWriter, r *http.Request) {
	if c.token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	client := clientOf(r)
	now := c.clock.Now()
	if wait := c.throttle.wait(client, now); wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		c.renderLogin(w, http.StatusTooManyRequests, fmt.Sprintf("Too many wrong tokens: try again in %d seconds.", secs))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if !c.tokenMatches(r.PostFormValue("token")) {
		c.throttle.failed(client, now)
		c.log.Warn("console sign-in refused", "remote", r.RemoteAddr)
		c.renderLoginNext(w, http.StatusUnauthorized, "That token is not right.", r.PostFormValue("next"))
		return
	}
	c.throttle.succeeded(client)
	// Secure whatever r.TLS says: with a token the console is meant to be
	// reached over HTTPS, usually through a TLS-terminating proxy.
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: c.newSession(now), Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(SessionTTL.Seconds()),
	})
	http.Redirect(w, r, nextPage(r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) renderLogin(w http.ResponseWriter, status int, problem string) {
	c.renderLoginNext(w, status, problem, "/")
}

// renderLoginNext renders the sign-in form, which leads to the page next
// once signed in (a run's own address, or /).
func (c *Console) renderLoginNext(w http.ResponseWriter, status int, problem, next string) {
	c.render(w, status, "login", struct{ Problem, Next string }{problem, nextPage(next)})
}

// runAddress is a run's own address.
var runAddress = regexp.MustCompile(`^/runs/[A-Za-z0-9_-]{1,64}$`)

// nextPage is where sign-in leads: p when it is a run's address or the
// insights page, else /.
func nextPage(p string) string {
	if runAddress.MatchString(p) || p == "/insights" {
		return p
	}
	return "/"
}

func (c *Console) handleName(w http.ResponseWriter, r *http.Request) {
	if !readForm(w, r) {
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	name = strings.TrimPrefix(name, "@")
	if !validName.MatchString(name) {
		writeJSON(w, http.StatusBadRequest, replyJSON{Text: "A name is 1 to 32 letters, digits, dots, dashes or underscores, starting with a letter or digit."})
		return
	}
	setNameCookie(w, r, name)
	writeJSON(w, http.StatusOK, replyJSON{OK: true, Name: name})
}

// setNameCookie remembers who the browser acts as.
func setNameCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{
		Name: nameCookie, Value: name, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int((365 * 24 * time.Hour).Seconds()),
	})
}

// guestName is the name of a browser that has not picked one ("guest-k7q2").
func guestName() string {
	const letters = "23456789abcdefghjkmnpqrstuvwxyz"
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return "guest-" + string(b)
}

// clientOf returns the address a sign-in is throttled by: the peer's IP.
func clientOf(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// Sign-in throttling: a client may get the token wrong freeFails times;
// after that each wrong token makes it wait twice as long as the last
// (1s, 2s, 4s, ... up to maxDelay). Across all clients, wrong tokens are
// a token bucket of globalBurst refilled one per globalRefill.
const (
	freeFails    = 3
	maxDelay     = 15 * time.Minute
	globalBurst  = 20
	globalRefill = 30 * time.Second
	// maxClients bounds the per-client memory; past it, idle clients are forgotten.
	maxClients = 4096
	// forgetAfter is how long after its last wrong token a client starts afresh.
	forgetAfter = time.Hour
)

// signinThrottle slows down guessing the dashboard token. Safe for concurrent use.
type signinThrottle struct {
	mu      sync.Mutex // mu protects the fields below
	clients map[string]*strikes
	tokens  float64   // the global bucket's tokens
	filled  time.Time // when tokens was last brought up to date
}

type strikes struct {
	fails int
	until time.Time // no sign-in before this
	last  time.Time // the last wrong token
}

func newSigninThrottle() *signinThrottle {
	return &signinThrottle{clients: map[string]*strikes{}, tokens: globalBurst}
}

// refill brings the global bucket up to date. mu must be held.
func (t *signinThrottle) refill(now time.Time) {
	if !t.filled.IsZero() && now.After(t.filled) {
		t.tokens = min(globalBurst, t.tokens+float64(now.Sub(t.filled))/float64(globalRefill))
	}
	t.filled = now
}

// wait returns how long client must wait before trying again (0: it may try now).
func (t *signinThrottle) wait(client string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var d time.Duration
	if s := t.clients[client]; s != nil && now.Before(s.until) {
		d = s.until.Sub(now)
	}
	t.refill(now)
	if t.tokens < 1 {
		d = max(d, time.Duration((1-t.tokens)*float64(globalRefill)))
	}
	return d
}

// failed records a wrong token from client.
func (t *signinThrottle) failed(client string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refill(now)
	t.tokens = max(0, t.tokens-1)
	s := t.clients[client]
	if s == nil {
		if len(t.clients) >= maxClients {
			t.forget(now)
		}
		s = &strikes{}
		t.clients[client] = s
	}
	if now.Sub(s.last) > forgetAfter {
		s.fails = 0
	}
	s.fails++
	s.last = now
	if s.fails > freeFails {
		d := time.Second << min(s.fails-freeFails-1, 20)
		s.until = now.Add(min(d, maxDelay))
	}
}

// succeeded forgets client's wrong tokens.
func (t *signinThrottle) succeeded(client string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.clients, client)
}

// forget drops the clients idle for forgetAfter, or all of them when none
// is; the global bucket still limits guessing. mu must be held.
func (t *signinThrottle) forget(now time.Time) {
	for k, s := range t.clients {
		if now.Sub(s.last) > forgetAfter {
			delete(t.clients, k)
		}
	}
	if len(t.clients) >= maxClients {
		clear(t.clients)
	}
}
