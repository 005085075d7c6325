package cli

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	var p Program
	p.Name = "tool"
	var got []string
	p.Register("b", "second", func(args []string, out, _ io.Writer) int {
		got = args
		io.WriteString(out, "ran")
		return ExitFail
	})
	p.Register("a", "first", func([]string, io.Writer, io.Writer) int { return ExitOK })

	var out, errOut bytes.Buffer
	if rc := p.Dispatch([]string{"b", "x", "-y"}, &out, &errOut); rc != ExitFail || out.String() != "ran" || strings.Join(got, " ") != "x -y" {
		t.Fatalf("rc %d out %q args %q", rc, out.String(), got)
	}
	out.Reset()
	if rc := p.Dispatch(nil, &out, &errOut); rc != ExitUsage {
		t.Fatalf("no command: rc %d", rc)
	}
	if s := out.String(); !strings.Contains(s, "Usage: tool COMMAND") || strings.Index(s, "  a ") > strings.Index(s, "  b ") {
		t.Fatalf("usage not sorted or missing:\n%s", s)
	}
	if rc := p.Dispatch([]string{"--help"}, io.Discard, io.Discard); rc != ExitOK {
		t.Fatalf("--help: rc %d", rc)
	}
	errOut.Reset()
	if rc := p.Dispatch([]string{"nope"}, io.Discard, &errOut); rc != ExitUsage || !strings.Contains(errOut.String(), `unknown command "nope"`) {
		t.Fatalf("unknown: rc %d %q", rc, errOut.String())
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a duplicate name did not panic")
		}
	}()
	p.Register("a", "again", nil)
}

func TestParseArgs(t *testing.T) {
	for _, c := range []struct {
		args     []string
		min, max int
		want     int
	}{
		{nil, 0, 0, -1},
		{[]string{"-v"}, 0, 0, -1},
		{[]string{"-h"}, 0, 0, ExitOK},
		{[]string{"-nope"}, 0, 0, ExitUsage},
		{[]string{"stray"}, 0, 0, ExitUsage},
		{[]string{"one"}, 1, 1, -1},
		{nil, 1, 1, ExitUsage},
		{[]string{"a", "b", "c"}, 2, -1, -1},
		{[]string{"a"}, 2, -1, ExitUsage},
	} {
		var errOut bytes.Buffer
		fs := NewFlags("tool x", "Usage: tool x", &errOut)
		fs.Bool("v", false, "verbose")
		if rc := ParseArgs(fs, c.args, c.min, c.max); rc != c.want {
			t.Errorf("%q [%d,%d]: rc %d, want %d (%s)", c.args, c.min, c.max, rc, c.want, errOut.String())
		}
		if c.want == ExitUsage && c.args != nil && !strings.Contains(errOut.String(), "Usage: tool x") {
			t.Errorf("%q: usage not printed: %q", c.args, errOut.String())
		}
	}
}

func TestSubcommand(t *testing.T) {
	p := Program{Name: "tool"}
	if n, rc := p.Subcommand([]string{"gen", "--out", "d"}, "keys gen|show", io.Discard, "gen", "show"); n != "gen" || rc != -1 {
		t.Fatalf("gen: %q %d", n, rc)
	}
	var errOut bytes.Buffer
	if _, rc := p.Subcommand([]string{"-h"}, "keys gen|show", &errOut, "gen"); rc != ExitOK || errOut.String() != "Usage: tool keys gen|show\n" {
		t.Fatalf("-h: %d %q", rc, errOut.String())
	}
	if _, rc := p.Subcommand([]string{"other"}, "keys", io.Discard, "gen"); rc != ExitUsage {
		t.Fatalf("other: %d", rc)
	}
}
