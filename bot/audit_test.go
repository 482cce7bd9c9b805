package bot_test

import (
	"strings"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/deploy/redisstore"
)

// The completion notice posted to Slack ends with the head of the run's
// audit chain as stored: a copy of the head lives in chat.
func TestCompletionNoticeEndsWithTheAuditHead(t *testing.T) {
	w := newWorld(t, twoPhases)
	p := w.start(true)
	runID := p.start(t)
	p.done(t, runID, "prepare", "review")
	p.done(t, runID, "prepare", "notes")
	p.done(t, runID, "rollout", "deploy")
	p.flush(t)
	st, err := redisstore.Open(w.redis.URL(), w.prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := st.Run(t.Context(), runID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != deploy.StatusCompleted || len(r.AuditHead) != 64 {
		t.Fatalf("run %s: status %s, audit head %q", runID, r.Status, r.AuditHead)
	}
	want := "audit " + r.AuditHead[:12]
	m, ok := w.fake.Find(noticeChannel, "v1.4 is deployed to production")
	if !ok {
		t.Fatalf("no completion notice\n%s", w.transcript())
	}
	if v := strings.TrimSpace(m.Visible()); !strings.HasSuffix(v, want) {
		t.Errorf("the completion notice does not end with %q:\n%s", want, v)
	}
	if !strings.Contains(m.Text, want) {
		t.Errorf("the notification text lacks %q: %q", want, m.Text)
	}
	if a, ok := w.fake.Find(noticeChannel, "Deployment of v1.4 to production started"); !ok || strings.Contains(a.Visible(), "audit ") {
		t.Errorf("the announcement carries no audit head: %+v", a)
	}
}

// Every closing notice carries the head of the run it renders; the text
// rendering ends with it.
func TestClosingNoticesCarryTheAuditHead(t *testing.T) {
	head := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	r := dayRun(t)
	r.AuditHead = head
	r.Status, r.Ended = deploy.StatusCompleted, t0.Add(time.Hour)
	rb := r.Clone()
	rb.Rollback = &deploy.RollbackInfo{By: deploy.Actor{ID: "U0BOB", Name: "bob"}, Reason: "p99 up", FromPhase: "prod", At: t0}
	ab := r.Clone()
	ab.AbortedBy, ab.AbortReason = &deploy.Actor{ID: "U0BOB", Name: "bob"}, "wrong tag"
	for _, n := range []bot.Notice{bot.Completion(r), bot.RollbackNotice(rb), bot.RolledBackNotice(rb), bot.AbortNotice(ab)} {
		if n.AuditHead != head || n.AuditLine() != "audit 0123456789ab" {
			t.Errorf("%s notice: head %q, line %q", n.Kind, n.AuditHead, n.AuditLine())
		}
		if txt := n.Text(); !strings.HasSuffix(txt, "\naudit 0123456789ab") {
			t.Errorf("%s notice text does not end with the audit line:\n%s", n.Kind, txt)
		}
	}
	r.AuditHead = ""
	if n := bot.Completion(r); n.AuditLine() != "" || strings.Contains(n.Text(), "audit ") {
		t.Errorf("a run without a chain (written before it) gets an audit line: %q", n.Text())
	}
	if n := bot.Announcement(r); n.AuditHead != "" {
		t.Errorf("the announcement carries an audit head")
	}
}
