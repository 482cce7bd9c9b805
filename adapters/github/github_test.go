package github_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"deploybot/adapters"
	"deploybot/adapters/github"
)

const token = "ghp_TestToken0123456789"

var vars = adapters.Vars{Version: "v1.4", Env: "production", RunID: "r42"}

type checkRun struct {
	Name       string `json:"name"`
	Status     string `json:"status"`
	Conclusion string `json:"conclusion,omitempty"`
}

type pull struct {
	Number  int    `json:"number"`
	Title   string `json:"title"`
	HTMLURL string `json:"html_url"`
}

// fakeGitHub is an in-memory GitHub REST API for one repository, acme/shop,
// recording every request.
type fakeGitHub struct {
	mu         sync.Mutex        // mu protects everything below
	commits    map[string]string // ref → commit sha
	checks     map[string][]checkRun
	pulls      map[string][]pull // base → open pull requests
	tags       map[string]string // tag → commit or tag-object sha
	tagObjects map[string]string // tag-object sha → commit sha
	releases   map[string]bool
	protection map[string]map[string]any // branch → GET body; absent means 404
	requests   []string                  // "METHOD /path?query"
	bodies     map[string][]map[string]any
	auth       map[string]bool // Authorization headers seen
}

func newFake(t *testing.T) (*fakeGitHub, *httptest.Server) {
	f := &fakeGitHub{
		commits:    map[string]string{"main": "abc1234def5678", "v1.4": "abc1234def5678", "old": "9f8e7d6c5b4a3"},
		checks:     map[string][]checkRun{},
		pulls:      map[string][]pull{},
		tags:       map[string]string{},
		tagObjects: map[string]string{},
		releases:   map[string]bool{},
		protection: map[string]map[string]any{},
		bodies:     map[string][]map[string]any{},
		auth:       map[string]bool{},
	}
	mux := http.NewServeMux()
	notFound := func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"message":"Not Found"}`)
	}
	mux.HandleFunc("GET /repos/acme/shop/commits/{ref}/check-runs", func(w http.ResponseWriter, r *http.Request) {
		runs := f.checks[r.PathValue("ref")]
		if runs == nil {
			runs = []checkRun{}
		}
		json.NewEncoder(w).Encode(map[string]any{"total_count": len(runs), "check_runs": runs})
	})
	mux.HandleFunc("GET /repos/acme/shop/commits/{ref}", func(w http.ResponseWriter, r *http.Request) {
		sha, ok := f.commits[r.PathValue("ref")]
		if !ok {
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"message":"No commit found for SHA: x"}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"sha": sha})
	})
	mux.HandleFunc("GET /repos/acme/shop/pulls", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("state") != "open" {
			http.Error(w, "want state=open", http.StatusBadRequest)
			return
		}
		prs := f.pulls[r.URL.Query().Get("base")]
		if prs == nil {
			prs = []pull{}
		}
		json.NewEncoder(w).Encode(prs)
	})
	mux.HandleFunc("GET /repos/acme/shop/git/ref/tags/{tag}", func(w http.ResponseWriter, r *http.Request) {
		sha, ok := f.tags[r.PathValue("tag")]
		if !ok {
			notFound(w)
			return
		}
		typ := "commit"
		if _, annotated := f.tagObjects[sha]; annotated {
			typ = "tag"
		}
		json.NewEncoder(w).Encode(map[string]any{"ref": "refs/tags/" + r.PathValue("tag"), "object": map[string]any{"type": typ, "sha": sha}})
	})
	mux.HandleFunc("GET /repos/acme/shop/git/tags/{sha}", func(w http.ResponseWriter, r *http.Request) {
		commit, ok := f.tagObjects[r.PathValue("sha")]
		if !ok {
			notFound(w)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"object": map[string]any{"type": "commit", "sha": commit}})
	})
	mux.HandleFunc("POST /repos/acme/shop/git/refs", func(w http.ResponseWriter, r *http.Request) {
		body := f.lastBody(r)
		tag := strings.TrimPrefix(body["ref"].(string), "refs/tags/")
		if _, ok := f.tags[tag]; ok {
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"message":"Reference already exists"}`)
			return
		}
		f.tags[tag] = body["sha"].(string)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{}`)
	})
	mux.HandleFunc("GET /repos/acme/shop/releases/tags/{tag}", func(w http.ResponseWriter, r *http.Request) {
		if !f.releases[r.PathValue("tag")] {
			notFound(w)
			return
		}
		io.WriteString(w, `{"id":1}`)
	})
	mux.HandleFunc("POST /repos/acme/shop/releases", func(w http.ResponseWriter, r *http.Request) {
		f.releases[f.lastBody(r)["tag_name"].(string)] = true
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":2}`)
	})
	mux.HandleFunc("GET /repos/acme/shop/branches/{branch}/protection", func(w http.ResponseWriter, r *http.Request) {
		p, ok := f.protection[r.PathValue("branch")]
		if !ok {
			notFound(w)
			return
		}
		json.NewEncoder(w).Encode(p)
	})
	mux.HandleFunc("PUT /repos/acme/shop/branches/{branch}/protection", func(w http.ResponseWriter, r *http.Request) {
		body := f.lastBody(r)
		p := map[string]any{"lock_branch": map[string]any{"enabled": body["lock_branch"]}}
		if rsc, ok := body["required_status_checks"].(map[string]any); ok {
			p["required_status_checks"] = rsc
		}
		f.protection[r.PathValue("branch")] = p
		io.WriteString(w, `{}`)
	})
	mux.HandleFunc("GET /repos/acme/leaky/pulls", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"message":"token %s lacks scope"}`, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
		f.auth[r.Header.Get("Authorization")] = true
		if r.Body != nil && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
			var body map[string]any
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				http.Error(w, "bad json", http.StatusBadRequest)
				return
			}
			key := r.Method + " " + r.URL.Path
			f.bodies[key] = append(f.bodies[key], body)
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

// lastBody returns the last recorded body of r; f.mu is held by the handler.
func (f *fakeGitHub) lastBody(r *http.Request) map[string]any {
	b := f.bodies[r.Method+" "+r.URL.Path]
	return b[len(b)-1]
}

func (f *fakeGitHub) requestLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func run(t *testing.T, a *github.Adapter, with map[string]any) adapters.Result {
	t.Helper()
	s, err := a.Parse(with)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	res := s.Run(context.Background(), vars, nil)
	if strings.Contains(res.Summary+res.Output+s.Plan(vars), token) {
		t.Fatalf("the token is visible: %+v", res)
	}
	return res
}

func TestChecks(t *testing.T) {
	tests := []struct {
		name    string
		runs    []checkRun
		ok      bool
		summary string
	}{
		{"all green", []checkRun{{"build", "completed", "success"}, {"lint", "completed", "neutral"}, {"docs", "completed", "skipped"}}, true, "3 checks green on v1.4"},
		{"red and running", []checkRun{{"build", "completed", "failure"}, {"lint", "completed", "success"}, {"e2e", "in_progress", ""}, {"deploy-preview", "completed", "cancelled"}},
			false, "3 of 4 checks not green on v1.4: build (failure), e2e (in progress), deploy-preview (cancelled)"},
		{"none", nil, false, "no check runs on v1.4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFake(t)
			f.checks["v1.4"] = tc.runs
			a := github.New(github.Config{BaseURL: srv.URL + "/", Token: token})
			res := run(t, a, map[string]any{"action": "checks", "repo": "acme/shop", "ref": "{{ .Version }}"})
			if res.OK != tc.ok || res.Summary != tc.summary {
				t.Fatalf("Run = ok %v %q, want ok %v %q", res.OK, res.Summary, tc.ok, tc.summary)
			}
			if !f.auth["Bearer "+token] || len(f.auth) != 1 {
				t.Errorf("Authorization headers = %v", f.auth)
			}
			if got := f.requestLog(); len(got) != 1 || got[0] != "GET /repos/acme/shop/commits/v1.4/check-runs?per_page=100&page=1" {
				t.Errorf("requests = %q", got)
			}
		})
	}
}

func TestMerged(t *testing.T) {
	f, srv := newFake(t)
	a := github.New(github.Config{BaseURL: srv.URL, Token: token})
	with := map[string]any{"action": "merged", "repo": "acme/shop"}
	if res := run(t, a, with); !res.OK || res.Summary != "no open pull requests into main" {
		t.Fatalf("Run = %+v", res)
	}
	f.mu.Lock()
	f.pulls["main"] = []pull{{12, "Fix login", "https://github.com/acme/shop/pull/12"}, {15, "Bump deps", "https://github.com/acme/shop/pull/15"}}
	f.pulls["release"] = []pull{{3, "Backport", ""}}
	f.mu.Unlock()
	res := run(t, a, with)
	if res.OK || res.Summary != "2 open pull requests into main: #12 Fix login, #15 Bump deps" {
		t.Fatalf("Run = %+v", res)
	}
	if !strings.Contains(res.Output, "#12 Fix login https://github.com/acme/shop/pull/12\n") {
		t.Errorf("Output = %q", res.Output)
	}
	with["base"] = "release"
	if res := run(t, a, with); res.OK || res.Summary != "1 open pull request into release: #3 Backport" {
		t.Fatalf("Run = %+v", res)
	}
	// A "+" in a branch name is sent as "+", not as a space in the query.
	f.mu.Lock()
	f.pulls["release+hotfix"] = []pull{{7, "Hotfix", ""}}
	f.mu.Unlock()
	with["base"] = "release+hotfix"
	if res := run(t, a, with); res.OK || res.Summary != "1 open pull request into release+hotfix: #7 Hotfix" {
		t.Fatalf("Run = %+v", res)
	}
}

func TestTag(t *testing.T) {
	f, srv := newFake(t)
	a := github.New(github.Config{BaseURL: srv.URL, Token: token})
	with := map[string]any{"action": "tag", "repo": "acme/shop", "ref": "main"}

	res := run(t, a, with)
	if !res.OK || res.Summary != "tagged v1.4 at abc1234; release created" {
		t.Fatalf("first Run = %+v", res)
	}
	f.mu.Lock()
	refBody := f.bodies["POST /repos/acme/shop/git/refs"][0]
	relBody := f.bodies["POST /repos/acme/shop/releases"][0]
	f.mu.Unlock()
	if refBody["ref"] != "refs/tags/v1.4" || refBody["sha"] != "abc1234def5678" {
		t.Errorf("ref body = %v", refBody)
	}
	if relBody["tag_name"] != "v1.4" {
		t.Errorf("release body = %v", relBody)
	}

	// Running again changes nothing and passes.
	before := len(f.requestLog())
	res = run(t, a, with)
	if !res.OK || res.Summary != "already tagged: v1.4 at abc1234; release exists" {
		t.Fatalf("second Run = %+v", res)
	}
	for _, r := range f.requestLog()[before:] {
		if !strings.HasPrefix(r, "GET ") {
			t.Errorf("second run wrote: %s", r)
		}
	}

	// The same tag at another commit is a conflict.
	res = run(t, a, map[string]any{"action": "tag", "repo": "acme/shop", "ref": "old"})
	if res.OK || res.Summary != "tag v1.4 already points at abc1234, not at 9f8e7d6 (old)" {
		t.Fatalf("conflicting Run = %+v", res)
	}
}

func TestTagAnnotatedAndNoRelease(t *testing.T) {
	f, srv := newFake(t)
	f.tags["v1.4"] = "tagobject99"
	f.tagObjects["tagobject99"] = "abc1234def5678"
	a := github.New(github.Config{BaseURL: srv.URL, Token: token})
	res := run(t, a, map[string]any{"action": "tag", "repo": "acme/shop", "ref": "main", "release": false})
	if !res.OK || res.Summary != "already tagged: v1.4 at abc1234" {
		t.Fatalf("Run = %+v", res)
	}
	res = run(t, a, map[string]any{"action": "tag", "repo": "acme/shop", "ref": "nope"})
	if res.OK || res.Summary != "nope not found in acme/shop" {
		t.Fatalf("Run = %+v", res)
	}
}

func TestFreezeKeepsOtherProtection(t *testing.T) {
	f, srv := newFake(t)
	f.protection["main"] = map[string]any{
		"required_status_checks":        map[string]any{"strict": true, "contexts": []any{"ci"}, "checks": []any{map[string]any{"context": "ci", "app_id": 15368}}},
		"enforce_admins":                map[string]any{"enabled": true},
		"required_pull_request_reviews": map[string]any{"required_approving_review_count": 2, "dismiss_stale_reviews": true},
		"restrictions":                  map[string]any{"users": []any{map[string]any{"login": "octocat"}}, "teams": []any{}, "apps": []any{}},
		"required_linear_history":       map[string]any{"enabled": true},
		"lock_branch":                   map[string]any{"enabled": false},
	}
	a := github.New(github.Config{BaseURL: srv.URL, Token: token})
	res := run(t, a, map[string]any{"action": "freeze", "repo": "acme/shop"})
	if !res.OK || res.Summary != "froze main (branch locked)" {
		t.Fatalf("freeze = %+v", res)
	}
	f.mu.Lock()
	put := f.bodies["PUT /repos/acme/shop/branches/main/protection"][0]
	f.mu.Unlock()
	got, _ := json.Marshal(put)
	want := `{"allow_deletions":false,"allow_force_pushes":null,"allow_fork_syncing":false,"block_creations":false,"enforce_admins":true,` +
		`"lock_branch":true,"required_conversation_resolution":false,"required_linear_history":true,` +
		`"required_pull_request_reviews":{"dismiss_stale_reviews":true,"require_code_owner_reviews":false,"require_last_push_approval":false,"required_approving_review_count":2},` +
		`"required_status_checks":{"checks":[{"app_id":15368,"context":"ci"}],"strict":true},` +
		`"restrictions":{"apps":[],"teams":[],"users":["octocat"]}}`
	if string(got) != want {
		t.Errorf("PUT body =\n%s\nwant\n%s", got, want)
	}
	if res := run(t, a, map[string]any{"action": "freeze", "repo": "acme/shop"}); !res.OK || res.Summary != "main already frozen" {
		t.Fatalf("second freeze = %+v", res)
	}
	if res := run(t, a, map[string]any{"action": "unfreeze", "repo": "acme/shop"}); !res.OK || res.Summary != "unfroze main (branch unlocked)" {
		t.Fatalf("unfreeze = %+v", res)
	}
	f.mu.Lock()
	puts := f.bodies["PUT /repos/acme/shop/branches/main/protection"]
	f.mu.Unlock()
	if len(puts) != 2 || puts[1]["lock_branch"] != false || puts[1]["required_status_checks"] == nil {
		t.Errorf("PUTs = %v", puts)
	}
}

func TestUnfreezeWithoutProtectionWritesNothing(t *testing.T) {
	f, srv := newFake(t)
	a := github.New(github.Config{BaseURL: srv.URL, Token: token})
	res := run(t, a, map[string]any{"action": "unfreeze", "repo": "acme/shop", "base": "develop"})
	if !res.OK || res.Summary != "develop is not frozen" {
		t.Fatalf("Run = %+v", res)
	}
	if got := f.requestLog(); len(got) != 1 {
		t.Errorf("requests = %q", got)
	}
	res = run(t, a, map[string]any{"action": "freeze", "repo": "acme/shop", "base": "develop"})
	if !res.OK {
		t.Fatalf("freeze = %+v", res)
	}
	f.mu.Lock()
	put := f.bodies["PUT /repos/acme/shop/branches/develop/protection"][0]
	f.mu.Unlock()
	if put["lock_branch"] != true || put["required_status_checks"] != nil || put["restrictions"] != nil {
		t.Errorf("PUT body = %v", put)
	}
}

func TestTokenRedactedFromAPIErrors(t *testing.T) {
	_, srv := newFake(t)
	a := github.New(github.Config{BaseURL: srv.URL, Token: token})
	res := run(t, a, map[string]any{"action": "merged", "repo": "acme/leaky"})
	want := "GitHub GET /repos/acme/leaky/pulls?state=open&base=main&per_page=100&page=1: HTTP 403 token *** lacks scope"
	if res.OK || res.Summary != want {
		t.Fatalf("Run = %q, want %q", res.Summary, want)
	}
}

func TestHostileVersionNeverReachesTheAPI(t *testing.T) {
	f, srv := newFake(t)
	a := github.New(github.Config{BaseURL: srv.URL, Token: token})
	s, err := a.Parse(map[string]any{"action": "checks", "repo": "acme/shop", "ref": "{{ .Version }}"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"../../../user", "v1.4/../../x", "-rf", "v1 4", "v1.4?x=1", "v1.4#frag"} {
		vv := vars
		vv.Version = v
		res := s.Run(context.Background(), vv, nil)
		if res.OK || !strings.Contains(res.Summary, "is not a valid git ref name") {
			t.Errorf("version %q: Run = %+v", v, res)
		}
	}
	if got := f.requestLog(); len(got) != 0 {
		t.Errorf("requests = %q", got)
	}
}

func TestPlan(t *testing.T) {
	a := github.New(github.Config{Token: token})
	tests := []struct {
		name string
		with map[string]any
		want string
	}{
		{"checks", map[string]any{"action": "checks", "repo": "acme/shop", "ref": "{{ .Version }}"},
			"GET https://api.github.com/repos/acme/shop/commits/v1.4/check-runs: pass when every check run on v1.4 has completed with success, neutral or skipped"},
		{"merged", map[string]any{"action": "merged", "repo": "acme/shop"},
			"GET https://api.github.com/repos/acme/shop/pulls?state=open&base=main: pass when no pull request into main is open"},
		{"tag", map[string]any{"action": "tag", "repo": "acme/shop", "ref": "main"},
			"resolve main to a commit (GET https://api.github.com/repos/acme/shop/commits/main), then create tag v1.4 there (POST https://api.github.com/repos/acme/shop/git/refs refs/tags/v1.4) and release v1.4 (POST https://api.github.com/repos/acme/shop/releases); passes as already tagged when the tag exists at that commit, fails when it exists at another"},
		{"freeze", map[string]any{"action": "freeze", "repo": "acme/shop", "base": "release/1.x"},
			"PUT https://api.github.com/repos/acme/shop/branches/release/1.x/protection with lock_branch true, keeping the branch's other protection settings (read first with GET)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := a.Parse(tc.with)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Plan(vars); got != tc.want {
				t.Errorf("Plan =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	a := github.New(github.Config{})
	tests := []struct {
		name string
		with map[string]any
		want string
	}{
		{"unknown field", map[string]any{"action": "checks", "repo": "a/b", "ref": "main", "branch": "x"}, `github: unknown parameter "branch"`},
		{"missing action", map[string]any{"repo": "a/b"}, `github: parameter "action" is required`},
		{"unknown action", map[string]any{"action": "deploy", "repo": "a/b"}, `github: parameter "action": "deploy" is not checks, merged, tag, freeze or unfreeze`},
		{"missing repo", map[string]any{"action": "merged"}, `github: parameter "repo" is required`},
		{"bad repo", map[string]any{"action": "merged", "repo": "acme"}, `github: parameter "repo": "acme" is not "owner/name"`},
		{"traversing repo", map[string]any{"action": "merged", "repo": "../x"}, `is not "owner/name"`},
		{"missing ref", map[string]any{"action": "checks", "repo": "a/b"}, `github: parameter "ref" is required by action checks`},
		{"unused param", map[string]any{"action": "merged", "repo": "a/b", "ref": "main"}, `github: parameter "ref" is not used by action merged`},
		{"bad ref template", map[string]any{"action": "checks", "repo": "a/b", "ref": "{{ .Ver }}"}, `github: parameter "ref": bad template: unknown variable .Ver`},
		{"bad ref", map[string]any{"action": "checks", "repo": "a/b", "ref": "a..b"}, `github: parameter "ref": "a..b" is not a valid git ref name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Parse(tc.with)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
