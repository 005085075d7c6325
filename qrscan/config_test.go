package qrscan

import (
	"slices"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/qrscan/serial"
)

func problemPaths(v config.Validator) []string {
	var ps config.Problems
	v.Validate("scanners", &ps)
	var out []string
	for _, p := range ps.List() {
		out = append(out, p.Path)
	}
	return out
}

func TestConfigsValidate(t *testing.T) {
	good := Config{Name: "front", Kind: KindSerial, Serial: serial.Config{Port: "/dev/ttyACM0"}}
	if p := problemPaths(Configs{good, {Name: "demo", Kind: KindStdin}}); len(p) != 0 {
		t.Fatalf("valid section reported %v", p)
	}
	bad := Configs{
		good,
		{Name: "front", Kind: KindSerial, Serial: serial.Config{Port: "/dev/ttyS0"}},
		{Name: "in1", Kind: KindStdin},
		{Name: "in2", Kind: KindStdin},
		{Name: "bad name!", Kind: "usb"},
		{Name: "f", Kind: KindStdin, Framing: Framing{Terminator: "eol", SuffixByte: "0x3", MaxLine: 8,
			IdleGap: config.Duration(time.Millisecond)}},
		{Name: "s", Kind: KindStdin, Framing: Framing{Terminator: TermSuffix, SuffixByte: "zz"}},
		{Name: "l", Kind: KindStdin, Framing: Framing{MaxLine: 100}, Limits: Limits{MaxCodeLength: 101,
			DedupWindow: config.Duration(time.Hour), RatePerSecond: -1, Burst: 5000}},
		{Name: "c", Kind: KindStdin, Classify: Classification{Default: "x"}},
	}
	want := []string{
		"scanners[1].name",
		"scanners[3].kind",
		"scanners[4].name", "scanners[4].kind",
		"scanners[5].framing.terminator", "scanners[5].framing.suffixByte", "scanners[5].framing.idleGap",
		"scanners[5].framing.maxLine",
		"scanners[6].framing.suffixByte",
		"scanners[7].limits.maxCodeLength", "scanners[7].limits.dedupWindow", "scanners[7].limits.ratePerSecond",
		"scanners[7].limits.burst",
		"scanners[8].classify.default",
	}
	if got := problemPaths(bad); !slices.Equal(got, want) {
		t.Fatalf("problems at\n%q\nwant\n%q", got, want)
	}
}

func TestWithDefaults(t *testing.T) {
	c := Config{Name: "x", Kind: KindSerial}.WithDefaults()
	if c.Serial.Baud != 9600 || c.Framing.Terminator != TermAny || c.Framing.IdleGap.D() != time.Second ||
		c.Framing.MaxLine != 4096 || c.Limits.MaxCodeLength != MaxQRBytes || c.Limits.DedupWindow.D() != 3*time.Second ||
		c.Limits.RatePerSecond != 5 || c.Limits.Burst != 10 || c.Classify.Default != ClassUnknown {
		t.Fatalf("defaults: %+v", c)
	}
	idle := Config{Framing: Framing{Terminator: TermIdle, MaxLine: 1000}}.WithDefaults()
	if idle.Framing.IdleGap.D() != 100*time.Millisecond || idle.Limits.MaxCodeLength != 1000 {
		t.Fatalf("idle defaults: %+v", idle.Framing)
	}
}
