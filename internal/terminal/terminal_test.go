package terminal

import (
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/config"
)

func valid() Identity {
	return Identity{
		ID: "SSC-T0001", Manufacturer: "Acme", Model: "K1", Institution: "某市人社局",
		CreditCode: "91350100M000100Y43", Region: "350100", Site: "市民中心",
		DeviceType: DeviceKiosk, CardModes: []CardMode{ModeCard, ModeECardScan},
	}
}

func TestValid(t *testing.T) {
	var ps config.Problems
	valid().Validate("terminal", &ps)
	if ps.Len() != 0 {
		t.Fatalf("valid identity rejected: %v", ps.List())
	}
}

func TestEveryProblemReported(t *testing.T) {
	id := valid()
	id.ID = "bad id!"
	id.CreditCode = "91350100M000100Y44"
	id.Region = "99"
	id.DeviceType = "toaster"
	id.CardModes = []CardMode{ModeCard, "swipe", ModeCard}
	id.Site = " "
	var ps config.Problems
	id.Validate("terminal", &ps)
	out := ps.Err().Error()
	for _, want := range []string{
		"terminal.id:", "terminal.creditCode: must be an 18-character GB 32100 unified social credit code: check digit mismatch",
		"terminal.region:", `terminal.deviceType: must be one of kiosk`, `terminal.cardModes[1]: must be one of`,
		`terminal.cardModes[2]: "card" is listed twice`, "terminal.site: required",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if ps.Len() != 7 {
		t.Errorf("want 7 problems, got %d:\n%s", ps.Len(), out)
	}
}
