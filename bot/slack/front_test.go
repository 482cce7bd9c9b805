package slackfront

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"deploybot/deploy/boltstore"
	appcore "deploybot/internal/app/core"

	"deploybot/internal/clock"
	"deploybot/internal/testkit/slackfake"
)

func TestNew(t *testing.T) {
	h := newHarness(t, options{noExecutor: true, noPoster: true})
	b := h.core.Bot
	cases := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"HTTP", Config{BotToken: "xoxb-1", SigningSecret: "s", Bot: b}, ""},
		{"Socket Mode", Config{BotToken: "xoxb-1", AppToken: "xapp-1", Bot: b}, ""},
		{"API URL without slash", Config{BotToken: "xoxb-1", SigningSecret: "s", Bot: b, APIURL: "http://127.0.0.1:1/api"}, ""},
		{"no bot token", Config{SigningSecret: "s", Bot: b}, "SLACK_BOT_TOKEN"},
		{"half of the HTTP pair", Config{BotToken: "xoxb-1", Bot: b}, "SLACK_SIGNING_SECRET"},
		{"no bot", Config{BotToken: "xoxb-1", SigningSecret: "s"}, "no bot"},
		{"bad API URL", Config{BotToken: "xoxb-1", SigningSecret: "s", Bot: b, APIURL: "slack.com/api/"}, "SLACK_API_URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := New(tc.cfg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("New = %v, want an error naming %s", err, tc.wantErr)
			case err == nil:
				if !strings.HasSuffix(f.cfg.APIURL, "/") || f.Platform() != "slack" {
					t.Errorf("API URL %q, platform %q", f.cfg.APIURL, f.Platform())
				}
				f.Close()
			}
		})
	}
}

// TestGroupCache: members are fetched once per TTL, only for the groups the
// approvers name; when Slack fails, nobody is in a group for a while.
func TestGroupCache(t *testing.T) {
	fake := slackfake.New(t)
	fake.AddUserGroup(slackfake.UserGroup{ID: "S1", Handle: "release-managers", Members: []string{"U1"}})
	fake.AddUserGroup(slackfake.UserGroup{ID: "S2", Handle: "designers", Members: []string{"U1"}})
	api := slack.New(slackfake.BotToken, slack.OptionAPIURL(fake.APIURL()))
	clk := clock.NewFake(t0)
	g := newGroupCache(api, clk, 5*time.Minute, quietLogger())
	ctx := context.Background()
	handles := []string{"release-managers", "sre"}

	steps := []struct {
		name      string
		advance   time.Duration
		fault     bool
		user      string
		want      string
		wantLists int
	}{
		{"first use fetches", 0, false, "U1", "release-managers", 1},
		{"within the TTL uses the cache", 4 * time.Minute, false, "U1", "release-managers", 1},
		{"not a member", 0, false, "U2", "", 1},
		{"after the TTL fetches again", 2 * time.Minute, false, "U1", "release-managers", 2},
		{"a failed refresh: no groups", 6 * time.Minute, true, "U1", "", 3},
		{"and is not retried at once", 10 * time.Second, false, "U1", "", 3},
		{"but after a while", 30 * time.Second, false, "U1", "release-managers", 4},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		if s.fault {
			fake.Script("usergroups.list", slackfake.Fault{Status: http.StatusInternalServerError})
		}
		got := strings.Join(g.of(ctx, s.user, handles), ",")
		if got != s.want {
			t.Errorf("%s: groups = %q, want %q", s.name, got, s.want)
		}
		if n := fake.CallCount("usergroups.list"); n != s.wantLists {
			t.Errorf("%s: usergroups.list called %d times, want %d", s.name, n, s.wantLists)
		}
	}
	if n := fake.CallCount("usergroups.users.list"); n != 3 {
		t.Errorf("usergroups.users.list called %d times; want one per successful refresh, only for release-managers", n)
	}
}

// FuzzInteraction: whatever payload a (verified) request carries, the
// handler answers 200 or 400, never 500, and does not panic. It runs on the
// embedded store, so the fuzzer is not slowed down by a Redis per worker.
func FuzzInteraction(f *testing.F) {
	store, err := boltstore.Open(filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = store.Close() })
	rb := fixtureRunbook(f, fixtureYAML)
	core, err := appcore.Build(appcore.Config{Store: store, Runbook: rb, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(core.Close)
	fake := slackfake.New(f)
	front, err := New(Config{BotToken: slackfake.BotToken, SigningSecret: testSecret, APIURL: fake.APIURL(), Bot: core.Bot, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(front.Close)
	mux := http.NewServeMux()
	front.Routes(mux)

	m := slackfake.Message{Channel: deployChannel, TS: "1.2"}
	f.Add(string(fake.Click(uAna, m, slackfake.Action{Type: "button", ActionID: "done:r2345:prepare:review"}, "").Payload()))
	f.Add(string(fake.Click(uAna, m, slackfake.Action{Type: "static_select", ActionID: "menu:x"}, "skip:r2345:prepare:review").Payload()))
	f.Add(`{"type":"view_submission","view":{"callback_id":"deploybot_reason","private_metadata":"{\"b\":\"rollback:r2345:p:\"}"}}`)
	f.Add(`{"type":"view_submission","view":{"callback_id":"deploybot_reason","private_metadata":"{\"b\":\"skip:r2345:p:s\"}","state":{"values":{"reason":{"reason":{"value":"x"}}}}}}`)
	f.Add(`{"type":"block_actions","actions":[]}`)
	f.Add(`{"type":"block_actions","actions":[{"block_id":"b","type":"overflow","selected_option":{"value":"approve:r1:p:"}}]}`)
	f.Add(`{"type":"shortcut"}`)
	f.Add(`not json`)
	f.Fuzz(func(t *testing.T, payload string) {
		rec := httptest.NewRecorder()
		req := slackfake.InteractionRequest(InteractionsPath, testSecret, time.Now(), []byte(payload))
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Errorf("HTTP %d for payload %q", rec.Code, payload)
		}
	})
}
