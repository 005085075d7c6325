package qrscan

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/qrscan/hid"
	"github.com/sscagent/sscagent/qrscan/serial"
)

func TestPromptsRegistered(t *testing.T) {
	codes := []prompt.Code{CodeScannerOffline, CodeUnreadable, CodeDuplicate, CodeRateLimited, CodeBusy,
		CodeWrongClass, CodeDeviceBusy, CodeNoPermission}
	for _, c := range codes {
		m := prompt.Lookup(c)
		if m.Code != c || c < 300000 || c > 399999 {
			t.Fatalf("code %d not registered in the QR range", c)
		}
		for _, l := range []prompt.Lang{prompt.ZH, prompt.EN} {
			h := m.Render(prompt.Holder, l)
			if strings.ContainsAny(h, "0123456789[]") {
				t.Errorf("holder text of %d shows a code: %q", c, h)
			}
			if !strings.HasSuffix(m.Render(prompt.Maintainer, l), c.String()) {
				t.Errorf("maintainer text of %d lacks its code", c)
			}
		}
	}
	// The catalogue already panics on a duplicate; this also catches a default mapping
	// that points at an unregistered code.
	for r := ReasonOverlong; r <= ReasonBusy; r++ {
		if prompt.Lookup(PromptFor(r)).Code != PromptFor(r) {
			t.Errorf("reason %s maps to unregistered %d", r, PromptFor(r))
		}
	}
}

func TestStatusPrompt(t *testing.T) {
	for err, want := range map[error]prompt.Code{
		fmt.Errorf("open: %w", serial.ErrBusy):           CodeDeviceBusy,
		fmt.Errorf("%w: /dev/input/event3", hid.ErrBusy): CodeDeviceBusy,
		&os.PathError{Op: "open", Err: os.ErrPermission}: CodeNoPermission,
		fmt.Errorf("%w: gone", serial.ErrClosed):         CodeScannerOffline,
		errors.New("anything else"):                      CodeScannerOffline,
	} {
		if got := StatusPrompt(err); got != want {
			t.Errorf("StatusPrompt(%v) = %d, want %d", err, got, want)
		}
	}
}
