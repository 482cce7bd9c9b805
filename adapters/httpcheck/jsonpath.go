package httpcheck

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// lookup follows a dot-separated path ("data.items.0.name") into a decoded JSON value.
func lookup(doc any, path string) (any, bool) {
	cur := doc
	for _, seg := range strings.Split(path, ".") {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[seg]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// jsonEqual compares two decoded JSON values (numbers as float64).
func jsonEqual(a, b any) bool { return reflect.DeepEqual(a, b) }

// canonical round-trips v through JSON so it compares like a decoded response value.
func canonical(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
