package runbook

import (
	"bufio"
	"bytes"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// seedPath is the seed checklist (PRODUCT.md's deployment checklist), kept in
// the repository so the test needs nothing beside it.
const seedPath = "testdata/seed-checklist.md"

type seedPhase struct {
	group, title string
	steps        []string
}

type seedChecklist struct {
	title    string
	phases   []seedPhase
	when     string
	rollback []string
}

var seedNumbered = regexp.MustCompile(`^\d+\.\s+(.+)$`)

// readSeed parses the seed checklist; any line it does not recognise fails
// the test, so a change of the seed's shape cannot go unnoticed.
func readSeed(t *testing.T) seedChecklist {
	t.Helper()
	data, err := os.ReadFile(seedPath)
	if err != nil {
		t.Fatalf("the seed checklist must be at runbook/%s: %v", seedPath, err)
	}
	var c seedChecklist
	group, inRollback := "", false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "### "):
			c.phases = append(c.phases, seedPhase{group: group, title: strings.TrimPrefix(line, "### ")})
		case strings.HasPrefix(line, "## "):
			group = strings.TrimPrefix(line, "## ")
			inRollback = group == "Rollback Procedure"
		case strings.HasPrefix(line, "# "):
			c.title = strings.TrimPrefix(line, "# ")
		case strings.HasPrefix(line, "- [ ] ") && !inRollback && len(c.phases) > 0:
			p := &c.phases[len(c.phases)-1]
			p.steps = append(p.steps, strings.TrimPrefix(line, "- [ ] "))
		case inRollback && strings.HasSuffix(line, ":"):
			c.when = strings.TrimSuffix(line, ":")
		case inRollback && seedNumbered.MatchString(line):
			c.rollback = append(c.rollback, seedNumbered.FindStringSubmatch(line)[1])
		default:
			t.Fatalf("%s:%d: unrecognised line %q", seedPath, n, line)
		}
	}
	return c
}

func TestBuiltinIsTheSeedChecklist(t *testing.T) {
	seed := readSeed(t)
	rb, err := Builtin(stubValidator{})
	if err != nil {
		t.Fatalf("Builtin: %v", err)
	}

	if rb.Name != "orchestration-system" || rb.Title != seed.title || rb.File != "builtin.yaml" {
		t.Errorf("name %q, title %q, file %q", rb.Name, rb.Title, rb.File)
	}
	if len(rb.Phases) != 8 || rb.StepCount() != 45 || len(rb.Rollback.Steps) != 5 {
		t.Errorf("%d phases, %d steps, %d rollback steps; want 8, 45, 5", len(rb.Phases), rb.StepCount(), len(rb.Rollback.Steps))
	}

	var groups []string
	for _, p := range rb.Phases {
		if len(groups) == 0 || groups[len(groups)-1] != p.Group {
			groups = append(groups, p.Group)
		}
	}
	if want := []string{"Pre-Deployment", "Deployment Process", "Post-Deployment"}; !reflect.DeepEqual(groups, want) {
		t.Errorf("groups = %q, want %q", groups, want)
	}

	var got []seedPhase
	for _, p := range rb.Phases {
		sp := seedPhase{group: p.Group, title: p.Title}
		for _, s := range p.Steps {
			sp.steps = append(sp.steps, s.Title)
		}
		got = append(got, sp)
	}
	if !reflect.DeepEqual(got, seed.phases) {
		t.Errorf("phases differ from the seed checklist:\n got %q\nwant %q", got, seed.phases)
	}

	var ids []string
	for _, p := range rb.Phases {
		ids = append(ids, p.ID)
	}
	if want := []string{"code", "environment", "communication", "preparation", "production", "validation", "immediate", "followup"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("phase ids = %q, want %q", ids, want)
	}

	if rb.Rollback.When != seed.when || seed.when != "If critical issues are discovered" {
		t.Errorf("rollback when = %q, seed %q", rb.Rollback.When, seed.when)
	}
	var rbTitles, rbIDs []string
	for _, s := range rb.Rollback.Steps {
		// Titles may name the previous version: with none, they read as the seed.
		rbTitles = append(rbTitles, RenderTitle(s.Title, TitleVars{Version: "v2.0"}))
		rbIDs = append(rbIDs, s.ID)
	}
	if !reflect.DeepEqual(rbTitles, seed.rollback) {
		t.Errorf("rollback steps = %q, want %q", rbTitles, seed.rollback)
	}
	if want := []string{"notify", "revert-dns", "restore-db", "monitor", "document"}; !reflect.DeepEqual(rbIDs, want) {
		t.Errorf("rollback ids = %q, want %q", rbIDs, want)
	}
}

