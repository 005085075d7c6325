package records_test

import (
	"errors"
	"fmt"

	"github.com/sscagent/sscagent/records"
)

func ExampleParse() {
	raw := []byte(`{"accessNo":"010122310011","regionCode":"350100","cardType":"电子社会保障卡",
		"paymentScene":"03/药店购药","amount":12.5,"paidTime":"2024-05-06T07:08:09+08:00",
		"settlementMethod":"04","settlementType":"04","payerSocialSecurityNo":"350103197001011235"}`)
	rec, err := records.Parse(records.KindPayment, raw)
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := records.Encode(rec)
	fmt.Println(string(b))
	fmt.Println(rec.Masked().HolderID())
	// Output:
	// {"accessNo":"010122310011","regionCode":"350100","cardType":"电子社会保障卡","paymentScene":"就医购药应用/药店购药","amount":"12.50","paidTime":"2024-05-06 07:08:09","settlementMethod":"电子社会保障卡展码被扫支付","settlementType":"购药结算","payerSocialSecurityNo":"350103197001011235"}
	// **************1235
}

func ExampleValidationError() {
	_, err := records.Parse(records.KindBenefit, []byte(`{"accessNo":"0101","amount":"600.861","payoutStatus":"ok","Name":"张三"}`))
	var ve *records.ValidationError
	if errors.As(err, &ve) {
		for _, f := range ve.Fields[:4] {
			fmt.Printf("%s [%s] %s\n", f.Field, f.Rule, f.Reason)
		}
		fmt.Println(len(ve.Fields), "problems, prompt", ve.PromptCode())
	}
	// Output:
	// Name [unknown] not a field of C.5 待遇发放数据; did you mean name?
	// accessNo [n12] must be exactly 12 digits, got "0101"
	// regionCode [required] 行政区划代码 is required
	// benefitType [required] 待遇类型 is required
	// 14 problems, prompt [600001]
}

func ExampleRange_Lookup() {
	v, ok := records.RangeScene.Lookup("０２")
	fmt.Println(v.Code, v.Label, ok)
	v, ok = records.RangeSettlementMethod.Lookup("电子社会保障卡 展码\n结算")
	fmt.Println(v.Code, v.Label, ok)
	// Output:
	// 02 人力资源和社会保障应用 true
	// 06 电子社会保障卡展码结算 true
}

func ExampleSetWarn() {
	records.SetWarn(func(field, value string) { fmt.Println("unlisted", field, value) })
	defer records.SetWarn(nil)
	// 就医 is not a C.7 value, and C.7 is open: accepted, reported once.
	for i := 0; i < 2; i++ {
		rec, err := records.Parse(records.KindPayment, []byte(`{"accessNo":"010122310011","regionCode":"350100",
			"cardType":"电子社会保障卡","paymentScene":"就医/药店购药","amount":"-12.50","paidTime":"2024-05-06 07:08:09",
			"settlementMethod":"04","settlementType":"08","payerSocialSecurityNo":"350103197001011235"}`))
		fmt.Println(rec.(*records.Payment).PaymentScene, rec.(*records.Payment).Amount, err)
	}
	// Output:
	// unlisted paymentScene 就医
	// 就医/药店购药 -12.50 <nil>
	// 就医/药店购药 -12.50 <nil>
}
