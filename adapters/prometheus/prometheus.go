package prometheus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"deploybot/adapters"
)

// Name is the value of `run:` that selects this adapter.
const Name = "prometheus"

// DefaultTimeout bounds one query.
const DefaultTimeout = 30 * time.Second

// Config configures the prometheus adapter.
type Config struct {
	// BaseURL is the Prometheus server (PROMETHEUS_URL), e.g. http://prometheus:9090.
	// Empty is allowed when no runbook step queries Prometheus; such a step fails when run.
	BaseURL string
	// Client makes the requests; nil means a client with default settings.
	Client *http.Client
	// Redactor hides known secrets in output and summaries.
	Redactor *adapters.Redactor
}

// Adapter is the `prometheus` adapter.
type Adapter struct {
	cfg Config
}

var (
	_ adapters.Adapter = (*Adapter)(nil)
	_ adapters.Step    = (*step)(nil)
)

// New returns the prometheus adapter. It has no side effects.
func New(cfg Config) *Adapter {
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	return &Adapter{cfg: cfg}
}

// Name returns "prometheus".
func (a *Adapter) Name() string { return Name }

// Params are the prometheus adapter's `with:` parameters.
type Params struct {
	// Query is the PromQL expression (a template).
	Query string `json:"query"`
	// Min is the lowest value that passes.
	Min *float64 `json:"min"`
	// Max is the highest value that passes.
	Max *float64 `json:"max"`
	// BaselineRatio, when set, requires value ≤ ratio × the query's value at the run's start.
	BaselineRatio *float64 `json:"baseline_ratio"`
	// Timeout bounds each query; default 30s.
	Timeout adapters.Duration `json:"timeout"`
}

// Parse decodes and validates the step's parameters.
func (a *Adapter) Parse(with map[string]any) (adapters.Step, error) {
	var p Params
	if err := adapters.Decode(with, &p); err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	if strings.TrimSpace(p.Query) == "" {
		return nil, errors.New(`prometheus: parameter "query" is required`)
	}
	q, err := adapters.ParsePromQLTemplate("query", p.Query)
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	if p.Min == nil && p.Max == nil && p.BaselineRatio == nil {
		return nil, errors.New(`prometheus: set "min", "max" or "baseline_ratio" (otherwise any value would pass)`)
	}
	if p.Min != nil && p.Max != nil && *p.Min > *p.Max {
		return nil, fmt.Errorf("prometheus: min %g is above max %g", *p.Min, *p.Max)
	}
	if p.BaselineRatio != nil && *p.BaselineRatio <= 0 {
		return nil, fmt.Errorf(`prometheus: parameter "baseline_ratio": %g must be above 0 (1.2 allows 20%% above the baseline)`, *p.BaselineRatio)
	}
	s := &step{a: a, query: q, min: p.Min, max: p.Max, ratio: p.BaselineRatio, timeout: time.Duration(p.Timeout)}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	return s, nil
}

type step struct {
	a        *Adapter
	query    *adapters.Template
	min, max *float64
	ratio    *float64
	timeout  time.Duration
}

// bounds describes the pass condition: "0 ≤ value ≤ 0.05".
func (s *step) bounds() string {
	var parts []string
	switch {
	case s.min != nil && s.max != nil:
		parts = append(parts, fmt.Sprintf("%s ≤ value ≤ %s", num(*s.min), num(*s.max)))
	case s.min != nil:
		parts = append(parts, "value ≥ "+num(*s.min))
	case s.max != nil:
		parts = append(parts, "value ≤ "+num(*s.max))
	}
	if s.ratio != nil {
		parts = append(parts, fmt.Sprintf("value ≤ %s × its value at the run's start", num(*s.ratio)))
	}
	return strings.Join(parts, " and ")
}

// Plan shows the query and the pass condition.
func (s *step) Plan(v adapters.Vars) string {
	q, err := s.query.Render(v)
	if err != nil {
		return "Prometheus query (cannot render it: " + err.Error() + ")"
	}
	base := s.a.cfg.BaseURL
	if base == "" {
		base = "$PROMETHEUS_URL"
	}
	plan := fmt.Sprintf("query `%s` at %s/api/v1/query: pass when %s for every series", q, base, s.bounds())
	if s.ratio != nil {
		at := "the run's start"
		if !v.Started.IsZero() {
			at = v.Started.UTC().Format(time.RFC3339)
		}
		plan += "; the baseline is the same query with time=" + at
	}
	return plan
}

// sample is one series' value.
type sample struct {
	labels string // "{job=\"api\"}" or "" for a scalar or a single unlabelled series
	value  float64
}

