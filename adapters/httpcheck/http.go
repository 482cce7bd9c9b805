package httpcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"deploybot/adapters"
	"deploybot/internal/clock"
)

// Name is the value of `run:` that selects this adapter.
const Name = "http"

// Defaults of the parameters.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultRetryDelay = 2 * time.Second
	// MaxRetryDelay caps the doubling delay between retries.
	MaxRetryDelay = time.Minute
	// maxBody is how much of a response body is read.
	maxBody = 1 << 20
)

// Config configures the http adapter. The zero value is usable.
type Config struct {
	// Client makes the requests; nil means a client with default settings.
	Client *http.Client
	// Clock paces retries; nil means the wall clock.
	Clock clock.Clock
	// Redactor hides known secrets in output and summaries.
	Redactor *adapters.Redactor
}

// Adapter is the `http` adapter.
type Adapter struct {
	cfg Config
}

var (
	_ adapters.Adapter = (*Adapter)(nil)
	_ adapters.Step    = (*step)(nil)
)

// New returns the http adapter. It has no side effects.
func New(cfg Config) *Adapter {
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	return &Adapter{cfg: cfg}
}

// Name returns "http".
func (a *Adapter) Name() string { return Name }

// Params are the http adapter's `with:` parameters.
type Params struct {
	// URL is the one URL to check (a template); exclusive with Endpoints.
	URL string `json:"url"`
	// Endpoints are URLs (templates) that must all pass.
	Endpoints []string `json:"endpoints"`
	// Method is the request method; default GET.
	Method string `json:"method"`
	// Headers are request headers; values are templates.
	Headers map[string]string `json:"headers"`
	// Body is the request body (a template).
	Body string `json:"body"`
	// ExpectStatus lists accepted statuses (200, "2xx"); default [200].
	ExpectStatus Statuses `json:"expect_status"`
	// ExpectBody is a substring the body must contain (a template).
	ExpectBody string `json:"expect_body"`
	// ExpectJSON maps dot-separated paths ("data.status") to the values the
	// JSON body must have there; string values are templates.
	ExpectJSON map[string]any `json:"expect_json"`
	// Retries is how many times a failing endpoint is tried again; default 0.
	Retries int `json:"retries"`
	// RetryDelay is the wait before the first retry, doubling after each; default 2s.
	RetryDelay *adapters.Duration `json:"retry_delay"`
	// Timeout bounds one request; default 10s.
	Timeout adapters.Duration `json:"timeout"`
}

var methods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true}

// Parse decodes and validates the step's parameters.
func (a *Adapter) Parse(with map[string]any) (adapters.Step, error) {
	s, err := a.parse(with)
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	return s, nil
}

