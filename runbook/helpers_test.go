package runbook

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// stubValidator knows the built-in adapter names and accepts any parameters.
// The real registry lives in package adapters, which runbook must not import.
type stubValidator struct{}

var stubAdapters = []string{"shell", "http", "github", "prometheus", "watch", "webhook", "notify", "window"}

func (stubValidator) Validate(adapter string, _ map[string]any) error {
	for _, a := range stubAdapters {
		if a == adapter {
			return nil
		}
	}
	return fmt.Errorf("unknown adapter %q (known: %s)", adapter, strings.Join(stubAdapters, ", "))
}

// validatorFunc adapts a function to StepValidator.
type validatorFunc func(adapter string, with map[string]any) error

func (f validatorFunc) Validate(adapter string, with map[string]any) error { return f(adapter, with) }

// problemLines returns the problems of err as "FILE:LINE: message" lines,
// failing the test when err is not *Problems.
func problemLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatal("expected problems, got none")
	}
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error is %T (%v), want *Problems", err, err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(*ps) {
		t.Fatalf("Error() has %d lines for %d problems:\n%s", len(lines), len(*ps), err)
	}
	return lines
}
