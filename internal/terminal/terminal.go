// Package terminal describes this terminal's identity as registered with the one-card-pass
// platform and terminal management (spec 6.3 c, 9.3.3 a): its unique id, maker, model,
// the institution that runs it, where it stands, what kind of device it is (6.3 d) and
// which card modes it supports (6.2). Every other part reads it; nothing changes it at
// run time except a committed remote configuration.
package terminal

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/gbcode"
)

// DeviceType is a terminal device type of spec 6.3 d.
type DeviceType string

// Device types of spec 6.3 d.
const (
	DeviceKiosk          DeviceType = "kiosk"           // 自助服务终端
	DeviceDocumentCamera DeviceType = "document-camera" // 高拍仪
	DeviceCardReader     DeviceType = "ic-card-reader"  // IC 卡读写机具
	DeviceGate           DeviceType = "gate"            // 闸机
	DeviceScanner        DeviceType = "scanner"         // 扫码设备
	DeviceUnionPayPOS    DeviceType = "unionpay-pos"    // 银联 POS 终端机具
)

// DeviceTypes lists every valid device type.
var DeviceTypes = []DeviceType{DeviceKiosk, DeviceDocumentCamera, DeviceCardReader, DeviceGate, DeviceScanner, DeviceUnionPayPOS}

// CardMode is a card use mode of spec 6.2 (场景用卡模式).
type CardMode string

// Card modes of spec 6.2.
const (
	ModeVisual       CardMode = "visual"        // 视读
	ModeCard         CardMode = "card"          // 实体社会保障卡刷卡
	ModeECardScan    CardMode = "ecard-scan"    // 电子社会保障卡扫码
	ModeCardPayment  CardMode = "card-payment"  // 实体社会保障卡支付
	ModeECardPayment CardMode = "ecard-payment" // 电子社会保障卡移动支付
	ModeECardOnline  CardMode = "ecard-online"  // 电子社会保障卡线上服务
)

// CardModes lists every valid card mode.
var CardModes = []CardMode{ModeVisual, ModeCard, ModeECardScan, ModeCardPayment, ModeECardPayment, ModeECardOnline}

// Identity is the "terminal" section of the configuration file.
type Identity struct {
	// ID is the terminal unique identifier (终端唯一识别码) registered with the platform:
	// 1-32 characters of letters, digits and '-'. It prefixes order numbers and record ids.
	ID string `yaml:"id"`
	// Manufacturer is the terminal maker (终端生产厂商名称).
	Manufacturer string `yaml:"manufacturer"`
	// Model is the device model (设备型号).
	Model string `yaml:"model"`
	// Institution is the operating institution's name (应用机构名称).
	Institution string `yaml:"institution"`
	// CreditCode is the institution's unified social credit code (统一社会信用代码, GB 32100).
	CreditCode string `yaml:"creditCode"`
	// Region is the 6-digit GB/T 2260 administrative division code of the site (行政区划代码).
	Region string `yaml:"region"`
	// Site is the service outlet where the terminal stands (场景网点).
	Site string `yaml:"site"`
	// DeviceType is one of the spec 6.3 d device types.
	DeviceType DeviceType `yaml:"deviceType"`
	// CardModes are the supported card use modes of spec 6.2.
	CardModes []CardMode `yaml:"cardModes"`
	// InstitutionNo is the institution's number (机构编号) the platform registered it
	// under (spec 9.3.2 a); optional, 1-32 letters, digits, '-' or '_'.
	InstitutionNo string `yaml:"institutionNo"`
	// SoftwareVendor is the maker of the terminal's application software (软件厂家,
	// spec 6.3 c 5; Manufacturer is the hardware maker). Optional, at most 120 characters.
	SoftwareVendor string `yaml:"softwareVendor"`
	// CardProvinces are the provinces whose cards the terminal serves (用卡省份, spec
	// 6.3 c 7): 2-digit GB/T 2260 province codes, e.g. "35". Empty: the region's province.
	CardProvinces []string `yaml:"cardProvinces"`
	// Businesses are the services handled at the terminal (办理业务信息, spec 6.3 c 8),
	// as registered with the platform, e.g. 社保卡信息查询. Optional, each at most 64
	// characters.
	Businesses []string `yaml:"businesses"`
	// Test marks a test terminal: only a test terminal accepts the sandbox's test keys
	// and virtual cards. Never set it on a production terminal.
	Test bool `yaml:"test"`
}