func (a *Adapter) parse(with map[string]any) (*step, error) {
	var p Params
	if err := adapters.Decode(with, &p); err != nil {
		return nil, err
	}
	var srcs []string
	var field string
	switch {
	case p.URL != "" && len(p.Endpoints) > 0:
		return nil, errors.New(`set either "url" or "endpoints", not both`)
	case p.URL != "":
		srcs, field = []string{p.URL}, "url"
	case len(p.Endpoints) > 0:
		srcs, field = p.Endpoints, "endpoints"
	default:
		return nil, errors.New(`parameter "url" (or "endpoints") is required`)
	}
	s := &step{a: a, method: strings.ToUpper(p.Method), retries: p.Retries,
		timeout: time.Duration(p.Timeout), delay: DefaultRetryDelay, expectStatus: []Status(p.ExpectStatus)}
	for i, src := range srcs {
		name := field
		if field == "endpoints" {
			name = fmt.Sprintf("endpoints[%d]", i)
		}
		t, err := adapters.ParseURLTemplate(name, src)
		if err != nil {
			return nil, err
		}
		s.urls = append(s.urls, t)
	}
	if s.method == "" {
		s.method = http.MethodGet
	}
	if !methods[s.method] {
		return nil, fmt.Errorf("parameter \"method\": %q is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", p.Method)
	}
	for k := range p.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			return nil, fmt.Errorf("parameter \"headers\": %q is not a header name", k)
		}
	}
	var err error
	if s.headers, err = adapters.ParseTemplateMap("headers", p.Headers); err != nil {
		return nil, err
	}
	if p.Body != "" {
		if s.body, err = parseBody(p.Body, p.Headers); err != nil {
			return nil, err
		}
	}
	if p.ExpectBody != "" {
		if s.expectBody, err = adapters.ParseTemplate("expect_body", p.ExpectBody); err != nil {
			return nil, err
		}
	}
	if len(s.expectStatus) == 0 {
		s.expectStatus = []Status{{200, 200}}
	}
	if p.Retries < 0 {
		return nil, errors.New(`parameter "retries": must not be negative`)
	}
	if p.RetryDelay != nil {
		s.delay = time.Duration(*p.RetryDelay)
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	for path, want := range p.ExpectJSON {
		if path == "" {
			return nil, errors.New(`parameter "expect_json": empty path`)
		}
		e := jsonExpect{path: path}
		if str, ok := want.(string); ok {
			if e.tmpl, err = adapters.ParseTemplate("expect_json."+path, str); err != nil {
				return nil, err
			}
		} else if e.want, err = canonical(want); err != nil {
			return nil, fmt.Errorf("parameter \"expect_json.%s\": %w", path, err)
		}
		s.expectJSON = append(s.expectJSON, e)
	}
	sort.Slice(s.expectJSON, func(i, j int) bool { return s.expectJSON[i].path < s.expectJSON[j].path })
	return s, nil
}

// parseBody parses the body template, escaping its values for the body's
// format: a JSON body (one that starts with "{" or "[", or is sent with a
// JSON Content-Type) gets JSON-escaped values, a form body query-escaped
// ones; any other body is sent as rendered.
func parseBody(src string, headers map[string]string) (*adapters.Template, error) {
	ctype := ""
	for k, v := range headers {
		if strings.EqualFold(k, "Content-Type") {
			ctype = strings.ToLower(v)
		}
	}
	trimmed := strings.TrimSpace(src)
	switch {
	case strings.Contains(ctype, "json") || strings.HasPrefix(trimmed, "{") && !strings.HasPrefix(trimmed, "{{") || strings.HasPrefix(trimmed, "["):
		return adapters.ParseJSONTemplate("body", src)
	case strings.Contains(ctype, "x-www-form-urlencoded"):
		return adapters.ParseFormTemplate("body", src)
	default:
		return adapters.ParseTemplate("body", src)
	}
}

type jsonExpect struct {
	path string
	want any                // when not templated
	tmpl *adapters.Template // a string value
}

type step struct {
	a            *Adapter
	urls         []*adapters.Template
	method       string
	headers      adapters.TemplateMap
	body         *adapters.Template
	expectStatus []Status
	expectBody   *adapters.Template
	expectJSON   []jsonExpect
	retries      int
	delay        time.Duration
	timeout      time.Duration
}

// rendered is a step's request and expectations for one run.
type rendered struct {
	urls       []string
	headers    map[string]string
	body       string
	expectBody string
	expectJSON []renderedJSON
	secrets    []string
}

type renderedJSON struct {
	path string
	want any
}

func (s *step) render(v adapters.Vars) (*rendered, error) {
	r := &rendered{}
	var err error
	if r.urls, err = adapters.RenderTemplates(s.urls, v); err != nil {
		return nil, err
	}
	for _, u := range r.urls {
		if err := adapters.ValidateURL(u); err != nil {
			return nil, err
		}
	}
	if r.headers, err = s.headers.Render(v); err != nil {
		return nil, err
	}
	for k, val := range r.headers {
		if adapters.IsSecretName(k) {
			r.secrets = append(r.secrets, val)
			// "Bearer abc…": hide the credential on its own too.
			if _, cred, ok := strings.Cut(val, " "); ok {
				r.secrets = append(r.secrets, cred)
			}
		}
	}
	if s.body != nil {
		if r.body, err = s.body.Render(v); err != nil {
			return nil, err
		}
	}
	if s.expectBody != nil {
		if r.expectBody, err = s.expectBody.Render(v); err != nil {
			return nil, err
		}
	}
	for _, e := range s.expectJSON {
		want := e.want
		if e.tmpl != nil {
			if want, err = e.tmpl.Render(v); err != nil {
				return nil, err
			}
		}
		r.expectJSON = append(r.expectJSON, renderedJSON{path: e.path, want: want})
	}
	return r, nil
}

