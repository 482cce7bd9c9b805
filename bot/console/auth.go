package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"regexp"
	"strings"
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

// sessionValue is the cookie value that proves the token was given: an HMAC
// of a fixed text keyed by the token, so the cookie is not the token itself.
func sessionValue(token string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("deploybot console session v1"))
	return []byte(hex.EncodeToString(m.Sum(nil)))
}

// tokenMatches compares a submitted token with the configured one in constant time.
func (c *Console) tokenMatches(given string) bool {
	a := sha256.Sum256([]byte(given))
	b := sha256.Sum256([]byte(c.token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// signedIn reports whether the request carries the session cookie.
func (c *Console) signedIn(r *http.Request) bool {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(ck.Value), c.session) == 1
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
		h.ServeHTTP(w, r)
	})
}

// guard is local plus, with a token configured, the sign-in check: the page
// answers with the login form (401), anything else with a plain 401.
func (c *Console) guard(h http.Handler) http.Handler {
	return c.local(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.token != "" && !c.signedIn(r) {
			if r.Method == http.MethodGet && r.URL.Query().Get("part") == "" && (r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/console/runs/")) {
				c.renderLogin(w, http.StatusUnauthorized, "")
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
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if !c.tokenMatches(r.PostFormValue("token")) {
		c.log.Warn("console sign-in refused", "remote", r.RemoteAddr)
		c.renderLogin(w, http.StatusUnauthorized, "That token is not right.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: string(c.session), Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int((30 * 24 * time.Hour).Seconds()),
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (c *Console) renderLogin(w http.ResponseWriter, status int, problem string) {
	c.render(w, status, "login", struct{ Problem string }{problem})
}

func (c *Console) handleName(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
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
