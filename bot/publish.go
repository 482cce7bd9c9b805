package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"deploybot/deploy"
	"deploybot/deploy/schedule"
)

// Store is what the bot needs of the store: runs (to render effects whose
// writer died), message references, the effect queue, and windows (a
// window's Start button). deploy.Store implementations have it all.
type Store interface {
	Run(ctx context.Context, id string) (*deploy.Run, error)
	Windows(ctx context.Context, after time.Time) ([]deploy.Window, error)
	SetMessage(ctx context.Context, runID, slot, ref string) error
	Messages(ctx context.Context, runID string) (map[string]string, error)
	Schedule(ctx context.Context, items ...deploy.DueItem) error
	Claim(ctx context.Context, kind string, now time.Time, lease time.Duration, max int) ([]deploy.DueItem, error)
	Hold(ctx context.Context, id string, claims int, payload string, until time.Time) error
	AckIf(ctx context.Context, items ...deploy.DueItem) (int, error)
	ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
	ScheduleOnce(ctx context.Context, key string, ttl time.Duration, items ...deploy.DueItem) (bool, error)
	// Audit reads a run's audit log (the run's report is built from it).
	Audit(ctx context.Context, runID string) ([]deploy.AuditEntry, error)
}

// PublisherConfig tunes the effect publisher.
type PublisherConfig struct {
	// Poll is how often owed effects are claimed from the store (default 1s).
	Poll time.Duration
	// Lease is how long a claimed effect is this process's to deliver
	// (default 30s); after that another process may claim it.
	Lease time.Duration
	// FirstPost bounds one first post of a message (default 10s), and is
	// raised to a poster's own bound (PostBound: Slack's HTTP call timeout)
	// when that is longer, so the publisher never gives up on a post the
	// platform may still complete. The effect is held for the budget+5s
	// meanwhile, so no other process posts it too.
	FirstPost time.Duration
	// HeadStart is how long after recording a notify or window notice other
	// processes leave it to this one (default deploy.DefaultEffectHeadStart).
	HeadStart time.Duration
	// MaxClaims drops an effect claimed this many times without success (default 30).
	MaxClaims int
	// Batch bounds the effects claimed per poll (default 100).
	Batch int
	// EditEvery is the least time between two edits of one summary or card,
	// per platform (zero or missing: none). The edits owed meanwhile become
	// one, of the run's latest state; the first post is never delayed.
	EditEvery map[string]time.Duration
}

func (c PublisherConfig) withDefaults() PublisherConfig {
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.FirstPost <= 0 {
		c.FirstPost = 10 * time.Second
	}
	if c.HeadStart <= 0 {
		c.HeadStart = deploy.DefaultEffectHeadStart
	}
	if c.MaxClaims <= 0 {
		c.MaxClaims = 30
	}
	if c.Batch <= 0 {
		c.Batch = 100
	}
	return c
}

// Deliver implements deploy.EffectSink: it queues the effects a transition
// owes on the outbox, to be rendered from the newest run this process knows
// (at least run), posted or edited, and acknowledged. It does not block.
func (b *Publisher) Deliver(_ context.Context, run *deploy.Run, owed []deploy.Owed) {
	for _, o := range owed {
		b.enqueue(run, o)
	}
}

