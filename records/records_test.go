package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/prompt"
)

// Records modelled on the 填报示例 of tables C.3, C.4 and C.5, with the shared test
// identity 张三 (350102199003077898) for the masked ID numbers, a valid credit code of a
// 事业单位 in 131000 for the masked one, a test bank card for "/", and the spec's
// spellings where they are accepted as aliases (see docs/records.md). The examples
// themselves, as the spec prints them, are in testdata/appendix-c.tsv
// (TestAppendixCExamples).
const (
	exampleCredential = `{
		"accessNo": "010122310011",
		"credentialType": "电子社会保障卡二维码扫码认证",
		"regionCode": "131000",
		"scene": "人力资源和社会保障应用/个人凭社会保障卡就业登记",
		"institutionName": "**就业服务中心",
		"institutionAddress": "**市**区**路**号",
		"authTime": "2022-01-01 14:28:36",
		"businessTime": "2022-01-01 14:53:18",
		"businessStatus": "成功",
		"coordinateSystem": "GCJ-02",
		"longitude": 108.5377,
		"latitude": 39.5377,
		"institutionType": "事业单位",
		"channel": "人社APP",
		"socialSecurityNo": "350102199003077898",
		"name": "张三",
		"creditCode": "12131000MB1678341B"
	}`
	examplePayment = `{
		"accessNo": "010122310011",
		"regionCode": "131000",
		"cardType": "电子社会保障卡",
		"merchantName": "**市人民医院",
		"merchantId": "102142",
		"paymentScene": "人力资源和社会保障服务/工伤医疗费用结算",
		"orderDescription": "工伤医疗费用结算单",
		"amount": 798.86,
		"paidTime": "2022-01-01 14:53:18",
		"settlementMethod": "电子社会保障展码结算",
		"settlementType": "住院结算",
		"payerSocialSecurityNo": "350102199003077898",
		"payerName": "张三",
		"coordinateSystem": "GCJ-02",
		"longitude": "108.5377",
		"latitude": "39.5377"
	}`
	exampleBenefit = `{
		"accessNo": "010122310011",
		"regionCode": "131000",
		"benefitType": "省外",
		"subjectCategory": "就业补助资金",
		"subjectSubcategory": "一次性求职创业补贴",
		"payoutDepartment": "**就业服务中心",
		"amount": "600.86",
		"socialSecurityNo": "350102199003077898",
		"name": "张三",
		"personCategory": "困难家庭（城乡低保家庭、农村贫困户）高校毕业生",
		"bankAccount": "6222021234560888",
		"payoutTime": "2022-01-01 14:28:36",
		"payoutStatus": "成功",
		"payoutPeriod": "2022年第1期",
		"creditedTime": "2022-01-01 14:53:18",
		"payoutBank": "**银行"
	}`
)

var examples = map[Kind]string{KindCredential: exampleCredential, KindPayment: examplePayment, KindBenefit: exampleBenefit}

func mustParse(t *testing.T, k Kind, raw string) Record {
	t.Helper()
	r, err := Parse(k, []byte(raw))
	if err != nil {
		t.Fatalf("Parse(%s): %v", k, err)
	}
	return r
}

// with returns the example of kind k with the members in set replaced (a nil value
// removes the member).
func with(t *testing.T, k Kind, set map[string]any) string {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(examples[k]))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	for name, v := range set {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// problemsOf parses raw and returns its problems as "field rule" strings.
func problemsOf(t *testing.T, k Kind, raw string) []string {
	t.Helper()
	r, err := Parse(k, []byte(raw))
	if err == nil {
		t.Fatalf("Parse accepted %s", raw)
	}
	if r != nil {
		t.Fatal("Parse returned a record with an error")
	}
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) || ve.Kind != k {
		t.Fatalf("error %T %v is not a *ValidationError of %s", err, err, k)
	}
	var out []string
	for _, f := range ve.Fields {
		if f.Field == "" || f.Rule == "" || f.Reason == "" {
			t.Errorf("incomplete problem %+v", f)
		}
		out = append(out, f.Field+" "+f.Rule)
	}
	return out
}

