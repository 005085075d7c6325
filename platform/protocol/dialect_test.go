package protocol

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/labtest"
)

// The sscsim dialect writes exactly today's envelope and canonical string.
func TestSSCSimDialectIsTodaysWire(t *testing.T) {
	d := MustDialect(ProfileSSCSim)
	k := TestKey("t")
	r := &Request{RequestID: NewRequestID(), Timestamp: "2026-12-04 15:30:00", ChannelNo: "100000000001", Data: `{"a":"1"}`}
	if err := d.SignRequest(k, r); err != nil {
		t.Fatal(err)
	}
	got, err := d.MarshalRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Marshal(r)
	if !bytes.Equal(got, want) {
		t.Fatalf("dialect %s\nfixed   %s", got, want)
	}
	_, fields, err := ParseRequest(got)
	if err != nil {
		t.Fatal(err)
	}
	if err := (Scheme{}).VerifyFields(k.Public(), fields); err != nil {
		t.Fatalf("fixed path does not verify the dialect's signature: %v", err)
	}
}

// provinceX is the example profile of docs/platform-profiles.md.
func provinceX(t testing.TB) string {
	return labtest.DocBlock(t, "../../docs/platform-profiles.md", "<!-- test:province-x -->")
}

// A dialect that differs in every key: envelope, payload, ids, times, canonical
// string, values, names, signature and SM4 all round-trip through both sides' code.
func TestProvinceDialectRoundTrip(t *testing.T) {
	p, err := ParseProfile([]byte(provinceX(t)))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := d.NewCipher(TestSM4Key("100000000001"))
	if err != nil {
		t.Fatal(err)
	}
	in := Data{Fields: map[string]string{"idNumber": "110101199003071234", "name": "张三", "cardNo": "A12345678",
		"cardId": strings.Repeat("1", 32), "expiryDate": "20301231", "terminalId": "T1"}}
	wire, err := d.ToWire(OpCardAuth, SideData, in, fc)
	if err != nil {
		t.Fatal(err)
	}
	if wire.Get("AAZ503") != "2030-12-31" || wire.Get("AAZ500") != "A12345678" || wire.Get("AAC002") == "110101199003071234" || wire.Get("idNumber") != "" {
		t.Fatalf("wire data %v", wire.Fields)
	}
	k := TestKey("t")
	r := &Request{RequestID: d.NewRequestID(), Timestamp: "20261204153000", ChannelNo: "100000000001", Data: wire.Encode()}
	if err := d.SignRequest(k, r); err != nil {
		t.Fatal(err)
	}
	body, err := d.MarshalRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte(`"sj_data":{`)) || !bytes.Contains(body, []byte(`"lsh":"`)) {
		t.Fatalf("envelope %s", body)
	}
	got, fields, err := d.ParseRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CheckRequest(got); err != nil {
		t.Fatal(err)
	}
	if err := d.VerifyRequest(k.Public(), fields); err != nil {
		t.Fatal(err)
	}
	if _, f2, _ := ParseRequest(body); f2 != nil {
		t.Fatal("a string-payload reader accepted an object payload")
	}
	wd, err := ParseData(got.Data)
	if err != nil {
		t.Fatal(err)
	}
	back, unknown, err := d.FromWire(OpCardAuth, SideData, wd, fc)
	if err != nil || len(unknown) > 0 {
		t.Fatalf("FromWire: %v, unknown %v", err, unknown)
	}
	if back.Encode() != in.Encode() {
		t.Fatalf("round trip\n%s\n%s", back.Encode(), in.Encode())
	}
	// Altered data does not verify.
	fields[d.req[rqData]] = strings.Replace(fields[d.req[rqData]], "2030", "2031", 1)
	if d.VerifyRequest(k.Public(), fields) == nil {
		t.Fatal("altered data verified")
	}
	// Fen amounts and list names.
	pay, _ := d.ToWire(OpMicropay, SideData, Data{Fields: map[string]string{"amount": "-12.50", "orderNo": "T1-1"}}, fc)
	if pay.Get("JYJE") != "-1250" || pay.Get("DDH") != "T1-1" {
		t.Fatalf("micropay wire %v", pay.Fields)
	}
	bf := Data{}
	bf.SetList("records", []map[string]string{{"recordId": "T1-1", "kind": "payment", "record": "{}"}})
	bw, _ := d.ToWire(OpBackflow, SideData, bf, fc)
	if l := bw.Lists["JLLB"]; len(l) != 1 || l[0]["JLBH"] != "T1-1" || l[0]["JLLX"] != "payment" {
		t.Fatalf("backflow wire %v", bw.Lists)
	}
	// An unknown wire name is reported, so a strict platform can name it.
	_, unknown, _ = d.FromWire(OpCardAuth, SideData, Data{Fields: map[string]string{"SFZH": "x", "AAZ500": "A1"}}, fc)
	if len(unknown) != 1 || unknown[0] != "SFZH" {
		t.Fatalf("unknown %v", unknown)
	}
	if d.WireName(OpBackflow, SideResult, "results[].recordId") != "JGLB[].JLBH" {
		t.Fatal(d.WireName(OpBackflow, SideResult, "results[].recordId"))
	}
	// Success is the profile's code; the table's 000000 is not success here.
	if k, _ := d.Kind("0"); k != KindSuccess {
		t.Fatal("0 is not success")
	}
	if k, _ := d.Kind(CodeOK); k == KindSuccess {
		t.Fatal("000000 is success in a profile whose success code is 0")
	}
}
