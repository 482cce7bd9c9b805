package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"deploybot/bot"
	"deploybot/deploy"
)

// Limits on what a page may send.
const (
	maxForm    = 16 << 10
	maxCommand = 1000
	maxReason  = 500
	// feedSize is how many notices a page shows when it loads.
	feedSize = 50
	// recentRuns is how many finished runs the run list shows.
	recentRuns = 10
	// readBudget bounds all the store reads of one page or part together, so
	// a stalled store costs a page no more than this.
	readBudget = 1500 * time.Millisecond
)

// validRequestID is what a page may send as the id of a command or click
// (a replay of the same id is recognised by the engine).
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9-]{8,64}$`)

// replyJSON is the answer to a command, a click or a name change. Text is
// for the person who acted only (unless Public). OK is false when the bot
// refused (the page shows the text as a refusal and keeps the command typed).
type replyJSON struct {
	OK     bool   `json:"ok"`
	Text   string `json:"text,omitempty"`
	Public bool   `json:"public,omitempty"`
	Run    string `json:"run,omitempty"`
	Name   string `json:"name,omitempty"`
}

// pageData is what the page template shows.
type pageData struct {
	ReadOnly bool
	Token    bool
	Name     string
	Live     []runItem
	Recent   []runItem
	// LiveGroups and RecentGroups are Live and Recent grouped by service.
	LiveGroups   []runGroup
	RecentGroups []runGroup
	// Envs are where each service's environments stand.
	Envs []envGroup
	// Example is the start command the command box suggests.
	Example    string
	ListErr    string
	Run        *runView
	Missing    string
	Notices    []noticeView
	HasWindows bool
	Windows    []windowView
	WindowsErr string
	Cursor     string
	// Now is the server's time when the page was rendered: the script counts
	// relative times from it.
	Now string
}

func (c *Console) handleIndex(w http.ResponseWriter, r *http.Request) {
	c.servePage(w, r, "")
}

func (c *Console) handleRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx, cancel := context.WithTimeout(r.Context(), readBudget)
	defer cancel()
	who, named := actor(r)
	switch r.URL.Query().Get("part") {
	case "main":
		v, err := c.runView(ctx, id, who, named)
		if err != nil {
			c.render(w, http.StatusNotFound, "main", pageData{ReadOnly: c.readOnly, Missing: c.refusal(err), Cursor: c.hub.cursor()})
			return
		}
		c.render(w, http.StatusOK, "main", pageData{ReadOnly: c.readOnly, Run: v, Cursor: v.Cursor, Now: c.clock.Now().UTC().Format(time.RFC3339Nano)})
	case "timeline":
		v, err := c.runView(ctx, id, who, named)
		if err != nil {
			http.Error(w, c.refusal(err), http.StatusNotFound)
			return
		}
		c.render(w, http.StatusOK, "timeline", v)
	default:
		c.servePage(w, r, id)
	}
}

// servePage renders the whole page with run id selected; with id empty it
// selects the newest active run (or, on the dashboard, the newest run).
func (c *Console) servePage(w http.ResponseWriter, r *http.Request, id string) {
	ctx, cancel := context.WithTimeout(r.Context(), readBudget)
	defer cancel()
	d := pageData{ReadOnly: c.readOnly, Token: c.token != "", Name: personName(r), Cursor: c.hub.cursor(), HasWindows: c.windows != nil,
		Now: c.clock.Now().UTC().Format(time.RFC3339Nano)}
	if d.Name == "" && !c.readOnly {
		// A first visit acts at once, as a guest with a name of its own (so
		// a second browser is a second person); the name can be changed.
		d.Name = guestName()
		setNameCookie(w, r, d.Name)
	}
	now := c.clock.Now()
	who, named := actor(r)
	if d.Name != "" && !named {
		who, named = deploy.Actor{ID: "console:" + d.Name, Name: d.Name, Platform: PlatformName}, true // the guest name just given
	}
	named = named && !c.readOnly
	live, finished, err := c.runLists(ctx)
	if err != nil {
		d.ListErr = c.refusal(err)
	}
	for _, run := range newestFirst(live) {
		d.Live = append(d.Live, newRunItem(run, now, policyOf(run).roleOf(who, named)))
	}
	for _, run := range finished {
		d.Recent = append(d.Recent, newRunItem(run, now, roleNobody))
	}
	d.LiveGroups, d.RecentGroups = groupRuns("live-runs", d.Live), groupRuns("recent-runs", d.Recent)
	d.Envs = envGroups(live, finished, now)
	d.Example = "/deploy start v1.4"
	if c.bot != nil {
		if names := c.bot.Services().Names(); len(names) > 1 {
			d.Example = "/deploy start " + names[0] + " v1.4"
		}
	}
	if id == "" {
		switch {
		case len(d.Live) > 0:
			id = d.Live[0].ID
		case c.readOnly && len(d.Recent) > 0:
			id = d.Recent[0].ID
		}
	}
	status := http.StatusOK
	if id != "" {
		v, err := c.runView(ctx, id, who, named)
		if err != nil {
			d.Missing = c.refusal(err)
			status = http.StatusNotFound
		} else {
			d.Run = v
		}
	}
	if !c.readOnly {
		for _, m := range c.mem.notices(feedSize) {
			d.Notices = append(d.Notices, c.noticeView(m))
		}
	}
	d.Windows, d.WindowsErr = c.windowViews(ctx)
	c.render(w, status, "page", d)
}

// runLists reads the runs of the run lists: the active ones (with the
// deployed runs whose follow-ups are open: they are still worked on) and
// the recently finished ones. The error is the first read's that failed.
func (c *Console) runLists(ctx context.Context) (live, finished []*deploy.Run, err error) {
	live, err = c.engine.Live(ctx)
	recent, rerr := c.engine.Recent(ctx, recentRuns)
	if err == nil {
		err = rerr
	}
	for _, run := range recent {
		if run.Status.Open() {
			live = append(live, run)
		} else {
			finished = append(finished, run)
		}
	}
	return live, finished, err
}

// handleEnvironments serves the environments panel (the page asks for it
// after a run changed): where each service's environments stand.
func (c *Console) handleEnvironments(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readBudget)
	defer cancel()
	live, finished, err := c.runLists(ctx)
	if err != nil {
		http.Error(w, c.refusal(err), http.StatusServiceUnavailable)
		return
	}
	c.render(w, http.StatusOK, "envs", pageData{Envs: envGroups(live, finished, c.clock.Now())})
}

// handleWindows serves the windows panel (the page asks for it now and
// then: a window booked on another platform or process shows too).
func (c *Console) handleWindows(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readBudget)
	defer cancel()
	d := pageData{HasWindows: c.windows != nil}
	d.Windows, d.WindowsErr = c.windowViews(ctx)
	c.render(w, http.StatusOK, "windows", d)
}

// newestFirst orders runs by creation, newest first.
func newestFirst(runs []*deploy.Run) []*deploy.Run {
	out := append([]*deploy.Run(nil), runs...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Created.After(out[j-1].Created); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// readForm parses a page's form, at most maxForm bytes of it. A larger one
// is answered 413 with a text that says so (PostFormValue alone would drop
// the error and leave the fields empty); false means it was answered.
func readForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	err := r.ParseForm()
	if err == nil {
		return true
	}
	if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
		writeJSON(w, http.StatusRequestEntityTooLarge, replyJSON{Text: fmt.Sprintf("That is too much to send: the console takes %d KiB at most in one request.", maxForm>>10)})
		return false
	}
	writeJSON(w, http.StatusBadRequest, replyJSON{Text: "That form could not be read."})
	return false
}

func (c *Console) handleCommand(w http.ResponseWriter, r *http.Request) {
	if !readForm(w, r) {
		return
	}
	who, ok := actor(r)
	if !ok {
		writeJSON(w, http.StatusBadRequest, replyJSON{Text: "Pick a name first (top left): it is who the runs and the audit log say acted."})
		return
	}
	text := strings.TrimSpace(r.PostFormValue("text"))
	if text == "" {
		writeJSON(w, http.StatusBadRequest, replyJSON{Text: "Type a command, e.g. /deploy start v1.4 or /deploy help."})
		return
	}
	if len(text) > maxCommand || !utf8.ValidString(text) {
		writeJSON(w, http.StatusBadRequest, replyJSON{Text: "That command is too long."})
		return
	}
	reply := c.bot.Command(r.Context(), bot.Request{Platform: PlatformName, Channel: Channel, Actor: who, Text: text, RequestID: requestID(r)})
	if reply.Public && reply.Text != "" {
		c.postPublic(r.Context(), who, reply.Text)
		c.publishWindows(r.Context()) // a window booked or cancelled shows at once
	}
	writeJSON(w, http.StatusOK, replyJSON{OK: !reply.Refused, Text: reply.Text, Public: reply.Public, Run: reply.RunID})
}

// postPublic puts a public reply in the notices feed, for everybody.
func (c *Console) postPublic(ctx context.Context, who deploy.Actor, text string) {
	n := bot.Notice{Kind: bot.NoticeText, Title: text, Lines: []string{"by " + who.Mention()}}
	if _, err := c.Post(ctx, Channel, "", bot.Message{Notice: &n}); err != nil {
		c.log.Warn("public reply not shown", "err", err)
	}
}

func (c *Console) handleClick(w http.ResponseWriter, r *http.Request) {
	if !readForm(w, r) {
		return
	}
	who, ok := actor(r)
	if !ok {
		writeJSON(w, http.StatusBadRequest, replyJSON{Text: "Pick a name first (top left): it is who the runs and the audit log say acted."})
		return
	}
	id := r.PostFormValue("action")
	if _, err := bot.ParseButtonID(id); err != nil {
		writeJSON(w, http.StatusBadRequest, replyJSON{Text: "That button is not one of mine."})
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if len(reason) > maxReason || !utf8.ValidString(reason) {
		writeJSON(w, http.StatusBadRequest, replyJSON{Text: "That reason is too long (500 characters at most)."})
		return
	}
	reply := c.bot.Click(r.Context(), bot.Click{Platform: PlatformName, Channel: Channel, Actor: who, ButtonID: id, Reason: reason, RequestID: requestID(r)})
	writeJSON(w, http.StatusOK, replyJSON{OK: reply.Text == "", Text: reply.Text, Run: reply.RunID})
}

// requestID returns the page's id for the request, or a fresh one.
func requestID(r *http.Request) string {
	if id := r.PostFormValue("request_id"); validRequestID.MatchString(id) {
		return "console-" + id
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "console-" + hex.EncodeToString(b)
}

// render executes a template into a buffer first, so a failure is a clean 500.
func (c *Console) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := c.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		c.log.Error("render failed", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