func TestSpecExamples(t *testing.T) {
	c := mustParse(t, KindCredential, exampleCredential).(*Credential)
	if c.Longitude != "108.5377" || c.Latitude != "39.5377" || c.InstitutionType != "事业单位" {
		t.Errorf("credential %+v", c)
	}
	p := mustParse(t, KindPayment, examplePayment).(*Payment)
	want := Payment{AccessNo: "010122310011", RegionCode: "131000", CardType: "电子社会保障卡",
		MerchantName: "**市人民医院", MerchantID: "102142",
		PaymentScene: "人力资源和社会保障应用/工伤医疗费用结算", OrderDescription: "工伤医疗费用结算单",
		Amount: "798.86", PaidTime: "2022-01-01 14:53:18", SettlementMethod: "电子社会保障卡展码结算",
		SettlementType: "住院结算", PayerSocialSecurityNo: "350102199003077898", PayerName: "张三",
		CoordinateSystem: "GCJ-02", Longitude: "108.5377", Latitude: "39.5377"}
	if *p != want {
		t.Errorf("payment\n got %+v\nwant %+v", *p, want)
	}
	if a, err := p.AmountFen(); err != nil || a != 79886 {
		t.Errorf("AmountFen = %d, %v", a, err)
	}
	b := mustParse(t, KindBenefit, exampleBenefit).(*Benefit)
	if b.Amount != "600.86" || b.HolderID() != "350102199003077898" || b.PayoutStatus != "成功" {
		t.Errorf("benefit %+v", b)
	}
	// A failed payout with the table's example reason.
	mustParse(t, KindBenefit, with(t, KindBenefit, map[string]any{"payoutStatus": "失败", "payoutFailureReason": "账户不匹配"}))
}

func TestEveryFieldRequiredOrNot(t *testing.T) {
	for _, k := range Kinds() {
		for _, f := range Fields(k) {
			raw := with(t, k, map[string]any{f.Name: nil})
			r, err := Parse(k, []byte(raw))
			if !f.Required {
				if err != nil {
					t.Errorf("%s without optional %s: %v", k, f.Name, err)
				}
				continue
			}
			if r != nil || err == nil {
				t.Errorf("%s without required %s accepted", k, f.Name)
				continue
			}
			got := problemsOf(t, k, raw)
			if len(got) != 1 || got[0] != f.Name+" "+RuleRequired {
				t.Errorf("%s without %s: %v", k, f.Name, got)
			}
			// Blank and null are the same as absent.
			for _, v := range []any{"  \u3000 ", json.RawMessage("null")} {
				got := problemsOf(t, k, with(t, k, map[string]any{f.Name: v}))
				if len(got) != 1 || got[0] != f.Name+" "+RuleRequired {
					t.Errorf("%s with %s=%v: %v", k, f.Name, v, got)
				}
			}
		}
	}
}

