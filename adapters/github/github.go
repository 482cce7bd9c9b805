package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"deploybot/adapters"
)

// Name is the value of `run:` that selects this adapter.
const Name = "github"

// DefaultBaseURL is the public GitHub REST API.
const DefaultBaseURL = "https://api.github.com"

// Actions of the github adapter.
const (
	ActionChecks   = "checks"
	ActionMerged   = "merged"
	ActionTag      = "tag"
	ActionFreeze   = "freeze"
	ActionUnfreeze = "unfreeze"
)

// maxPages bounds pagination of check runs and pull requests (100 per page).
const maxPages = 10

// Config configures the github adapter.
type Config struct {
	// BaseURL is the REST API root (GITHUB_API_URL); empty means DefaultBaseURL.
	BaseURL string
	// Token authenticates requests (GITHUB_TOKEN); it never appears in output.
	Token string
	// Client makes the requests; nil means a client with default settings.
	Client *http.Client
	// Redactor hides other known secrets; the token is hidden in any case.
	Redactor *adapters.Redactor
}

// Adapter is the `github` adapter.
type Adapter struct {
	cfg Config
	red *adapters.Redactor
}

var (
	_ adapters.Adapter = (*Adapter)(nil)
	_ adapters.Step    = (*step)(nil)
)

// New returns the github adapter. It has no side effects.
func New(cfg Config) *Adapter {
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	return &Adapter{cfg: cfg, red: cfg.Redactor.With(cfg.Token)}
}

// Name returns "github".
func (a *Adapter) Name() string { return Name }

// Params are the github adapter's `with:` parameters.
type Params struct {
	// Action is checks, merged, tag, freeze or unfreeze.
	Action string `json:"action"`
	// Repo is "owner/name".
	Repo string `json:"repo"`
	// Ref (a template) is the commit-ish whose checks must be green (checks) or that is tagged (tag).
	Ref string `json:"ref"`
	// Base (a template) is the branch pull requests go into (merged) or that is locked
	// (freeze, unfreeze); default "main".
	Base string `json:"base"`
	// Tag (a template) is the tag to create (tag); default "{{ .Version }}".
	Tag string `json:"tag"`
	// Release says whether tag also creates a GitHub release; default true.
	Release *bool `json:"release"`
}

