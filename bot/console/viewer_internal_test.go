package console

import (
	"strings"
	"testing"
	"time"

	"deploybot/bot"
	"deploybot/deploy"
	"deploybot/runbook"
)

// TestStreamsGetTheirPersonsRendering: an update rendered per role reaches
// each stream as its person's rendering; identical renderings are kept once.
func TestStreamsGetTheirPersonsRendering(t *testing.T) {
	h := newHub("e", 8)
	pol := &policy{rb: &runbook.Runbook{Approvers: []string{"console:carol"}, Operators: []string{"console:ana"}, DistinctApprover: true},
		started: deploy.Actor{ID: "console:carol", Platform: PlatformName}}
	views := map[role]update{}
	for _, ro := range roles {
		views[ro] = update{ID: "card-x", HTML: "as " + string(ro)}
	}
	views[roleGuest] = update{ID: "card-x", HTML: "as nobody"}
	h.publishViews(update{ID: "card-x", HTML: "as nobody"}, views, pol.roleOf)
	evs, _, _, _ := h.since(0)
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	person := func(name string) deploy.Actor {
		return deploy.Actor{ID: "console:" + name, Name: name, Platform: PlatformName}
	}
	for _, c := range []struct {
		who   deploy.Actor
		named bool
		want  string
	}{
		{person("dave"), true, "as nobody"},  // no operator: the guest view equals the default
		{person("ana"), true, "as operator"}, // operator, no approver
		{person("carol"), true, "as starter"},
		{deploy.Actor{}, false, "as nobody"},
	} {
		if got := string(evs[0].dataFor(c.who, c.named)); !strings.Contains(got, `"html":"`+c.want+`"`) {
			t.Errorf("%s sees %s, want %q", c.who.ID, got, c.want)
		}
	}
	if _, kept := evs[0].views[roleGuest]; kept {
		t.Error("the guest's rendering equals the default and is kept twice")
	}
}

// TestWhyButtonsAreDisabled words why each person cannot use a button.
func TestWhyButtonsAreDisabled(t *testing.T) {
	pol := &policy{rb: &runbook.Runbook{Approvers: []string{"console:carol"}, Operators: []string{"console:ana"}}}
	approve := bot.Button{Action: deploy.ActApprove}
	running := &bot.StepLine{State: deploy.StepRunning, Automated: true}
	for _, c := range []struct {
		name string
		ro   role
		b    bot.Button
		sl   *bot.StepLine
		want string
	}{
		{"a guest", roleGuest, bot.Button{Action: deploy.ActDone}, &bot.StepLine{}, "only operators may act on this run (operators: console:ana, console:carol)"},
		{"an operator approving", roleOperator, approve, nil, "only approvers may do this (approvers: console:carol)"},
		{"an operator ending a watch", roleOperator, bot.Button{Action: deploy.ActDone}, running, "only approvers may do this (approvers: console:carol)"},
		{"an operator ticking", roleOperator, bot.Button{Action: deploy.ActDone}, &bot.StepLine{}, ""},
		{"an operator rolling back", roleOperator, bot.Button{Action: deploy.ActRollback}, nil, ""},
		{"the starter approving", roleStarter, approve, nil, "you started this run: someone else approves (two-person rule)"},
		{"the starter rolling back", roleStarter, bot.Button{Action: deploy.ActRollback}, nil, ""},
		{"an approver", roleApprover, approve, nil, ""},
		{"nobody (the dashboard)", roleNobody, approve, nil, ""},
	} {
		if got := pol.why(c.ro, c.b, c.sl); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// TestUntil words the time to a window's opening.
func TestUntil(t *testing.T) {
	now := time.Date(2030, 3, 5, 21, 58, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		0:                             "now",
		40 * time.Second:              "in 40 s",
		9*time.Minute + 1*time.Second: "in 10 min",
		2*time.Hour + 10*time.Minute:  "in 2 h 10 min",
		72 * time.Hour:                "in 3 days",
	} {
		if got := until(now, now.Add(d)); got != want {
			t.Errorf("until %v = %q, want %q", d, got, want)
		}
	}
}
