package adapters

import (
	"regexp"
	"sort"
	"strings"
)

// Redacted is what a secret is replaced with in output and summaries.
const Redacted = "***"

// MinSecretLen is the shortest value a Redactor hides; shorter values (a "1",
// a "true") would blank out ordinary output and are not credible secrets.
const MinSecretLen = 4

// Redactor replaces known secret values with "***", and the password of
// any URL ("postgres://app:***@db/") whether known or not. It is immutable
// and safe for concurrent use; the nil Redactor hides URL passwords only.
type Redactor struct {
	secrets  []string
	replacer *strings.Replacer
}

// NewRedactor returns a redactor hiding the given values (those shorter than
// MinSecretLen are ignored).
func NewRedactor(secrets ...string) *Redactor {
	return (*Redactor)(nil).With(secrets...)
}

// With returns a redactor hiding r's secrets and the given ones.
func (r *Redactor) With(secrets ...string) *Redactor {
	seen := map[string]bool{}
	var all []string
	add := func(s string) {
		if len(s) >= MinSecretLen && !seen[s] {
			seen[s] = true
			all = append(all, s)
		}
	}
	if r != nil {
		for _, s := range r.secrets {
			add(s)
		}
	}
	for _, s := range secrets {
		add(s)
	}
	// Longest first, so a secret containing another is hidden whole.
	sort.SliceStable(all, func(i, j int) bool { return len(all[i]) > len(all[j]) })
	pairs := make([]string, 0, 2*len(all))
	for _, s := range all {
		pairs = append(pairs, s, Redacted)
	}
	return &Redactor{secrets: all, replacer: strings.NewReplacer(pairs...)}
}

// Redact returns s with every secret and every URL password replaced by "***".
func (r *Redactor) Redact(s string) string {
	if r != nil && len(r.secrets) > 0 {
		s = r.replacer.Replace(s)
	}
	return RedactURLPasswords(s)
}

// urlPassword matches the user-information part of a URL with a password:
// "scheme://user:" (group 1), then the password up to the "@".
var urlPassword = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://[^\s/?#@:]*:)([^\s/?#@]+)@`)

// RedactURLPasswords returns s with the password of every URL in it
// ("scheme://user:password@host") replaced by "***".
func RedactURLPasswords(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlPassword.ReplaceAllString(s, "${1}"+Redacted+"@")
}

// Len returns how many secret values r hides.
func (r *Redactor) Len() int {
	if r == nil {
		return 0
	}
	return len(r.secrets)
}

// IsSecretName reports whether an environment variable or header of that name
// holds a secret to be redacted: a name containing TOKEN, SECRET, PASSWORD,
// PASSWD, CREDENTIAL, AUTHORIZATION, COOKIE or KEY, or one of the bot's own secret
// variables (see IsBotSecret). Case is ignored.
func IsSecretName(name string) bool {
	if IsBotSecret(name) {
		return true
	}
	u := strings.ToUpper(name)
	for _, w := range []string{"TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTHORIZATION", "COOKIE", "KEY"} {
		if strings.Contains(u, w) {
			return true
		}
	}
	return false
}

// IsBotSecret reports whether an environment variable of that name belongs to
// the bot's own credentials and must not be inherited by the commands it runs:
// SLACK_*, DISCORD_*, *_TOKEN, *_SECRET, *_PASSWORD and REDIS_URL. Case is ignored.
func IsBotSecret(name string) bool {
	u := strings.ToUpper(name)
	switch {
	case strings.HasPrefix(u, "SLACK_"), strings.HasPrefix(u, "DISCORD_"),
		strings.HasSuffix(u, "_TOKEN"), strings.HasSuffix(u, "_SECRET"),
		strings.HasSuffix(u, "_PASSWORD"), u == "REDIS_URL":
		return true
	}
	return false
}

// SecretValues returns the values of the variables in environ ("NAME=value"
// entries, as os.Environ returns) whose names IsSecretName matches.
func SecretValues(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if ok && value != "" && IsSecretName(name) {
			out = append(out, value)
		}
	}
	return out
}
