package prometheus_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"deploybot/adapters"
	"deploybot/adapters/prometheus"
)

// TestQueryValuesStayInTheirString: a value inside a quoted PromQL string
// cannot end it and add matchers or operators; a value outside strings must
// be a plain name.
func TestQueryValuesStayInTheirString(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Query().Get("query"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.01"]}]}}`)
	}))
	t.Cleanup(srv.Close)
	a := prometheus.New(prometheus.Config{BaseURL: srv.URL})
	s, err := a.Parse(map[string]any{"query": `errors{reason="{{ .Reason }}", v='{{ .Version }}'}`, "max": 0.05})
	if err != nil {
		t.Fatal(err)
	}
	v := adapters.Vars{Version: `a'b`, Env: "production", Reason: `x"} or vector(0) or up{a="\`}
	if res := s.Run(context.Background(), v, nil); !res.OK {
		t.Fatalf("Run = %q", res.Summary)
	}
	want := `errors{reason="x\"} or vector(0) or up{a=\"\\", v='a\'b'}`
	if len(got) != 1 || got[0] != want {
		t.Fatalf("query sent = %q, want %q", got, want)
	}
	bare, err := a.Parse(map[string]any{"query": `{{ .Env }}_errors > 0`, "max": 1})
	if err != nil {
		t.Fatal(err)
	}
	v.Env = "x or vector(1)"
	if res := bare.Run(context.Background(), v, nil); res.OK || !strings.Contains(res.Summary, "cannot stand outside a string") {
		t.Errorf("bare value: Run = ok %v %q, want refused", res.OK, res.Summary)
	}
	if len(got) != 1 {
		t.Errorf("a refused query was sent: %q", got)
	}
}