func TestFieldProblems(t *testing.T) {
	long := func(n int) string { return strings.Repeat("张", n) }
	for _, tc := range []struct {
		kind  Kind
		field string
		value any
		rule  string // "" means accepted
		want  string // canonical value when accepted
	}{
		{KindCredential, "accessNo", "01012231001", FormatN12, ""},
		{KindCredential, "accessNo", "0101223100111", FormatN12, ""},
		{KindCredential, "accessNo", "01012231001a", FormatN12, ""},
		{KindCredential, "accessNo", "０１０１２２３１００１１", FormatN12, ""},
		{KindCredential, "accessNo", " 010122310011 ", "", "010122310011"},
		{KindCredential, "accessNo", json.Number("10122310011"), RuleType, ""},
		{KindCredential, "accessNo", true, RuleType, ""},
		{KindCredential, "accessNo", map[string]any{}, RuleType, ""},
		{KindCredential, "accessNo", []any{"010122310011"}, RuleType, ""},
		{KindPayment, "merchantId", "10214", FormatN6, ""},
		{KindPayment, "merchantId", "102142", "", "102142"},
		{KindCredential, "regionCode", "991000", RuleRegion, ""},
		{KindCredential, "regionCode", "13100", RuleRegion, ""},
		{KindCredential, "regionCode", "350100", "", "350100"},
		{KindCredential, "socialSecurityNo", "350102199003077890", RuleIDNumber, ""},
		{KindCredential, "socialSecurityNo", "35010219900307789", FormatAN18, ""},
		{KindCredential, "socialSecurityNo", "3501021990030778９8", FormatAN18, ""},
		{KindCredential, "socialSecurityNo", "11010519491231002x", "", "11010519491231002X"},
		{KindPayment, "payerSocialSecurityNo", "350121198511160027", "", "350121198511160027"},
		{KindPayment, "payerSocialSecurityNo", "350121198511160028", RuleIDNumber, ""},
		{KindCredential, "creditCode", "12131000mb1678341b", "", "12131000MB1678341B"},
		{KindCredential, "creditCode", "12131000MB1678341C", RuleCreditCode, ""},
		{KindCredential, "creditCode", "12131000MB1678341", FormatAN18, ""},
		{KindCredential, "institutionName", long(120), "", long(120)},
		{KindCredential, "institutionName", long(121), FormatText120, ""},
		{KindCredential, "name", long(50), "", long(50)},
		{KindCredential, "name", long(51), FormatText50, ""},
		{KindCredential, "name", "买买提·艾力", "", "买买提·艾力"},
		{KindCredential, "name", "张\n三", RuleText, ""},
		{KindCredential, "name", "张\u202e三", RuleText, ""},
		{KindCredential, "name", "张\ufffd", RuleText, ""},
		{KindCredential, "channel", long(MaxText), "", long(MaxText)},
		{KindCredential, "channel", long(MaxText + 1), FormatTextUL, ""},
		{KindCredential, "authTime", "2022-01-01 14:28:36", "", "2022-01-01 14:28:36"},
		{KindCredential, "authTime", "2022-01-01T06:28:36Z", "", "2022-01-01 14:28:36"},
		{KindCredential, "authTime", "2022-01-01T14:28:36+08:00", "", "2022-01-01 14:28:36"},
		{KindCredential, "authTime", "2022-01-01T14:28:36", "", "2022-01-01 14:28:36"},
		{KindCredential, "authTime", "2022-01-01 14:28:36.5", FormatTime, ""},
		{KindCredential, "authTime", "2022-1-1 14:28:36", FormatTime, ""},
		{KindCredential, "authTime", "2021-02-29 14:28:36", FormatTime, ""},
		{KindCredential, "authTime", "2022-01-01 24:00:00", FormatTime, ""},
		{KindCredential, "authTime", "2022-01-01 23:59:60", FormatTime, ""},
		{KindCredential, "authTime", "1970-01-01 08:00:00", "", "1970-01-01 08:00:00"},
		{KindCredential, "authTime", "0000-01-01T00:00:00+08:00", "", "0000-01-01 00:00:00"},
		{KindCredential, "authTime", "0000-01-01T00:00:00+09:00", FormatTime, ""},
		{KindCredential, "authTime", "9999-12-31T16:00:00Z", FormatTime, ""},
		{KindCredential, "authTime", "2022-01-01", FormatTime, ""},
		{KindCredential, "longitude", "108.53775", "", "108.5378"},
		{KindCredential, "longitude", "-108.53774", "", "-108.5377"},
		{KindCredential, "longitude", json.Number("108"), "", "108.0000"},
		{KindCredential, "longitude", "180.00004", "", "180.0000"},
		{KindCredential, "longitude", "180.00005", FormatLon, ""},
		{KindCredential, "longitude", "1.08e2", FormatLon, ""},
		{KindCredential, "latitude", "-0.00001", "", "0.0000"},
		{KindCredential, "latitude", "90.0001", FormatLat, ""},
		{KindCredential, "latitude", "+39.5", "", "39.5000"},
		{KindPayment, "amount", "798.8", "", "798.80"},
		{KindPayment, "amount", "798", "", "798.00"},
		{KindPayment, "amount", "+0798.860", "", "798.86"},
		{KindPayment, "amount", json.Number("0.01"), "", "0.01"},
		{KindPayment, "amount", "999999999.99", "", "999999999.99"},
		{KindPayment, "amount", "1000000000.00", FormatAmount12, ""},
		{KindPayment, "amount", "798.861", FormatAmount12, ""},
		{KindPayment, "amount", "-798.86", "", "-798.86"},
		{KindPayment, "amount", "-0798.8", "", "-798.80"},
		{KindPayment, "amount", json.Number("-12.5"), "", "-12.50"},
		{KindPayment, "amount", "-999999999.99", "", "-999999999.99"},
		{KindPayment, "amount", "-1000000000", FormatAmount12, ""},
		{KindPayment, "amount", "0.00", "", "0.00"},
		{KindPayment, "amount", "0", "", "0.00"},
		{KindPayment, "amount", "-0.00", "", "0.00"},
		{KindPayment, "amount", "--1", FormatAmount12, ""},
		{KindPayment, "amount", "+-1", FormatAmount12, ""},
		{KindPayment, "amount", "－1", FormatAmount12, ""},
		{KindPayment, "amount", json.Number("7.9886e2"), FormatAmount12, ""},
		{KindPayment, "amount", "798,86", FormatAmount12, ""},
		{KindPayment, "amount", ".86", FormatAmount12, ""},
		{KindPayment, "amount", "798.", FormatAmount12, ""},
		{KindPayment, "amount", "NaN", FormatAmount12, ""},
		{KindBenefit, "amount", "999999.99", "", "999999.99"},
		{KindBenefit, "amount", "1000000", FormatAmount9, ""},
		{KindBenefit, "amount", "-600.86", "", "-600.86"},
		{KindBenefit, "amount", "0.00", "", "0.00"},
		{KindBenefit, "amount", "-1000000", FormatAmount9, ""},
		{KindCredential, "credentialType", "01", "", "实体社会保障卡鉴权"},
		{KindCredential, "credentialType", "电子社会保障卡人脸识别 \n认证", "", "电子社会保障卡人脸识别认证"},
		{KindCredential, "credentialType", "０５", "", "电子社会保障卡扫码登录"},
		{KindCredential, "credentialType", "06", "C.6", ""},
		{KindCredential, "credentialType", "1", "C.6", ""},
		{KindCredential, "scene", "02", "", "人力资源和社会保障应用"},
		{KindCredential, "scene", "02/ 工伤医疗费用结算 ", "", "人力资源和社会保障应用/工伤医疗费用结算"},
		{KindCredential, "scene", "文化体验应用／图书馆入馆", "", "文化体验应用/图书馆入馆"},
		{KindCredential, "scene", "交通出行应用/", "", "交通出行应用"},
		{KindCredential, "scene", "交通出行应用/公交/地铁", "", "交通出行应用/公交/地铁"},
		{KindCredential, "scene", " 交通出行 / 公交 ", "", "交通出行/公交"}, // C.7 is open
		{KindCredential, "scene", "人社服务/社保卡申领", "", "人力资源和社会保障应用/社保卡申领"},
		{KindCredential, "scene", "08", "", "08"},
		{KindCredential, "scene", "/公交", "C.7", ""},
		{KindCredential, "scene", " ／公交", "C.7", ""},
		{KindCredential, "scene", "交通出行应用/公\x01交", RuleText, ""},
		{KindCredential, "scene", "交通\u202e出行/公交", RuleText, ""},
		{KindCredential, "scene", long(MaxText + 1), FormatTextUL, ""},
		{KindCredential, "scene", "交通出行应用/" + long(MaxText-6), FormatTextUL, ""},
		{KindCredential, "institutionType", "07", "", "企业"}, // whatever the credit code says
		{KindCredential, "institutionType", "99", "", "其他机构类别"},
		{KindCredential, "institutionType", "事业单位。", "C.8", ""},
		{KindCredential, "businessStatus", "未响应", "", "未响应"},
		{KindCredential, "businessStatus", "处理中", "", "处理中"},
		{KindCredential, "businessStatus", "处理\n中", RuleText, ""},
		{KindCredential, "coordinateSystem", "ＧＣＪ－０２", "", "GCJ-02"},
		{KindCredential, "coordinateSystem", "WGS84", "", "WGS84"},
		{KindPayment, "settlementMethod", "05", "", "电子社会保障卡主扫支付"},
		{KindPayment, "settlementMethod", "99", "", "其他支付方式"},
		{KindPayment, "settlementType", "普通消费／缴费支付", "", "普通消费/缴费支付"},
		{KindPayment, "settlementType", "99", "C.10", ""},
		{KindPayment, "cardType", "实体社会保障卡", "", "实体社会保障卡"}, // whatever the settlement method says
		{KindPayment, "cardType", " 社会保障卡 ", "", "社会保障卡"},
		{KindPayment, "cardType", long(MaxText + 1), FormatTextUL, ""},
		{KindPayment, "cardType", "社会\x00保障卡", RuleText, ""},
		{KindBenefit, "benefitType", " 省内 ", "", "省内"},
		{KindBenefit, "benefitType", "外省", "", "外省"},
		{KindBenefit, "payoutStatus", "失败", "", "失败"},
		{KindBenefit, "payoutStatus", "部分成功", "", "部分成功"},
	} {
		name := fmt.Sprintf("%s.%s=%v", tc.kind, tc.field, tc.value)
		raw := with(t, tc.kind, map[string]any{tc.field: tc.value})
		if tc.rule == "" {
			r, err := Parse(tc.kind, []byte(raw))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if got := valueOf(r, tc.field); got != tc.want {
				t.Errorf("%s: canonical %q, want %q", name, got, tc.want)
			}
			continue
		}
		got := problemsOf(t, tc.kind, raw)
		if len(got) == 0 || got[0] != tc.field+" "+tc.rule {
			t.Errorf("%s: problems %v, want first %s %s", name, got, tc.field, tc.rule)
		}
	}
}

