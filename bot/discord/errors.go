package discord

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/bwmarrin/discordgo"

	"deploybot/bot"
)

// platformError maps a discordgo error to what the outbox acts on: a 429 is
// a bot.RateLimitError (wait retry_after, try again), a 400, 401, 403 or 404
// a bot.PermanentError (retrying cannot fix it, and invalid requests count
// towards Discord's ban), anything else (5xx, network) a plain error that is
// retried with backoff. The texts never hold URLs: interaction webhook URLs
// carry the interaction token.
func platformError(op string, err error) error {
	if err == nil {
		return nil
	}
	var rl *discordgo.RateLimitError
	if errors.As(err, &rl) && rl.RateLimit != nil && rl.TooManyRequests != nil {
		return &bot.RateLimitError{After: rl.RetryAfter, Err: fmt.Errorf("discord %s: rate limited", op)}
	}
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil {
		status := re.Response.StatusCode
		msg := http.StatusText(status)
		if re.Message != nil && re.Message.Message != "" {
			msg = fmt.Sprintf("%s (code %d)", re.Message.Message, re.Message.Code)
		}
		e := fmt.Errorf("discord %s: HTTP %d: %s", op, status, msg)
		switch {
		case status == http.StatusTooManyRequests:
			return &bot.RateLimitError{After: retryAfter(re.Response.Header), Err: e}
		case status == http.StatusBadRequest || status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound:
			return &bot.PermanentError{Err: e}
		}
		return e
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("discord %s: %s: %w", op, ue.Op, ue.Err)
	}
	return fmt.Errorf("discord %s: %w", op, err)
}

// retryAfter reads a Retry-After header in seconds (default one second).
func retryAfter(h http.Header) time.Duration {
	if s, err := strconv.ParseFloat(h.Get("Retry-After"), 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	return time.Second
}
