package records

import "github.com/sscagent/sscagent/internal/mask"

// Credential is a 办事凭证数据 record (C.3.1, table C.3): the holder used the social
// security card as proof of identity (physical card authentication, e-card QR code,
// face recognition, authorised login). Every value is a string, as on the wire (spec
// 8.1.1.1 d); "" is an absent optional field.
type Credential struct {
	// AccessNo is 接入编号: the 12-digit number the national platform assigned to the
	// system serving the scene. n12, required. "010122310011".
	AccessNo string `json:"accessNo,omitempty"`
	// BusinessSerialNo is 业务流水号: the case number (办件流水号) of the business handled,
	// as the serving system returned it. ..ul, optional (may be left out for physical
	// card authentication).
	BusinessSerialNo string `json:"businessSerialNo,omitempty"`
	// CredentialType is 办事凭证类型: how the card was used, a value of table C.6 (code or
	// label; canonical: the label). Required. "电子社会保障卡二维码扫码认证".
	CredentialType string `json:"credentialType,omitempty"`
	// RegionCode is 行政区划代码: the GB/T 2260 six-digit code of where the institution
	// is. n6, required. "131000".
	RegionCode string `json:"regionCode,omitempty"`
	// Scene is 应用场景: a scene type, optionally extended after "/" with free text. The
	// type is a table C.7 value (canonical: the label) or, C.7 being open, any other text,
	// which is kept and reported once to the warning hook. ..ul, required.
	// "人力资源和社会保障应用/个人凭社会保障卡就业登记", "就业创业/个人凭社会保障卡就业登记".
	Scene string `json:"scene,omitempty"`
	// InstitutionName is 应用机构名称. ..120 characters, required. "**就业服务中心".
	InstitutionName string `json:"institutionName,omitempty"`
	// InstitutionAddress is 应用机构地址. ..ul, optional. "**市**区**路**号".
	InstitutionAddress string `json:"institutionAddress,omitempty"`
	// AuthTime is 认证时间: when the holder was authenticated. YYYY-MM-DD HH:MM:SS,
	// required. "2022-01-01 14:28:36".
	AuthTime string `json:"authTime,omitempty"`
	// BusinessTime is 业务办理时间: when the business was handled. YYYY-MM-DD HH:MM:SS,
	// required. "2022-01-01 14:53:18". The standard does not order it after AuthTime.
	BusinessTime string `json:"businessTime,omitempty"`
	// BusinessStatus is 业务处理状态: the serving system's response, "如成功、失败、未响应等"
	// (an open list: other values are accepted and reported once to the warning hook).
	// ..ul, optional.
	BusinessStatus string `json:"businessStatus,omitempty"`
	// CoordinateSystem is 坐标系: the map datum of the coordinates, "如：GCJ-02、BD09等"
	// (an open list). ..ul, optional.
	CoordinateSystem string `json:"coordinateSystem,omitempty"`
	// Longitude is 地理位置经度. n..8,4 (a JSON string or number; canonical: four
	// decimals), -180..180, optional. "108.5377".
	Longitude string `json:"longitude,omitempty"`
	// Latitude is 地理位置纬度. n..7,4, -90..90, optional. "39.5377".
	Latitude string `json:"latitude,omitempty"`
	// InstitutionType is 应用机构类别: a table C.8 value (canonical: the label). Optional.
	// "事业单位". InstitutionTypeOf derives it from a credit code.
	InstitutionType string `json:"institutionType,omitempty"`
	// Channel is 渠道: the channel the card was used through (GB/T XXXXX.1 table 16).
	// ..ul, optional. "人社APP".
	Channel string `json:"channel,omitempty"`
	// SocialSecurityNo is 社会保障号码: the holder's citizen ID number, GB 11643 with a
	// valid check character (canonical: upper-case X). an18, required, personal data.
	SocialSecurityNo string `json:"socialSecurityNo,omitempty"`
	// Name is 姓名: the holder's name. ..50 characters, required, personal data. "张三".
	Name string `json:"name,omitempty"`
	// CreditCode is 统一社会信用代码 of the institution, GB 32100 with a valid check
	// character (canonical: upper case). an18, optional.
	CreditCode string `json:"creditCode,omitempty"`
}

var _ Record = (*Credential)(nil)

