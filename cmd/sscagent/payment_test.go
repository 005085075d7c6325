package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/labtest"
)

// TestPaymentRefundCLI: the command line is checked before anything is sent (an
// operator is required), and a refund the running agent refuses prints the operator's
// 8.4 prompt in Chinese with its code and exits 1.
func TestPaymentRefundCLI(t *testing.T) {
	for _, args := range [][]string{
		{"payment", "refund", "--amount", "1.00", "--operator", "op-1"},
		{"payment", "refund", "SSC-1-0000000000000001", "--amount", "1.00"},
		{"payment", "refund", "SSC-1-0000000000000001", "--amount", "100", "--operator", "op-1"},
	} {
		if _, errOut, code := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, %s", args, code, errOut)
		}
	}
	// The CLI finds the agent by the configured address: a free port, not the default
	// one another agent on this machine may hold.
	cfg := writeConfig(t, "format: auto", "format: json", "/dev/ttyACM0", filepath.Join(t.TempDir(), "no-scanner"),
		"listen: 127.0.0.1:8765", fmt.Sprintf("listen: 127.0.0.1:%d", labtest.FreePort(t)))
	writeKeys(t, filepath.Dir(cfg))
	_, lines := startRun(t, cfg)
	waitLine(t, lines, `"msg":"sscagent ready"`)
	_, errOut, code := runCLI(t, "payment", "refund", "SSC-NO-SUCH-0000000000000009", "--amount", "1.00", "--operator", "op-1", "--config", cfg)
	if first, _, _ := strings.Cut(errOut, "\n"); code != 1 || first != "本终端没有该订单号或退款单号，请核对后重试 [500015]" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
