package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/agent/gate"
	"github.com/sscagent/sscagent/internal/config"
)

// TestSceneValidation: every mistake in the scenes list is reported at its path.
func TestSceneValidation(t *testing.T) {
	scenes := []Scene{
		{Name: "a", Kind: SceneIdentity, Scanners: []string{"front", "nope"}, Label: "/x"},
		{Name: "b", Kind: SceneKiosk, Scanners: []string{"front"}, Gate: gate.Config{Kind: gate.KindHTTP, Timeout: config.Duration(time.Second), HTTP: gate.HTTPConfig{URL: "http://h/"}}},
		{Name: "c", Kind: ScenePayment, Readers: []string{"*"}, Payment: PaymentSettings{Method: "cash", SettlementType: "99", MerchantID: "12"}},
		{Name: "d", Kind: ScenePayment, Scanners: []string{"back"}, Payment: PaymentSettings{Method: MethodMerchantQR}},
		{Name: "e", Kind: SceneMedical, Readers: []string{"["}, ECardBusinessType: "05", Payment: PaymentSettings{Method: MethodScan}},
		{Name: "a", Kind: "atm"},
		{Name: "f", Kind: SceneReader, Readers: []string{"*"}, Scanners: []string{"back"}},
	}
	for i := range scenes {
		scenes[i] = scenes[i].withDefaults("02")
	}
	var ps config.Problems
	validateScenes(scenes, []string{"front", "back"}, &ps)
	got := ps.Err().Error()
	for _, want := range []string{
		`scenes[0].scanners[1]: no scanner named "nope"`,
		`scenes[0].label:`,
		`scenes[1].scanners[0]: scanner "front" already belongs to scene "a"`,
		`scenes[1].gate.kind: a gate is opened by identity scenes only`,
		`scenes[2].payment.method: must be scan or merchant-qr`,
		`scenes[2].readers: payment scenes take e-card codes, not cards`,
		`scenes[2].payment.settlementType:`,
		`scenes[2].payment.merchantId:`,
		`scenes[3].scanners: a merchant-qr scene shows a code and scans none`,
		`scenes[4].readers[0]: bad pattern`,
		`scenes[4].ecardBusinessType: must be 01, 02, 03, 04 or empty`,
		`scenes[4].payment: only payment scenes take payment settings`,
		`scenes[5].name: "a" is used by another scene`,
		`scenes[5].kind: must be identity, payment, medical, kiosk or reader`,
		`scenes[6].scanners: a reader scene lends card readers to the reader library: it takes no scanners`,
		`scenes[5]: takes no input`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}

// TestSceneDefaultsAndOwnership: labels default to platform.applicationNo's C.7 value
// (canonical label), payment defaults fill in, and a reader belongs to the first scene
// whose pattern matches it, regardless of case.
func TestSceneDefaultsAndOwnership(t *testing.T) {
	s := Scene{Name: "p", Kind: ScenePayment}.withDefaults("03")
	if s.Label != "就医购药应用" || s.Payment.Method != MethodScan || s.Payment.SettlementType != "01" ||
		s.Payment.CodeTimeout.D() != 2*time.Minute || s.Gate.Kind != gate.KindNone {
		t.Errorf("defaults: %+v", s)
	}
	if l := (Scene{Label: "02/闸机"}).withDefaults("").Label; l != "02/闸机" {
		t.Errorf("a label with an extension is kept as written (records normalise it): %q", l)
	}
	if l := (Scene{}).withDefaults("").Label; l != "其他业务领域应用" {
		t.Errorf("default label without applicationNo: %q", l)
	}
	scenes := []Scene{{Name: "gate", Readers: []string{"ACS * 00 00"}}, {Name: "kiosk", Readers: []string{"*"}}}
	for reader, want := range map[string]int{"ACS ACR39U 00 00": 0, "acs acr39u 00 00": 0, "ACS ACR39U 00 01": 1, "Other": 1} {
		if got := ownerOf(scenes, reader); got != want {
			t.Errorf("owner of %q = %d, want %d", reader, got, want)
		}
	}
	if ownerOf(scenes[:1], "Other") != -1 {
		t.Error("a reader no scene matches has an owner")
	}
}