// RunEffects claims owed effects every Poll until ctx ends: those whose
// writer died or stalled past its head start, and those whose delivery
// failed. It returns nil when ctx ends.
func (b *Publisher) RunEffects(ctx context.Context) error {
	for {
		if _, err := b.PollEffects(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("claiming owed effects failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-b.clock.After(b.pub.Poll):
		}
	}
}

// PollEffects claims the effects due now and queues their delivery, reading
// each run concerned once. It returns how many it claimed.
func (b *Publisher) PollEffects(ctx context.Context) (int, error) {
	items, err := b.store.Claim(ctx, deploy.DueKindEffect, b.clock.Now(), b.pub.Lease, b.pub.Batch)
	if err != nil {
		return 0, fmt.Errorf("claim effects: %w", err)
	}
	if len(items) > 0 {
		b.log.Info("delivering chat effects past their writer's head start", "count", len(items))
	}
	byRun := map[string][]deploy.Owed{}
	var order []string
	var drop []deploy.DueItem
	for _, it := range items {
		f, err := deploy.ParseEffect(it)
		if err != nil {
			b.log.Error("dropping an effect that does not decode", "id", it.ID, "err", err)
			drop = append(drop, it)
			continue
		}
		if it.Claims > b.pub.MaxClaims {
			b.log.Error("dropping an effect that could not be delivered", "id", it.ID, "claims", it.Claims)
			drop = append(drop, it)
			continue
		}
		o := deploy.Owed{Effect: f, Item: it}
		if f.RunID == "" {
			b.enqueueNotice(o)
			continue
		}
		if _, ok := byRun[f.RunID]; !ok {
			order = append(order, f.RunID)
		}
		byRun[f.RunID] = append(byRun[f.RunID], o)
	}
	for _, id := range order {
		owed := byRun[id]
		run, err := b.runFor(ctx, id, owed)
		if errors.Is(err, deploy.ErrNotFound) {
			for _, o := range owed {
				drop = append(drop, o.Item)
			}
			continue
		}
		if err != nil {
			b.log.Warn("reading a run to deliver its effects failed; they are claimed again later", "run_id", id, "err", err)
			continue
		}
		sortOwed(run, owed)
		for _, o := range owed {
			b.enqueue(run, o)
		}
	}
	if len(drop) > 0 {
		if _, err := b.store.AckIf(ctx, drop...); err != nil {
			return len(items), fmt.Errorf("drop effects: %w", err)
		}
	}
	return len(items), nil
}

// runFor returns the run to render owed effects from: the one this process
// knows when it is recent enough, else one store read.
func (b *Publisher) runFor(ctx context.Context, id string, owed []deploy.Owed) (*deploy.Run, error) {
	var need int64
	for _, o := range owed {
		need = max(need, o.Rev)
	}
	if r := b.runs.Latest(id); r != nil && r.Rev >= need {
		return r, nil
	}
	return b.store.Run(ctx, id)
}

// sortOwed orders a run's effects as a transition does: notices, the
// summary, then the cards in phase order.
func sortOwed(run *deploy.Run, owed []deploy.Owed) {
	rank := func(o deploy.Owed) int {
		switch o.Kind {
		case deploy.EffectNotice:
			return -2
		case deploy.EffectSummary:
			return -1
		case deploy.EffectCard:
			if i := run.FindPhase(o.Phase); i >= 0 {
				return i
			}
		}
		return len(run.Phases)
	}
	slices.SortStableFunc(owed, func(a, b deploy.Owed) int { return rank(a) - rank(b) })
}

// enqueue queues the delivery of a run's effect on its channel's queue.
func (b *Publisher) enqueue(run *deploy.Run, o deploy.Owed) {
	p, ok := b.posters[run.Platform]
	if !ok {
		// No process of this deployment posts there: nothing can deliver it.
		b.log.Warn("dropping an effect for a platform that is not configured", "run_id", run.ID, "platform", run.Platform, "effect", o.Slot())
		b.out.Enqueue("effects:drop", o.Item.ID, func(ctx context.Context) error { return b.ack(ctx, o.Item) })
		return
	}
	ch := run.Channel
	if o.Kind == deploy.EffectNotice {
		ch = b.NoticeChannel(run.Channel)
	}
	var every time.Duration
	if !postedOnce(o.Kind) {
		every = b.pub.EditEvery[p.Platform()]
	}
	b.out.EnqueueEvery(p.Platform()+":"+ch, o.Item.ID, every, func(ctx context.Context) error {
		return b.deliverRun(ctx, p, run, o)
	})
}

// newest returns the newer of run and the one the engine knows.
func (b *Publisher) newest(run *deploy.Run) *deploy.Run {
	if r := b.runs.Latest(run.ID); r != nil && r.Rev > run.Rev {
		return r
	}
	return run
}

// deliverRun renders one of a run's messages and posts or edits it, then
// acknowledges the effect. The first post of a message happens only while
// this process holds the effect (its writer before anyone claimed it, or
// its claimer), and its reference is stored, so a redelivery edits instead
// of posting again; a one-shot notice already posted is not posted again.
func (b *Publisher) deliverRun(ctx context.Context, p Poster, run *deploy.Run, o deploy.Owed) error {
	run = b.newest(run)
	m, err := render(run, o.Effect, b.clock.Now())
	if err != nil {
		return b.giveUp(ctx, o, err)
	}
	key := p.Platform() + ":" + o.Slot()
	m.Key = run.ID + ":" + key
	ref, fresh, err := b.refs.get(ctx, b.store, run.ID, key)
	if err != nil {
		return err
	}
	if ref == "" && !fresh {
		// Another process may have posted it since this one last looked.
		if ref, err = b.refs.load(ctx, b.store, run.ID, key); err != nil {
			return err
		}
	}
	if ref != "" {
		if postedOnce(o.Kind) {
			return b.ack(ctx, o.Item) // posted before: not again
		}
		if err := p.Update(ctx, ref, m); err != nil {
			return b.failed(ctx, o, err)
		}
		return b.settle(ctx, p, ref, run, o)
	}
	ch, replyTo := run.Channel, ""
	switch o.Kind {
	case deploy.EffectNotice:
		ch = b.NoticeChannel(run.Channel)
	case deploy.EffectCard, deploy.EffectAsk, deploy.EffectReport:
		replyTo = b.refs.cached(run.ID, p.Platform()+":summary")
	}
	slot := run.ID + ":" + key
	found, err := b.find(ctx, p, o, b.unsure.holds(slot, b.clock.Now()), ch, replyTo, m.Key)
	if err != nil {
		return err // the outbox tries again
	}
	if found != "" {
		// Posted by a process that died before recording it, or by a post
		// of this one whose answer was lost: adopt it.
		if err := b.store.SetMessage(ctx, run.ID, key, found); err != nil {
			return fmt.Errorf("record %s: %w", key, err)
		}
		b.refs.set(run.ID, key, found)
		b.unsure.release(slot)
		if postedOnce(o.Kind) {
			return b.ack(ctx, o.Item)
		}
		if err := p.Update(ctx, found, m); err != nil {
			return b.failed(ctx, o, err)
		}
		return b.settle(ctx, p, found, run, o)
	}
	if o.Kind == deploy.EffectReport {
		// Read only now: a report already posted is never built again.
		if m.Report, err = b.runReport(ctx, run); err != nil {
			return err // the outbox tries again
		}
	}
	budget := b.firstPost(p)
	newRef, err := b.postHeld(ctx, o, budget, func(ctx context.Context) (string, error) {
		if o.Kind != deploy.EffectNotice {
			// A newer version of the slot, written by another process while
			// this one posts, is not held by this process's hold: the slot's
			// first post is also claimed, for as long as the hold lasts.
			if err := b.claimFirstPost(ctx, slot, budget); err != nil {
				return "", err
			}
		}
		return b.post(ctx, p, slot, ch, replyTo, m)
	})
	if err != nil || newRef == "" {
		return err
	}
	b.posting.release(slot)
	b.unsure.release(slot)
	if err := b.store.SetMessage(ctx, run.ID, key, newRef); err != nil {
		// Posted but not recorded: a redelivery would post it again, so the
		// effect is acknowledged as delivered.
		b.log.Error("posted a message but could not record it", "run_id", run.ID, "slot", key, "err", err)
		_ = b.ack(ctx, o.Item)
		return &PermanentError{Err: fmt.Errorf("record %s: %w", key, err)}
	}
	b.refs.set(run.ID, key, newRef)
	if postedOnce(o.Kind) {
		return b.ack(ctx, o.Item)
	}
	return b.settle(ctx, p, newRef, run, o)
}

// postedOnce reports whether an effect's message is posted once and never
// edited: the one-shot notices, the requests for approval, the report.
func postedOnce(k deploy.EffectKind) bool {
	return k == deploy.EffectNotice || k == deploy.EffectAsk || k == deploy.EffectReport
}

// find looks for a message posted but never recorded, before a first post
// that may repeat one: for effects claimed from another process (which may
// have died after posting), and after a first post of this process whose
// outcome is unknown (unsure: it timed out, lost its connection or got a
// 5xx once sent, and the platform may have posted it all the same). The
// writer's own first delivery makes no search. Only platforms that can find
// a message by its key are asked. A failed search after a crash is logged
// and the message posted (a rare duplicate beats a missing message); after
// an unknown outcome of this process's own post it is returned, and the
// outbox tries again, unless the search can never succeed (PermanentError).
func (b *Publisher) find(ctx context.Context, p Poster, o deploy.Owed, unsure bool, channel, replyTo, key string) (string, error) {
	f, ok := p.(Finder)
	if !ok || (o.Item.Claims == 0 && !unsure) {
		return "", nil
	}
	ref, err := f.Find(ctx, channel, replyTo, key)
	var pe *PermanentError
	switch {
	case err == nil:
		return ref, nil
	case unsure && !errors.As(err, &pe):
		return "", fmt.Errorf("look for %s, whose post may have been made: %w", key, err)
	}
	b.log.Warn("could not look for a message that may have been posted; posting it", "key", key, "err", err)
	return "", nil
}

// post posts m as the first post of slot. A post whose outcome is unknown
// marks the slot unsure: the retry looks for the message by its key before
// posting again. Only a refusal (PermanentError) or a rate limit says the
// platform did not post it. The call has ended when post returns (the
// poster's own timeout or the first-post budget cut it), so the retry's
// search comes after the lost call could have landed.
func (b *Publisher) post(ctx context.Context, p Poster, slot, channel, replyTo string, m Message) (string, error) {
	ref, err := p.Post(ctx, channel, replyTo, m)
	if err != nil && outcomeUnknown(err) {
		now := b.clock.Now()
		b.unsure.hold(slot, now, now.Add(unsureFor))
	}
	return ref, err
}

// unsureFor is how long a first post whose outcome is unknown is looked for
// before the next one: past the outbox's retries (its backoff is capped at a
// minute, 12 tries), a redelivery is a claimed one, which looks anyway.
const unsureFor = 15 * time.Minute

// outcomeUnknown reports whether a failed post may have been made: any
// failure but a refusal or a rate limit (a timeout, a dropped connection, a
// 5xx or a transient Slack error, all possibly after the platform posted).
func outcomeUnknown(err error) bool {
	var pe *PermanentError
	var rl *RateLimitError
	return !errors.As(err, &pe) && !errors.As(err, &rl)
}

// firstPost returns the budget of one first post on p: FirstPost, or the
// poster's own bound when that is longer, so a call is never cut short by
// the publisher while the platform may still complete it.
func (b *Publisher) firstPost(p Poster) time.Duration {
	if pb, ok := p.(PostBound); ok {
		return max(b.pub.FirstPost, pb.PostTimeout())
	}
	return b.pub.FirstPost
}

// claimFirstPost claims the first post of a message for the length of a
// hold (the first-post budget+5s); a process that already holds the claim
// (a retry after a failed post) keeps it. Another process posting it makes
// this one wait and try again, editing then.
func (b *Publisher) claimFirstPost(ctx context.Context, key string, budget time.Duration) error {
	ttl := budget + 5*time.Second
	if b.posting.holds(key, b.clock.Now()) {
		return nil
	}
	first, err := b.store.ClaimOnce(ctx, "post:"+key, ttl)
	if err != nil {
		return fmt.Errorf("claim the first post of %s: %w", key, err)
	}
	if !first {
		return &RateLimitError{After: 2 * time.Second, Err: errors.New("the message is being posted by another process")}
	}
	now := b.clock.Now()
	b.posting.hold(key, now, now.Add(ttl))
	return nil
}

// claims remembers the first-post claims this process holds, until when.
type claims struct {
	mu    sync.Mutex // mu protects until
	until map[string]time.Time
}

func (c *claims) holds(key string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return now.Before(c.until[key])
}

func (c *claims) hold(key string, now, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.until == nil {
		c.until = map[string]time.Time{}
	}
	if len(c.until) >= maxClaims {
		// Forget those that ended (a released claim is deleted; these are
		// left by posts that failed and were not tried again).
		for k, t := range c.until {
			if !now.Before(t) {
				delete(c.until, k)
			}
		}
	}
	c.until[key] = until
}

// maxClaims is how many claims are kept before the ended ones are forgotten.
const maxClaims = 4096

func (c *claims) release(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.until, key)
}

