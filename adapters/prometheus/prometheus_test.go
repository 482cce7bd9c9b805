package prometheus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"deploybot/adapters"
	"deploybot/adapters/prometheus"
)

var started = time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)

var vars = adapters.Vars{Version: "v1.4", Env: "production", RunID: "r42", Started: started}

type series struct {
	labels map[string]string
	value  string
}

// fakeProm answers /api/v1/query from a table: query → result now, and
// query → result at the run's start (when the time parameter is given).
type fakeProm struct {
	mu     sync.Mutex // mu protects the fields below
	now    map[string][]series
	then   map[string][]series
	scalar map[string]string
	times  []string // time parameters received, "" for none
}

func newFake(t *testing.T) (*fakeProm, *httptest.Server) {
	f := &fakeProm{now: map[string][]series{}, then: map[string][]series{}, scalar: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		q, at := r.URL.Query().Get("query"), r.URL.Query().Get("time")
		f.times = append(f.times, at)
		if strings.Contains(q, "syntax error") {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"1:9: parse error: unexpected identifier"}`)
			return
		}
		if v, ok := f.scalar[q]; ok {
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"scalar","result":[1700000000.123,%q]}}`, v)
			return
		}
		src := f.now
		if at != "" {
			src = f.then
		}
		result := []map[string]any{}
		for _, s := range src[q] {
			result = append(result, map[string]any{"metric": s.labels, "value": []any{1700000000.5, s.value}})
		}
		json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func TestRun(t *testing.T) {
	f, srv := newFake(t)
	f.now[`error_rate{version="v1.4"}`] = []series{{nil, "0.012"}}
	f.now["up_replicas"] = []series{{map[string]string{"job": "api"}, "3"}}
	f.now["latency"] = []series{{map[string]string{"route": "/a"}, "0.2"}, {map[string]string{"route": "/b"}, "0.9"}}
	f.now["p99"] = []series{{nil, "0.30"}}
	f.then["p99"] = []series{{nil, "0.25"}}
	f.now["p99_bad"] = []series{{nil, "0.40"}}
	f.then["p99_bad"] = []series{{nil, "0.25"}}
	f.now["new_series"] = []series{{map[string]string{"pod": "b"}, "1"}}
	f.then["new_series"] = []series{{map[string]string{"pod": "a"}, "1"}}
	f.scalar["scalar(1)"] = "1"
	f.now["nan"] = []series{{nil, "NaN"}}
	f.now["inf"] = []series{{nil, "+Inf"}}
	f.now["neg_inf"] = []series{{nil, "-Inf"}}
	f.now["nan_baseline"] = []series{{nil, "0.9"}}
	f.then["nan_baseline"] = []series{{nil, "NaN"}}
	f.now["inf_baseline"] = []series{{nil, "0.9"}}
	f.then["inf_baseline"] = []series{{nil, "+Inf"}}

	a := prometheus.New(prometheus.Config{BaseURL: srv.URL})
	tests := []struct {
		name    string
		with    map[string]any
		ok      bool
		summary string
	}{
		{"below max", map[string]any{"query": `error_rate{version="{{ .Version }}"}`, "max": 0.05}, true, "value 0.012 (max 0.05)"},
		{"above max", map[string]any{"query": `error_rate{version="{{ .Version }}"}`, "max": 0.01}, false, "value 0.012 above max 0.01"},
		{"below min", map[string]any{"query": "up_replicas", "min": 4}, false, `{job="api"} 3 below min 4`},
		{"within min and max", map[string]any{"query": "up_replicas", "min": 2, "max": 5}, true, `{job="api"} 3 (min 2, max 5)`},
		{"one series of two out of bounds", map[string]any{"query": "latency", "max": 0.5}, false, `1 of 2 series out of bounds; {route="/b"} 0.9 above max 0.5`},
		{"all series within", map[string]any{"query": "latency", "max": 1}, true, "2 series within bounds (value ≤ 1)"},
		{"no data", map[string]any{"query": "absent_metric", "max": 1}, false, "query returned no data"},
		{"scalar", map[string]any{"query": "scalar(1)", "min": 1}, true, "value 1 (min 1)"},
		{"NaN fails", map[string]any{"query": "nan", "max": 1}, false, "value is NaN"},
		{"+Inf fails a min-only bound", map[string]any{"query": "inf", "min": 0.99}, false, "value is +Inf"},
		{"-Inf fails a max-only bound", map[string]any{"query": "neg_inf", "max": 0.5}, false, "value is -Inf"},
		{"a NaN baseline fails", map[string]any{"query": "nan_baseline", "baseline_ratio": 1.2}, false, "value has no usable baseline at the run's start (NaN)"},
		{"an infinite baseline fails", map[string]any{"query": "inf_baseline", "baseline_ratio": 1.2}, false, "value has no usable baseline at the run's start (+Inf)"},
		{"query error", map[string]any{"query": "syntax error", "max": 1}, false, "prometheus: bad_data: 1:9: parse error: unexpected identifier"},
		{"within baseline ratio", map[string]any{"query": "p99", "baseline_ratio": 1.25}, true, "value 0.3 (baseline 0.25, limit 0.3125)"},
		{"above baseline ratio", map[string]any{"query": "p99_bad", "baseline_ratio": 1.25}, false, "value 0.4 above 1.25 × baseline 0.25 = 0.3125"},
		{"series without baseline", map[string]any{"query": "new_series", "baseline_ratio": 2}, false, `{pod="b"} has no baseline at the run's start`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := a.Parse(tc.with)
			if err != nil {
				t.Fatal(err)
			}
			res := s.Run(context.Background(), vars, nil)
			if res.OK != tc.ok || res.Summary != tc.summary {
				t.Fatalf("Run = ok %v %q, want ok %v %q\n%s", res.OK, res.Summary, tc.ok, tc.summary, res.Output)
			}
		})
	}
}

