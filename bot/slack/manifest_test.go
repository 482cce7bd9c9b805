package slackfront

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

type manifest struct {
	Features struct {
		SlashCommands []struct {
			Command      string `yaml:"command"`
			URL          string `yaml:"url"`
			ShouldEscape bool   `yaml:"should_escape"`
		} `yaml:"slash_commands"`
	} `yaml:"features"`
	OAuth struct {
		Scopes struct {
			Bot []string `yaml:"bot"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		Interactivity struct {
			Enabled    bool   `yaml:"is_enabled"`
			RequestURL string `yaml:"request_url"`
		} `yaml:"interactivity"`
		SocketMode bool `yaml:"socket_mode_enabled"`
	} `yaml:"settings"`
}

// TestManifests pins the Slack app manifests in docs/ to what the front
// serves and needs.
func TestManifests(t *testing.T) {
	cases := []struct {
		file   string
		socket bool
	}{
		{"../../docs/slack-app-manifest.yaml", false},
		{"../../docs/slack-app-manifest-socket.yaml", true},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			var m manifest
			if err := yaml.Unmarshal(data, &m); err != nil {
				t.Fatalf("not YAML: %v", err)
			}
			cmds := m.Features.SlashCommands
			if len(cmds) != 1 || cmds[0].Command != "/deploy" || cmds[0].ShouldEscape {
				t.Errorf("slash commands %+v: want /deploy without escaping", cmds)
			}
			for _, s := range []string{"commands", "chat:write", "chat:write.public", "usergroups:read", "users:read"} {
				if !slices.Contains(m.OAuth.Scopes.Bot, s) {
					t.Errorf("bot scope %s missing", s)
				}
			}
			if !m.Settings.Interactivity.Enabled || m.Settings.SocketMode != tc.socket {
				t.Errorf("settings %+v", m.Settings)
			}
			if tc.socket {
				if len(cmds) == 1 && cmds[0].URL != "" || m.Settings.Interactivity.RequestURL != "" {
					t.Error("the Socket Mode manifest should have no request URLs")
				}
				return
			}
			if len(cmds) == 1 && !strings.HasSuffix(cmds[0].URL, CommandsPath) {
				t.Errorf("command URL %q does not end in %s", cmds[0].URL, CommandsPath)
			}
			if !strings.HasSuffix(m.Settings.Interactivity.RequestURL, InteractionsPath) {
				t.Errorf("interactivity URL %q does not end in %s", m.Settings.Interactivity.RequestURL, InteractionsPath)
			}
		})
	}
}