// settle acknowledges a summary or card rendered from run into the message
// ref. When the effect was replaced or acknowledged meanwhile by a newer
// version that this process did not write (another process's transition,
// whose edit may have landed before this one), it reads the run and edits
// the message again from the newer revision, so the message converges on the
// latest state whatever order the edits reached the platform in.
func (b *Publisher) settle(ctx context.Context, p Poster, ref string, run *deploy.Run, o deploy.Owed) error {
	acked, err := b.ackOne(ctx, o.Item)
	if err != nil {
		return fmt.Errorf("ack %s: %w", o.Item.ID, err)
	}
	if acked {
		return nil
	}
	if r := b.runs.Latest(run.ID); r != nil && r.Rev > run.Rev {
		return nil // this process wrote the newer version: its delivery is queued here
	}
	fresh, err := b.store.Run(ctx, run.ID)
	if err != nil || fresh.Rev <= run.Rev {
		return nil // nothing newer to show, or its holder will show it
	}
	m, err := render(fresh, o.Effect, b.clock.Now())
	if err != nil {
		return nil
	}
	b.log.Debug("a newer revision was delivered meanwhile; editing again", "run_id", run.ID, "slot", o.Slot(), "rev", fresh.Rev)
	return p.Update(ctx, ref, m)
}

// postHeld holds the effect for the length of a first post, then posts. It
// returns "" and no error when the effect is no longer this process's (a
// newer version replaced it, or another process claimed it): whoever holds
// it now delivers it.
func (b *Publisher) postHeld(ctx context.Context, o deploy.Owed, budget time.Duration, post func(ctx context.Context) (string, error)) (string, error) {
	err := b.store.Hold(ctx, o.Item.ID, o.Item.Claims, o.Item.Payload, b.clock.Now().Add(budget+5*time.Second))
	if errors.Is(err, deploy.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("hold %s: %w", o.Item.ID, err)
	}
	pctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	ref, err := post(pctx)
	if err != nil {
		return "", b.failed(ctx, o, err)
	}
	if ref == "" {
		ref = "-" // a platform without references: the post still happened
	}
	return ref, nil
}