// valueOf returns the value of the named field of r.
func valueOf(r Record, name string) string {
	for i, f := range Fields(r.Kind()) {
		if f.Name == name {
			return *r.values()[i]
		}
	}
	panic("no field " + name)
}

// TestNoCrossFieldRules: the standard states no rule between fields, so combinations a
// reader might think wrong are valid, each field checked on its own.
func TestNoCrossFieldRules(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		set  map[string]any
	}{
		{KindCredential, map[string]any{"businessTime": "2022-01-01 14:28:35"}}, // before authTime
		{KindCredential, map[string]any{"businessTime": "2021-01-01 00:00:00"}},
		{KindCredential, map[string]any{"latitude": nil}},
		{KindCredential, map[string]any{"longitude": nil}},
		{KindCredential, map[string]any{"coordinateSystem": nil}},
		{KindCredential, map[string]any{"institutionType": "企业", "creditCode": "52350100MJ00000019"}},
		{KindPayment, map[string]any{"cardType": "实体社会保障卡", "settlementMethod": "04"}},
		{KindPayment, map[string]any{"cardType": "电子社会保障卡", "settlementMethod": "实体社会保障卡银行账户快捷支付"}},
		{KindPayment, map[string]any{"longitude": nil, "coordinateSystem": nil}},
		{KindPayment, map[string]any{"amount": "-798.86", "settlementType": "住院结算"}},
		{KindBenefit, map[string]any{"creditedTime": "2022-01-01 14:28:35"}}, // before payoutTime
		{KindBenefit, map[string]any{"payoutFailureReason": "账户不匹配"}},        // with 成功: the C.5 example row
	} {
		if _, err := Parse(tc.kind, []byte(with(t, tc.kind, tc.set))); err != nil {
			t.Errorf("%s %v: %v", tc.kind, tc.set, err)
		}
	}
	// A field with a problem of its own is still reported, once.
	for _, tc := range []struct {
		kind Kind
		set  map[string]any
		want []string
	}{
		{KindCredential, map[string]any{"latitude": "91"}, []string{"latitude " + FormatLat}},
		{KindCredential, map[string]any{"authTime": "2022-13-01 00:00:00"}, []string{"authTime " + FormatTime}},
		{KindPayment, map[string]any{"settlementMethod": "07"}, []string{"settlementMethod C.9"}},
	} {
		if got := problemsOf(t, tc.kind, with(t, tc.kind, tc.set)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %v: %v, want %v", tc.kind, tc.set, got, tc.want)
		}
	}
}

