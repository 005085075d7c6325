package config

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

type inner struct {
	ChannelNo string   `yaml:"channelNo"`
	Timeout   Duration `yaml:"timeout"`
}

type outer struct {
	Platform inner   `yaml:"platform"`
	Scenes   []inner `yaml:"scenes"`
	Name     string  `yaml:"name"`
}

func TestDecodeStrict(t *testing.T) {
	src := `
name: x
platform:
  chanelNo: "1"
  timeout: 5s
scenes:
  - channelNo: "2"
    extra: 1
bogus: true
`
	var c outer
	err := Decode([]byte(src), &c)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	got := err.Error()
	for _, want := range []string{
		`platform.chanelNo: unknown field (line 4); did you mean "channelNo"?`,
		"scenes[0].extra: unknown field",
		"bogus: unknown field",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if len(ce.Problems) != 3 {
		t.Errorf("want 3 problems, got %d", len(ce.Problems))
	}
}

func TestDecodeTypesAndDurations(t *testing.T) {
	var c outer
	if err := Decode([]byte("platform: {timeout: 1m30s}\n"), &c); err != nil {
		t.Fatal(err)
	}
	if c.Platform.Timeout.D() != 90*time.Second {
		t.Fatalf("timeout = %v", c.Platform.Timeout)
	}
	err := Decode([]byte("platform: {timeout: soon}\nscenes: 3\n"), &c)
	if err == nil || !strings.Contains(err.Error(), `"soon"`) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("want both type errors, got %v", err)
	}
	if err := Decode([]byte("name: [unclosed\n"), &c); err == nil || !strings.Contains(err.Error(), "YAML syntax") {
		t.Fatalf("want syntax error, got %v", err)
	}
}

func TestLoadFileMissing(t *testing.T) {
	var c outer
	if err := LoadFile(filepath.Join(t.TempDir(), "none.yaml"), &c); !errors.Is(err, ErrNoConfig) {
		t.Fatalf("want ErrNoConfig, got %v", err)
	}
}

func TestProblems(t *testing.T) {
	var ps Problems
	if ps.Err() != nil {
		t.Fatal("empty problems is an error")
	}
	ps.Addf(Join("platform", "channelNo"), "must be 12 digits, got %q", "0101")
	ps.Add(Join(Index("scenes", 1), "reader"), errors.New("required"))
	want := "invalid configuration (2 problems):\n  platform.channelNo: must be 12 digits, got \"0101\"\n  scenes[1].reader: required"
	if got := ps.Err().Error(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestSecretFilePerm(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("permission bits are Unix only")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(p, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := SecretFile(p).Read(); !errors.Is(err, ErrSecretPerm) {
		t.Fatalf("want ErrSecretPerm, got %v", err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := SecretFile(p).Read()
	if err != nil || string(b) != "secret" {
		t.Fatalf("Read = %q, %v", b, err)
	}
}

func TestSecrets(t *testing.T) {
	type inner struct {
		Key   SecretFile `yaml:"key"`
		Plain string     `yaml:"plain"`
	}
	type tree struct {
		A     inner            `yaml:"a"`
		List  []inner          `yaml:"list"`
		Map   map[string]inner `yaml:"map"`
		Empty SecretFile       `yaml:"empty"`
		Ptr   *inner           `yaml:"ptr"`
	}
	got := Secrets(tree{
		A:    inner{Key: "/a.key", Plain: "x"},
		List: []inner{{}, {Key: "/l1.key"}},
		Map:  map[string]inner{"z": {Key: "/z.key"}, "b": {Key: "/b.key"}},
		Ptr:  &inner{Key: "/p.key"},
	})
	var paths []string
	for _, s := range got {
		paths = append(paths, s.Path+"="+string(s.File))
	}
	want := "a.key=/a.key list[1].key=/l1.key map.b.key=/b.key map.z.key=/z.key ptr.key=/p.key"
	if strings.Join(paths, " ") != want {
		t.Fatalf("Secrets = %v, want %s", paths, want)
	}
}
