package e2e

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

// TestInsightsPageOfTheBinary: the binary's console serves the insights
// page from the store's stats index (empty here: every figure says no data).
func TestInsightsPageOfTheBinary(t *testing.T) {
	p := start(t, t.TempDir(), map[string]string{})
	resp, err := http.Get("http://" + p.addr + "/insights?days=7")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<svg `) || !strings.Contains(page, "last 7 days") ||
		!strings.Contains(page, "<b>no data</b> <span class=\"muted\">no completed run</span>") {
		t.Fatalf("GET /insights = %d:\n%s", resp.StatusCode, page)
	}
	p.kill(syscall.SIGTERM)
}
