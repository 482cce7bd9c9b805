package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"deploybot/adapters"
	"deploybot/internal/clock"
)

// Name is the value of `run:` that selects this adapter.
const Name = "webhook"

// Headers set on every delivery.
const (
	SignatureHeader = "X-Deploybot-Signature"
	TimestampHeader = "X-Deploybot-Timestamp"
)

// DefaultTimeout bounds one delivery.
const DefaultTimeout = 30 * time.Second

// Config configures the webhook adapter. The zero value is usable.
type Config struct {
	// Client makes the requests; nil means a client with default settings.
	Client *http.Client
	// Getenv reads the signing key's variable when a step runs; nil means os.Getenv.
	Getenv func(string) string
	// Clock stamps deliveries; nil means the wall clock.
	Clock clock.Clock
	// Redactor hides known secrets in output and summaries; the key is hidden in any case.
	Redactor *adapters.Redactor
}

// Adapter is the `webhook` adapter.
type Adapter struct {
	cfg Config
}

var (
	_ adapters.Adapter = (*Adapter)(nil)
	_ adapters.Step    = (*step)(nil)
)

// New returns the webhook adapter. It has no side effects.
func New(cfg Config) *Adapter {
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	return &Adapter{cfg: cfg}
}

// Name returns "webhook".
func (a *Adapter) Name() string { return Name }

// Params are the webhook adapter's `with:` parameters.
type Params struct {
	// URL receives the POST (a template).
	URL string `json:"url"`
	// SecretEnv names the environment variable holding the HMAC key; empty sends unsigned.
	SecretEnv string `json:"secret_env"`
	// Payload adds fields to the body; string values (also nested) are templates.
	Payload map[string]any `json:"payload"`
	// Timeout bounds the delivery; default 30s.
	Timeout adapters.Duration `json:"timeout"`
}

// reservedFields are the body fields deploybot fills in itself.
var reservedFields = []string{"run", "version", "environment", "phase", "step", "sent_at"}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Parse decodes and validates the step's parameters.
func (a *Adapter) Parse(with map[string]any) (adapters.Step, error) {
	var p Params
	if err := adapters.Decode(with, &p); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if p.URL == "" {
		return nil, errors.New(`webhook: parameter "url" is required`)
	}
	u, err := adapters.ParseURLTemplate("url", p.URL)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if p.SecretEnv != "" && !envName.MatchString(p.SecretEnv) {
		return nil, fmt.Errorf(`webhook: parameter "secret_env": %q is not a variable name (name the variable, not its value)`, p.SecretEnv)
	}
	for _, k := range reservedFields {
		if _, ok := p.Payload[k]; ok {
			return nil, fmt.Errorf(`webhook: parameter "payload": field %q is set by deploybot`, k)
		}
	}
	payload, err := parsePayload("payload", p.Payload)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	s := &step{a: a, url: u, secretEnv: p.SecretEnv, payload: payload.(map[string]any), timeout: time.Duration(p.Timeout)}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	return s, nil
}

// parsePayload replaces every string in v with its parsed template.
func parsePayload(path string, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		if path == "payload" {
			return map[string]any{}, nil
		}
		return nil, nil
	case string:
		return adapters.ParseTemplate(path, x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			p, err := parsePayload(path+"."+k, e)
			if err != nil {
				return nil, err
			}
			out[k] = p
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			p, err := parsePayload(fmt.Sprintf("%s[%d]", path, i), e)
			if err != nil {
				return nil, err
			}
			out[i] = p
		}
		return out, nil
	default:
		return v, nil
	}
}

// renderPayload renders the templates parsePayload left in v.
func renderPayload(v any, vars adapters.Vars) (any, error) {
	switch x := v.(type) {
	case *adapters.Template:
		return x.Render(vars)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := renderPayload(e, vars)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := renderPayload(e, vars)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	default:
		return v, nil
	}
}

type step struct {
	a         *Adapter
	url       *adapters.Template
	secretEnv string
	payload   map[string]any
	timeout   time.Duration
}

// body renders the JSON body for v at the given time.
func (s *step) body(v adapters.Vars, now time.Time) ([]byte, error) {
	p, err := renderPayload(s.payload, v)
	if err != nil {
		return nil, err
	}
	doc := p.(map[string]any)
	doc["run"] = v.RunID
	doc["version"] = v.Version
	doc["environment"] = v.Env
	doc["phase"] = v.Phase
	doc["step"] = v.Step
	doc["sent_at"] = now.Unix()
	return json.Marshal(doc) // map keys are sorted: the body is deterministic
}

// Plan shows the URL, the body's fields and how it is signed.
func (s *step) Plan(v adapters.Vars) string {
	u, err := s.url.Render(v)
	if err != nil {
		return "POST a webhook (cannot render it: " + err.Error() + ")"
	}
	fields := append([]string(nil), reservedFields...)
	for k := range s.payload {
		fields = append(fields, k)
	}
	sort.Strings(fields)
	plan := fmt.Sprintf("POST %s with a JSON body of %s", u, strings.Join(fields, ", "))
	if s.secretEnv != "" {
		plan += fmt.Sprintf(", signed in %s with HMAC-SHA256 under the key in $%s", SignatureHeader, s.secretEnv)
	} else {
		plan += ", unsigned"
	}
	return s.a.cfg.Redactor.Redact(plan + "; pass on a 2xx answer")
}

// Run delivers the webhook once.
func (s *step) Run(ctx context.Context, v adapters.Vars, _ adapters.Progress) adapters.Result {
	budget := adapters.Budget(ctx)
	u, err := s.url.Render(v)
	if err != nil {
		return adapters.Result{Summary: "cannot render url: " + err.Error()}
	}
	if err := adapters.ValidateURL(u); err != nil {
		return adapters.Result{Summary: "bad url: " + err.Error()}
	}
	red := s.a.cfg.Redactor
	var key string
	if s.secretEnv != "" {
		if key = s.a.cfg.Getenv(s.secretEnv); key == "" {
			return adapters.Result{Summary: fmt.Sprintf("webhook signing key variable %s is not set", s.secretEnv)}
		}
		red = red.With(key)
	}
	now := s.a.cfg.Clock.Now()
	body, err := s.body(v, now)
	if err != nil {
		return adapters.Result{Summary: "cannot render payload: " + err.Error()}
	}
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return adapters.Result{Summary: red.Redact("bad request: " + err.Error())}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "deploybot")
	req.Header.Set(TimestampHeader, strconv.FormatInt(now.Unix(), 10))
	if key != "" {
		req.Header.Set(SignatureHeader, Sign([]byte(key), body))
	}
	resp, err := s.a.cfg.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return adapters.Stopped(ctx, budget, "")
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return adapters.Result{Summary: fmt.Sprintf("POST %s: no answer within %s", u, adapters.FormatDuration(s.timeout))}
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return adapters.Result{Summary: red.Redact(fmt.Sprintf("POST %s: %v", u, err))}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	out := red.Redact(string(answer))
	sum := fmt.Sprintf("HTTP %d from %s", resp.StatusCode, u)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if line := adapters.LastLine(out); line != "" {
			sum += ": " + adapters.Truncate(line, 200)
		}
		return adapters.Result{Summary: red.Redact(sum), Output: out}
	}
	return adapters.Result{OK: true, Summary: red.Redact(sum), Output: out}
}

// Sign returns the X-Deploybot-Signature value for body: "sha256=" and the
// hex HMAC-SHA256 of body under key.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature is Sign(key, body), comparing in constant time.
func Verify(key, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(key, body)), []byte(signature))
}
