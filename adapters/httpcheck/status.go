package httpcheck

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Status is an expected HTTP status: one code (200) or a class ("2xx").
type Status struct {
	Lo, Hi int
}

// UnmarshalJSON accepts 200, "200" or "2xx".
func (s *Status) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		return s.set(n, n, string(b))
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return fmt.Errorf(`want a status such as 200 or "2xx", got %s`, b)
	}
	str = strings.ToLower(strings.TrimSpace(str))
	if len(str) == 3 && strings.HasSuffix(str, "xx") && str[0] >= '1' && str[0] <= '5' {
		c := int(str[0]-'0') * 100
		return s.set(c, c+99, str)
	}
	n, err := strconv.Atoi(str)
	if err != nil {
		return fmt.Errorf(`want a status such as 200 or "2xx", got %q`, str)
	}
	return s.set(n, n, str)
}

func (s *Status) set(lo, hi int, src string) error {
	if lo < 100 || hi > 599 {
		return fmt.Errorf("status %s is not an HTTP status (100–599)", src)
	}
	s.Lo, s.Hi = lo, hi
	return nil
}

// Statuses is expect_status: a list of statuses, or a single one (200, "2xx").
type Statuses []Status

// UnmarshalJSON accepts a list or a single status.
func (ss *Statuses) UnmarshalJSON(b []byte) error {
	if t := strings.TrimSpace(string(b)); strings.HasPrefix(t, "[") {
		var list []Status
		if err := json.Unmarshal(b, &list); err != nil {
			return err
		}
		*ss = list
		return nil
	}
	var one Status
	if err := one.UnmarshalJSON(b); err != nil {
		return err
	}
	*ss = Statuses{one}
	return nil
}

// Match reports whether code is within s.
func (s Status) Match(code int) bool { return code >= s.Lo && code <= s.Hi }

// String returns "200" or "2xx".
func (s Status) String() string {
	if s.Lo == s.Hi {
		return strconv.Itoa(s.Lo)
	}
	return fmt.Sprintf("%dxx", s.Lo/100)
}

func statusList(ss []Status) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.String()
	}
	if len(out) == 1 {
		return out[0]
	}
	return strings.Join(out[:len(out)-1], ", ") + " or " + out[len(out)-1]
}