// Validate implements config.Validator.
func (id Identity) Validate(path string, ps *config.Problems) {
	p := func(f string) string { return config.Join(path, f) }
	switch {
	case id.ID == "":
		ps.Addf(p("id"), "required")
	case len(id.ID) > 32:
		ps.Addf(p("id"), "must be at most 32 characters, got %d", len(id.ID))
	case strings.IndexFunc(id.ID, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '-')
	}) >= 0:
		ps.Addf(p("id"), "must be letters, digits and '-', got %q", id.ID)
	}
	for _, f := range []struct{ name, v string }{
		{"manufacturer", id.Manufacturer}, {"model", id.Model}, {"institution", id.Institution}, {"site", id.Site},
	} {
		if strings.TrimSpace(f.v) == "" {
			ps.Addf(p(f.name), "required")
		} else if utf8.RuneCountInString(f.v) > 120 {
			ps.Addf(p(f.name), "must be at most 120 characters")
		}
	}
	if err := gbcode.CreditCode(id.CreditCode); err != nil {
		ps.Addf(p("creditCode"), "must be an 18-character GB 32100 unified social credit code: %v, got %q", err, id.CreditCode)
	}
	if err := gbcode.RegionCode(id.Region); err != nil {
		ps.Addf(p("region"), "must be a 6-digit GB/T 2260 region code: %v, got %q", err, id.Region)
	}
	if !slices.Contains(DeviceTypes, id.DeviceType) {
		ps.Addf(p("deviceType"), "must be one of %s, got %q", join(DeviceTypes), id.DeviceType)
	}
	if len(id.CardModes) == 0 {
		ps.Addf(p("cardModes"), "at least one card mode is required (%s)", join(CardModes))
	}
	for i, m := range id.CardModes {
		if !slices.Contains(CardModes, m) {
			ps.Addf(config.Index(p("cardModes"), i), "must be one of %s, got %q", join(CardModes), m)
		} else if slices.Index(id.CardModes, m) != i {
			ps.Addf(config.Index(p("cardModes"), i), "%q is listed twice", m)
		}
	}
	if n := id.InstitutionNo; n != "" && (len(n) > 32 || strings.IndexFunc(n, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '-' || r == '_')
	}) >= 0) {
		ps.Addf(p("institutionNo"), "must be 1-32 letters, digits, '-' or '_', got %q", n)
	}
	if utf8.RuneCountInString(id.SoftwareVendor) > 120 {
		ps.Addf(p("softwareVendor"), "must be at most 120 characters")
	}
	for i, c := range id.CardProvinces {
		if err := gbcode.RegionCode(c + "0000"); err != nil || len(c) != 2 {
			ps.Addf(config.Index(p("cardProvinces"), i), "must be a 2-digit GB/T 2260 province code such as \"35\", got %q", c)
		} else if slices.Index(id.CardProvinces, c) != i {
			ps.Addf(config.Index(p("cardProvinces"), i), "%q is listed twice", c)
		}
	}
	for i, b := range id.Businesses {
		if strings.TrimSpace(b) == "" || utf8.RuneCountInString(b) > 64 {
			ps.Addf(config.Index(p("businesses"), i), "must be 1-64 characters")
		}
	}
}

// Provinces returns the provinces whose cards the terminal serves: CardProvinces, or
// the region's province.
func (id Identity) Provinces() []string {
	if len(id.CardProvinces) > 0 {
		return id.CardProvinces
	}
	if len(id.Region) >= 2 {
		return []string{id.Region[:2]}
	}
	return nil
}

// Supports reports whether the terminal is configured for card mode m.
func (id Identity) Supports(m CardMode) bool { return slices.Contains(id.CardModes, m) }

func join[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// String names the terminal for logs: "T0001 (Maker Model)".
func (id Identity) String() string {
	return fmt.Sprintf("%s (%s %s)", id.ID, id.Manufacturer, id.Model)
}