// failed passes a delivery error to the outbox; a permanent one also
// acknowledges the effect, as no retry can deliver it.
func (b *Publisher) failed(ctx context.Context, o deploy.Owed, err error) error {
	var pe *PermanentError
	if errors.As(err, &pe) {
		_ = b.ack(ctx, o.Item)
	}
	return err
}

func (b *Publisher) giveUp(ctx context.Context, o deploy.Owed, err error) error {
	_ = b.ack(ctx, o.Item)
	return &PermanentError{Err: err}
}

// ack acknowledges an effect unless a newer version of its slot was
// recorded meanwhile (that one stays owed).
func (b *Publisher) ack(ctx context.Context, it deploy.DueItem) error {
	if _, err := b.ackOne(ctx, it); err != nil {
		return fmt.Errorf("ack %s: %w", it.ID, err)
	}
	return nil
}

// render builds the message an effect shows from the run.
func render(run *deploy.Run, f deploy.Effect, now time.Time) (Message, error) {
	var m Message
	switch f.Kind {
	case deploy.EffectSummary:
		s := BuildSummary(run, now)
		m.Summary = &s
	case deploy.EffectCard:
		i := run.FindPhase(f.Phase)
		if i < 0 {
			return m, fmt.Errorf("card of run %s: no phase %q", run.ID, f.Phase)
		}
		c := BuildCard(run, i, now)
		m.Card = &c
	case deploy.EffectNotice:
		var n Notice
		switch f.Notice {
		case deploy.NoticeAnnouncement:
			n = Announcement(run)
		case deploy.NoticeRollback:
			n = RollbackNotice(run)
		case deploy.NoticeCompletion:
			n = Completion(run)
		case deploy.NoticeRolledBack:
			n = RolledBackNotice(run)
		case deploy.NoticeAborted:
			n = AbortNotice(run)
		default:
			return m, fmt.Errorf("run %s: unknown notice %q", run.ID, f.Notice)
		}
		m.Notice = &n
	case deploy.EffectAsk:
		i := run.FindPhase(f.Phase)
		if i < 0 {
			return m, fmt.Errorf("ask of run %s: no phase %q", run.ID, f.Phase)
		}
		n := AskApprovers(run, i)
		m.Notice = &n
	case deploy.EffectReport:
		// Filled in by deliverRun, which reads the run's audit log.
	default:
		return m, fmt.Errorf("run %s: effect %q is not a run message", run.ID, f.Kind)
	}
	return m, nil
}