// Plan says which requests would be made and what passes.
func (s *step) Plan(v adapters.Vars) string {
	r, err := s.render(v)
	if err != nil {
		return "HTTP check (cannot render it: " + err.Error() + ")"
	}
	var b strings.Builder
	b.WriteString(s.method + " " + strings.Join(r.urls, ", "))
	if len(r.headers) > 0 {
		b.WriteString(" with headers ")
		for i, k := range s.headers.Keys() {
			if i > 0 {
				b.WriteString(", ")
			}
			val := r.headers[k]
			if adapters.IsSecretName(k) {
				val = adapters.Redacted
			}
			b.WriteString(k + ": " + val)
		}
	}
	if r.body != "" {
		fmt.Fprintf(&b, " and a %d-byte body", len(r.body))
	}
	b.WriteString("; pass on HTTP " + statusList(s.expectStatus))
	if r.expectBody != "" {
		fmt.Fprintf(&b, " with a body containing %q", r.expectBody)
	}
	for _, e := range r.expectJSON {
		fmt.Fprintf(&b, ", JSON %s = %s", e.path, show(e.want))
	}
	if len(r.urls) > 1 {
		b.WriteString(" from every endpoint")
	}
	if s.retries > 0 {
		fmt.Fprintf(&b, "; up to %d retries, %s apart and doubling", s.retries, adapters.FormatDuration(s.delay))
	}
	fmt.Fprintf(&b, "; each request times out after %s", adapters.FormatDuration(s.timeout))
	return s.a.cfg.Redactor.Redact(b.String())
}

// outcome is the result of checking one endpoint.
type outcome struct {
	url    string
	ok     bool
	status int
	reason string // why it failed, or "HTTP 200"
}

// Run checks every endpoint in order; all must pass.
func (s *step) Run(ctx context.Context, v adapters.Vars, progress adapters.Progress) adapters.Result {
	budget := adapters.Budget(ctx)
	r, err := s.render(v)
	if err != nil {
		return adapters.Result{Summary: "cannot render the request: " + err.Error()}
	}
	red := s.a.cfg.Redactor.With(r.secrets...)
	var log strings.Builder
	var outs []outcome
	for _, u := range r.urls {
		o := s.check(ctx, r, u, &log, progress, red)
		if ctx.Err() != nil {
			return adapters.Stopped(ctx, budget, red.Redact(log.String()))
		}
		outs = append(outs, o)
	}
	return adapters.Result{OK: allOK(outs), Summary: red.Redact(summary(outs)), Output: red.Redact(log.String())}
}

func allOK(outs []outcome) bool {
	for _, o := range outs {
		if !o.ok {
			return false
		}
	}
	return true
}

func summary(outs []outcome) string {
	if len(outs) == 1 {
		o := outs[0]
		if o.ok {
			return o.reason + " from " + o.url
		}
		return o.url + ": " + o.reason
	}
	n := 0
	var firstBad *outcome
	statuses := map[string]bool{}
	for i := range outs {
		if outs[i].ok {
			n++
			statuses[outs[i].reason] = true
		} else if firstBad == nil {
			firstBad = &outs[i]
		}
	}
	sum := fmt.Sprintf("%d/%d endpoints ok", n, len(outs))
	if firstBad == nil {
		if len(statuses) == 1 {
			sum += " (" + outs[0].reason + ")"
		}
		return sum
	}
	return sum + "; " + firstBad.url + ": " + firstBad.reason
}