var (
	repoPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	refPattern  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./+-]*$`)
)

// ValidRef reports whether a rendered ref, branch or tag name is safe to put
// in an API path: letters, digits and _ . / + -, not starting with - or /,
// no "..", no "//", not ending with / or .lock.
func ValidRef(s string) error {
	if !refPattern.MatchString(s) || strings.Contains(s, "..") || strings.Contains(s, "//") ||
		strings.HasSuffix(s, "/") || strings.HasSuffix(s, ".lock") || len(s) > 200 {
		return fmt.Errorf("%q is not a valid git ref name", s)
	}
	return nil
}

// Parse decodes and validates the step's parameters.
func (a *Adapter) Parse(with map[string]any) (adapters.Step, error) {
	s, err := a.parse(with)
	if err != nil {
		return nil, fmt.Errorf("github: %w", err)
	}
	return s, nil
}

func (a *Adapter) parse(with map[string]any) (*step, error) {
	var p Params
	if err := adapters.Decode(with, &p); err != nil {
		return nil, err
	}
	if p.Repo == "" {
		return nil, errors.New(`parameter "repo" is required ("owner/name")`)
	}
	if !repoPattern.MatchString(p.Repo) || strings.Contains(p.Repo, "..") {
		return nil, fmt.Errorf(`parameter "repo": %q is not "owner/name"`, p.Repo)
	}
	s := &step{a: a, action: p.Action, repo: p.Repo, release: p.Release == nil || *p.Release}
	uses := map[string]bool{}
	switch p.Action {
	case ActionChecks:
		uses["ref"] = true
	case ActionMerged, ActionFreeze, ActionUnfreeze:
		uses["base"] = true
	case ActionTag:
		uses["ref"], uses["tag"], uses["release"] = true, true, true
	case "":
		return nil, errors.New(`parameter "action" is required (checks, merged, tag, freeze or unfreeze)`)
	default:
		return nil, fmt.Errorf(`parameter "action": %q is not checks, merged, tag, freeze or unfreeze`, p.Action)
	}
	for name, set := range map[string]bool{"ref": p.Ref != "", "base": p.Base != "", "tag": p.Tag != "", "release": p.Release != nil} {
		if set && !uses[name] {
			return nil, fmt.Errorf("parameter %q is not used by action %s", name, p.Action)
		}
	}
	if uses["ref"] && p.Ref == "" {
		return nil, fmt.Errorf(`parameter "ref" is required by action %s (a branch, tag or commit, e.g. "{{ .Version }}" or "main")`, p.Action)
	}
	if uses["base"] && p.Base == "" {
		p.Base = "main"
	}
	if uses["tag"] && p.Tag == "" {
		p.Tag = "{{ .Version }}"
	}
	var err error
	for _, f := range []struct {
		name, src string
		dst       **adapters.Template
	}{{"ref", p.Ref, &s.ref}, {"base", p.Base, &s.base}, {"tag", p.Tag, &s.tag}} {
		if f.src == "" {
			continue
		}
		if *f.dst, err = adapters.ParseTemplate(f.name, f.src); err != nil {
			return nil, err
		}
		sample, _ := (*f.dst).Render(adapters.SampleVars())
		if err := ValidRef(sample); err != nil {
			return nil, fmt.Errorf("parameter %q: %w", f.name, err)
		}
	}
	return s, nil
}

type step struct {
	a              *Adapter
	action, repo   string
	ref, base, tag *adapters.Template
	release        bool
}

// names are a step's rendered and validated ref, base and tag.
type names struct{ ref, base, tag string }

func (s *step) render(v adapters.Vars) (names, error) {
	var n names
	for _, f := range []struct {
		t   *adapters.Template
		dst *string
	}{{s.ref, &n.ref}, {s.base, &n.base}, {s.tag, &n.tag}} {
		if f.t == nil {
			continue
		}
		val, err := f.t.Render(v)
		if err != nil {
			return n, err
		}
		if err := ValidRef(val); err != nil {
			return n, err
		}
		*f.dst = val
	}
	return n, nil
}

func (s *step) repoPath() string { return "/repos/" + s.repo }

// Plan says which API calls would be made.
func (s *step) Plan(v adapters.Vars) string {
	n, err := s.render(v)
	if err != nil {
		return "GitHub " + s.action + " on " + s.repo + " (cannot render it: " + err.Error() + ")"
	}
	api := s.a.cfg.BaseURL + s.repoPath()
	switch s.action {
	case ActionChecks:
		return fmt.Sprintf("GET %s/commits/%s/check-runs: pass when every check run on %s has completed with success, neutral or skipped", api, escapeRef(n.ref), n.ref)
	case ActionMerged:
		return fmt.Sprintf("GET %s/pulls?state=open&base=%s: pass when no pull request into %s is open", api, n.base, n.base)
	case ActionTag:
		plan := fmt.Sprintf("resolve %s to a commit (GET %s/commits/%s), then create tag %s there (POST %s/git/refs refs/tags/%s)",
			n.ref, api, escapeRef(n.ref), n.tag, api, n.tag)
		if s.release {
			plan += fmt.Sprintf(" and release %s (POST %s/releases)", n.tag, api)
		}
		return plan + "; passes as already tagged when the tag exists at that commit, fails when it exists at another"
	case ActionFreeze, ActionUnfreeze:
		lock := s.action == ActionFreeze
		return fmt.Sprintf("PUT %s/branches/%s/protection with lock_branch %v, keeping the branch's other protection settings (read first with GET)", api, escapeRef(n.base), lock)
	}
	return "GitHub " + s.action
}

// Run performs the action.
func (s *step) Run(ctx context.Context, v adapters.Vars, _ adapters.Progress) adapters.Result {
	budget := adapters.Budget(ctx)
	n, err := s.render(v)
	if err != nil {
		return adapters.Result{Summary: "cannot render: " + err.Error()}
	}
	var res adapters.Result
	switch s.action {
	case ActionChecks:
		res, err = s.checks(ctx, n)
	case ActionMerged:
		res, err = s.merged(ctx, n)
	case ActionTag:
		res, err = s.tagRelease(ctx, n)
	case ActionFreeze, ActionUnfreeze:
		res, err = s.freeze(ctx, n, s.action == ActionFreeze)
	}
	if ctx.Err() != nil {
		return adapters.Stopped(ctx, budget, "")
	}
	if err != nil {
		res = adapters.Result{Summary: err.Error()}
	}
	res.Summary = s.a.red.Redact(res.Summary)
	res.Output = s.a.red.Redact(res.Output)
	return res
}

type checkRun struct {
	Name       string `json:"name"`
	Status     string `json:"status"`
	Conclusion string `json:"conclusion"`
	HTMLURL    string `json:"html_url"`
}

func (s *step) checks(ctx context.Context, n names) (adapters.Result, error) {
	var runs []checkRun
	for page := 1; page <= maxPages; page++ {
		var resp struct {
			TotalCount int        `json:"total_count"`
			CheckRuns  []checkRun `json:"check_runs"`
		}
		path := fmt.Sprintf("%s/commits/%s/check-runs?per_page=100&page=%d", s.repoPath(), escapeRef(n.ref), page)
		if err := s.a.call(ctx, http.MethodGet, path, nil, &resp); err != nil {
			return adapters.Result{}, err
		}
		runs = append(runs, resp.CheckRuns...)
		if len(resp.CheckRuns) == 0 || len(runs) >= resp.TotalCount {
			break
		}
	}
	if len(runs) == 0 {
		return adapters.Result{Summary: "no check runs on " + n.ref}, nil
	}
	var bad []string
	var out strings.Builder
	for _, r := range runs {
		state := r.Conclusion
		if r.Status != "completed" {
			state = strings.ReplaceAll(r.Status, "_", " ")
		}
		fmt.Fprintf(&out, "%s: %s\n", r.Name, state)
		if r.Status != "completed" || (r.Conclusion != "success" && r.Conclusion != "neutral" && r.Conclusion != "skipped") {
			bad = append(bad, fmt.Sprintf("%s (%s)", r.Name, state))
		}
	}
	if len(bad) == 0 {
		return adapters.Result{OK: true, Summary: fmt.Sprintf("%d checks green on %s", len(runs), n.ref), Output: out.String()}, nil
	}
	sum := fmt.Sprintf("%d of %d checks not green on %s: %s", len(bad), len(runs), n.ref, strings.Join(bad, ", "))
	return adapters.Result{Summary: adapters.Truncate(sum, 300), Output: out.String()}, nil
}

func (s *step) merged(ctx context.Context, n names) (adapters.Result, error) {
	type pull struct {
		Number  int    `json:"number"`
		Title   string `json:"title"`
		HTMLURL string `json:"html_url"`
	}
	var open []pull
	for page := 1; page <= maxPages; page++ {
		var prs []pull
		path := fmt.Sprintf("%s/pulls?state=open&base=%s&per_page=100&page=%d", s.repoPath(), url.QueryEscape(n.base), page)
		if err := s.a.call(ctx, http.MethodGet, path, nil, &prs); err != nil {
			return adapters.Result{}, err
		}
		open = append(open, prs...)
		if len(prs) < 100 {
			break
		}
	}
	if len(open) == 0 {
		return adapters.Result{OK: true, Summary: "no open pull requests into " + n.base}, nil
	}
	var out strings.Builder
	list := make([]string, 0, len(open))
	for _, p := range open {
		fmt.Fprintf(&out, "#%d %s %s\n", p.Number, p.Title, p.HTMLURL)
		list = append(list, fmt.Sprintf("#%d %s", p.Number, p.Title))
	}
	word := "pull requests"
	if len(open) == 1 {
		word = "pull request"
	}
	sum := fmt.Sprintf("%d open %s into %s: %s", len(open), word, n.base, strings.Join(list, ", "))
	return adapters.Result{Summary: adapters.Truncate(sum, 300), Output: out.String()}, nil
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// tagCommit returns the commit the tag points at, or "" when there is no such tag.
func (s *step) tagCommit(ctx context.Context, tag string) (string, error) {
	var ref struct {
		Object struct {
			Type string `json:"type"`
			SHA  string `json:"sha"`
		} `json:"object"`
	}
	err := s.a.call(ctx, http.MethodGet, s.repoPath()+"/git/ref/tags/"+escapeRef(tag), nil, &ref)
	if statusOf(err) == http.StatusNotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	sha := ref.Object.SHA
	// An annotated tag points at a tag object; follow it to the commit.
	for i := 0; ref.Object.Type == "tag" && i < 5; i++ {
		if err := s.a.call(ctx, http.MethodGet, s.repoPath()+"/git/tags/"+sha, nil, &ref); err != nil {
			return "", err
		}
		sha = ref.Object.SHA
	}
	return sha, nil
}

func (s *step) tagRelease(ctx context.Context, n names) (adapters.Result, error) {
	var commit struct {
		SHA string `json:"sha"`
	}
	if err := s.a.call(ctx, http.MethodGet, s.repoPath()+"/commits/"+escapeRef(n.ref), nil, &commit); err != nil {
		if st := statusOf(err); st == http.StatusNotFound || st == http.StatusUnprocessableEntity {
			return adapters.Result{Summary: fmt.Sprintf("%s not found in %s", n.ref, s.repo)}, nil
		}
		return adapters.Result{}, err
	}
	var out strings.Builder
	fmt.Fprintf(&out, "%s is commit %s\n", n.ref, commit.SHA)
	existing, err := s.tagCommit(ctx, n.tag)
	if err != nil {
		return adapters.Result{}, err
	}
	created := false
	if existing == "" {
		body := map[string]string{"ref": "refs/tags/" + n.tag, "sha": commit.SHA}
		err := s.a.call(ctx, http.MethodPost, s.repoPath()+"/git/refs", body, nil)
		switch {
		case err == nil:
			created = true
			fmt.Fprintf(&out, "created tag %s at %s\n", n.tag, commit.SHA)
		case statusOf(err) == http.StatusUnprocessableEntity:
			// Created meanwhile by someone else: judge what is there now.
			if existing, err = s.tagCommit(ctx, n.tag); err != nil {
				return adapters.Result{}, err
			}
		default:
			return adapters.Result{}, err
		}
	}
	if !created && existing != commit.SHA {
		return adapters.Result{
			Summary: fmt.Sprintf("tag %s already points at %s, not at %s (%s)", n.tag, short(existing), short(commit.SHA), n.ref),
			Output:  out.String(),
		}, nil
	}
	var sum string
	if created {
		sum = fmt.Sprintf("tagged %s at %s", n.tag, short(commit.SHA))
	} else {
		sum = fmt.Sprintf("already tagged: %s at %s", n.tag, short(commit.SHA))
		fmt.Fprintf(&out, "tag %s already at %s\n", n.tag, commit.SHA)
	}
	if s.release {
		err := s.a.call(ctx, http.MethodGet, s.repoPath()+"/releases/tags/"+escapeRef(n.tag), nil, nil)
		switch {
		case err == nil:
			sum += "; release exists"
			out.WriteString("release exists\n")
		case statusOf(err) == http.StatusNotFound:
			body := map[string]any{"tag_name": n.tag, "name": n.tag, "generate_release_notes": true}
			if err := s.a.call(ctx, http.MethodPost, s.repoPath()+"/releases", body, nil); err != nil {
				return adapters.Result{Summary: sum + "; creating the release failed: " + err.Error(), Output: out.String()}, nil
			}
			sum += "; release created"
			out.WriteString("created release " + n.tag + "\n")
		default:
			return adapters.Result{Summary: sum + "; " + err.Error(), Output: out.String()}, nil
		}
	}
	return adapters.Result{OK: true, Summary: sum, Output: out.String()}, nil
}

func (s *step) freeze(ctx context.Context, n names, lock bool) (adapters.Result, error) {
	path := s.repoPath() + "/branches/" + escapeRef(n.base) + "/protection"
	var cur protectionGet
	err := s.a.call(ctx, http.MethodGet, path, nil, &cur)
	current := &cur
	switch {
	case statusOf(err) == http.StatusNotFound:
		current = nil
	case err != nil:
		return adapters.Result{}, err
	}
	locked := current != nil && current.LockBranch.on()
	if locked == lock {
		if lock {
			return adapters.Result{OK: true, Summary: n.base + " already frozen"}, nil
		}
		return adapters.Result{OK: true, Summary: n.base + " is not frozen"}, nil
	}
	if err := s.a.call(ctx, http.MethodPut, path, toPut(current, lock), nil); err != nil {
		return adapters.Result{}, err
	}
	if lock {
		return adapters.Result{OK: true, Summary: "froze " + n.base + " (branch locked)"}, nil
	}
	return adapters.Result{OK: true, Summary: "unfroze " + n.base + " (branch unlocked)"}, nil
}
