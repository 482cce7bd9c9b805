package slackfront

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/internal/testkit/slackfake"
)

// checkOneSummary checks that the run's channel holds one summary, with
// the first phase card (and nothing else) in its thread, and that Slack
// had the summary posted once.
func (h *harness) checkOneSummary() slackfake.Message {
	h.t.Helper()
	h.message(deployChannel, "Phase 1/2 · Prepare the release")
	h.flush()
	conv := h.fake.Conversation(deployChannel)
	if len(conv) != 1 || !strings.Contains(conv[0].Visible(), "🚀 payments-api v1.4 → production") {
		h.t.Fatalf("want one summary in the run's channel, got %d messages:\n%s", len(conv), h.fake.Transcript(deployChannel))
	}
	if len(conv[0].Replies) != 1 || !strings.Contains(conv[0].Replies[0].Visible(), "Phase 1/2 · Prepare the release") {
		h.t.Fatalf("want the phase card threaded under the summary:\n%s", h.fake.Transcript(deployChannel))
	}
	if n := len(h.fake.Messages()); n != 3 {
		h.t.Errorf("want 3 messages (announcement, summary, card), got %d:\n%s%s", n,
			h.fake.Transcript(noticeChannel), h.fake.Transcript(deployChannel))
	}
	return conv[0]
}

// startRunOnly types "/deploy start v1.4" and checks the reply.
func (h *harness) startRunOnly() {
	h.t.Helper()
	status, reply := h.command(uAna, "start v1.4")
	if status != http.StatusOK || !strings.HasPrefix(reply.Text, "Started run") {
		h.t.Fatalf("start: %d %+v", status, reply)
	}
}

// TestSlowSummaryPostIsWaitedFor: Slack takes longer to post the summary
// than the publisher's own first-post budget, but less than the Slack
// poster's call timeout. The publisher waits for the answer (a first post
// gets at least the poster's PostTimeout), so the summary is posted once,
// its card in its thread, and nothing is looked for.
func TestSlowSummaryPostIsWaitedFor(t *testing.T) {
	h := newHarness(t, options{callTimeout: 2 * time.Second, effects: bot.PublisherConfig{FirstPost: 300 * time.Millisecond}})
	h.fake.Script("chat.postMessage", slackfake.Fault{Delay: time.Second, Channel: deployChannel})
	h.startRunOnly()
	h.checkOneSummary()
	if n := h.fake.CallCount("chat.postMessage"); n != 3 {
		t.Errorf("chat.postMessage called %d times, want 3", n)
	}
	// The common path stays cheap: no search for a post whose answer came.
	if n := h.fake.CallCount("conversations.history") + h.fake.CallCount("conversations.replies"); n != 0 {
		t.Errorf("%d searches for messages, want none", n)
	}
}

// TestSummaryPostedAfterTheBotGaveUpIsAdopted: Slack makes the summary's
// post but answers only after the poster's call timeout; the bot gives up
// on it. Before posting again it looks for the message by its key, finds
// the one Slack made, records it and threads the card under it: one
// summary, as the person sees it.
func TestSummaryPostedAfterTheBotGaveUpIsAdopted(t *testing.T) {
	h := newHarness(t, options{callTimeout: 500 * time.Millisecond})
	h.fake.Script("chat.postMessage", slackfake.Fault{Delay: 3 * time.Second, Channel: deployChannel})
	h.startRunOnly()
	summary := h.checkOneSummary()
	if summary.Edits == 0 {
		t.Errorf("the adopted summary was never edited to the run's state")
	}
	if n := h.fake.CallCount("conversations.history"); n != 1 {
		t.Errorf("conversations.history called %d times, want once (after the lost answer)", n)
	}
}

// TestSummaryPostWhoseAnswerIsLostIsAdopted: Slack posts the summary and
// the answer is lost on the way back (a 502 from a proxy). The retry finds
// the message by its key instead of posting it again.
func TestSummaryPostWhoseAnswerIsLostIsAdopted(t *testing.T) {
	h := newHarness(t, options{})
	h.fake.Script("chat.postMessage", slackfake.Fault{Status: http.StatusBadGateway, Apply: true, Channel: deployChannel})
	h.startRunOnly()
	h.checkOneSummary()
	if n := h.fake.CallCount("conversations.history"); n != 1 {
		t.Errorf("conversations.history called %d times, want once (after the lost answer)", n)
	}
}

// TestCardPostWhoseAnswerIsLostIsAdopted: the same for a phase card, a
// reply in the summary's thread: it is looked for among the thread's
// replies and posted once.
func TestCardPostWhoseAnswerIsLostIsAdopted(t *testing.T) {
	h := newHarness(t, options{})
	// The announcement (notice channel) and the summary go through; the
	// card, the second post in the deploy channel, loses its answer.
	h.fake.Script("chat.postMessage", slackfake.Fault{Channel: deployChannel},
		slackfake.Fault{Status: http.StatusBadGateway, Apply: true, Channel: deployChannel})
	h.startRunOnly()
	h.checkOneSummary()
	if n := h.fake.CallCount("conversations.replies"); n != 1 {
		t.Errorf("conversations.replies called %d times, want once (after the lost answer)", n)
	}
}

// TestNoticePostWhoseAnswerIsLostIsPostedOnce: the run's announcement is
// posted by Slack, its answer lost; the announcement is not posted twice.
func TestNoticePostWhoseAnswerIsLostIsPostedOnce(t *testing.T) {
	h := newHarness(t, options{})
	h.fake.Script("chat.postMessage", slackfake.Fault{Status: http.StatusBadGateway, Apply: true, Channel: noticeChannel})
	h.startRunOnly()
	h.checkOneSummary()
	if n := len(h.fake.Conversation(noticeChannel)); n != 1 {
		t.Errorf("%d announcements, want 1:\n%s", n, h.fake.Transcript(noticeChannel))
	}
}

// TestPostRefusedIsNotLookedFor: a post Slack refused for certain (a rate
// limit) is posted again without a search.
func TestPostRefusedIsNotLookedFor(t *testing.T) {
	h := newHarness(t, options{})
	h.fake.Script("chat.postMessage", slackfake.Fault{Status: http.StatusTooManyRequests, RetryAfter: 1, Channel: deployChannel})
	h.startRunOnly()
	h.checkOneSummary()
	if n := h.fake.CallCount("conversations.history") + h.fake.CallCount("conversations.replies"); n != 0 {
		t.Errorf("%d searches after a refused post, want none", n)
	}
}
