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

// The spec 6.3 c / 9.3.2 a items: optional, checked when set; the card provinces
// default to the region's.
func TestRegistrationItems(t *testing.T) {
	id := valid()
	if got := id.Provinces(); len(got) != 1 || got[0] != "35" {
		t.Fatalf("default provinces %v", got)
	}
	id.InstitutionNo, id.SoftwareVendor = "JG-350100-01", "示例软件有限公司"
	id.CardProvinces, id.Businesses = []string{"35", "11"}, []string{"社保卡信息查询", "医保结算"}
	var ps config.Problems
	id.Validate("terminal", &ps)
	if ps.Len() != 0 || len(id.Provinces()) != 2 {
		t.Fatalf("valid items refused: %v", ps.List())
	}
	id.InstitutionNo = "no spaces allowed"
	id.SoftwareVendor = strings.Repeat("软", 121)
	id.CardProvinces = []string{"35", "3", "99", "35"}
	id.Businesses = []string{" ", strings.Repeat("x", 65)}
	ps = config.Problems{}
	id.Validate("terminal", &ps)
	out := ps.Err().Error()
	for _, want := range []string{"terminal.institutionNo:", "terminal.softwareVendor:", "terminal.cardProvinces[1]:",
		"terminal.cardProvinces[2]:", `terminal.cardProvinces[3]: "35" is listed twice`, "terminal.businesses[0]:", "terminal.businesses[1]:"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}
