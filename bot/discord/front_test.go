package discord_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/bot/discord"
	"deploybot/commands"
	"deploybot/internal/testkit/discordfake"
)

// registered decodes the registered /deploy command.
type registeredCommand struct {
	Name    string `json:"name"`
	Type    int    `json:"type"`
	Options []struct {
		Type    int    `json:"type"`
		Name    string `json:"name"`
		Options []struct {
			Type      int    `json:"type"`
			Name      string `json:"name"`
			Required  bool   `json:"required"`
			MaxLength int    `json:"max_length"`
			Choices   []struct {
				Name  string `json:"name"`
				Value any    `json:"value"`
			} `json:"choices"`
		} `json:"options"`
	} `json:"options"`
}

func TestRegisterWritesOnlyWhenTheDefinitionChanged(t *testing.T) {
	for _, guild := range []string{"", discordfake.GuildID} {
		name := "global"
		if guild != "" {
			name = "guild"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{noRun: true, noExecutor: true, guild: guild})
			put, get := discordfake.RoutePutCommands, discordfake.RouteGetCommands
			if guild != "" {
				put, get = discordfake.RoutePutGuildCmds, discordfake.RouteGetGuildCmds
			}
			ctx := context.Background()
			changed, err := h.front.Register(ctx)
			if err != nil || !changed {
				t.Fatalf("first Register = %v, %v; want a write", changed, err)
			}
			cmds := h.fake.Commands(guild)
			if len(cmds) != 1 {
				t.Fatalf("registered %d commands, want 1", len(cmds))
			}
			var cmd registeredCommand
			if err := json.Unmarshal(cmds[0], &cmd); err != nil {
				t.Fatal(err)
			}
			checkCommand(t, cmd, commands.NewGrammar([]string{"discord-e2e"}))

			changed, err = h.front.Register(ctx)
			if err != nil || changed {
				t.Errorf("second Register = %v, %v; want no write", changed, err)
			}
			if n := h.fake.CallCount(put); n != 1 {
				t.Errorf("%d bulk overwrites, want 1", n)
			}
			if n := h.fake.CallCount(get); n != 2 {
				t.Errorf("%d reads of the registered commands, want 2", n)
			}

			// A registration from an older definition is overwritten.
			var old map[string]any
			_ = json.Unmarshal(cmds[0], &old)
			old["description"] = "an older description"
			b, _ := json.Marshal(old)
			h.fake.SetCommands(guild, []json.RawMessage{b})
			if changed, err := h.front.Register(ctx); err != nil || !changed {
				t.Errorf("Register over an older definition = %v, %v; want a write", changed, err)
			}
			// So is a set with another command beside ours.
			h.fake.SetCommands(guild, append(h.fake.Commands(guild), json.RawMessage(`{"name":"other","description":"x","options":[]}`)))
			if changed, err := h.front.Register(ctx); err != nil || !changed {
				t.Errorf("Register beside another command = %v, %v; want a write", changed, err)
			}
			if n := len(h.fake.Commands(guild)); n != 1 {
				t.Errorf("%d commands after the overwrite, want 1", n)
			}
		})
	}
}

