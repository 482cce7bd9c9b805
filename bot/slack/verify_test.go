package slackfront

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"deploybot/internal/testkit/slackfake"
)

// Slack's published signing example (PLATFORMS.md), a known-answer test.
const (
	exampleSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	exampleTS     = 1531420618
	exampleBody   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	exampleSig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

func headers(ts, sig string) http.Header {
	h := http.Header{}
	if ts != "" {
		h.Set("X-Slack-Request-Timestamp", ts)
	}
	if sig != "" {
		h.Set("X-Slack-Signature", sig)
	}
	return h
}

func TestVerify(t *testing.T) {
	at := time.Unix(exampleTS, 0)
	ts := strconv.Itoa(exampleTS)
	cases := []struct {
		name   string
		secret string
		h      http.Header
		body   string
		now    time.Time
		want   error
	}{
		{"Slack's published example", exampleSecret, headers(ts, exampleSig), exampleBody, at, nil},
		{"4 minutes later", exampleSecret, headers(ts, exampleSig), exampleBody, at.Add(4 * time.Minute), nil},
		{"clock 4 minutes behind", exampleSecret, headers(ts, exampleSig), exampleBody, at.Add(-4 * time.Minute), nil},
		{"replayed after 5 minutes", exampleSecret, headers(ts, exampleSig), exampleBody, at.Add(5*time.Minute + time.Second), ErrStale},
		{"from the future", exampleSecret, headers(ts, exampleSig), exampleBody, at.Add(-6 * time.Minute), ErrStale},
		{"body changed", exampleSecret, headers(ts, exampleSig), exampleBody + "&text=rm", at, ErrBadSignature},
		{"timestamp changed", exampleSecret, headers(strconv.Itoa(exampleTS+1), exampleSig), exampleBody, at, ErrBadSignature},
		{"other secret", "another-secret", headers(ts, exampleSig), exampleBody, at, ErrBadSignature},
		{"no v0 prefix", exampleSecret, headers(ts, exampleSig[3:]), exampleBody, at, ErrBadSignature},
		{"not hex", exampleSecret, headers(ts, "v0=zz"), exampleBody, at, ErrBadSignature},
		{"truncated signature", exampleSecret, headers(ts, exampleSig[:20]), exampleBody, at, ErrBadSignature},
		{"no signature", exampleSecret, headers(ts, ""), exampleBody, at, ErrUnsigned},
		{"no timestamp", exampleSecret, headers("", exampleSig), exampleBody, at, ErrUnsigned},
		{"no secret configured", "", headers(ts, exampleSig), exampleBody, at, ErrUnsigned},
		{"malformed timestamp", exampleSecret, headers("1531420618.5", exampleSig), exampleBody, at, ErrBadTimestamp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.secret, tc.h, []byte(tc.body), tc.now)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestFakeSignsLikeSlack pins the test kit's signer to the published example,
// so the end-to-end tests sign as Slack does.
func TestFakeSignsLikeSlack(t *testing.T) {
	if got := slackfake.Sign(exampleSecret, exampleTS, []byte(exampleBody)); got != exampleSig {
		t.Errorf("slackfake.Sign = %s, want %s", got, exampleSig)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(exampleSecret, strconv.Itoa(exampleTS), exampleSig, exampleBody)
	f.Add("s", "0", "v0=", "")
	f.Fuzz(func(t *testing.T, secret, ts, sig, body string) {
		err := Verify(secret, headers(ts, sig), []byte(body), time.Unix(exampleTS, 0))
		if err != nil {
			return
		}
		// Only the right signature over exactly these bytes may pass.
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte("v0:" + ts + ":" + body))
		if want := "v0=" + hex.EncodeToString(mac.Sum(nil)); !strings.EqualFold(sig, want) {
			t.Fatalf("Verify accepted a wrong signature: secret %q ts %q sig %q", secret, ts, sig)
		}
	})
}
