package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sscagent/sscagent/internal/config"
)

const examplePath = "../packaging/sscagent.example.yaml"

func TestExampleConfigValid(t *testing.T) {
	cfg, err := LoadConfig(examplePath)
	if err != nil {
		t.Fatalf("the shipped example is invalid: %v", err)
	}
	if !filepath.IsAbs(string(cfg.Platform.PrivateKey)) {
		t.Fatalf("relative key path not resolved: %s", cfg.Platform.PrivateKey)
	}
}

// TestExampleDocumentsEveryField walks the Config type and fails for any field that the
// annotated example does not set (and so does not document).
func TestExampleDocumentsEveryField(t *testing.T) {
	src, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		t.Fatal(err)
	}
	var missing []string
	walkFields(reflect.TypeOf(Config{}), root.Content[0], "", &missing)
	if len(missing) > 0 {
		t.Fatalf("fields missing from %s:\n  %s", examplePath, strings.Join(missing, "\n  "))
	}
}

// deprecatedKeys are read for one release; the example names them in a comment only.
var deprecatedKeys = map[string]bool{"platform.signature": true, "platform.sm4": true, "platform.operations": true, "platform.msgCodes": true}

func walkFields(t reflect.Type, n *yaml.Node, path string, missing *[]string) {
	if t.Kind() != reflect.Struct || t == reflect.TypeOf(config.Duration(0)) {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		p := config.Join(path, name)
		if deprecatedKeys[p] {
			continue // documented in a comment, not set
		}
		var child *yaml.Node
		if n != nil && n.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == name {
					child = n.Content[j+1]
				}
			}
		}
		if child == nil {
			*missing = append(*missing, p)
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			// A list documents a field when any of its items sets it (a payment
			// scene's block, say, belongs in a payment scene).
			if child.Kind == yaml.SequenceNode && len(child.Content) > 0 {
				var common []string
				for i, item := range child.Content {
					var m []string
					walkFields(ft.Elem(), item, config.Index(p, 0), &m)
					if i == 0 {
						common = m
					} else {
						common = slices.DeleteFunc(common, func(x string) bool { return !slices.Contains(m, x) })
					}
				}
				*missing = append(*missing, common...)
			}
			continue
		}
		walkFields(ft, child, p, missing)
	}
}

// TestThreeMistakes is the acceptance case: three mistakes, three field paths.
func TestThreeMistakes(t *testing.T) {
	src, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.NewReplacer(
		`channelNo: "350100000001"`, `channelNo: "0101"`,
		`creditCode: 91350100M000100Y43`, `creditCode: 91350100M000100Y44`,
		"  shutdownTimeout: 10s", "  shutdownTimeot: 10s",
	).Replace(string(src))
	p := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	line := 1 + strings.Count(bad[:strings.Index(bad, "shutdownTimeot")], "\n")
	_, err = LoadConfig(p)
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`platform.channelNo: must be 12 digits, got "0101"`,
		"terminal.creditCode: must be an 18-character GB 32100 unified social credit code: check digit mismatch",
		fmt.Sprintf(`agent.shutdownTimeot: unknown field (line %d); did you mean "shutdownTimeout"?`, line),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in\n%s", want, msg)
		}
	}
}

func TestValidateVersionAndDaemon(t *testing.T) {
	c := DefaultConfig()
	c.Version = 2
	c.Agent.StateDir = "relative/dir"
	c.Agent.ShutdownTimeout = 0
	err := c.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"version: must be 1, got 2", "agent.stateDir: must be an absolute path", "agent.shutdownTimeout:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func TestRecordsCoordinates(t *testing.T) {
	for _, tc := range []struct {
		c    RecordsConfig
		want string
	}{
		{RecordsConfig{Longitude: "119.2965"}, "records.latitude"},
		{RecordsConfig{Longitude: "119.2965", Latitude: "26.0745"}, "records.coordinateSystem"},
		{RecordsConfig{Longitude: "119.2965", Latitude: "26.0745", CoordinateSystem: "GCJ-02"}, ""},
	} {
		var ps config.Problems
		tc.c.Validate("records", "91350100M000100Y43", &ps)
		got := ""
		if err := ps.Err(); err != nil {
			got = err.Error()
		}
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%+v: %q, want a problem at %q", tc.c, got, tc.want)
		}
	}
}

// TestPlainTransportNeedsConsent: a production terminal refuses http:// and tcp:// /
// mqtt:// unless the configuration allows them (and then warns); a test terminal takes
// them as the sandbox, demo and lab do.
func TestPlainTransportNeedsConsent(t *testing.T) {
	base, err := LoadConfig(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	base.Platform.CAFile = ""
	for _, tc := range []struct {
		name      string
		test      bool
		url       string
		brokers   []string
		allowHTTP bool
		allowTCP  bool
		errs      []string
		warns     int
	}{
		{name: "production https tls", url: "https://p.example:443", brokers: []string{"tls://b.example:8883"}},
		{name: "production http", url: "http://p.example", errs: []string{"platform.baseURL: http:// on a production terminal"}},
		{name: "production tcp and mqtt", url: "https://p.example", brokers: []string{"tcp://b:1883", "mqtt://c:1883", "tls://d:8883"},
			errs: []string{"mgmt.brokers: tcp://b:1883, mqtt://c:1883 on a production terminal"}},
		{name: "production both allowed", url: "http://p.example", brokers: []string{"tcp://b:1883"}, allowHTTP: true, allowTCP: true, warns: 2},
		{name: "test terminal", test: true, url: "http://127.0.0.1:8080", brokers: []string{"tcp://127.0.0.1:1883"}},
	} {
		c := base
		c.Terminal.Test = tc.test
		c.Platform.BaseURL, c.Platform.AllowPlainHTTP = tc.url, tc.allowHTTP
		c.Mgmt.Brokers, c.Mgmt.AllowPlainTCP = tc.brokers, tc.allowTCP
		c.Cards.Driver = "pcsc"
		var ps config.Problems
		c.validateTransport(&ps)
		msg := fmt.Sprint(ps.Err())
		if len(tc.errs) == 0 && ps.Len() > 0 {
			t.Errorf("%s: refused: %s", tc.name, msg)
		}
		for _, want := range tc.errs {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: missing %q in %s", tc.name, want, msg)
			}
		}
		if got := len(c.transportWarnings()); got != tc.warns {
			t.Errorf("%s: %d warnings, want %d", tc.name, got, tc.warns)
		}
	}
}
