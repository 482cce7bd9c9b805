package discord

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/internal/clock"
)

func TestVerify(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	clk := clock.NewFake(now)
	f := &Front{pub: key.Public().(ed25519.PublicKey), clock: clk}
	body := []byte(`{"type":1}`)
	sign := func(at time.Time, b []byte) http.Header {
		ts := strconv.FormatInt(at.Unix(), 10)
		h := http.Header{}
		h.Set("X-Signature-Timestamp", ts)
		h.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(key, append([]byte(ts), b...))))
		return h
	}
	cases := []struct {
		name   string
		header http.Header
		body   []byte
		ok     bool
	}{
		{"fresh", sign(now, body), body, true},
		{"exactly 5 minutes old", sign(now.Add(-5*time.Minute), body), body, true},
		{"5 minutes and a second old", sign(now.Add(-5*time.Minute-time.Second), body), body, false},
		{"5 minutes and a second ahead", sign(now.Add(5*time.Minute+time.Second), body), body, false},
		{"another body", sign(now, body), []byte(`{"type":2}`), false},
		{"no headers", http.Header{}, body, false},
		{"timestamp not a number", func() http.Header {
			h := sign(now, body)
			h.Set("X-Signature-Timestamp", "soon")
			return h
		}(), body, false},
		{"short signature", func() http.Header {
			h := sign(now, body)
			h.Set("X-Signature-Ed25519", h.Get("X-Signature-Ed25519")[:64])
			return h
		}(), body, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			why := f.verify(tc.header, tc.body)
			if (why == "") != tc.ok {
				t.Errorf("verify = %q, want ok=%v", why, tc.ok)
			}
		})
	}
}