// owe records a notice that belongs to no run (a notify step's text, a
// window notice) in the store, then queues its delivery here.
func (b *Publisher) owe(ctx context.Context, f deploy.Effect) error {
	o := deploy.Owe(f, b.clock.Now().Add(b.pub.HeadStart))
	if err := b.store.Schedule(ctx, o.Item); err != nil {
		return fmt.Errorf("record notice: %w", err)
	}
	b.enqueueNotice(o)
	return nil
}

// enqueueNotice queues the delivery of a text or window notice.
func (b *Publisher) enqueueNotice(o deploy.Owed) {
	platform := o.Platform
	if _, ok := b.posters[platform]; !ok {
		platform = b.primary
	}
	p, ok := b.posters[platform]
	if !ok {
		b.log.Warn("dropping a notice: no chat platform configured", "effect", o.Slot())
		b.out.Enqueue("effects:drop", o.Item.ID, func(ctx context.Context) error { return b.ack(ctx, o.Item) })
		return
	}
	// No run: looked for only after a lost answer; a repeated post is one on Discord (its nonce).
	m := Message{Key: ":" + p.Platform() + ":" + o.Slot()}
	ch := o.Channel
	switch o.Kind {
	case deploy.EffectText:
		n := Notice{Kind: NoticeText, Title: o.Text}
		m.Notice = &n
	case deploy.EffectWindow:
		var wn schedule.Notice
		if err := json.Unmarshal(o.Data, &wn); err != nil {
			b.log.Error("dropping a window notice that does not decode", "effect", o.Slot(), "err", err)
			b.out.Enqueue("effects:drop", o.Item.ID, func(ctx context.Context) error { return b.ack(ctx, o.Item) })
			return
		}
		n := WindowNotice(wn)
		m.Notice = &n
	}
	if ch == "" {
		ch = b.notice
	}
	b.out.Enqueue(p.Platform()+":"+ch, o.Item.ID, func(ctx context.Context) error {
		// A notice is looked for only after a post of this process whose
		// outcome is unknown (it is recorded nowhere else).
		found, err := b.find(ctx, p, deploy.Owed{}, b.unsure.holds(m.Key, b.clock.Now()), ch, "", m.Key)
		if err != nil {
			return err
		}
		if found == "" {
			ref, err := b.postHeld(ctx, o, b.firstPost(p), func(ctx context.Context) (string, error) { return b.post(ctx, p, m.Key, ch, "", m) })
			if err != nil || ref == "" {
				return err
			}
		}
		b.unsure.release(m.Key)
		return b.ack(ctx, o.Item)
	})
}