func TestStrictDecoding(t *testing.T) {
	ex := strings.TrimSpace(exampleCredential)
	for _, tc := range []struct {
		name string
		raw  string
		want []string
	}{
		{"empty", ``, []string{"$ json"}},
		{"array", `[]`, []string{"$ json"}},
		{"string", `"x"`, []string{"$ json"}},
		{"null", `null`, []string{"$ json"}},
		{"truncated", ex[:len(ex)-1], []string{"$ json"}},
		{"trailing object", ex + `{}`, []string{"$ json"}},
		{"trailing garbage", ex + ` x`, []string{"$ json"}},
		{"trailing whitespace ok", ex + " \n\t", nil},
		{"bom", "\uFEFF" + ex, []string{"$ json"}},
		{"invalid utf-8", strings.Replace(ex, "张三", "\xff\xfe", 1), []string{"$ json"}},
		{"unknown", strings.Replace(ex, `"name"`, `"fullName"`, 1), []string{"fullName unknown", "name required"}},
		{"case", strings.Replace(ex, `"name"`, `"Name"`, 1), []string{"Name unknown", "name required"}},
		{"empty name", strings.Replace(ex, `"channel"`, `""`, 1), []string{`"" unknown`}},
		{"duplicate", strings.Replace(ex, `"channel": "人社APP"`, `"channel": "人社APP", "channel": "APP"`, 1), []string{"channel duplicate"}},
		{"escaped duplicate", strings.Replace(ex, `"channel": "人社APP"`, `"channel": "人社APP", "chann\u0065l": "APP"`, 1), []string{"channel duplicate"}},
		{"escaped name ok", strings.Replace(ex, `"channel"`, `"chann\u0065l"`, 1), nil},
		{"nested", strings.Replace(ex, `"人社APP"`, `{"a":[1,{"b":2}]}`, 1), []string{"channel type"}},
	} {
		r, err := Parse(KindCredential, []byte(tc.raw))
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if r != nil {
			t.Errorf("%s: got a record", tc.name)
		}
		if got := problemsOf(t, KindCredential, tc.raw); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// The did-you-mean hint for a case slip and the Chinese field name, and none for
	// something else.
	if _, err := Parse(KindCredential, []byte(strings.Replace(ex, `"name"`, `"fullName"`, 1))); strings.Contains(err.Error(), "did you mean") {
		t.Errorf("hint for fullName: %v", err)
	}
	for _, name := range []string{"Name", "NAME", "姓名", " 姓名 "} {
		_, err := Parse(KindCredential, []byte(strings.Replace(ex, `"name"`, `"`+name+`"`, 1)))
		if !strings.Contains(err.Error(), "did you mean name?") {
			t.Errorf("%s: no hint in %v", name, err)
		}
	}
}

func TestSizeBound(t *testing.T) {
	pad := strings.Repeat(" ", MaxSize-len(exampleCredential))
	if _, err := Parse(KindCredential, []byte(exampleCredential+pad)); err != nil {
		t.Fatalf("MaxSize bytes refused: %v", err)
	}
	got := problemsOf(t, KindCredential, exampleCredential+pad+" ")
	if !reflect.DeepEqual(got, []string{"$ size"}) {
		t.Fatalf("MaxSize+1: %v", got)
	}
}

// TestAllProblemsAtOnce: every problem is listed, not only the first.
func TestAllProblemsAtOnce(t *testing.T) {
	raw := `{"accessNo":"1","regionCode":"000000","cardType":"x","paymentScene":"y","amount":"-1.001",
		"paidTime":"now","settlementMethod":"00","settlementType":"00","payerSocialSecurityNo":"1","extra":1}`
	got := problemsOf(t, KindPayment, raw)
	want := []string{"extra unknown", "accessNo n12", "regionCode GB/T 2260",
		"amount n..12,2", "paidTime datetime", "settlementMethod C.9",
		"settlementType C.10", "payerSocialSecurityNo an18"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("problems\n got %v\nwant %v", got, want)
	}
}

func TestProblemLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&b, `"x%d":1,`, i)
	}
	b.WriteString(`"y":2}`)
	_, err := Parse(KindBenefit, []byte(b.String()))
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) != maxProblems+1 {
		t.Fatalf("got %d problems", len(ve.Fields))
	}
	last := ve.Fields[maxProblems]
	// 301 unknown members and 14 required fields, of which 100 are listed.
	if last.Field != FieldRecord || last.Rule != RuleLimit || last.Reason != "215 more problems not listed" {
		t.Fatalf("last problem %+v", last)
	}
}

