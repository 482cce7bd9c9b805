package adapters

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Decode copies a step's `with:` parameters into dst, a pointer to a struct
// whose fields carry `json:"name"` tags. It is strict: a key that names no
// field is an error, as is a value of the wrong type, and every error names
// the parameter ("unknown parameter \"comand\" (known: command, dir, env)",
// "parameter \"retries\": want a whole number, got a string").
//
// Nested values are decoded with encoding/json, unknown fields refused there too.
func Decode(with map[string]any, dst any) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("adapters: Decode needs a pointer to a struct, got %T", dst)
	}
	sv := rv.Elem()
	fields := jsonFields(sv.Type())
	keys := make([]string, 0, len(with))
	for k := range with {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		idx, ok := fields[k]
		if !ok {
			return fmt.Errorf("unknown parameter %q (known: %s)", k, strings.Join(knownNames(fields), ", "))
		}
		v := normalize(with[k])
		if v == nil {
			continue // `key:` with no value leaves the default
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("parameter %q: unsupported value: %w", k, err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(sv.Field(idx).Addr().Interface()); err != nil {
			return decodeError(k, err)
		}
	}
	return nil
}

// jsonFields maps the json names of t's exported fields to their index.
func jsonFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = i
	}
	return out
}

func knownNames(fields map[string]int) []string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// normalize turns YAML-decoded map[any]any into map[string]any, recursively,
// so the value can be marshalled to JSON.
func normalize(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = normalize(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = normalize(e)
		}
		return s
	default:
		return v
	}
}

// decodeError rewrites an encoding/json error into one that names the parameter.
func decodeError(param string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		name := param
		if te.Field != "" {
			name = param + "." + te.Field
		}
		return fmt.Errorf("parameter %q: want %s, got %s", name, friendlyType(te.Type), friendlyJSON(te.Value))
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fmt.Errorf("parameter %q: unknown field %s", param, f)
	}
	msg = strings.TrimPrefix(msg, "json: ")
	return fmt.Errorf("parameter %q: %s", param, msg)
}

// friendlyType names a Go type the way a runbook author thinks of it.
func friendlyType(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	if t == reflect.TypeFor[Duration]() {
		return `a duration such as "30s" or "15m"`
	}
	switch t.Kind() {
	case reflect.Pointer:
		return friendlyType(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list of " + plural(friendlyType(t.Elem()))
	case reflect.Map:
		return "a map of " + plural(friendlyType(t.Elem()))
	case reflect.Struct:
		return "a map"
	case reflect.Interface:
		return "a value"
	}
	return t.String()
}

func plural(s string) string {
	switch {
	case strings.HasPrefix(s, "a "):
		return strings.TrimPrefix(s, "a ") + "s"
	case s == "true or false":
		return "booleans"
	}
	return s
}

// friendlyJSON names the JSON kind encoding/json reports in a type error.
func friendlyJSON(v string) string {
	switch {
	case v == "string":
		return "a string"
	case v == "number" || strings.HasPrefix(v, "number "):
		return "a number"
	case v == "bool":
		return "true or false"
	case v == "array":
		return "a list"
	case v == "object":
		return "a map"
	}
	return v
}