// windowNoticeKey identifies a window notice's occurrence, so recording it
// twice keeps one effect.
func windowNoticeKey(n schedule.Notice) string {
	w := n.Window.ID
	if w == "" {
		w = fmt.Sprint(n.Window.Start.Unix())
	}
	k := fmt.Sprintf("%s:%s:%s", n.Kind, w, n.Offset)
	if len(n.Runs) > 0 && n.Kind == schedule.KindEnded {
		k += ":" + n.Runs[0].ID
	}
	return k
}

func newKey() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// refCache keeps the message references this process knows, per run. A
// reference never changes once stored, so a cached one is always right; a
// missing one is looked up in the store before a first post.
type refCache struct {
	mu   sync.Mutex // mu protects runs
	runs map[string]map[string]string
}

const maxCachedRefRuns = 4096

func newRefCache() *refCache { return &refCache{runs: map[string]map[string]string{}} }

func (c *refCache) cached(runID, key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[runID][key]
}

// get returns the reference of key, loading the run's references from the
// store the first time; fresh tells whether it just did.
func (c *refCache) get(ctx context.Context, st Store, runID, key string) (ref string, fresh bool, err error) {
	c.mu.Lock()
	m, ok := c.runs[runID]
	ref = m[key]
	c.mu.Unlock()
	if ok {
		return ref, false, nil
	}
	ref, err = c.load(ctx, st, runID, key)
	return ref, true, err
}

// load reads a run's references from the store.
func (c *refCache) load(ctx context.Context, st Store, runID, key string) (string, error) {
	refs, err := st.Messages(ctx, runID)
	if err != nil {
		return "", fmt.Errorf("message references of %s: %w", runID, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.runs[runID]
	if !ok {
		if len(c.runs) >= maxCachedRefRuns {
			clear(c.runs)
		}
		m = map[string]string{}
		c.runs[runID] = m
	}
	for k, v := range refs {
		m[k] = v
	}
	return m[key], nil
}

func (c *refCache) set(runID, key, ref string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.runs[runID]
	if !ok {
		m = map[string]string{}
		c.runs[runID] = m
	}
	m[key] = ref
}