func TestUnknownKind(t *testing.T) {
	for _, k := range []Kind{"", "Credential", "办事凭证"} {
		_, err := Parse(k, []byte(exampleCredential))
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Rule != RuleKind || ve.PromptCode() != CodeUnknownKind {
			t.Errorf("kind %q: %v", k, err)
		}
		if k.Valid() || k.Table() != "" || k.Title() != "" || Fields(k) != nil {
			t.Errorf("kind %q looks valid", k)
		}
	}
	if KindPayment.Table() != "C.4" || KindBenefit.Title() != "待遇发放数据" {
		t.Error("kind names")
	}
}

func TestPromptCodes(t *testing.T) {
	for raw, want := range map[string]prompt.Code{
		`{`:                            CodeMalformed,
		`{"accessNo":"1"}`:             CodeInvalid,
		strings.Repeat(" ", MaxSize+1): CodeMalformed,
	} {
		_, err := Parse(KindPayment, []byte(raw))
		var coded interface{ PromptCode() prompt.Code }
		if !errors.As(err, &coded) || coded.PromptCode() != want {
			t.Errorf("%.20q: prompt %v, want %v", raw, coded.PromptCode(), want)
		}
	}
	for _, c := range []prompt.Code{CodeInvalid, CodeMalformed, CodeUnknownKind} {
		m := prompt.Lookup(c)
		if m.Code != c || c < 600000 || c > 609999 {
			t.Fatalf("code %d not registered in the records range", c)
		}
		for _, l := range []prompt.Lang{prompt.ZH, prompt.EN} {
			if h := m.Render(prompt.Holder, l); strings.ContainsAny(h, "0123456789[]") {
				t.Errorf("holder text of %d shows a code: %q", c, h)
			}
			if !strings.HasSuffix(m.Render(prompt.Maintainer, l), c.String()) {
				t.Errorf("maintainer text of %d lacks its code", c)
			}
		}
	}
}