func TestBaselineIsQueriedAtRunStart(t *testing.T) {
	f, srv := newFake(t)
	f.now["p99"] = []series{{nil, "0.30"}}
	f.then["p99"] = []series{{nil, "0.25"}}
	s, err := prometheus.New(prometheus.Config{BaseURL: srv.URL}).Parse(map[string]any{"query": "p99", "baseline_ratio": 1.5, "max": 1})
	if err != nil {
		t.Fatal(err)
	}
	if res := s.Run(context.Background(), vars, nil); !res.OK {
		t.Fatalf("Run = %+v", res)
	}
	want := []string{"", fmt.Sprintf("%d.000", started.Unix())}
	f.mu.Lock()
	got := fmt.Sprint(f.times)
	f.mu.Unlock()
	if got != fmt.Sprint(want) {
		t.Errorf("time parameters = %s, want %q", got, want)
	}
	noStart := vars
	noStart.Started = time.Time{}
	if res := s.Run(context.Background(), noStart, nil); res.OK || res.Summary != "no baseline: the run's start time is unknown" {
		t.Errorf("Run without a start = %+v", res)
	}
}

func TestNotConfigured(t *testing.T) {
	s, err := prometheus.New(prometheus.Config{}).Parse(map[string]any{"query": "up", "min": 1})
	if err != nil {
		t.Fatal(err)
	}
	if res := s.Run(context.Background(), vars, nil); res.OK || res.Summary != "PROMETHEUS_URL is not set" {
		t.Errorf("Run = %+v", res)
	}
}

func TestPlan(t *testing.T) {
	s, err := prometheus.New(prometheus.Config{BaseURL: "http://prom:9090/"}).Parse(map[string]any{
		"query": `sum(rate(http_errors{env="{{ .Env }}"}[5m]))`, "min": 0, "max": 0.05, "baseline_ratio": 1.2})
	if err != nil {
		t.Fatal(err)
	}
	want := "query `sum(rate(http_errors{env=\"production\"}[5m]))` at http://prom:9090/api/v1/query: pass when 0 ≤ value ≤ 0.05 and value ≤ 1.2 × its value at the run's start for every series; the baseline is the same query with time=2026-03-01T22:00:00Z"
	if got := s.Plan(vars); got != want {
		t.Errorf("Plan =\n%s\nwant\n%s", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	a := prometheus.New(prometheus.Config{})
	tests := []struct {
		name string
		with map[string]any
		want string
	}{
		{"unknown field", map[string]any{"query": "up", "maximum": 1}, `prometheus: unknown parameter "maximum"`},
		{"missing query", map[string]any{"max": 1}, `prometheus: parameter "query" is required`},
		{"no bound", map[string]any{"query": "up"}, `prometheus: set "min", "max" or "baseline_ratio"`},
		{"min above max", map[string]any{"query": "up", "min": 2, "max": 1}, `prometheus: min 2 is above max 1`},
		{"max not a number", map[string]any{"query": "up", "max": "5%"}, `prometheus: parameter "max": want a number, got a string`},
		{"bad ratio", map[string]any{"query": "up", "baseline_ratio": 0}, `must be above 0`},
		{"bad template", map[string]any{"query": "up{v=\"{{ .Version }\"}", "max": 1}, `prometheus: parameter "query": bad template`},
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