func TestBuiltinRollbackNamesThePreviousVersion(t *testing.T) {
	rb, err := Builtin(nil)
	if err != nil {
		t.Fatalf("Builtin: %v", err)
	}
	got := RenderTitle(rb.Rollback.Steps[1].Title, TitleVars{Service: "orchestration-system", Version: "v2.0", Previous: "v1.9"})
	if want := "Revert DNS/load balancer to previous version (v1.9)"; got != want {
		t.Errorf("revert-dns title = %q, want %q", got, want)
	}
}

func TestBuiltinSettings(t *testing.T) {
	rb, err := Builtin(nil)
	if err != nil {
		t.Fatalf("Builtin: %v", err)
	}
	if !rb.DistinctApprover || len(rb.Approvers) != 0 {
		t.Errorf("distinct_approver %v, approvers %q; want true and anyone", rb.DistinctApprover, rb.Approvers)
	}
	if want := []Duration{Duration(24 * time.Hour), Duration(time.Hour), Duration(15 * time.Minute)}; !reflect.DeepEqual(rb.ReminderOffsets(), want) {
		t.Errorf("reminders = %v, want %v", rb.ReminderOffsets(), want)
	}
	for _, p := range rb.Phases {
		prod := p.ID == "production"
		if p.Production != prod || p.WindowRequired() != prod {
			t.Errorf("phase %q: production %v, window %q", p.ID, p.Production, p.Window)
		}
		if !p.NeedsApproval() {
			t.Errorf("phase %q does not need approval", p.ID)
		}
	}
	seen := map[string]bool{}
	for _, p := range rb.Phases {
		for _, s := range p.Steps {
			if seen[s.ID] {
				t.Errorf("step id %q used twice", s.ID)
			}
			seen[s.ID] = true
		}
	}
	for _, s := range rb.Rollback.Steps {
		if seen[s.ID] {
			t.Errorf("rollback step id %q also names a phase step", s.ID)
		}
		seen[s.ID] = true
	}
}

func TestBuiltinAutomatedSteps(t *testing.T) {
	rb, err := Builtin(stubValidator{})
	if err != nil {
		t.Fatalf("Builtin: %v", err)
	}
	type auto struct {
		Run     string
		With    map[string]any
		Timeout Duration
	}
	got := map[string]auto{}
	for _, p := range append(append([]Phase{}, rb.Phases...), Phase{ID: "rollback", Steps: rb.Rollback.Steps}) {
		for _, s := range p.Steps {
			if s.Automated() {
				got[p.ID+"/"+s.ID] = auto{s.Run, s.With, s.Timeout}
			}
		}
	}
	want := map[string]auto{
		"communication/window-scheduled": {Run: "window", With: map[string]any{"mode": "scheduled"}},
		"production/window-open":         {Run: "window", With: map[string]any{"mode": "open"}},
		"production/canary-watch": {Run: "watch", With: map[string]any{"for": "30m", "every": "1m"},
			Timeout: Duration(35 * time.Minute)},
		"immediate/monitor-2h": {Run: "watch", With: map[string]any{"for": "2h", "every": "5m"},
			Timeout: Duration(2*time.Hour + 10*time.Minute)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("automated steps:\n got %v\nwant %v", got, want)
	}
}

// TestBuiltinOneNoticePerEvent: the built-in checklist's notify lines are
// the bot's own notices (one message per event), and its follow-ups come
// after the run is deployed.
func TestBuiltinOneNoticePerEvent(t *testing.T) {
	rb, err := Builtin(stubValidator{})
	if err != nil {
		t.Fatalf("Builtin: %v", err)
	}
	got := map[string]string{}
	for _, p := range append(append([]Phase{}, rb.Phases...), Phase{ID: "rollback", Steps: rb.Rollback.Steps}) {
		for _, s := range p.Steps {
			if s.Run == "notify" {
				t.Errorf("%s/%s posts a message of its own (run: notify) beside the bot's notices", p.ID, s.ID)
			}
			if s.Notice != "" {
				got[p.ID+"/"+s.ID] = s.Notice
			}
		}
	}
	want := map[string]string{"communication/announcement": NoticeAnnouncement, "immediate/notify-complete": NoticeCompletion, "rollback/notify": NoticeRollback}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("notice steps = %v, want %v", got, want)
	}
	if p := rb.Phase("followup"); p == nil || !p.FollowUp {
		t.Error("Follow-up Actions is not a follow_up phase")
	}
}

func TestBuiltinYAMLIsACopy(t *testing.T) {
	a := BuiltinYAML()
	a[0] = '!'
	if b := BuiltinYAML(); b[0] == '!' {
		t.Error("BuiltinYAML returned the embedded bytes themselves")
	}
}