// TestNoPersonalDataInErrors: a reason never repeats a personal value, whatever is wrong
// with it.
func TestNoPersonalDataInErrors(t *testing.T) {
	for _, k := range Kinds() {
		for _, f := range Fields(k) {
			if f.Personal == 0 {
				continue
			}
			for _, bad := range []string{"350102199003077890", "3501021990030778981", "张三李四王五赵六钱七孙八周九吴十郑十一冯十二陈十三褚十四卫十五蒋十六沈十七韩十八杨十九朱二十秦二十一尤二十二", "62220212345\x0160888"} {
				_, err := Parse(k, []byte(with(t, k, map[string]any{f.Name: bad})))
				if err == nil {
					continue
				}
				if s := err.Error(); strings.Contains(s, bad[:10]) || strings.Contains(s, "张三李四") {
					t.Errorf("%s.%s: error repeats the value: %s", k, f.Name, s)
				}
			}
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	for k, raw := range examples {
		r := mustParse(t, k, raw)
		b, err := Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		r2 := mustParse(t, k, string(b))
		if !reflect.DeepEqual(r, r2) {
			t.Errorf("%s: round trip changed the record\n%+v\n%+v", k, r, r2)
		}
		b2, _ := Encode(r2)
		if string(b) != string(b2) {
			t.Errorf("%s: encoding not stable:\n%s\n%s", k, b, b2)
		}
		// Field order is the table's; every value a string; no HTML escaping.
		var names []string
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.Token()
		for d.More() {
			tok, _ := d.Token()
			names = append(names, tok.(string))
			v, _ := d.Token()
			if _, ok := v.(string); !ok {
				t.Errorf("%s: %s is not a string", k, tok)
			}
		}
		var order []string
		for _, f := range Fields(k) {
			if valueOf(r, f.Name) != "" {
				order = append(order, f.Name)
			}
		}
		if !reflect.DeepEqual(names, order) {
			t.Errorf("%s: member order %v, want %v", k, names, order)
		}
	}
	c := mustParse(t, KindCredential, with(t, KindCredential, map[string]any{"institutionName": "A&B<中心>"}))
	if b, _ := Encode(c); !strings.Contains(string(b), `"A&B<中心>"`) {
		t.Errorf("HTML-escaped: %s", b)
	}
}

func TestGoBuiltRecord(t *testing.T) {
	p := &Payment{AccessNo: "010122310011", RegionCode: "350100", CardType: "电子社会保障卡",
		PaymentScene: "03", Amount: Amount(1250).String(), PaidTime: "2024-05-06 07:08:09",
		SettlementMethod: "04", SettlementType: "04", PayerSocialSecurityNo: "350103197001011235"}
	before := *p
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if *p != before {
		t.Fatal("Validate modified the record")
	}
	b, err := Encode(p)
	if err != nil || *p != before {
		t.Fatalf("Encode: %v, modified %v", err, *p != before)
	}
	if err := p.Normalize(); err != nil {
		t.Fatal(err)
	}
	if p.PaymentScene != "就医购药应用" || p.SettlementMethod != "电子社会保障卡展码被扫支付" || p.SettlementType != "购药结算" || p.Amount != "12.50" {
		t.Fatalf("normalised %+v", p)
	}
	if b2, _ := Encode(p); string(b2) != string(b) {
		t.Fatalf("Encode differs after Normalize:\n%s\n%s", b, b2)
	}
	// An invalid record: Normalize leaves it alone, Encode refuses it.
	bad := *p
	bad.Amount = "12.505"
	badBefore := bad
	if err := bad.Normalize(); !errors.Is(err, ErrInvalid) || bad != badBefore {
		t.Fatalf("Normalize of an invalid record: %v, modified %v", err, bad != badBefore)
	}
	if _, err := Encode(&bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Encode of an invalid record: %v", err)
	}
}

func TestMasked(t *testing.T) {
	for k, raw := range examples {
		r := mustParse(t, k, raw)
		m := r.Masked()
		if m.Kind() != k {
			t.Fatal("kind changed")
		}
		out, _ := json.Marshal(m)
		s := string(out) + fmt.Sprintf("%+v", m)
		for _, secret := range []string{"350102199003077898", "张三", "6222021234560888", "1990"} {
			if strings.Contains(s, secret) {
				t.Errorf("%s: masked copy shows %q: %s", k, secret, s)
			}
		}
		if !strings.Contains(s, "**************7898") {
			t.Errorf("%s: masked ID missing: %s", k, s)
		}
		if r.HolderID() != "350102199003077898" {
			t.Errorf("%s: the original was modified", k)
		}
		if m.Validate() == nil {
			t.Errorf("%s: a masked copy validates", k)
		}
	}
	b := mustParse(t, KindBenefit, exampleBenefit).Masked().(*Benefit)
	if b.BankAccount != mask.BankCard("6222021234560888") || b.Name != "*三" {
		t.Errorf("masked benefit %+v", b)
	}
}

// TestTablesMatchStructs: each table lists its struct's fields in order with the same
// JSON names, so values() and the table cannot drift apart.
func TestTablesMatchStructs(t *testing.T) {
	for _, k := range Kinds() {
		r := tableOf(k).new()
		typ := reflect.TypeOf(r).Elem()
		fs := Fields(k)
		vs := r.values()
		if typ.NumField() != len(fs) || len(vs) != len(fs) {
			t.Fatalf("%s: %d struct fields, %d table rows, %d values", k, typ.NumField(), len(fs), len(vs))
		}
		for i, f := range fs {
			tag := strings.TrimSuffix(typ.Field(i).Tag.Get("json"), ",omitempty")
			if tag != f.Name {
				t.Errorf("%s field %d: tag %q, table %q", k, i, tag, f.Name)
			}
			*vs[i] = "v"
			if reflect.ValueOf(r).Elem().Field(i).String() != "v" {
				t.Errorf("%s: values()[%d] is not %s", k, i, typ.Field(i).Name)
			}
			if f.Chinese == "" || f.Format == "" {
				t.Errorf("%s.%s: incomplete description", k, f.Name)
			}
		}
	}
}

func TestRanges(t *testing.T) {
	for _, r := range Ranges() {
		if r.Rule() == "" || r.Name() == "" || len(r.Values()) < 2 {
			t.Fatalf("range %d incomplete", r)
		}
		for _, v := range r.Values() {
			for _, in := range []string{v.Label, " " + v.Label + "\n", toFullWidth(v.Label), breakLines(v.Label)} {
				if got, ok := r.Lookup(in); !ok || got != v {
					t.Errorf("%s: Lookup(%q) = %v, %v", r.Rule(), in, got, ok)
				}
			}
			if v.Code != "" {
				for _, in := range []string{v.Code, toFullWidth(v.Code)} {
					if got, ok := r.Lookup(in); !ok || got != v {
						t.Errorf("%s: Lookup(%q) = %v, %v", r.Rule(), in, got, ok)
					}
				}
			}
		}
	}
	if n := len(RangeSettlementType.Values()); n != 8 {
		t.Errorf("C.10 has %d values, the standard 8", n)
	}
	if _, ok := Range(0).Lookup("01"); ok || Range(0).Rule() != "" || Range(0).Values() != nil {
		t.Error("Range(0) answers")
	}
	if v, _ := RangeScene.Lookup("人力资源和社会保障服务"); v.Code != "02" {
		t.Error("spec alias for C.7 02")
	}
	if v, _ := RangeScene.Lookup("人社服务"); v.Code != "02" {
		t.Error("spec alias 人社服务 (table A.1) for C.7 02")
	}
	// Which lists the standard closes (取值范围见表C.x) and which it opens (C.7 by A.1's
	// "各地可从'08'起扩展", the others by "如").
	for r, open := range map[Range]bool{RangeCredentialType: false, RangeScene: true, RangeInstitutionType: false,
		RangeSettlementMethod: false, RangeSettlementType: false, RangeCardType: true, RangeBenefitType: true,
		RangePayoutStatus: true, RangeCoordinateSystem: true, RangeBusinessStatus: true} {
		if r.Open() != open {
			t.Errorf("%s: Open() = %v", r.Rule(), r.Open())
		}
	}
	if len(Ranges()) != 10 || Range(0).Open() {
		t.Error("Ranges")
	}
}

func toFullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '!' && r <= '~' {
			r += 0xFEE0
		}
		b.WriteRune(r)
	}
	return b.String()
}

