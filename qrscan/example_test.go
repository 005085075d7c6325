package qrscan_test

import (
	"os"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/qrscan"
)

// TestExampleConfig decodes the "scanners" section of the packaged example strictly,
// validates it, and checks that the rules it shows are the built-in defaults it claims.
func TestExampleConfig(t *testing.T) {
	src, err := os.ReadFile("../packaging/sscagent.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var whole map[string]yaml.Node
	if err := yaml.Unmarshal(src, &whole); err != nil {
		t.Fatal(err)
	}
	node := whole["scanners"]
	section, err := yaml.Marshal(map[string]*yaml.Node{"scanners": &node})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Scanners qrscan.Configs `yaml:"scanners"`
	}
	if err := config.Decode(section, &doc); err != nil {
		t.Fatal(err)
	}
	var ps config.Problems
	doc.Scanners.Validate("scanners", &ps)
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	if len(doc.Scanners) == 0 {
		t.Fatal("the example lists no scanner")
	}
	if got := doc.Scanners[0].Classify.Rules; !reflect.DeepEqual(got, qrscan.DefaultRules()) {
		t.Fatalf("example rules differ from DefaultRules:\n%+v\n%+v", got, qrscan.DefaultRules())
	}
}