// checkCommand pins the registered command to g.Definitions: one
// subcommand per row of the command table, options named after the
// arguments, the services as the service option's choices.
func checkCommand(t *testing.T, cmd registeredCommand, g commands.Grammar) {
	t.Helper()
	if cmd.Name != "deploy" || cmd.Type != 1 {
		t.Errorf("command %q type %d, want deploy type 1", cmd.Name, cmd.Type)
	}
	defs := g.Definitions()
	if len(cmd.Options) != len(defs) {
		t.Fatalf("%d subcommands, want %d", len(cmd.Options), len(defs))
	}
	allowed := []string{"version", "env", "run", "reason", "start", "duration", "window", "service", "days", "phase"}
	for i, d := range defs {
		sub := cmd.Options[i]
		if sub.Name != string(d.Kind) || sub.Type != 1 {
			t.Errorf("subcommand %d = %q type %d, want %q type 1", i, sub.Name, sub.Type, d.Kind)
		}
		if len(sub.Options) != len(d.Args) {
			t.Errorf("%s: %d options, want %d", d.Kind, len(sub.Options), len(d.Args))
			continue
		}
		for j, a := range d.Args {
			o := sub.Options[j]
			if o.Name != a.Name || o.Type != 3 || o.Required != a.Required || o.MaxLength != a.MaxLength {
				t.Errorf("%s option %d = %+v, want %q string required=%v max %d", d.Kind, j, o, a.Name, a.Required, a.MaxLength)
			}
			if !slices.Contains(allowed, o.Name) {
				t.Errorf("%s: option %q is not one of %v", d.Kind, o.Name, allowed)
			}
			var choices []string
			for _, c := range o.Choices {
				if c.Value != c.Name {
					t.Errorf("%s option %s: choice %q has value %v, want the service's name", d.Kind, o.Name, c.Name, c.Value)
				}
				choices = append(choices, c.Name)
			}
			if !slices.Equal(choices, a.Choices) {
				t.Errorf("%s option %s: choices %q, want %q", d.Kind, o.Name, choices, a.Choices)
			}
		}
	}
}

