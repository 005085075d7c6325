package agent

import (
	"encoding/json"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/records"
)

// RecordsConfig is the "records" section: the site details the agent writes into the
// Appendix C records it makes itself (C.3 of identity scenes, C.4 of payment scenes).
// The institution's name, credit code and region come from "terminal"; the 接入编号 is
// platform.channelNo. Every field is optional.
type RecordsConfig struct {
	// InstitutionAddress is 应用机构地址 (C.3).
	InstitutionAddress string `yaml:"institutionAddress"`
	// InstitutionType is 应用机构类别 (C.3, table C.8, code or label). Default: the
	// category terminal.creditCode encodes (91… 企业, 12… 事业单位), if any.
	InstitutionType string `yaml:"institutionType"`
	// Channel is 渠道 (C.3), e.g. 线下自助终端.
	Channel string `yaml:"channel"`
	// CoordinateSystem is 坐标系 of the coordinates below, e.g. GCJ-02 or BD09 (the
	// standard's examples; others are accepted with a warning). Required with
	// coordinates.
	CoordinateSystem string `yaml:"coordinateSystem"`
	// Longitude and Latitude are the terminal's position, decimal degrees (written with
	// 4 decimals). Both or neither.
	Longitude string `yaml:"longitude"`
	Latitude  string `yaml:"latitude"`
}

// Validate checks the fields with the records' own rules (formats, C.8) and, as a rule
// of this configuration (the standard states none), coordinates given together and
// with their system; creditCode is terminal.creditCode.
func (c RecordsConfig) Validate(path, creditCode string, ps *config.Problems) {
	if (c.Longitude == "") != (c.Latitude == "") {
		ps.Addf(config.Join(path, "latitude"), "longitude and latitude go together: give both or neither")
	}
	if c.Longitude != "" && c.CoordinateSystem == "" {
		ps.Addf(config.Join(path, "coordinateSystem"), "required with coordinates")
	}
	rec := sampleCredential()
	rec.InstitutionAddress, rec.InstitutionType, rec.Channel = c.InstitutionAddress, c.InstitutionType, c.Channel
	rec.CoordinateSystem, rec.Longitude, rec.Latitude = c.CoordinateSystem, c.Longitude, c.Latitude
	rec.CreditCode = creditCode
	fields := map[string]string{"institutionAddress": "institutionAddress", "institutionType": "institutionType",
		"channel": "channel", "coordinateSystem": "coordinateSystem", "longitude": "longitude", "latitude": "latitude"}
	reportFields(rec, fields, path, ps)
}

// sampleCredential is a valid C.3 record; validations substitute the field they check.
func sampleCredential() *records.Credential {
	return &records.Credential{AccessNo: "350100000001", CredentialType: "01", RegionCode: "350100",
		Scene: "02", InstitutionName: "示例", AuthTime: "2024-01-01 10:00:00", BusinessTime: "2024-01-01 10:00:00",
		SocialSecurityNo: "350102199003077898", Name: "张三"}
}

// samplePayment is a valid C.4 record.
func samplePayment() *records.Payment {
	return &records.Payment{AccessNo: "350100000001", RegionCode: "350100", CardType: "电子社会保障卡",
		PaymentScene: "02", Amount: "1.00", PaidTime: "2024-01-01 10:00:00", SettlementMethod: "04",
		SettlementType: "01", PayerSocialSecurityNo: "350102199003077898"}
}

// checkField validates one field of kind with value (the records' rules) and reports
// its problems at path.
func checkField(kind records.Kind, field, value, path string, ps *config.Problems) {
	var rec records.Record = sampleCredential()
	if kind == records.KindPayment {
		rec = samplePayment()
	}
	b, _ := json.Marshal(rec)
	var m map[string]string
	_ = json.Unmarshal(b, &m)
	m[field] = value
	b, _ = json.Marshal(m)
	_, err := records.Parse(kind, b)
	collectFields(err, map[string]string{field: ""}, path, ps)
}

// reportFields validates rec and reports the problems of the given fields (record field
// -> configuration field under path).
func reportFields(rec records.Record, fields map[string]string, path string, ps *config.Problems) {
	b, _ := json.Marshal(rec)
	_, err := records.Parse(rec.Kind(), b)
	collectFields(err, fields, path, ps)
}

func collectFields(err error, fields map[string]string, path string, ps *config.Problems) {
	ve, ok := err.(*records.ValidationError)
	if !ok {
		return
	}
	for _, f := range ve.Fields {
		if to, ok := fields[f.Field]; ok {
			p := path
			if to != "" {
				p = config.Join(path, to)
			}
			ps.Addf(p, "%s (%s)", f.Reason, f.Rule)
		}
	}
}
