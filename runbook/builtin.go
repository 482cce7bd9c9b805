package runbook

import (
	"bytes"
	_ "embed"
)

// builtinFile is the name the built-in runbook's problems and Runbook.File carry.
const builtinFile = "builtin.yaml"

//go:embed builtin.yaml
var builtinYAML []byte

// BuiltinYAML returns a copy of the built-in runbook's YAML: the seed
// deployment checklist, every line of it a step.
func BuiltinYAML() []byte {
	return bytes.Clone(builtinYAML)
}

// Builtin parses and validates the built-in runbook; v checks its automated
// steps' adapters and parameters (nil skips that check).
func Builtin(v StepValidator) (*Runbook, error) {
	return Parse(builtinFile, builtinYAML, v)
}