// credentialTable is table C.3 row by row: each field's 数据格式 (C.2) and 是否必填, the
// code rules its 说明 names (GB/T 2260, GB 11643, GB 32100) and the value ranges of C.4.
var credentialTable = newTable(KindCredential, "C.3", "办事凭证数据",
	func() Record { return new(Credential) },
	field{Field: Field{Name: "accessNo", Chinese: "接入编号", Format: FormatN12, Required: true}, check: digits(12)},
	field{Field: Field{Name: "businessSerialNo", Chinese: "业务流水号", Format: FormatTextUL}, check: text(MaxText)},
	rangeField("credentialType", "办事凭证类型", RangeCredentialType, true),
	field{Field: Field{Name: "regionCode", Chinese: "行政区划代码", Format: FormatN6, Required: true}, check: regionCode},
	sceneField("scene", "应用场景"),
	field{Field: Field{Name: "institutionName", Chinese: "应用机构名称", Format: FormatText120, Required: true}, check: text(120)},
	field{Field: Field{Name: "institutionAddress", Chinese: "应用机构地址", Format: FormatTextUL}, check: text(MaxText)},
	field{Field: Field{Name: "authTime", Chinese: "认证时间", Format: FormatTime, Required: true}, check: dateTime},
	field{Field: Field{Name: "businessTime", Chinese: "业务办理时间", Format: FormatTime, Required: true}, check: dateTime},
	rangeField("businessStatus", "业务处理状态", RangeBusinessStatus, false),
	rangeField("coordinateSystem", "坐标系", RangeCoordinateSystem, false),
	field{Field: Field{Name: "longitude", Chinese: "地理位置经度", Format: FormatLon}, number: true, check: coordinate(180)},
	field{Field: Field{Name: "latitude", Chinese: "地理位置纬度", Format: FormatLat}, number: true, check: coordinate(90)},
	rangeField("institutionType", "应用机构类别", RangeInstitutionType, false),
	field{Field: Field{Name: "channel", Chinese: "渠道", Format: FormatTextUL}, check: text(MaxText)},
	field{Field: Field{Name: "socialSecurityNo", Chinese: "社会保障号码", Format: FormatAN18, Required: true, Personal: mask.KindIDNumber}, check: idNumber},
	field{Field: Field{Name: "name", Chinese: "姓名", Format: FormatText50, Required: true, Personal: mask.KindName}, check: text(50)},
	field{Field: Field{Name: "creditCode", Chinese: "统一社会信用代码", Format: FormatAN18}, check: creditCode},
)

func (c *Credential) values() []*string {
	return []*string{&c.AccessNo, &c.BusinessSerialNo, &c.CredentialType, &c.RegionCode, &c.Scene,
		&c.InstitutionName, &c.InstitutionAddress, &c.AuthTime, &c.BusinessTime, &c.BusinessStatus,
		&c.CoordinateSystem, &c.Longitude, &c.Latitude, &c.InstitutionType, &c.Channel,
		&c.SocialSecurityNo, &c.Name, &c.CreditCode}
}

// Kind returns KindCredential.
func (c *Credential) Kind() Kind { return KindCredential }

// Validate reports every problem as a *ValidationError, or nil.
func (c *Credential) Validate() error { return validate(c) }

// Normalize validates c and rewrites it into canonical form.
func (c *Credential) Normalize() error { return normalize(c) }

// HolderID returns SocialSecurityNo.
func (c *Credential) HolderID() string { return c.SocialSecurityNo }

// Masked returns a copy with SocialSecurityNo and Name masked.
func (c *Credential) Masked() Record {
	m := *c
	masked(credentialTable, m.values())
	return &m
}

// rangeField is the row of a field whose 说明 gives a value range (C.4) or a list (如：).
func rangeField(name, chinese string, r Range, required bool) field {
	f := field{Field: Field{Name: name, Chinese: chinese, Format: r.Rule(), Required: required}, check: r.check}
	if r.Open() {
		f.unlisted = r.unlisted
	}
	return f
}

// sceneField is the row of 应用场景 (C.3 row 5) or 支付场景 (C.4 row 7): "取值范围见表C.7，
// 上报时可进行扩展性描述，使用'/'隔开".
func sceneField(name, chinese string) field {
	return field{Field: Field{Name: name, Chinese: chinese, Format: RangeScene.Rule(), Required: true},
		check: scene, unlisted: sceneUnlisted}
}
