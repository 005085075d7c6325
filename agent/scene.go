package agent

import (
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sscagent/sscagent/agent/gate"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/records"
)

// SceneKind says what a read means on a terminal (DESIGN §3).
type SceneKind string

// Scene kinds.
const (
	// SceneIdentity authenticates a card or e-card code with the platform (7.1.1, 7.1.2),
	// opens the gate on success and records a C.3 credential.
	SceneIdentity SceneKind = "identity"
	// ScenePayment pays a pending amount with a scanned e-card payment code (7.2.3) or
	// shows the merchant QR (7.2.4), and records C.4.
	ScenePayment SceneKind = "payment"
	// SceneMedical reads the card with PSAM settlement authentication (7.2.5) and hands
	// the result to the settlement application through the local API.
	SceneMedical SceneKind = "medical"
	// SceneKiosk reads and authenticates, and leaves every decision to the kiosk
	// application, which sees all events on the local API.
	SceneKiosk SceneKind = "kiosk"
	// SceneReader lends its readers to the national reader interface library
	// (cmd/sscreader, POST /v1/card/read): a card is read when the business
	// application asks, never on insertion alone, and the application authenticates it.
	SceneReader SceneKind = "reader"
)

// SceneKinds lists the valid kinds.
var SceneKinds = []SceneKind{SceneIdentity, ScenePayment, SceneMedical, SceneKiosk, SceneReader}

// Payment methods of a payment scene.
const (
	// MethodScan is 被扫 (7.2.3): the terminal scans the holder's e-card payment code.
	MethodScan = "scan"
	// MethodMerchantQR is 主扫 (7.2.4): the terminal shows a merchant code that the
	// holder scans and pays in the e-card app.
	MethodMerchantQR = "merchant-qr"
)

// Scene is one entry of the "scenes" list: which inputs it takes and what a read means.
type Scene struct {
	// Name identifies the scene in events, records and the local API.
	Name string `yaml:"name"`
	// Kind is identity, payment, medical or kiosk.
	Kind SceneKind `yaml:"kind"`
	// Readers are glob patterns of holder-card reader names this scene takes cards from
	// ("*" for any holder reader). A reader belongs to the first scene that matches it.
	Readers []string `yaml:"readers"`
	// Scanners are the names of the scanners (see "scanners") this scene takes codes from.
	Scanners []string `yaml:"scanners"`
	// ApplicationNo is the 2-digit table C.7 应用场景 code the envelope of the scene's
	// platform calls carries (D.1 applicationNo). Default: platform.applicationNo.
	ApplicationNo string `yaml:"applicationNo"`
	// Label is the 应用场景 (C.3) or 支付场景 (C.4) of the scene's records: a table C.7
	// value (code or label), optionally followed by "/" and free text. Default: the C.7
	// value of the scene's applicationNo, else 99 其他业务领域应用.
	Label string `yaml:"label"`
	// ECardBusinessType is the businessType sent when an e-card code is decoded: 01 查询,
	// 02 缴费支付, 03 其他, 04 异地就医. Empty sends none.
	ECardBusinessType string `yaml:"ecardBusinessType"`
	// Payment holds the settings of a payment scene.
	Payment PaymentSettings `yaml:"payment"`
	// Gate is the output opened after a successful identity outcome.
	Gate gate.Config `yaml:"gate"`
}

// PaymentSettings is the "payment" block of a payment scene.
type PaymentSettings struct {
	// Method is scan (被扫, 7.2.3: the holder shows a code, default) or merchant-qr (主扫,
	// 7.2.4: the terminal shows a code the holder pays in the e-card app).
	Method string `yaml:"method"`
	// SettlementType is the C.10 支付结算类型 of the scene's payments (code or label).
	// Default 01 普通消费/缴费支付.
	SettlementType string `yaml:"settlementType"`
	// CodeTimeout is how long an order of method scan waits for the holder's code before
	// it is cancelled. Default 2m.
	CodeTimeout config.Duration `yaml:"codeTimeout"`
	// MerchantName and MerchantID are 商户名称 and 商户ID (6 digits) of the C.4 records;
	// both optional.
	MerchantName string `yaml:"merchantName"`
	MerchantID   string `yaml:"merchantId"`
}

// withDefaults fills the zero fields of a scene; applicationNo is platform.applicationNo.
func (s Scene) withDefaults(applicationNo string) Scene {
	if s.ApplicationNo == "" {
		s.ApplicationNo = applicationNo
	}
	if s.Label == "" {
		s.Label = "99"
		if v, ok := records.RangeScene.Lookup(s.ApplicationNo); ok && s.ApplicationNo != "" {
			s.Label = v.Code
		}
	}
	if v, ok := records.RangeScene.Lookup(s.Label); ok {
		s.Label = v.Label // the canonical label, as the records carry it
	}
	if s.Kind == ScenePayment {
		if s.Payment.Method == "" {
			s.Payment.Method = MethodScan
		}
		if s.Payment.SettlementType == "" {
			s.Payment.SettlementType = "01"
		}
		if s.Payment.CodeTimeout == 0 {
			s.Payment.CodeTimeout = config.Duration(2 * time.Minute)
		}
	}
	g := gate.DefaultConfig()
	if s.Gate.Kind == "" {
		s.Gate.Kind = g.Kind
	}
	if s.Gate.Timeout == 0 {
		s.Gate.Timeout = g.Timeout
	}
	if s.Gate.Serial.Baud == 0 {
		s.Gate.Serial.Baud = g.Serial.Baud
	}
	if s.Gate.Serial.PulseWidth == 0 {
		s.Gate.Serial.PulseWidth = g.Serial.PulseWidth
	}
	return s
}