// TestRunRegistersOnce: a second start with the same definitions reads the
// registered command and writes nothing.
func TestRunRegistersOnce(t *testing.T) {
	h := newHarness(t, harnessConfig{noExecutor: true})
	h.eventually("the first registration", func() bool { return h.fake.CallCount(discordfake.RoutePutCommands) == 1 })

	second, err := discord.New(discord.Config{Token: discordfake.BotToken, AppID: discordfake.AppID, PublicKey: h.fake.PublicKey(),
		APIURL: h.fake.URL(), Bot: h.core.Bot, Clock: h.clock, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- second.Run(ctx) }()
	h.eventually("the second start's read", func() bool { return h.fake.CallCount(discordfake.RouteGetCommands) == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := h.fake.CallCount(discordfake.RoutePutCommands); n != 1 {
		t.Errorf("%d bulk overwrites after two starts, want 1", n)
	}
}

func TestRunStopsOnRefusedCredentials(t *testing.T) {
	h := newHarness(t, harnessConfig{noRun: true, noExecutor: true})
	f, err := discord.New(discord.Config{Token: "wrong-token", AppID: discordfake.AppID, PublicKey: h.fake.PublicKey(),
		APIURL: h.fake.URL(), Bot: h.core.Bot, Clock: h.clock, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	err = f.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Run with a wrong token = %v, want a 401 error", err)
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("the error shows the token: %v", err)
	}
}

// TestGateway receives interactions over the Gateway: answers go to the
// callback route, and the same run flow works.
func TestGateway(t *testing.T) {
	h := newHarness(t, harnessConfig{gateway: true})
	ids := h.fake.Identifies()
	if len(ids) != 1 {
		t.Fatalf("%d identifies, want 1", len(ids))
	}
	var id struct {
		Token   string `json:"token"`
		Intents int    `json:"intents"`
	}
	_ = json.Unmarshal(ids[0], &id)
	if id.Token != "Bot "+discordfake.BotToken || id.Intents != 0 {
		t.Errorf("identify with token %q intents %d, want the bot token and no intents", id.Token, id.Intents)
	}

	help := h.command(ana, "help", nil)
	if !help.Ephemeral || !strings.Contains(help.Content, "/deploy start [SERVICE] VERSION [to ENV]") {
		t.Errorf("help = %q", help.Content)
	}
	h.command(ana, "start", map[string]string{"version": "v1.4.2", "env": "staging"})
	card := h.card("build", has("3 of 3 steps open"))
	h.click(ana, card, h.button(card, "Done", ":review"))
	card = h.card("build", has("✅ `1` Code review completed", "✅ `2` CI check passes", "1 of 3 steps open"))
	h.click(bob, card, h.button(card, "Skip", ":notes"))
	h.submitReason(bob, "not for staging")
	h.card("build", has("skipped: not for staging", "Waiting for approval"))
	for _, cb := range h.fake.Callbacks() {
		if cb.Via != "rest" {
			t.Errorf("interaction %s answered via %s, want the callback route", cb.Interaction, cb.Via)
		}
	}

	// Without a public key nothing is mounted on the HTTP endpoint.
	res, err := http.Post(h.url, "application/json", strings.NewReader(`{"type":1}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("POST /discord/interactions in Gateway mode: HTTP %d, want 404", res.StatusCode)
	}
}

// TestPostErrors pins how Discord's answers reach the outbox: 429 waits
// retry_after, 403/404 are given up, 5xx and network errors are retried.
func TestPostErrors(t *testing.T) {
	h := newHarness(t, harnessConfig{noRun: true, noExecutor: true})
	n := bot.Notice{Kind: bot.NoticeText, Title: "hello"}
	cases := []struct {
		name      string
		setup     func(ch string)
		permanent bool
		after     time.Duration // a rate limit's wait; 0: not a rate limit
	}{
		{"429", func(string) {
			h.fake.Script(discordfake.RouteCreateMessage, discordfake.Fault{Status: 429, RetryAfter: 1.5})
		}, false, 1500 * time.Millisecond},
		{"500", func(string) { h.fake.Script(discordfake.RouteCreateMessage, discordfake.Fault{Status: 500}) }, false, 0},
		{"502 twice", func(string) {
			h.fake.Script(discordfake.RouteCreateMessage, discordfake.Fault{Status: 502}, discordfake.Fault{Status: 502})
		}, false, 0},
		{"403 missing permissions", func(ch string) { h.fake.SetChannelStatus(ch, 403) }, true, 0},
		{"404 unknown channel", func(ch string) { h.fake.SetChannelStatus(ch, 404) }, true, 0},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := fmt.Sprintf("70000000000000000%d", i)
			tc.setup(ch)
			_, err := h.front.Post(context.Background(), ch, "", bot.Message{Notice: &n})
			if err == nil {
				t.Fatal("Post succeeded")
			}
			var pe *bot.PermanentError
			var rl *bot.RateLimitError
			if errors.As(err, &pe) != tc.permanent {
				t.Errorf("permanent = %v, want %v (%v)", !tc.permanent, tc.permanent, err)
			}
			if got := errors.As(err, &rl); got != (tc.after > 0) || (got && rl.After != tc.after) {
				t.Errorf("rate limit = %v, want wait %s (%v)", got, tc.after, err)
			}
			if strings.Contains(err.Error(), "http") {
				t.Errorf("the error text holds a URL: %v", err)
			}
		})
	}
	if err := h.front.Update(context.Background(), runChannel+"/123", bot.Message{Notice: &n}); !errors.As(err, new(*bot.PermanentError)) {
		t.Errorf("editing an unknown message: %v, want a permanent error", err)
	}
}

// TestRateLimitedUpdateIsSentLate: a 429 on a card edit makes the outbox
// wait retry_after (on the injected clock), then the card shows the latest
// state: late, never dropped.
func TestRateLimitedUpdateIsSentLate(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.command(ana, "start", map[string]string{"version": "v1.4.2"})
	card := h.card("build", has("3 of 3 steps open"))
	h.fake.Script(discordfake.RouteEditMessage, discordfake.Fault{Status: 429, RetryAfter: 30})
	h.click(ana, card, h.button(card, "Done", ":review"))
	h.eventually("a rate-limited edit", func() bool {
		for _, c := range h.fake.Calls() {
			if c.Route == discordfake.RouteEditMessage && c.Status == 429 {
				return true
			}
		}
		return false
	})
	if _, ok := h.fake.Find(runChannel, "· phase build ·", "✅ `1`"); ok {
		t.Fatal("the card changed before the rate limit passed")
	}
	h.eventually("the card after the rate limit", func() bool {
		h.clock.Advance(5 * time.Second)
		_, ok := h.fake.Find(runChannel, "· phase build ·", "✅ `1` Code review completed", "✅ `2` CI check passes")
		return ok
	})
}

// TestLongRepliesAreSplit: a reply over Discord's 2000 characters is sent
// as the answer and followups, cut at line breaks.
func TestLongRepliesAreSplit(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: long\nphases:\n  - id: preflight\n    title: Pre-flight\n    steps:\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "      - id: check-%02d\n        title: Pre-flight check %d of a very long list, each with a long title to fill the reply\n", i, i)
	}
	b.WriteString("rollback:\n  steps:\n    - id: revert\n      title: Revert\n")
	h := newHarness(t, harnessConfig{runbook: b.String(), noExecutor: true})
	in := h.fake.Command(ana, runChannel, "runbook", nil)
	h.deliver(in)
	first, _ := h.fake.ResponseMessage(in.ID)
	var all []string
	all = append(all, first.Content)
	h.eventually("the followups", func() bool {
		got := 0
		for _, m := range h.fake.Followups(in.ID) {
			got += len(m.Content)
		}
		return len(first.Content)+got >= 40*80
	})
	for _, m := range h.fake.Followups(in.ID) {
		if !m.Ephemeral {
			t.Errorf("a followup of an ephemeral reply is public")
		}
		all = append(all, m.Content)
	}
	text := strings.Join(all, "\n")
	for i := 1; i <= 40; i++ {
		if !strings.Contains(text, fmt.Sprintf("Pre-flight check %d of a very long list", i)) {
			t.Errorf("step %d is missing from the reply", i)
		}
	}
	if len(all) < 2 {
		t.Errorf("the reply came in %d message(s), want it split", len(all))
	}
}

// TestBadOptionsAreRefusedEphemerally: FromOptions' validation answers the
// person who typed, with the usage line.
func TestBadOptionsAreRefusedEphemerally(t *testing.T) {
	h := newHarness(t, harnessConfig{noExecutor: true})
	cases := []struct {
		name, sub string
		opts      map[string]string
		want      string
	}{
		{"version with a semicolon", "start", map[string]string{"version": "v1;rm -rf /"}, "Usage: /deploy start [SERVICE] VERSION [to ENV]"},
		{"unknown subcommand", "launch", nil, "unknown command"},
		{"option the subcommand does not take", "status", map[string]string{"version": "v1"}, "unexpected option"},
		{"rollback without a reason", "rollback", nil, "missing REASON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := h.command(ana, tc.sub, tc.opts)
			if !m.Ephemeral || !strings.Contains(m.Content, tc.want) {
				t.Errorf("answer %q (ephemeral %v), want an ephemeral %q", m.Content, m.Ephemeral, tc.want)
			}
		})
	}
}

// TestAnExhaustedBucketIsWaitedOutByTheOutbox: when Discord says a route's
// bucket is used up, the next call is not left to discordgo's own sleep
// (which ignores the context and has no cap); it becomes a RateLimitError
// the outbox waits out, and nothing is sent meanwhile.
func TestAnExhaustedBucketIsWaitedOutByTheOutbox(t *testing.T) {
	h := newHarness(t, harnessConfig{noRun: true, noExecutor: true})
	n := bot.Notice{Kind: bot.NoticeText, Title: "hello"}
	const ch = "710000000000000001"
	h.fake.Script(discordfake.RouteCreateMessage, discordfake.Fault{Exhaust: true, ResetAfter: 30})
	if _, err := h.front.Post(context.Background(), ch, "", bot.Message{Notice: &n}); err != nil {
		t.Fatalf("first post: %v", err)
	}
	before := h.fake.CallCount(discordfake.RouteCreateMessage)
	start := time.Now()
	_, err := h.front.Post(context.Background(), ch, "", bot.Message{Notice: &n})
	var rl *bot.RateLimitError
	if !errors.As(err, &rl) || rl.After < 25*time.Second || rl.After > 30*time.Second {
		t.Fatalf("second post: %v, want a rate limit of about 30s", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the post slept instead of handing the wait to the outbox")
	}
	if got := h.fake.CallCount(discordfake.RouteCreateMessage); got != before {
		t.Fatalf("%d calls were sent into a used-up bucket", got-before)
	}
}