// Run queries now (and at the run's start for the baseline) and judges the values.
func (s *step) Run(ctx context.Context, v adapters.Vars, _ adapters.Progress) adapters.Result {
	budget := adapters.Budget(ctx)
	red := s.a.cfg.Redactor
	if s.a.cfg.BaseURL == "" {
		return adapters.Result{Summary: "PROMETHEUS_URL is not set"}
	}
	q, err := s.query.Render(v)
	if err != nil {
		return adapters.Result{Summary: "cannot render query: " + err.Error()}
	}
	now, err := s.instant(ctx, q, time.Time{})
	if ctx.Err() != nil {
		return adapters.Stopped(ctx, budget, "")
	}
	if err != nil {
		return adapters.Result{Summary: red.Redact(err.Error())}
	}
	if len(now) == 0 {
		return adapters.Result{Summary: "query returned no data"}
	}
	var base map[string]float64
	if s.ratio != nil {
		if v.Started.IsZero() {
			return adapters.Result{Summary: "no baseline: the run's start time is unknown"}
		}
		then, err := s.instant(ctx, q, v.Started)
		if ctx.Err() != nil {
			return adapters.Stopped(ctx, budget, "")
		}
		if err != nil {
			return adapters.Result{Summary: red.Redact("baseline: " + err.Error())}
		}
		base = map[string]float64{}
		for _, b := range then {
			base[b.labels] = b.value
		}
	}

	var out strings.Builder
	var failures []string
	for _, smp := range now {
		line, bad := s.judge(smp, base)
		out.WriteString(line + "\n")
		if bad != "" {
			failures = append(failures, bad)
		}
	}
	output := red.Redact(out.String())
	if len(failures) > 0 {
		sum := failures[0]
		if len(now) > 1 {
			sum = fmt.Sprintf("%d of %d series out of bounds; %s", len(failures), len(now), failures[0])
		}
		return adapters.Result{Summary: adapters.Truncate(sum, 300), Output: output}
	}
	if len(now) == 1 {
		return adapters.Result{OK: true, Summary: strings.TrimPrefix(strings.TrimSpace(out.String()), " "), Output: output}
	}
	return adapters.Result{OK: true, Summary: fmt.Sprintf("%d series within bounds (%s)", len(now), s.bounds()), Output: output}
}

// judge describes one sample and, when it fails, why.
func (s *step) judge(smp sample, base map[string]float64) (line, failure string) {
	name := "value"
	if smp.labels != "" {
		name = smp.labels
	}
	val := num(smp.value)
	var limits []string
	if s.min != nil {
		limits = append(limits, "min "+num(*s.min))
	}
	if s.max != nil {
		limits = append(limits, "max "+num(*s.max))
	}
	var baseline string
	fail := ""
	// A non-finite value (a division by zero, an empty rate) says nothing
	// about health: it fails whatever the bounds, rather than passing a
	// one-sided one.
	if math.IsNaN(smp.value) || math.IsInf(smp.value, 0) {
		fail = name + " is " + val
	}
	if fail == "" && s.min != nil && smp.value < *s.min {
		fail = fmt.Sprintf("%s %s below min %s", name, val, num(*s.min))
	}
	if fail == "" && s.max != nil && smp.value > *s.max {
		fail = fmt.Sprintf("%s %s above max %s", name, val, num(*s.max))
	}
	if s.ratio != nil {
		b, ok := base[smp.labels]
		switch {
		case !ok:
			baseline = "no baseline"
			if fail == "" {
				fail = name + " has no baseline at the run's start"
			}
		case math.IsNaN(b) || math.IsInf(b, 0):
			// ratio × NaN or ×Inf would let every value pass.
			baseline = "baseline " + num(b)
			if fail == "" {
				fail = fmt.Sprintf("%s has no usable baseline at the run's start (%s)", name, num(b))
			}
		default:
			limit := *s.ratio * b
			baseline = fmt.Sprintf("baseline %s, limit %s", num(b), num(limit))
			if fail == "" && smp.value > limit {
				fail = fmt.Sprintf("%s %s above %s × baseline %s = %s", name, val, num(*s.ratio), num(b), num(limit))
			}
		}
		limits = append(limits, baseline)
	}
	line = name + " " + val
	if len(limits) > 0 {
		line += " (" + strings.Join(limits, ", ") + ")"
	}
	return line, fail
}

// num formats a value compactly ("0.012", "1.5e+06").
func num(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// instant runs an instant query, at the server's now when at is zero.
func (s *step) instant(ctx context.Context, q string, at time.Time) ([]sample, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	params := url.Values{"query": {q}}
	if !at.IsZero() {
		params.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	u := s.a.cfg.BaseURL + "/api/v1/query?" + params.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.a.cfg.Client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return nil, fmt.Errorf("prometheus: no answer within %s", adapters.FormatDuration(s.timeout))
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("prometheus: read: %w", err)
	}
	var r apiResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("prometheus: HTTP %d, not a query API answer", resp.StatusCode)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("prometheus: %s: %s", r.ErrorType, r.Error)
	}
	return decodeResult(r.Data.ResultType, r.Data.Result)
}

func decodeResult(typ string, raw json.RawMessage) ([]sample, error) {
	switch typ {
	case "scalar":
		var pt [2]any
		if err := json.Unmarshal(raw, &pt); err != nil {
			return nil, fmt.Errorf("prometheus: bad scalar: %w", err)
		}
		f, err := parseValue(pt[1])
		if err != nil {
			return nil, err
		}
		return []sample{{value: f}}, nil
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(raw, &vec); err != nil {
			return nil, fmt.Errorf("prometheus: bad vector: %w", err)
		}
		out := make([]sample, 0, len(vec))
		for _, e := range vec {
			f, err := parseValue(e.Value[1])
			if err != nil {
				return nil, err
			}
			out = append(out, sample{labels: labelString(e.Metric), value: f})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].labels < out[j].labels })
		return out, nil
	}
	return nil, fmt.Errorf("prometheus: the query returned a %s; use an instant vector or scalar expression", typ)
}

func parseValue(v any) (float64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("prometheus: bad sample value %v", v)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("prometheus: bad sample value %q", s)
	}
	return f, nil
}

// labelString writes a label set as PromQL does ({a="1", b="2"}), "" when empty.
func labelString(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