// check tries one endpoint up to 1+retries times.
func (s *step) check(ctx context.Context, r *rendered, u string, log *strings.Builder, progress adapters.Progress, red *adapters.Redactor) outcome {
	delay := s.delay
	var o outcome
	for attempt := 0; attempt <= s.retries; attempt++ {
		if attempt > 0 {
			if progress != nil {
				progress(red.Redact(fmt.Sprintf("%s: %s; retry %d of %d in %s", u, o.reason, attempt, s.retries, adapters.FormatDuration(delay))))
			}
			select {
			case <-ctx.Done():
				return o
			case <-s.a.cfg.Clock.After(delay):
			}
			delay = min(2*delay, MaxRetryDelay)
		}
		o = s.once(ctx, r, u, log)
		if o.ok || ctx.Err() != nil {
			break
		}
	}
	if !o.ok && s.retries > 0 {
		o.reason += fmt.Sprintf(" after %d attempts", s.retries+1)
	}
	return o
}

// maxRedirects is how many redirects a check follows (as net/http does by default).
const maxRedirects = 10

// client returns the configured client with a redirect policy that keeps the
// step's credentials at the origin they were written for: a redirect to
// another scheme, host or port drops every header whose name marks a secret
// (Authorization, X-Api-Key, Cookie, ...). net/http itself drops only
// Authorization and cookies, and only for another host name.
func (a *Adapter) client() *http.Client {
	c := *a.cfg.Client
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > 0 && origin(req.URL) != origin(via[0].URL) {
			for k := range req.Header {
				if adapters.IsSecretName(k) {
					req.Header.Del(k)
				}
			}
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		return nil
	}
	return &c
}

// origin returns scheme://host:port of u, with the default port filled in.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// once makes one request and judges the answer.
func (s *step) once(ctx context.Context, r *rendered, u string, log *strings.Builder) outcome {
	o := outcome{url: u}
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(rctx, s.method, u, body)
	if err != nil {
		o.reason = "bad request: " + err.Error()
		return o
	}
	for k, v := range r.headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := s.a.client().Do(req)
	if err != nil {
		o.reason = requestError(err, s.timeout)
		fmt.Fprintf(log, "%s %s: %s\n", s.method, u, o.reason)
		return o
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	elapsed := time.Since(start)
	o.status = resp.StatusCode
	o.reason = fmt.Sprintf("HTTP %d", resp.StatusCode)
	if err != nil {
		o.reason += ", reading the body failed: " + requestError(err, s.timeout)
	} else {
		o.ok, o.reason = s.judge(r, resp.StatusCode, data)
	}
	fmt.Fprintf(log, "%s %s: HTTP %d in %s", s.method, u, resp.StatusCode, adapters.FormatDuration(elapsed))
	if !o.ok {
		fmt.Fprintf(log, " — %s\n", o.reason)
		if len(data) > 0 {
			log.WriteString(adapters.Truncate(strings.TrimSpace(string(data)), 512) + "\n")
		}
	} else {
		log.WriteString("\n")
	}
	return o
}

// judge checks status, body and JSON expectations in that order.
func (s *step) judge(r *rendered, code int, data []byte) (bool, string) {
	st := fmt.Sprintf("HTTP %d", code)
	matched := false
	for _, e := range s.expectStatus {
		if e.Match(code) {
			matched = true
			break
		}
	}
	if !matched {
		return false, fmt.Sprintf("%s (want %s)", st, statusList(s.expectStatus))
	}
	if r.expectBody != "" && !bytes.Contains(data, []byte(r.expectBody)) {
		return false, fmt.Sprintf("%s but the body lacks %q", st, r.expectBody)
	}
	if len(r.expectJSON) > 0 {
		var doc any
		if err := json.Unmarshal(data, &doc); err != nil {
			return false, st + " but the body is not JSON"
		}
		for _, e := range r.expectJSON {
			got, ok := lookup(doc, e.path)
			if !ok {
				return false, fmt.Sprintf("%s but JSON %s is missing", st, e.path)
			}
			if !jsonEqual(got, e.want) {
				return false, fmt.Sprintf("%s but JSON %s = %s (want %s)", st, e.path, show(got), show(e.want))
			}
		}
	}
	return true, st
}

// requestError shortens a client error to its cause ("connection refused").
func requestError(err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer within " + adapters.FormatDuration(timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "dial ") {
		return msg[i+2:]
	}
	return msg
}
