// Package config holds the mechanics shared by every section of sscagent's one YAML
// configuration file: strict decoding (unknown keys are errors, reported with their
// path), the Problems list that validation fills with every mistake at once, durations
// written as "10s", and secret files referenced by path.
//
// The configuration tree itself is not here: each package owns and validates its own
// section (platform.Config, qrscan.Config, ...) and the agent package assembles them.
// Validation does no I/O; reading secrets is a separate step done when parts are built.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ErrNoConfig means the configuration file does not exist, as opposed to being invalid.
var ErrNoConfig = errors.New("config: no configuration file")

// Problem is one mistake in a configuration: the dotted field path and the reason.
type Problem struct {
	Path   string
	Reason string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Reason
	}
	return p.Path + ": " + p.Reason
}

// Problems collects every mistake found in a configuration. Validators append to it and
// keep going, so the operator sees all problems at once. The zero value is ready to use.
type Problems struct {
	list []Problem
}

// Addf records a problem at path (relative paths are joined by the caller with Join).
func (ps *Problems) Addf(path, format string, args ...any) {
	ps.list = append(ps.list, Problem{Path: path, Reason: fmt.Sprintf(format, args...)})
}

// Add records an error returned by a check as a problem at path.
func (ps *Problems) Add(path string, err error) {
	if err != nil {
		ps.list = append(ps.list, Problem{Path: path, Reason: err.Error()})
	}
}

// List returns the problems in the order they were found.
func (ps *Problems) List() []Problem { return ps.list }

// Len reports the number of problems.
func (ps *Problems) Len() int { return len(ps.list) }

// Err returns nil when there are no problems, otherwise an *Error listing them all.
func (ps *Problems) Err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &Error{Problems: append([]Problem(nil), ps.list...)}
}

// Join builds a field path: Join("platform", "channelNo") is "platform.channelNo",
// Join("scenes[0]", "reader") is "scenes[0].reader".
func Join(parent, field string) string {
	if parent == "" {
		return field
	}
	if strings.HasPrefix(field, "[") {
		return parent + field
	}
	return parent + "." + field
}

// Index builds the path of a list element: Index("scenes", 2) is "scenes[2]".
func Index(parent string, i int) string { return fmt.Sprintf("%s[%d]", parent, i) }

// Error is an invalid configuration: every problem found, one per line.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteByte('s')
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Syntax reports whether the file could not be parsed as YAML at all.
func (e *Error) Syntax() bool {
	return len(e.Problems) == 1 && strings.HasPrefix(e.Problems[0].Reason, syntaxPrefix)
}

const syntaxPrefix = "YAML syntax: "

// Validator is implemented by each configuration section. Validate appends every
// problem under path and must not do I/O.
type Validator interface {
	Validate(path string, ps *Problems)
}

// MaxFileSize bounds a configuration file; anything larger is refused unread.
const MaxFileSize = 1 << 20

// LoadFile reads the YAML file at path strictly into dst (a pointer to a struct that
// already holds the defaults). A missing file is ErrNoConfig.
func LoadFile(path string, dst any) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNoConfig, path)
	}
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return fmt.Errorf("config: read %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return fmt.Errorf("config: %s is larger than %d bytes", path, MaxFileSize)
	}
	return Decode(data, dst)
}

// Decode parses YAML strictly into dst. Every unknown key is reported with its path,
// every value of the wrong type with its line; all are returned together as *Error.
func Decode(data []byte, dst any) error {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file leaves the defaults
		}
		return &Error{Problems: []Problem{{Reason: syntaxPrefix + strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	var ps Problems
	checkKeys(&root, reflect.TypeOf(dst), "", &ps)
	if err := root.Decode(dst); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, m := range te.Errors {
				ps.Addf("", "%s", strings.TrimPrefix(m, "yaml: "))
			}
		} else {
			ps.Add("", err)
		}
	}
	return ps.Err()
}

// checkKeys walks the YAML tree beside the Go type and reports keys that name no field.
func checkKeys(n *yaml.Node, t reflect.Type, path string, ps *Problems) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n == nil || t == nil {
		return
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			checkKeys(c, t, path, ps)
		}
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return // the type decodes itself
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type mismatch
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("unknown field (line %d)", k.Line)
				if s := suggest(k.Value, fields); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				ps.Addf(Join(path, k.Value), "%s", msg)
				continue
			}
			checkKeys(v, ft, Join(path, k.Value), ps)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			checkKeys(c, t.Elem(), Index(path, i), ps)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkKeys(n.Content[i+1], t.Elem(), Join(path, n.Content[i].Value), ps)
		}
	}
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// yamlFields maps the YAML keys of struct t (following inline embeds) to field types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range yamlFields(ft) {
				m[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

// suggest returns the known key closest to k when it is a likely typo.
func suggest(k string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	best, bestD := "", 3
	for _, n := range names {
		if strings.EqualFold(n, k) {
			return n
		}
		if d := distance(strings.ToLower(k), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// distance is the Levenshtein edit distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Duration is a time.Duration written in YAML as a Go duration string ("10s", "1m30s").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v < 0 {
		// A *yaml.TypeError lets the decoder go on and report the other mistakes too.
		return &yaml.TypeError{Errors: []string{
			fmt.Sprintf("line %d: want a duration such as \"10s\", got %q", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// String formats the duration as Go does.
func (d Duration) String() string { return time.Duration(d).String() }
