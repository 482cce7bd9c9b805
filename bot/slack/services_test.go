package slackfront

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"deploybot/runbook"
)

// webYAML is a second service beside the harness's payments-api.
const webYAML = `
name: web
operators: ["@web-ops"]
phases:
  - id: ship
    title: Ship the web app
    steps:
      - {id: upload, title: Upload the bundle}
rollback:
  steps:
    - {id: revert, title: Restore the previous bundle}
`

// TestSlashCommandAsksWhichService: with two services, /deploy start
// without one is answered privately with the services and an example, a
// service that is not one of them is refused, and nothing is posted.
func TestSlashCommandAsksWhichService(t *testing.T) {
	h := newHarness(t, options{also: webYAML, noExecutor: true})
	status, r := h.command(uAna, "start v1.4")
	if status != http.StatusOK || r.ResponseType == "in_channel" || r.Text != "Which service? payments-api, web — e.g. /deploy start payments-api v1.4" {
		t.Errorf("start without a service = %d %+v, want the services and an example, privately", status, r)
	}
	status, r = h.command(uAna, "start paymnets-api v1.4")
	if status != http.StatusOK || !strings.Contains(r.Text, `unknown service "paymnets-api": the services are payments-api, web`) {
		t.Errorf("start of a misspelt service = %d %+v, want it refused with the services", status, r)
	}
	live, err := h.core.Bot.Live(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 0 {
		t.Fatalf("%d runs started, want none", len(live))
	}
	if _, r = h.command(uAna, "runbook web"); !strings.Contains(r.Text, "Upload the bundle") {
		t.Errorf("runbook web = %q, want web's runbook", r.Text)
	}
	if _, r = h.command(uAna, "help"); !strings.Contains(r.Text, "`payments-api`, `web`") {
		t.Errorf("help does not name the services:\n%s", r.Text)
	}
}

// TestUserGroupsOfEveryService: the groups looked up for a person are those
// that any service's approvers, operators or environment approvers name.
func TestUserGroupsOfEveryService(t *testing.T) {
	api, err := runbook.Parse("api.yaml", []byte("name: api\napprovers: [\"@release-managers\", U0BOB]\nphases:\n  - {id: go, title: Go, steps: [{id: a, title: A}]}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	web, err := runbook.Parse("web.yaml", []byte(webYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Environment policy (runbook environments:) names approvers too.
	web.Environments = map[string]runbook.Environment{"staging": {Approvers: []string{"@staging-leads", "U0CAT"}}, "production": {}}
	got := serviceHandles([]*runbook.Runbook{api, web, api})
	if want := []string{"release-managers", "staging-leads", "web-ops"}; !slices.Equal(got, want) {
		t.Errorf("handles = %q, want %q", got, want)
	}
}
