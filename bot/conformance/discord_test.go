package conformance_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"deploybot/bot/discord"
	"deploybot/internal/clock"
	"deploybot/internal/testkit/discordfake"
)

// The Discord ids of the table's channels and people.
const (
	discordRun    = "500000000000000001"
	discordNotice = "500000000000000002"
)

var discordPeople = map[Person]discordfake.User{
	Ana:  {ID: "400000000000000001", Username: "ana"},
	Bob:  {ID: "400000000000000002", Username: "bob"},
	Carl: {ID: "400000000000000003", Username: "carl"},
}

func TestDiscord(t *testing.T) {
	runTable(t, newDiscord)
}

// discordDriver plays the table on the Discord front through the fake
// Discord, over the interactions endpoint.
type discordDriver struct {
	fake *discordfake.Server
	url  string
}

func newDiscord(t *testing.T, o envOptions) (front, *env) {
	fake := discordfake.New(t)
	cfg := discord.Config{Token: discordfake.BotToken, AppID: discordfake.AppID, PublicKey: fake.PublicKey(),
		APIURL: fake.URL(), Clock: clock.Real{}, Logger: testLogger()}
	p, err := discord.NewPoster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, discordNotice, o, p)
	cfg.Poster, cfg.Bot = p, e.Core.Bot
	f, err := discord.New(cfg)
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
		srv.Close()
	})
	return &discordDriver{fake: fake, url: srv.URL + "/discord/interactions"}, e
}

func (d *discordDriver) deliver(t *testing.T, in *discordfake.Interaction) discordfake.Callback {
	t.Helper()
	res, err := d.fake.Post(d.url, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Callback == nil {
		t.Fatalf("interaction answered HTTP %d %s", res.Status, res.Body)
	}
	return *res.Callback
}

func (d *discordDriver) Command(t *testing.T, who Person, c Command) Answer {
	t.Helper()
	in := d.fake.Command(discordPeople[who], discordRun, string(c.Kind), c.Opts)
	d.deliver(t, in)
	m, ok := d.fake.ResponseMessage(in.ID)
	if !ok {
		t.Fatalf("/deploy %s: no answer", c.Kind)
	}
	return Answer{Text: m.Content, Public: !m.Ephemeral}
}

func (d *discordDriver) card(header string) (discordfake.Message, bool) {
	for _, m := range d.fake.Messages() {
		if m.ChannelID != discordRun || m.Ephemeral {
			continue
		}
		for _, e := range m.Embeds {
			if strings.Contains(e.Title, header) {
				return m, true
			}
		}
	}
	return discordfake.Message{}, false
}

func (d *discordDriver) Card(t *testing.T, header string) (string, bool) {
	m, ok := d.card(header)
	return m.Visible(), ok
}

func (d *discordDriver) RunMessages(t *testing.T) []string {
	var out []string
	for _, m := range d.fake.Messages() {
		if m.ChannelID == discordRun && !m.Ephemeral {
			out = append(out, m.Visible())
		}
	}
	return out
}

func (d *discordDriver) Notices(t *testing.T) []string {
	var out []string
	for _, m := range d.fake.Channel(discordNotice, "") {
		out = append(out, m.Visible())
	}
	return out
}

// Press finds the button on the phase's card by its action (the custom_id
// is the button id, possibly behind a confirm or reason prefix), clicks it,
// confirms in the ephemeral confirmation, and gives the reason in the modal.
func (d *discordDriver) Press(t *testing.T, who Person, p Press) string {
	t.Helper()
	u := discordPeople[who]
	var card discordfake.Message
	var button discordfake.Component
	waitUntil(t, func() bool {
		for _, m := range d.fake.Messages() {
			if m.ChannelID != discordRun || m.Ephemeral {
				continue
			}
			for _, c := range m.Controls() {
				id := c.CustomID
				for _, pre := range []string{"c:", "r:"} {
					id = strings.TrimPrefix(id, pre)
				}
				if pressable(id, p) {
					card, button = m, c
				}
			}
		}
		return button.CustomID != ""
	})
	if button.CustomID == "" {
		t.Fatalf("no %s button for %s/%s on any card:\n%s", p.Action, p.Phase, p.Step, d.fake.Transcript(discordRun, u.ID))
	}
	in := d.fake.Click(u, card, button.CustomID)
	cb := d.deliver(t, in)
	if prompt, _ := d.fake.ResponseMessage(in.ID); cb.Type == 4 && len(prompt.Controls()) > 0 { // a confirmation: press its OK button
		ok := prompt.Controls()[0]
		in = d.fake.Click(u, prompt, ok.CustomID)
		cb = d.deliver(t, in)
	}
	if cb.Type == 9 { // a modal: give the reason
		md, _ := d.fake.LastModal(u.ID)
		in = d.fake.Submit(u, md, map[string]string{"reason": p.Reason})
		cb = d.deliver(t, in)
	}
	if !p.Refused {
		return ""
	}
	// The refusal is the interaction's own answer when it was ready within
	// the acknowledgement budget (an ephemeral message, or the ephemeral
	// confirmation updated), else a followup.
	var text string
	waitUntil(t, func() bool {
		var m discordfake.Message
		var ok bool
		cbk, _ := d.fake.CallbackFor(in.ID)
		switch cbk.Type {
		case 4:
			m, ok = d.fake.ResponseMessage(in.ID)
		case 7:
			id, _ := in.Message["id"].(string)
			m, ok = d.fake.Message(id)
		default:
			if fs := d.fake.Followups(in.ID); len(fs) > 0 {
				m, ok = fs[0], true
			}
		}
		if ok && m.Ephemeral && m.User == u.ID {
			text = m.Content
			return true
		}
		return false
	})
	if text == "" {
		t.Fatalf("no refusal shown to %s", who)
	}
	return text
}

// waitUntil polls cond for up to ten seconds; the caller checks the result.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}
