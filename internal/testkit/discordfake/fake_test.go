package discordfake

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func row(comps ...string) string {
	return `{"type":1,"components":[` + strings.Join(comps, ",") + `]}`
}

func btn(id, label string) string {
	return fmt.Sprintf(`{"type":2,"style":1,"custom_id":%q,"label":%q}`, id, label)
}

func TestCheckMessage(t *testing.T) {
	five := row(btn("a", "A"), btn("b", "B"), btn("c", "C"), btn("d", "D"), btn("e", "E"))
	var opts []string
	for i := range 26 {
		opts = append(opts, fmt.Sprintf(`{"label":"o%d","value":"v%d"}`, i, i))
	}
	cases := []struct {
		name string
		body string
		want string // "" means valid
	}{
		{"text", `{"content":"hi"}`, ""},
		{"empty", `{"content":""}`, "empty message"},
		{"content over 2000", fmt.Sprintf(`{"content":%q}`, strings.Repeat("x", 2001)), "content has 2001"},
		{"custom_id used twice across rows", `{"content":"x","components":[` + strings.Repeat(five+",", 4) + row(btn("f", "F")) + `]}`, "custom_id \"a\" is used twice"},
		{"six rows", `{"content":"x","components":[` + strings.Repeat(row(btn("a", "A"))+",", 5) + row(btn("b", "B")) + `]}`, "6 action rows"},
		{"six buttons in a row", `{"content":"x","components":[` + row(btn("a", "A"), btn("b", "B"), btn("c", "C"), btn("d", "D"), btn("e", "E"), btn("f", "F")) + `]}`, "6 buttons"},
		{"custom_id of 101", `{"content":"x","components":[` + row(btn(strings.Repeat("i", 101), "A")) + `]}`, "101 characters"},
		{"label of 81", `{"content":"x","components":[` + row(btn("a", strings.Repeat("l", 81))) + `]}`, "label has 81"},
		{"select with a button", `{"content":"x","components":[` + row(`{"type":3,"custom_id":"s","options":[{"label":"a","value":"a"}]}`, btn("a", "A")) + `]}`, "alone in its row"},
		{"select with 26 options", `{"content":"x","components":[` + row(`{"type":3,"custom_id":"s","options":[`+strings.Join(opts, ",")+`]}`) + `]}`, "26 options"},
		{"embed description over 4096", fmt.Sprintf(`{"embeds":[{"description":%q}]}`, strings.Repeat("d", 4097)), "4097 characters"},
		{"embed field without value", `{"embeds":[{"fields":[{"name":"a","value":""}]}]}`, "name and value are required"},
		{"embeds over 6000 in all", fmt.Sprintf(`{"embeds":[{"description":%q},{"description":%q}]}`, strings.Repeat("d", 4000), strings.Repeat("d", 2001)), "6001 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckMessage([]byte(tc.body), true)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused a valid message: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("CheckMessage = %v, want a problem with %q", err, tc.want)
			}
		})
	}
}

func TestCheckModal(t *testing.T) {
	input := `{"type":4,"custom_id":"reason","label":"Reason","style":2,"max_length":500}`
	cases := []struct {
		name, body, want string
	}{
		{"valid", `{"custom_id":"m:x","title":"Why?","components":[` + row(input) + `]}`, ""},
		{"title over 45", fmt.Sprintf(`{"custom_id":"m:x","title":%q,"components":[%s]}`, strings.Repeat("t", 46), row(input)), "title"},
		{"no inputs", `{"custom_id":"m:x","title":"Why?","components":[]}`, "at least one text input"},
		{"a button in a modal", `{"custom_id":"m:x","title":"Why?","components":[` + row(btn("a", "A")) + `]}`, "not allowed in modals"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckModal([]byte(tc.body))
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("CheckModal = %v, want %q", err, tc.want)
			}
		})
	}
}

// manyChoices is n distinct string choices as JSON.
func manyChoices(n int) string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf(`{"name":"s%d","value":"s%d"}`, i, i))
	}
	return strings.Join(out, ",")
}