// breakLines breaks a label the way the standard's PDF tables do.
func breakLines(s string) string {
	r := []rune(s)
	if len(r) < 4 {
		return s
	}
	return string(r[:len(r)/2]) + " \n" + string(r[len(r)/2:])
}

func TestAmount(t *testing.T) {
	for in, want := range map[string]Amount{"0": 0, "0.01": 1, "798.86": 79886, "+1.5": 150, "999999999.99": MaxAmount, "007.000": 700} {
		if got, err := ParseAmount(in); err != nil || got != want {
			t.Errorf("ParseAmount(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1", "-0", "-0.00", "1e2", "1.001", "1000000000", "1,000", "¥1", "0x10", " 1"} {
		if _, err := ParseAmount(in); err == nil {
			t.Errorf("ParseAmount(%q) accepted", in)
		}
	}
	for in, want := range map[string]Amount{"-1": -100, "-0": 0, "-0.00": 0, "-798.86": -79886, "-999999999.99": -MaxAmount, "+1": 100, "0": 0} {
		if got, err := ParseSignedAmount(in); err != nil || got != want {
			t.Errorf("ParseSignedAmount(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "--1", "-", "-.5", "-1000000000", "- 1", "−1"} {
		if _, err := ParseSignedAmount(in); err == nil {
			t.Errorf("ParseSignedAmount(%q) accepted", in)
		}
	}
	p := mustParse(t, KindPayment, with(t, KindPayment, map[string]any{"amount": "-12.5"})).(*Payment)
	if a, err := p.AmountFen(); err != nil || a != -1250 {
		t.Errorf("AmountFen of -12.5 = %d, %v", a, err)
	}
	b := mustParse(t, KindBenefit, with(t, KindBenefit, map[string]any{"amount": "0"})).(*Benefit)
	if a, err := b.AmountFen(); err != nil || a != 0 || b.Amount != "0.00" {
		t.Errorf("AmountFen of 0 = %d, %v (%s)", a, err, b.Amount)
	}
	for a, want := range map[Amount]string{0: "0.00", 5: "0.05", 79886: "798.86", -100: "-1.00", MaxAmount: "999999999.99",
		math.MinInt64: "-92233720368547758.08", math.MaxInt64: "92233720368547758.07"} {
		if a.String() != want {
			t.Errorf("%d.String() = %s", a, a.String())
		}
	}
}

func TestInstitutionTypeOf(t *testing.T) {
	for cc, want := range map[string]string{"12131000MB1678341B": "02", "91350100MA2Y7Q3K43": "07", "93x": "09", "59": "99", "31": "", "1": "", "": ""} {
		v, ok := InstitutionTypeOf(cc)
		if v.Code != want || ok != (want != "") {
			t.Errorf("InstitutionTypeOf(%q) = %v, %v; want %q", cc, v, ok, want)
		}
	}
}

// TestWriteString checks the canonical string encoding against encoding/json: the same
// string comes back for every rune class it escapes.
func TestWriteString(t *testing.T) {
	for _, s := range []string{"", `a"b\c`, "x\x00\x1f\ty", "A&B<中心>", "\u2028\u2029", "张三·李"} {
		var b bytes.Buffer
		writeString(&b, s)
		var back string
		if err := json.Unmarshal(b.Bytes(), &back); err != nil || back != s {
			t.Errorf("%q -> %s -> %q, %v", s, b.String(), back, err)
		}
		if strings.ContainsAny(b.String(), "\x00\u2028") || strings.Contains(b.String(), `\u003c`) {
			t.Errorf("%q -> %s", s, b.String())
		}
	}
}
