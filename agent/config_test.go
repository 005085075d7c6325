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