func TestCheckCommands(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"valid", `[{"name":"deploy","description":"d","options":[{"type":1,"name":"start","description":"s","options":[{"type":3,"name":"version","description":"v","required":true},{"type":3,"name":"env","description":"e"}]}]}]`, ""},
		{"required after optional", `[{"name":"deploy","description":"d","options":[{"type":1,"name":"start","description":"s","options":[{"type":3,"name":"env","description":"e"},{"type":3,"name":"version","description":"v","required":true}]}]}]`, "before the optional"},
		{"upper-case name", `[{"name":"Deploy","description":"d"}]`, "lowercase"},
		{"description over 100", fmt.Sprintf(`[{"name":"deploy","description":%q}]`, strings.Repeat("d", 101)), "1 to 100"},
		{"string choices", `[{"name":"deploy","description":"d","options":[{"type":1,"name":"start","description":"s","options":[{"type":3,"name":"service","description":"v","choices":[{"name":"api","value":"api"},{"name":"web","value":"web"}]}]}]}]`, ""},
		{"a choice twice", `[{"name":"deploy","description":"d","options":[{"type":1,"name":"start","description":"s","options":[{"type":3,"name":"service","description":"v","choices":[{"name":"api","value":"api"},{"name":"api2","value":"api"}]}]}]}]`, "used twice"},
		{"a number as a string choice", `[{"name":"deploy","description":"d","options":[{"type":1,"name":"start","description":"s","options":[{"type":3,"name":"service","description":"v","choices":[{"name":"one","value":1}]}]}]}]`, "is not a string"},
		{"26 choices", `[{"name":"deploy","description":"d","options":[{"type":1,"name":"start","description":"s","options":[{"type":3,"name":"service","description":"v","choices":[` + manyChoices(26) + `]}]}]}]`, "at most 25"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cmds []json.RawMessage
			if err := json.Unmarshal([]byte(tc.body), &cmds); err != nil {
				t.Fatal(err)
			}
			err := CheckCommands(cmds)
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("CheckCommands = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestSignedRequestsVerify checks the fake's signing against crypto/ed25519
// directly: the signature covers timestamp + body, hex encoded.
func TestSignedRequestsVerify(t *testing.T) {
	at := time.Unix(1_900_000_000, 0)
	s := New(t, WithClock(func() time.Time { return at }))
	in := s.Command(User{ID: "1", Username: "ana"}, "2", "start", map[string]string{"version": "v1"})
	req := s.NewRequest("http://bot.invalid/discord/interactions", in.JSON(), at)
	body, _ := io.ReadAll(req.Body)
	sig, err := hex.DecodeString(req.Header.Get("X-Signature-Ed25519"))
	if err != nil {
		t.Fatal(err)
	}
	if ts := req.Header.Get("X-Signature-Timestamp"); ts != "1900000000" {
		t.Errorf("timestamp %q", ts)
	}
	if !ed25519.Verify(s.PublicKey(), append([]byte("1900000000"), body...), sig) {
		t.Error("the signature does not verify with the fake's public key")
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil || got["type"] != float64(InteractionCommand) {
		t.Errorf("body %s", body)
	}
}

// TestCallbackRules: the second answer to an interaction, and followups for
// an unknown token, are refused as Discord refuses them.
func TestCallbackRules(t *testing.T) {
	s := &Server{inters: map[string]*interaction{}, byToken: map[string]string{}, msgs: map[string]*Message{}, nextID: 1}
	in := &Interaction{ID: "10", Token: "tok", Type: InteractionCommand, ChannelID: "c"}
	s.track(in)
	if st, _ := s.respond("10", "tok", []byte(`{"type":4,"data":{"content":"hi","flags":64}}`), "rest"); st != http.StatusNoContent {
		t.Fatalf("first answer: %d", st)
	}
	if st, _ := s.respond("10", "tok", []byte(`{"type":4,"data":{"content":"again"}}`), "rest"); st != http.StatusBadRequest {
		t.Errorf("second answer: %d, want 400", st)
	}
	if st, _ := s.respond("11", "tok", []byte(`{"type":1}`), "rest"); st != http.StatusNotFound {
		t.Errorf("answer to an unknown interaction: %d, want 404", st)
	}
	in2 := &Interaction{ID: "12", Token: "tok2", Type: InteractionCommand, ChannelID: "c"}
	s.track(in2)
	if st, _ := s.respond("12", "tok2", []byte(`{"type":6}`), "rest"); st != http.StatusBadRequest {
		t.Errorf("a deferred update to a slash command: %d, want 400", st)
	}
	if len(s.Problems()) != 3 {
		t.Errorf("problems = %q, want 3", s.Problems())
	}
	if m := s.Messages(); len(m) != 1 || !m[0].Ephemeral || m[0].Content != "hi" {
		t.Errorf("messages = %+v", m)
	}
}

// TestNonceOf reads nonces as Discord takes them: a string or an integer,
// at most MaxNonce characters.
func TestNonceOf(t *testing.T) {
	cases := []struct {
		body    string
		nonce   string
		enforce bool
		bad     bool
	}{
		{`{"content":"x"}`, "", false, false},
		{`{"content":"x","nonce":"abc","enforce_nonce":true}`, "abc", true, false},
		{`{"content":"x","nonce":1234567890123}`, "1234567890123", false, false},
		{`{"content":"x","nonce":null,"enforce_nonce":true}`, "", true, false},
		{fmt.Sprintf(`{"content":"x","nonce":%q}`, strings.Repeat("n", MaxNonce)), strings.Repeat("n", MaxNonce), false, false},
		{fmt.Sprintf(`{"content":"x","nonce":%q}`, strings.Repeat("n", MaxNonce+1)), "", false, true},
		{`{"content":"x","nonce":{"a":1}}`, "", false, true},
	}
	for _, tc := range cases {
		n, e, err := nonceOf([]byte(tc.body))
		if (err != nil) != tc.bad || n != tc.nonce || e != tc.enforce {
			t.Errorf("nonceOf(%s) = %q, %v, %v; want %q, %v, error %v", tc.body, n, e, err, tc.nonce, tc.enforce, tc.bad)
		}
	}
}

// TestEnforcedNoncesAndListing: a create with a nonce the bot used within
// NonceWindow and enforce_nonce answers the message already there; without
// enforce_nonce, or past the window, a new message is created. The listing
// is newest first, public messages of the channel only, without nonces.
func TestEnforcedNoncesAndListing(t *testing.T) {
	var offset atomic.Int64 // how far the fake's clock moved on
	s := New(t, WithClock(func() time.Time { return time.Unix(1_900_000_000, 0).Add(time.Duration(offset.Load())) }))
	call := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, s.URL()+"/api/v10"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bot "+BotToken)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	create := func(body string) (id, nonce string) {
		t.Helper()
		st, b := call(http.MethodPost, "/channels/c1/messages", body)
		var m struct {
			ID    string `json:"id"`
			Nonce string `json:"nonce"`
		}
		if st != http.StatusOK || json.Unmarshal(b, &m) != nil {
			t.Fatalf("create: %d %s", st, b)
		}
		return m.ID, m.Nonce
	}
	first, nonce := create(`{"content":"one","nonce":"k1","enforce_nonce":true}`)
	if nonce != "k1" {
		t.Errorf("the created message echoes nonce %q, want k1", nonce)
	}
	if again, _ := create(`{"content":"one again","nonce":"k1","enforce_nonce":true}`); again != first {
		t.Errorf("an enforced nonce within the window created %s, want %s", again, first)
	}
	if loose, _ := create(`{"content":"loose","nonce":"k1"}`); loose == first {
		t.Error("a nonce without enforce_nonce answered the old message")
	}
	offset.Add(int64(NonceWindow + time.Second))
	if late, _ := create(`{"content":"late","nonce":"k1","enforce_nonce":true}`); late == first {
		t.Error("an enforced nonce past the window answered the old message")
	}
	s.PostAs("42", "c1", "a person")
	s.PostAs("42", "c2", "elsewhere")
	st, b := call(http.MethodGet, "/channels/c1/messages?limit=3", "")
	var list []map[string]any
	if st != http.StatusOK || json.Unmarshal(b, &list) != nil {
		t.Fatalf("list: %d %s", st, b)
	}
	var got []string
	for _, m := range list {
		if _, ok := m["nonce"]; ok {
			t.Errorf("listed message %v carries a nonce", m["id"])
		}
		got = append(got, fmt.Sprintf("%v by %v", m["content"], m["author"].(map[string]any)["id"]))
	}
	want := []string{"a person by 42", "late by " + AppID, "loose by " + AppID}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("listing = %q, want %q", got, want)
	}
	if st, b := call(http.MethodGet, "/users/@me", ""); st != http.StatusOK || !strings.Contains(string(b), `"id":"`+AppID+`"`) {
		t.Errorf("users/@me: %d %s", st, b)
	}
	if len(s.Messages()) != 5 {
		t.Errorf("%d messages, want 5", len(s.Messages()))
	}
}
