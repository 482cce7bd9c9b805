package bot_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/commands"
	"deploybot/deploy"
)

func TestPersonText(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	secret := errors.New("dial tcp 10.0.0.7:6379: password=hunter2 refused")
	cases := []struct {
		name string
		err  error
		want string // a regexp
	}{
		{"engine refusal", fmt.Errorf("do: %w", &deploy.Error{Kind: deploy.ErrAlreadyDone, Msg: "already done by @ana"}), `^already done by @ana$`},
		{"command error", &commands.Error{Msg: "unknown command"}, `unknown command`},
		{"store timeout", fmt.Errorf("get: %w", context.DeadlineExceeded), `^the state store is not answering right now; nothing was changed\. Try again in a moment \(ref [0-9a-f]{8}\)$`},
		{"store down", fmt.Errorf("get: %w", deploy.ErrUnavailable), `^the state store is not answering right now`},
		{"anything else", secret, `^internal error \(ref ([0-9a-f]{8})\); nothing was changed$`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := bot.PersonText(log, tc.err)
			if !regexp.MustCompile(tc.want).MatchString(got) {
				t.Errorf("PersonText = %q, want %s", got, tc.want)
			}
			if strings.Contains(got, "hunter2") || strings.Contains(got, "10.0.0.7") {
				t.Errorf("the detail reached the person: %q", got)
			}
		})
	}
	ref := regexp.MustCompile(`ref ([0-9a-f]{8})`).FindStringSubmatch(bot.PersonText(log, secret))[1]
	if !strings.Contains(logs.String(), "ref="+ref) || !strings.Contains(logs.String(), "hunter2") {
		t.Errorf("the log lacks the reference %s with the detail:\n%s", ref, logs.String())
	}
}

func TestHandoff(t *testing.T) {
	t.Run("ready in time", func(t *testing.T) {
		followed := make(chan bot.Reply, 1)
		h := bot.NewHandoff(func(r bot.Reply) { followed <- r })
		go h.Deliver(bot.Reply{Text: "no"})
		r, ok := h.Wait(5 * time.Second)
		if !ok || r.Text != "no" {
			t.Fatalf("Wait = %+v, %v; want the reply in time", r, ok)
		}
		h.Deliver(bot.Reply{Text: "again"}) // a second delivery is ignored
		select {
		case r := <-followed:
			t.Errorf("a reply in time also followed up: %+v", r)
		default:
		}
	})
	t.Run("late", func(t *testing.T) {
		followed := make(chan bot.Reply, 1)
		h := bot.NewHandoff(func(r bot.Reply) { followed <- r })
		if r, ok := h.Wait(10 * time.Millisecond); ok {
			t.Fatalf("Wait = %+v before any reply", r)
		}
		h.Deliver(bot.Reply{Text: "late no"})
		select {
		case r := <-followed:
			if r.Text != "late no" {
				t.Errorf("followed up with %+v", r)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the late reply never followed up")
		}
	})
}
