package conformance_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	slackfront "deploybot/bot/slack"
	"deploybot/internal/clock"
	"deploybot/internal/config"
	"deploybot/internal/testkit/slackfake"
)

// The Slack ids of the table's channels and people.
const (
	slackRun    = "C0RUN"
	slackNotice = "C0NOTICE"
	slackSecret = "conformance-signing-secret"
)

var slackPeople = map[Person]slackfake.User{
	Ana:  {ID: "U0ANA", Name: "ana"},
	Bob:  {ID: "U0BOB", Name: "bob"},
	Carl: {ID: "U0CARL", Name: "carl"},
}

func TestSlack(t *testing.T) {
	runTable(t, newSlack)
}

// slackDriver plays the table on the Slack front through the fake Slack,
// over signed HTTP requests.
type slackDriver struct {
	fake *slackfake.Server
	url  string
}

func newSlack(t *testing.T, o envOptions) (front, *env) {
	fake := slackfake.New(t)
	cfg := slackfront.Config{BotToken: config.Secret(slackfake.BotToken), SigningSecret: config.Secret(slackSecret),
		APIURL: fake.APIURL(), Clock: clock.Real{}, Logger: testLogger()}
	p, err := slackfront.NewPoster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, slackNotice, o, p)
	cfg.Poster, cfg.Bot = p, e.Core.Bot
	f, err := slackfront.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	f.Routes(mux)
	srv := httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		f.Close()
		srv.Close()
	})
	return &slackDriver{fake: fake, url: srv.URL}, e
}

func (d *slackDriver) post(t *testing.T, req *http.Request) []byte {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d %s", res.StatusCode, body)
	}
	return body
}

func (d *slackDriver) Command(t *testing.T, who Person, c Command) Answer {
	t.Helper()
	cmd := d.fake.Command(slackPeople[who], slackRun, c.Text)
	body := d.post(t, slackfake.CommandRequest(d.url+slackfront.CommandsPath, slackSecret, time.Now(), cmd))
	var r struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("command answer %q: %v", body, err)
	}
	return Answer{Text: r.Text, Public: r.ResponseType == "in_channel"}
}

func (d *slackDriver) Card(t *testing.T, header string) (string, bool) {
	for _, m := range d.fake.Messages() {
		if m.Channel == slackRun && strings.Contains(m.Visible(), header) && len(m.Blocks) > 0 && strings.Contains(firstLine(m.Visible()), header) {
			return m.Visible(), true
		}
	}
	return "", false
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func (d *slackDriver) RunMessages(t *testing.T) []string {
	var out []string
	for _, m := range d.fake.Messages() {
		if m.Channel == slackRun {
			out = append(out, m.Visible())
		}
	}
	return out
}

func (d *slackDriver) Notices(t *testing.T) []string {
	var out []string
	for _, m := range d.fake.Messages() {
		if m.Channel == slackNotice {
			out = append(out, m.Visible())
		}
	}
	return out
}

// Press clicks the button whose action_id is the button id (Slack shows
// confirmations itself, so the click arrives confirmed), then submits the
// reason dialog when one opens. Refusals come back ephemerally, or as the
// dialog's error for a submitted reason.
func (d *slackDriver) Press(t *testing.T, who Person, p Press) string {
	t.Helper()
	u := slackPeople[who]
	var msg slackfake.Message
	var act slackfake.Action
	waitUntil(t, func() bool {
		for _, m := range d.fake.Messages() {
			if m.Channel != slackRun {
				continue
			}
			for _, a := range m.Actions() {
				if pressable(a.ActionID, p) {
					msg, act = m, a
				}
			}
		}
		return act.ActionID != ""
	})
	if act.ActionID == "" {
		t.Fatalf("no %s button for %s/%s on any card:\n%s", p.Action, p.Phase, p.Step, d.fake.Transcript(slackRun))
	}
	views, ephemerals := len(d.fake.Views()), len(d.fake.Ephemerals(u.ID))
	d.post(t, slackfake.InteractionRequest(d.url+slackfront.InteractionsPath, slackSecret, time.Now(), d.fake.Click(u, msg, act, "").Payload()))
	if p.Reason != "" {
		var view slackfake.View
		waitUntil(t, func() bool {
			vs := d.fake.Views()
			if len(vs) > views {
				view = vs[len(vs)-1]
				return true
			}
			return false
		})
		if view.ID == "" {
			t.Fatalf("no reason dialog opened for %s", p.Action)
		}
		body := d.post(t, slackfake.InteractionRequest(d.url+slackfront.InteractionsPath, slackSecret, time.Now(),
			d.fake.Submit(u, view, map[string]string{"reason": p.Reason}).Payload()))
		if p.Refused {
			var ve struct {
				Errors map[string]string `json:"errors"`
			}
			_ = json.Unmarshal(body, &ve)
			return ve.Errors["reason"]
		}
		return ""
	}
	if !p.Refused {
		return ""
	}
	var text string
	waitUntil(t, func() bool {
		if es := d.fake.Ephemerals(u.ID); len(es) > ephemerals {
			text = es[len(es)-1].Text
			return true
		}
		return false
	})
	if text == "" {
		t.Fatalf("no refusal shown to %s", who)
	}
	return text
}