func TestRewriteSendsDiscordCallsToTheBase(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.Host+" "+r.URL.EscapedPath())
	}))
	defer srv.Close()
	rt, err := newRewrite(srv.URL+"/proxy/", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: rt}
	for _, u := range []string{
		discordgo.EndpointGateway,
		discordgo.EndpointWebhookMessage("1", "tok/en", "@original"),
		srv.URL + "/elsewhere", // not Discord: sent as it is
	} {
		res, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	want := []string{host + " /proxy/api/v9/gateway", host + " /proxy/api/v9/webhooks/1/tok/en/messages/@original", host + " /elsewhere"}
	if strings.Join(paths, "\n") != strings.Join(want, "\n") {
		t.Errorf("paths:\n%s\nwant:\n%s", strings.Join(paths, "\n"), strings.Join(want, "\n"))
	}
	for _, bad := range []string{"ftp://x", "not a url", "http://"} {
		if _, err := newRewrite(bad, nil); err == nil {
			t.Errorf("newRewrite(%q) accepted", bad)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	b := &bot.Bot{}
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no token", Config{AppID: "1", Bot: b}, "DISCORD_BOT_TOKEN"},
		{"no app id", Config{Token: "t", Bot: b}, "DISCORD_APP_ID"},
		{"no bot", Config{Token: "t", AppID: "1"}, "bot"},
		{"short public key", Config{Token: "t", AppID: "1", Bot: b, PublicKey: make([]byte, 16)}, "DISCORD_PUBLIC_KEY"},
		{"bad API URL", Config{Token: "t", AppID: "1", Bot: b, APIURL: "discord.test"}, "DISCORD_API_URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	cases := []struct {
		name string
		text string
		n    int
		want []string
	}{
		{"short", "abc", 10, []string{"abc"}},
		{"at a line break", "aaaa\nbbbb\ncccc", 10, []string{"aaaa\nbbbb", "cccc"}},
		{"one long line", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"runes, not bytes", "ééééé", 2, []string{"éé", "éé", "é"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := split(tc.text, tc.n)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("split = %q, want %q", got, tc.want)
			}
			for _, p := range got {
				if utf8.RuneCountInString(p) > tc.n {
					t.Errorf("piece %q is over %d", p, tc.n)
				}
			}
		})
	}
}

// TestCustomIDsFitDiscord: the longest ids the runbook allows (40-character
// phase and step ids) still fit in 100 characters with every prefix.
func TestCustomIDsFitDiscord(t *testing.T) {
	long := strings.Repeat("x", 40)
	for _, b := range []bot.Button{
		{Action: deploy.ActDone, RunID: "r7k2qd", Phase: long, Step: long},
		{Action: deploy.ActSkip, RunID: "r7k2qd", Phase: long, Step: long, NeedsReason: true},
		{Action: deploy.ActRetry, RunID: "r7k2qd", Phase: long, Step: long},
		{Action: deploy.ActApprove, RunID: "r7k2qd", Phase: long, Confirm: &bot.Confirm{}},
		{Action: deploy.ActRollback, RunID: "r7k2qd", Phase: long, Confirm: &bot.Confirm{}},
		{Action: deploy.ActOverrideWindow, RunID: "r7k2qd", Phase: long, Confirm: &bot.Confirm{}},
	} {
		kind := b.Action
		for _, id := range []string{customID(b), prefixOK + b.ID(), prefixCancel + b.ID(), prefixModal + b.ID(), pickID("r7k2qd", long, 3)} {
			if len(id) > maxCustomID {
				t.Errorf("%s: custom_id %q has %d characters", kind, id, len(id))
			}
		}
	}
}

// TestMalformedInteractionsAreAnswered: interactions without the data their
// type promises are answered (ephemerally) instead of crashing the handler.
func TestMalformedInteractionsAreAnswered(t *testing.T) {
	f := &Front{appID: "1", clock: clock.NewFake(now), Poster: &Poster{log: discardLogger()}}
	member := &discordgo.Member{User: &discordgo.User{ID: "9", Username: "x"}}
	for _, in := range []*discordgo.Interaction{
		{ID: "1", Type: discordgo.InteractionApplicationCommand, Token: "t"},
		{ID: "1", Type: discordgo.InteractionApplicationCommand, Token: "t", Member: member,
			Data: discordgo.ApplicationCommandInteractionData{Name: "deploy"}},
		{ID: "1", Type: discordgo.InteractionMessageComponent, Token: "t", Member: member},
		{ID: "1", Type: discordgo.InteractionModalSubmit, Token: "t", Member: member,
			Data: discordgo.ModalSubmitInteractionData{CustomID: "m:bogus"}},
		{ID: "1", Type: discordgo.InteractionMessageComponent, Token: "t", Member: member,
			Data: discordgo.MessageComponentInteractionData{CustomID: "c:not-a-button"}},
		{ID: "1", Type: discordgo.InteractionMessageComponent, Token: "t", Member: member,
			Data: discordgo.MessageComponentInteractionData{CustomID: "p:r1:code:0"}},
		{ID: "1", Type: 42, Token: "t"},
	} {
		raw, _ := json.Marshal(in)
		var got []*discordgo.InteractionResponse
		f.handle(t.Context(), in, func(r *discordgo.InteractionResponse) error {
			got = append(got, r)
			return nil
		})
		if len(got) != 1 || got[0].Type != discordgo.InteractionResponseChannelMessageWithSource || got[0].Data.Flags != discordgo.MessageFlagsEphemeral {
			t.Errorf("%s: answered %+v, want one ephemeral message", raw, got)
		}
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestRewriteWithAVersionedBase: DISCORD_API_URL written like Discord's own
// address ("…/api/v9/", the default) replaces the version prefix instead of
// doubling it.
func TestRewriteWithAVersionedBase(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.EscapedPath())
	}))
	defer srv.Close()
	for _, base := range []string{srv.URL + "/api/v9/", srv.URL + "/proxy/api/v10"} {
		rt, err := newRewrite(base, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := (&http.Client{Transport: rt}).Get(discordgo.EndpointChannelMessages("42"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	want := "/api/v9/channels/42/messages\n/proxy/api/v10/channels/42/messages"
	if got := strings.Join(paths, "\n"); got != want {
		t.Errorf("paths:\n%s\nwant:\n%s", got, want)
	}
}
