package e2e

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"deploybot/internal/testkit"
	"deploybot/internal/testkit/discordfake"
)

// TestDiscordDriver plays Discord against the real binary: signed
// interactions with the fake's own key pair, a fake REST API and a real
// redis-server. It pings, forges, starts a run, finds the Done button on
// the phase card, clicks it and waits for the automated step.
func TestDiscordDriver(t *testing.T) {
	dir := t.TempDir()
	rb := filepath.Join(dir, "runbook.yaml")
	if err := os.WriteFile(rb, []byte(slackRunbook), 0o600); err != nil {
		t.Fatal(err)
	}
	redis := testkit.Redis(t)
	fake := discordfake.New(t)
	p := start(t, dir, map[string]string{
		"DISCORD_BOT_TOKEN": discordfake.BotToken, "DISCORD_APP_ID": discordfake.AppID,
		"DISCORD_PUBLIC_KEY": hex.EncodeToString(fake.PublicKey()), "DISCORD_API_URL": fake.URL(),
		"REDIS_URL": redis.URL(), "DEPLOYBOT_REDIS_PREFIX": redis.Prefix(t), "DEPLOYBOT_RUNBOOK": rb,
	})
	endpoint := "http://" + p.addr + "/discord/interactions"
	const channel = "500000000000000001"
	ana := discordfake.User{ID: "400000000000000001", Username: "ana"}
	bob := discordfake.User{ID: "400000000000000002", Username: "bob"}

	res, err := fake.Post(endpoint, fake.Ping())
	if err != nil || res.Status != 200 || strings.TrimSpace(string(res.Body)) != `{"type":1}` {
		t.Fatalf("PING: %d %s %v", res.Status, res.Body, err)
	}

	// A request signed with another key is refused and changes nothing.
	_, other, _ := ed25519.GenerateKey(nil)
	in := fake.Command(ana, channel, "start", map[string]string{"version": "v1.4"})
	body := in.JSON()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest("POST", endpoint, bytes.NewReader(body))
	req.Header.Set("X-Signature-Timestamp", ts)
	req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(other, append([]byte(ts), body...))))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged interaction: HTTP %d, want 401", resp.StatusCode)
	}
	if n := len(fake.Messages()); n != 0 {
		t.Fatalf("a forged interaction posted %d messages", n)
	}

	res, err = fake.Post(endpoint, fake.Command(ana, channel, "start", map[string]string{"version": "v1.4"}))
	if err != nil || res.Status != 200 {
		t.Fatalf("start: %d %s %v", res.Status, res.Body, err)
	}
	var card discordfake.Message
	defer func() {
		if t.Failed() {
			t.Logf("bot output:\n%s\nchannel:\n%s", p.output(), fake.Transcript(channel, ""))
		}
	}()
	waitFor(t, "the first phase card with a Done button", 20*time.Second, func() bool {
		m, ok := fake.Find(channel, "Build and verify", "Release notes written")
		if !ok {
			return false
		}
		_, ok = m.Button("Done", ":notes")
		card = m
		return ok
	})
	done, _ := card.Button("Done", ":notes")
	if res, err := fake.Post(endpoint, fake.Click(bob, card, done.CustomID)); err != nil || res.Status != 200 {
		t.Fatalf("click Done: %d %s %v", res.Status, res.Body, err)
	}
	waitFor(t, "the automated step to finish and Approve to show", 20*time.Second, func() bool {
		m, ok := fake.Message(card.ID)
		if !ok || !strings.Contains(m.Visible(), "exit 0") {
			return false
		}
		_, ok = m.Button("Approve", "")
		return ok
	})
	if probs := fake.Problems(); len(probs) > 0 {
		t.Fatalf("the fake saw protocol problems: %v", probs)
	}
}
