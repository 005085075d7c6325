package serial_test

import (
	"runtime"
	"slices"
	"testing"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/qrscan/serial"
)

func TestValidate(t *testing.T) {
	var ps config.Problems
	serial.Config{Port: "", Baud: 10, DataBits: 9, Parity: "sometimes", StopBits: 3, FlowControl: "dtr"}.
		Validate("s", &ps)
	var paths []string
	for _, p := range ps.List() {
		paths = append(paths, p.Path)
	}
	want := []string{"s.port", "s.baud", "s.dataBits", "s.parity", "s.stopBits", "s.flowControl"}
	if !slices.Equal(paths, want) {
		t.Fatalf("problems at %v, want %v", paths, want)
	}
	ps = config.Problems{}
	serial.Config{Port: "/dev/ttyACM0", StopBits: 1.5}.Validate("s", &ps)
	if (ps.Len() == 0) != (runtime.GOOS == "windows") {
		t.Fatalf("1.5 stop bits: %v; valid on Windows only", ps.List())
	}
	ps = config.Problems{}
	serial.Config{Port: "/dev/ttyACM0"}.Validate("s", &ps)
	if ps.Len() != 0 {
		t.Fatalf("defaults should be valid: %v", ps.List())
	}
}
