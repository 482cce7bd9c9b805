package slackfront

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxSkew is how far a request's timestamp may be from the clock before the
// request is refused as stale (a replay).
const MaxSkew = 5 * time.Minute

// Verification failures. Verify wraps none of them with detail that would
// help a forger; they are only logged.
var (
	ErrUnsigned     = errors.New("slack verify: missing X-Slack-Request-Timestamp or X-Slack-Signature")
	ErrBadTimestamp = errors.New("slack verify: malformed timestamp")
	ErrStale        = errors.New("slack verify: timestamp more than 5 minutes from now")
	ErrBadSignature = errors.New("slack verify: signature does not match")
)

// Verify checks that body, with the X-Slack-Request-Timestamp and
// X-Slack-Signature headers h, was signed by Slack with the signing secret
// and is at most MaxSkew from now: HMAC-SHA256 keyed with the secret over
// "v0:<timestamp>:<body>", compared in constant time. It must see the raw
// body, before any parsing.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	ts, sig := h.Get("X-Slack-Request-Timestamp"), h.Get("X-Slack-Signature")
	if ts == "" || sig == "" || secret == "" {
		return ErrUnsigned
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 {
		return ErrBadTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return ErrStale
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	if !ok {
		return ErrBadSignature
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrBadSignature
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:"))
	mac.Write([]byte(ts))
	mac.Write([]byte(":"))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}
