package rollout

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sscagent/sscagent/internal/config"
)

// MaxDocSize bounds a remote configuration document, the same bound as the file.
const MaxDocSize = config.MaxFileSize

// DefaultImmutable are the configuration paths a remote document may not set: the
// terminal's identity key, where its durable state lives, the file format, the
// manager keys that decide which documents are trusted at all, and the software-update
// settings with the release keys that decide which builds run.
var DefaultImmutable = []string{"version", "terminal.id", "agent.stateDir", "mgmt.managerKeys", "upgrade"}

// parseDoc returns the root node of a single YAML document, nil for an empty one.
func parseDoc(doc []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	var n yaml.Node
	if err := dec.Decode(&n); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("YAML syntax: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		r := n.Content[0]
		if r.Kind == yaml.ScalarNode && r.Tag == "!!null" {
			return nil, nil
		}
		return r, nil
	}
	return nil, nil
}

func mappingIndex(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// pemRE finds PEM armour; hexKeyRE finds values that are nothing but a long hex string
// (an SM4 or other raw key pasted where a file path belongs).
var (
	pemRE    = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]+-----`)
	hexKeyRE = regexp.MustCompile(`^[0-9A-Fa-f]{32,}$`)
)

// Screen checks a remote document before it is validated as a configuration: it must
// be one YAML mapping of at most MaxDocSize bytes, must not set an immutable path, and
// must not carry key material in clear (PEM blocks, long raw hex strings). Secrets reach
// a terminal as files installed out of band; a document only names their paths. Every
// problem is returned.
func Screen(doc []byte, immutable []string) []Problem {
	ps, _ := screen(doc, immutable)
	return ps
}

// screen is Screen that also reports whether doc could be read at all (when it could,
// validation can add its own problems).
func screen(doc []byte, immutable []string) (ps []Problem, readable bool) {
	if len(doc) > MaxDocSize {
		return []Problem{{Reason: fmt.Sprintf("document is %d bytes, more than %d", len(doc), MaxDocSize)}}, false
	}
	root, err := parseDoc(doc)
	if err != nil {
		return []Problem{{Reason: err.Error()}}, false
	}
	if root == nil {
		return nil, true // an empty overlay: the file alone
	}
	if root.Kind != yaml.MappingNode {
		return []Problem{{Reason: "document must be a YAML mapping of configuration sections"}}, false
	}
	for _, p := range immutable {
		if n := lookup(root, p); n != nil {
			ps = append(ps, Problem{Path: p, Reason: fmt.Sprintf("cannot be changed remotely (line %d); change it in the file on the terminal", n.Line)})
		}
	}
	walkScalars(root, "", func(path string, n *yaml.Node) {
		switch {
		case n.Tag == "!!null":
			ps = append(ps, Problem{Path: path, Reason: fmt.Sprintf("null is not allowed (line %d): to restore a default, push the default value, or leave the field out", n.Line)})
		case pemRE.MatchString(n.Value):
			ps = append(ps, Problem{Path: path, Reason: fmt.Sprintf("holds a PEM block (line %d): secrets are never pushed in clear; install the file on the terminal and push its path", n.Line)})
		case hexKeyRE.MatchString(n.Value):
			ps = append(ps, Problem{Path: path, Reason: fmt.Sprintf("looks like a raw key (line %d): secrets are never pushed in clear; install the file on the terminal and push its path", n.Line)})
		}
	})
	return ps, true
}

func lookup(n *yaml.Node, path string) *yaml.Node {
	for _, part := range strings.Split(path, ".") {
		for n != nil && n.Kind == yaml.AliasNode {
			n = n.Alias // "mgmt: *other" sets what the anchor holds
		}
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		i := mappingIndex(n, part)
		if i < 0 {
			return nil
		}
		n = n.Content[i+1]
	}
	return n
}

func walkScalars(n *yaml.Node, path string, fn func(string, *yaml.Node)) {
	switch n.Kind {
	case yaml.ScalarNode:
		fn(path, n)
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			walkScalars(n.Content[i+1], config.Join(path, n.Content[i].Value), fn)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			walkScalars(c, config.Index(path, i), fn)
		}
	case yaml.AliasNode:
		// Aliases point at nodes walked where they are defined.
	}
}
