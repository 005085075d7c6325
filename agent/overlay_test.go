package agent

import (
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/config"
)

func TestLoadConfigOverlay(t *testing.T) {
	base, err := LoadConfig(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfigOverlay(examplePath, []byte("log:\n  level: debug\nscenes: []\nplatform:\n  timeout: 20s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Level != "debug" || c.Log.Format != base.Log.Format {
		t.Errorf("log = %+v: level not overlaid or format lost", c.Log)
	}
	if len(c.Scenes) != 0 || c.Platform.Timeout != config.Duration(20e9) || c.Platform.BaseURL != base.Platform.BaseURL {
		t.Errorf("overlay not merged: scenes %d, platform %+v", len(c.Scenes), c.Platform)
	}
	if c.Platform.PrivateKey != base.Platform.PrivateKey {
		t.Errorf("relative path resolution differs: %s vs %s", c.Platform.PrivateKey, base.Platform.PrivateKey)
	}

	// Every problem of the overlay is reported, with the overlay's own line numbers.
	_, err = LoadConfigOverlay(examplePath, []byte("log:\n  level: loud\n  colour: red\nplatform:\n  channelNo: \"12\"\n  timeout: soon\n"))
	if err == nil {
		t.Fatal("bad overlay accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		"log.colour: unknown field (line 3)",
		`log.level: must be debug, info, warn or error, got "loud"`,
		`platform.channelNo: must be 12 digits, got "12"`,
		`line 6: want a duration such as "10s", got "soon"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in\n%s", want, msg)
		}
	}
	if _, err := LoadConfigOverlay(examplePath, []byte("log: [")); err == nil || !strings.Contains(err.Error(), "YAML syntax") {
		t.Errorf("syntax error: %v", err)
	}
}

// The release keys decide which builds a terminal runs: no remote configuration changes
// them, or any other upgrade setting.
func TestOverlayCannotTouchUpgrade(t *testing.T) {
	for _, doc := range []string{
		"upgrade:\n  releaseKeys: [/tmp/attacker.pub.pem]\n",
		"upgrade:\n  healthWindow: 10s\n",
		"log:\n  level: debug\nupgrade:\n  maxBytes: 268435457\n",
	} {
		_, err := LoadConfigOverlay(examplePath, []byte(doc))
		if err == nil || !strings.Contains(err.Error(), "upgrade: cannot be changed remotely") {
			t.Errorf("%q: %v", doc, err)
		}
	}
	if _, err := LoadConfigOverlay(examplePath, []byte("log:\n  level: debug\n")); err != nil {
		t.Fatal(err)
	}
}

// TestOverlayCannotRepinManagerKeys: the pinned manager keys, the terminal id and the
// state directory stay the file's whatever YAML a remote document uses to reach them.
func TestOverlayCannotRepinManagerKeys(t *testing.T) {
	for _, doc := range []string{
		"mgmt:\n  managerKeys: [/tmp/evil.pub.pem]\n",
		"mgmt:\n  <<: {managerKeys: [/tmp/evil.pub.pem]}\n",
		"terminal:\n  <<: {id: OTHER-1}\n",
		"agent:\n  <<: {stateDir: /tmp/elsewhere}\n",
	} {
		_, err := LoadConfigOverlay(examplePath, []byte(doc))
		if err == nil || !strings.Contains(err.Error(), "cannot be changed remotely") {
			t.Errorf("%q: %v", doc, err)
		}
	}
}