// takesCards reports whether the scene reads physical cards.
func (s Scene) takesCards() bool { return len(s.Readers) > 0 }

// matchesReader reports whether reader is one of the scene's readers (globs, case
// ignored, as the card reader roles are matched).
func (s Scene) matchesReader(reader string) bool {
	n := strings.ToLower(reader)
	for _, p := range s.Readers {
		if ok, _ := path.Match(strings.ToLower(p), n); ok {
			return true
		}
	}
	return false
}

// ownerOf returns the index of the first scene that takes cards from reader, or -1.
func ownerOf(scenes []Scene, reader string) int {
	return slices.IndexFunc(scenes, func(s Scene) bool { return s.matchesReader(reader) })
}

// validateScenes checks the scenes list against the scanners defined.
func validateScenes(scenes []Scene, scanners []string, ps *config.Problems) {
	seen := map[string]bool{}
	scannerOwner := map[string]string{}
	for i, s := range scenes {
		p := config.Index("scenes", i)
		j := func(f string) string { return config.Join(p, f) }
		switch {
		case s.Name == "":
			ps.Addf(j("name"), "required")
		case seen[s.Name]:
			ps.Addf(j("name"), "%q is used by another scene", s.Name)
		case len(s.Name) > 64 || strings.ContainsAny(s.Name, "/ \t\r\n"):
			ps.Addf(j("name"), "must be at most 64 characters without '/' or white space, got %q", s.Name)
		}
		seen[s.Name] = true
		if !slices.Contains(SceneKinds, s.Kind) {
			ps.Addf(j("kind"), "must be identity, payment, medical, kiosk or reader, got %q", s.Kind)
		}
		if len(s.Readers) == 0 && len(s.Scanners) == 0 && s.Kind != ScenePayment {
			ps.Addf(p, "takes no input: list readers and/or scanners")
		}
		for k, r := range s.Readers {
			if _, err := path.Match(strings.ToLower(r), ""); err != nil || r == "" {
				ps.Addf(config.Index(j("readers"), k), "bad pattern %q", r)
			}
		}
		for k, name := range s.Scanners {
			q := config.Index(j("scanners"), k)
			switch {
			case !slices.Contains(scanners, name):
				ps.Addf(q, "no scanner named %q in \"scanners\"", name)
			case scannerOwner[name] != "":
				ps.Addf(q, "scanner %q already belongs to scene %q: a scanner feeds one scene", name, scannerOwner[name])
			default:
				scannerOwner[name] = s.Name
			}
		}
		if s.Kind == SceneReader && len(s.Scanners) > 0 {
			ps.Addf(j("scanners"), "a reader scene lends card readers to the reader library: it takes no scanners")
		}
		if s.Gate.Kind != "" && s.Gate.Kind != gate.KindNone && s.Kind != SceneIdentity {
			ps.Addf(j("gate.kind"), "a gate is opened by identity scenes only, this scene is %q", s.Kind)
		}
		s.Gate.Validate(j("gate"), ps)
		if s.Label != "" {
			checkField(records.KindCredential, "scene", s.Label, j("label"), ps)
		}
		if a := s.ApplicationNo; a != "" && (len(a) != 2 || strings.Trim(a, "0123456789") != "") {
			ps.Addf(j("applicationNo"), "must be 2 digits (table C.7) or empty, got %q", a)
		}
		switch s.ECardBusinessType {
		case "", "01", "02", "03", "04":
		default:
			ps.Addf(j("ecardBusinessType"), "must be 01, 02, 03, 04 or empty, got %q", s.ECardBusinessType)
		}
		if s.Kind == ScenePayment {
			validatePayment(s, p, ps)
		} else if s.Payment != (PaymentSettings{}) {
			ps.Addf(j("payment"), "only payment scenes take payment settings, this scene is %q", s.Kind)
		}
	}
}

func validatePayment(s Scene, p string, ps *config.Problems) {
	j := func(f string) string { return config.Join(p, f) }
	pm := s.Payment
	switch pm.Method {
	case MethodScan:
	case MethodMerchantQR:
		if len(s.Scanners) > 0 {
			ps.Addf(j("scanners"), "a merchant-qr scene shows a code and scans none: leave scanners empty")
		}
	default:
		ps.Addf(j("payment.method"), "must be scan or merchant-qr, got %q", pm.Method)
	}
	if len(s.Readers) > 0 {
		ps.Addf(j("readers"), "payment scenes take e-card codes, not cards: read cards in an identity, medical or kiosk scene")
	}
	if _, ok := records.RangeSettlementType.Lookup(pm.SettlementType); !ok {
		ps.Addf(j("payment.settlementType"), "must be a table C.10 value (01-08 or its label), got %q", pm.SettlementType)
	}
	if t := pm.CodeTimeout.D(); t < time.Second || t > 30*time.Minute {
		ps.Addf(j("payment.codeTimeout"), "must be between 1s and 30m, got %s", pm.CodeTimeout)
	}
	if pm.MerchantID != "" {
		checkField(records.KindPayment, "merchantId", pm.MerchantID, j("payment.merchantId"), ps)
	}
	if utf8.RuneCountInString(pm.MerchantName) > 120 {
		ps.Addf(j("payment.merchantName"), "must be at most 120 characters")
	}
}
