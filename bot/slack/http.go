package slackfront

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/slack-go/slack"
)

// MaxBody is the largest request body accepted; larger ones get 413.
const MaxBody = 1 << 20

// Paths of the Slack request URLs.
const (
	CommandsPath     = "/slack/commands"
	InteractionsPath = "/slack/interactions"
)

// maxIdlePerHost is how many idle connections to the Web API the default
// client keeps: the outbox posts to many channels at once, and Go's default
// of 2 would close and dial (a TCP and TLS handshake) for most calls.
const maxIdlePerHost = 64

// defaultHTTPClient is the client for the Web API and response_url calls
// when the wiring gives none: Go's default transport (proxy from the
// environment, HTTP/2) keeping enough idle connections for the outbox.
func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4 * maxIdlePerHost
	t.MaxIdleConnsPerHost = maxIdlePerHost
	return &http.Client{Timeout: 30 * time.Second, Transport: t}
}

// Routes adds POST /slack/commands and POST /slack/interactions to mux.
func (f *Front) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+CommandsPath, f.serveCommand)
	mux.HandleFunc("POST "+InteractionsPath, f.serveInteraction)
}

// readVerified reads the body (at most MaxBody), verifies its signature
// before anything else, and parses the form. On failure it has answered
// (413, 401 or 400) and returns false; nothing else was done.
func (f *Front) readVerified(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if r.ContentLength > MaxBody {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return nil, false
		}
		http.Error(w, "could not read the request", http.StatusBadRequest)
		return nil, false
	}
	if err := Verify(f.cfg.SigningSecret.Reveal(), r.Header, body, f.clock.Now()); err != nil {
		f.log.Warn("refused a request that is not verifiably from Slack", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", err)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return nil, false
	}
	return form, true
}

// ackContext bounds the work before the acknowledgement. It does not end
// when Slack hangs up, so a transition is never cut off halfway.
func (f *Front) ackContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), f.cfg.AckBudget)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// flush sends the response now, so work queued after it follows the acknowledgement.
func flush(w http.ResponseWriter) {
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
}

func slashFromForm(f url.Values) slack.SlashCommand {
	return slack.SlashCommand{
		TeamID: f.Get("team_id"), TeamDomain: f.Get("team_domain"), EnterpriseID: f.Get("enterprise_id"),
		ChannelID: f.Get("channel_id"), ChannelName: f.Get("channel_name"), UserID: f.Get("user_id"), UserName: f.Get("user_name"),
		Command: f.Get("command"), Text: f.Get("text"), ResponseURL: f.Get("response_url"), TriggerID: f.Get("trigger_id"),
		APIAppID: f.Get("api_app_id"),
	}
}

// recovered turns a panic in a handler into a logged error and a plain
// answer, so a bug shows as "internal error" rather than a dropped request.
func (f *Front) recovered(w http.ResponseWriter, what string) {
	if v := recover(); v != nil {
		f.log.Error("panic while handling a Slack request", "request", what, "panic", v)
		writeJSON(w, CommandResponse{ResponseType: "ephemeral", Text: replyText(f.bot.Recovered(v))})
	}
}

// maxSSLCheckBody bounds the body of an unsigned request read for ssl_check
// (Slack sends "ssl_check=1&token=…").
const maxSSLCheckBody = 4 << 10

// unsigned reports whether a request carries neither of Slack's signature
// headers, as Slack's ssl_check does.
func unsigned(h http.Header) bool {
	return h.Get("X-Slack-Request-Timestamp") == "" && h.Get("X-Slack-Signature") == ""
}

// sslCheck answers an unsigned request on the command URL: Slack's
// certificate check (ssl_check=1) gets an empty 200, as Slack's own SDKs
// answer it, before any verification; nothing else of the body is read or
// acted on. Anything else unsigned is refused (401) like any unverifiable
// request.
func (f *Front) sslCheck(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSSLCheckBody))
	if err == nil {
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("ssl_check") == "1" {
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	f.log.Warn("refused a request that is not verifiably from Slack", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", ErrUnsigned)
	http.Error(w, "invalid signature", http.StatusUnauthorized)
}

func (f *Front) serveCommand(w http.ResponseWriter, r *http.Request) {
	defer f.recovered(w, "command")
	if unsigned(r.Header) {
		f.sslCheck(w, r)
		return
	}
	form, ok := f.readVerified(w, r)
	if !ok {
		return
	}
	if form.Get("ssl_check") == "1" {
		w.WriteHeader(http.StatusOK)
		return
	}
	ctx, cancel := f.ackContext(r)
	defer cancel()
	writeJSON(w, f.command(ctx, slashFromForm(form)))
}

func (f *Front) serveInteraction(w http.ResponseWriter, r *http.Request) {
	defer f.recovered(w, "interaction")
	form, ok := f.readVerified(w, r)
	if !ok {
		return
	}
	if form.Get("ssl_check") == "1" {
		w.WriteHeader(http.StatusOK)
		return
	}
	var cb interaction
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		f.log.Warn("unreadable interaction payload", "err", err)
		http.Error(w, "malformed payload", http.StatusBadRequest)
		return
	}
	ctx, cancel := f.ackContext(r)
	defer cancel()
	body, next := f.interaction(ctx, &cb)
	if body != nil {
		writeJSON(w, body)
	} else {
		w.WriteHeader(http.StatusOK)
	}
	if next != nil {
		flush(w)
		f.pool.submit(next)
	}
}
