package platform_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/platform/protocol"
)

// provinceProfile writes the example profile of docs/platform-profiles.md to a file
// and returns its path: the document is what is tested.
func provinceProfile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "province-x.yaml")
	doc := labtest.DocBlock(t, "../docs/platform-profiles.md", "<!-- test:province-x -->")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testHSM answers the two-step for any well-formed step-1 string.
var testHSM = hsmFunc(func(string) (string, error) {
	return "F4A0CF965BDCEA30DBF7A936D0D18C9E|774A08EDF447A1DEE603E2CAADAF02B6|", nil
})

// TestEveryOperationInEveryProfile runs every operation through the real client
// against the sandbox speaking the same profile, over HTTPS: the built-in profiles and
// the documented example, which differs from the sandbox's default in every key.
func TestEveryOperationInEveryProfile(t *testing.T) {
	for _, ref := range []string{protocol.ProfileSSCSim, protocol.ProfileAppendixD, provinceProfile(t)} {
		name := filepath.Base(strings.TrimSuffix(ref, ".yaml"))
		t.Run(name, func(t *testing.T) {
			l := newLab(t, true, func(so *platformsim.StartOptions, _ *platform.Config) {
				so.Profile, so.HSM = ref, testHSM
			})
			if l.cfg.Profile != ref || l.client.Profile().Name != name {
				t.Fatalf("client profile %q (config %q)", l.client.Profile().Name, l.cfg.Profile)
			}
			runEveryOperation(t, l)
		})
	}
}

func runEveryOperation(t *testing.T, l *lab) {
	ctx := context.Background()
	c := l.client
	res, err := c.CardAuth(ctx, zhangsanCard)
	if err != nil || res.CardStatus != "normal" || res.Name.Clear() != "张三" || res.RegionCode != "350100" {
		t.Fatalf("cardAuth %+v %v", res, err)
	}
	if len(res.ExpiryDate) != 8 || strings.Contains(res.ExpiryDate, "-") {
		t.Fatalf("expiryDate %q is not the internal YYYYMMDD", res.ExpiryDate)
	}
	if bytes.Contains(l.last().Request, []byte("张三")) || bytes.Contains(l.last().Response, []byte("张三")) {
		t.Fatal("name in clear on the wire")
	}
	step1 := "350100|00814A444686605199000001AC|03|" + zhangsanCard.CardID + "|32D9E876ADB31BBF|DBF7A936D0D18C9E|98B4D293D091C331|E603E2CAADAF02B6|"
	if ia, err := c.CardInternalAuth(ctx, platform.InternalAuthRequest{Step1: step1}); err != nil || ia.PKey == "" {
		t.Fatalf("cardInternalAuth %+v %v", ia, err)
	}
	runMedical(t, c)
	runFace(t, l)
	runLogin(t, l)
	id, err := c.DecodeECard(ctx, platform.ECardDecodeRequest{QRCode: l.qr(t, zhangsan)})
	if err != nil || id.IDNumber.Clear() != zhangsan || id.Name.Clear() != "张三" {
		t.Fatalf("ecardDecode %+v %v", id, err)
	}
	pay, err := c.Micropay(ctx, platform.MicropayRequest{OrderNo: "P1-0001", Amount: "12.50", QRCode: l.qr(t, zhangsan), Subject: "挂号费"})
	if err != nil || pay.State != platform.TradeSuccess || pay.Amount != "12.50" || pay.PayerID.Clear() != zhangsan {
		t.Fatalf("micropay %+v %v", pay, err)
	}
	payWire := l.last().Request
	q, err := c.QueryOrder(ctx, "P1-0001")
	if err != nil || q.State != platform.TradeSuccess || q.TradeNo != pay.TradeNo || q.Amount != "12.50" {
		t.Fatalf("orderQuery %+v %v", q, err)
	}
	rf, err := c.Refund(ctx, platform.RefundRequest{OrderNo: "P1-0001", RefundNo: "R1-0001", Amount: "2.50", Reason: "退号", OperatorID: "op-7"})
	if err != nil || rf.State != platform.RefundSuccess || rf.Amount != "2.50" || rf.RefundedTotal != "2.50" || rf.RefundTime.IsZero() {
		t.Fatalf("refund %+v %v", rf, err)
	}
	if _, err := c.Refund(ctx, platform.RefundRequest{OrderNo: "P1-0001", RefundNo: "R1-0002", Amount: "10.01", OperatorID: "op-7"}); platform.ClassOf(err) != platform.ClassRejected {
		t.Fatalf("a refund above what is left: %v", err)
	}
	rq, err := c.QueryRefund(ctx, "P1-0001", "R1-0001")
	if err != nil || rq.State != platform.RefundSuccess || rq.RefundedTotal != "2.50" {
		t.Fatalf("refundQuery %+v %v", rq, err)
	}
	if got := l.sb.Balance(zhangsan); got != "4990.00" {
		t.Fatalf("balance after the refund %s", got)
	}
	rv, err := c.Reverse(ctx, "P1-0001")
	if err != nil || rv.State != platform.TradeReversed || rv.Recall {
		t.Fatalf("reverse %+v %v", rv, err)
	}
	if got := l.sb.Balance(zhangsan); got != "5000.00" {
		t.Fatalf("balance after the reversal %s", got)
	}
	m, err := c.MerchantQR(ctx, platform.MerchantQRRequest{OrderNo: "P1-0002", Amount: "8.00", Subject: "停车费", Expire: 2 * time.Minute})
	if err != nil || m.QRContent == "" || m.ExpireTime.IsZero() {
		t.Fatalf("merchantQR %+v %v", m, err)
	}
	recs := make([]platform.BackflowRecord, 100)
	for i := range recs {
		recs[i] = platform.BackflowRecord{RecordID: fmt.Sprintf("SSC-TEST-0001-%d", i+1), Kind: "credential", Record: []byte(credential)}
	}
	acks, err := c.SubmitRecords(ctx, recs)
	if err != nil || len(acks) != len(recs) {
		t.Fatalf("backflow %d acks, %v", len(acks), err)
	}
	for i, a := range acks {
		if a.RecordID != recs[i].RecordID || a.Status != platform.RecordAccepted {
			t.Fatalf("ack %d: %+v", i, a)
		}
	}
	if n := len(l.sb.Ledger().Records); n != 100 {
		t.Fatalf("the sandbox stored %d records", n)
	}
	// The wire really is the profile's dialect.
	d := l.sb.Dialect()
	p := d.Profile()
	req, _, err := d.ParseRequest(payWire)
	if err != nil {
		t.Fatalf("the micropay request is not in the sandbox's dialect: %v\n%s", err, payWire)
	}
	if !d.IsRequestID(req.RequestID) || req.ApplicationNo != l.cfg.ApplicationNo {
		t.Fatalf("request id %q, applicationNo %q", req.RequestID, req.ApplicationNo)
	}
	wire, err := protocol.ParseData(req.Data)
	if err != nil {
		t.Fatal(err)
	}
	amountName, wantAmount := d.WireName(protocol.OpMicropay, protocol.SideData, "amount"), "12.50"
	if p.Values.Amount == protocol.AmountFen {
		wantAmount = "1250"
	}
	if got := wire.Get(amountName); got != wantAmount {
		t.Fatalf("%s is %q, want %q: %s", amountName, got, wantAmount, payWire)
	}
	if p.Envelope.Payload == protocol.PayloadObject && !bytes.Contains(payWire, []byte(`"`+p.Envelope.Request.Data+`":{`)) {
		t.Fatalf("data is not an object: %s", payWire)
	}
}

// A terminal speaking another dialect than the platform never sees a success.
func TestForeignDialectIsNeverSuccess(t *testing.T) {
	province := provinceProfile(t)
	for _, tc := range []struct{ platform, terminal string }{
		{province, protocol.ProfileSSCSim},
		{protocol.ProfileSSCSim, province},
		{protocol.ProfileAppendixD, protocol.ProfileSSCSim},
		{protocol.ProfileSSCSim, protocol.ProfileAppendixD},
	} {
		t.Run(filepath.Base(tc.platform)+"/"+filepath.Base(tc.terminal), func(t *testing.T) {
			l := newLab(t, false, func(so *platformsim.StartOptions, c *platform.Config) {
				so.Profile = tc.platform
				c.Profile = tc.terminal
			})
			_, err := l.client.CardAuth(context.Background(), zhangsanCard)
			if err == nil {
				t.Fatal("success across dialects")
			}
			if cl := platform.ClassOf(err); cl == platform.ClassSuccess || cl == platform.ClassRetryable {
				t.Fatalf("class %s: %v", cl, err)
			}
		})
	}
}

// A field mapped to a name the platform does not know: the platform's refusal names
// the operation and the wire names.
func TestMisnamedFieldIsRefusedByName(t *testing.T) {
	dir := t.TempDir()
	wrong := filepath.Join(dir, "wrong.yaml")
	doc := "profile:\n  name: wrong\n  operations:\n    cardAuth:\n      fields: {cardNo: AAZ500}\n"
	if err := os.WriteFile(wrong, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	l := newLab(t, false, func(_ *platformsim.StartOptions, c *platform.Config) { c.Profile = wrong })
	_, err := l.client.CardAuth(context.Background(), zhangsanCard)
	wantClass(t, err, platform.ClassRejected, protocol.CodeBadRequest)
	if msg := err.Error(); !strings.Contains(msg, "cardAuth") || !strings.Contains(msg, "cardNo") || !strings.Contains(msg, "AAZ500") {
		t.Fatalf("the refusal does not name the operation and the wire names: %s", msg)
	}
}

// The envelope carries the applicationNo of the context (a scene's), else the
// configured one.
func TestApplicationNoPerCall(t *testing.T) {
	l := newLab(t, false)
	ctx := context.Background()
	for _, tc := range []struct {
		ctx  context.Context
		want string
	}{{ctx, "02"}, {platform.WithApplicationNo(ctx, "05"), "05"}, {platform.WithApplicationNo(ctx, ""), ""}} {
		if _, err := l.client.CardAuth(tc.ctx, zhangsanCard); err != nil {
			t.Fatal(err)
		}
		req, _, err := protocol.ParseRequest(l.last().Request)
		if err != nil || req.ApplicationNo != tc.want {
			t.Fatalf("applicationNo %q, want %q (%v)", req.ApplicationNo, tc.want, err)
		}
	}
}

// An answer that reached us, signed by the platform, but in another dialect than the
// terminal's is unverified: never a success, never a business refusal.
func TestAnswerInAnotherDialectIsUnverified(t *testing.T) {
	dir := t.TempDir()
	for name, doc := range map[string]string{
		// The requests are the sandbox's; the terminal reads answers under other names.
		"response-names": "profile:\n  name: other-names\n  envelope:\n    response: {msgCode: code, result: body}\n",
		// The platform signs in base64, the terminal expects hex: the sandbox refuses the
		// request (900002) in a signed answer the terminal cannot verify.
		"signature-encoding": "profile:\n  name: hex\n  signature: {encoding: hex}\n",
		// Dates the other way round: the answer's expiryDate is not YYYY-MM-DD.
		"date-format": "profile:\n  name: dashed\n  values: {date: YYYY-MM-DD}\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".yaml")
			if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			l := newLab(t, false, func(_ *platformsim.StartOptions, c *platform.Config) { c.Profile = path })
			_, err := l.client.CardAuth(context.Background(), zhangsanCard)
			wantClass(t, err, platform.ClassUnverified, "")
		})
	}
}

// The sandbox's authorisation file: a service the channel is not registered for is
// 900006, a terminal or address it is not registered for is 900005.
func TestSandboxAuthorisation(t *testing.T) {
	auth, err := platformsim.ParseAuthorisation([]byte(`channels:
  "350100000001":
    operations: [cardAuth, ecardDecode]
    terminals: [SSC-TEST-0001]
    addresses: [127.0.0.0/8]
`))
	if err != nil {
		t.Fatal(err)
	}
	l := newLab(t, false, func(so *platformsim.StartOptions, _ *platform.Config) { so.Authorise = auth })
	ctx := context.Background()
	if _, err := l.client.CardAuth(ctx, zhangsanCard); err != nil {
		t.Fatal(err)
	}
	_, err = l.client.QueryOrder(ctx, "A-1")
	wantClass(t, err, platform.ClassRejected, protocol.CodeNoService)
	other, err := platform.New(l.cfg, platform.Options{TerminalID: "SSC-TEST-0002"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = other.CardAuth(ctx, zhangsanCard)
	wantClass(t, err, platform.ClassRejected, protocol.CodeNoChannel)

	for doc, want := range map[string]string{
		"channels:\n  \"35\": {}\n":                                  "channels.35",
		"channels:\n  \"350100000001\": {operations: [teleport]}\n":  "channels.350100000001.operations[0]",
		"channels:\n  \"350100000001\": {addresses: [10.0.0.300]}\n": "channels.350100000001.addresses[0]",
		"channel: {}\n": "channel",
	} {
		if _, err := platformsim.ParseAuthorisation([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want a problem at %s", doc, err, want)
		}
	}
	// The same sandbox address from another prefix is not authorised.
	far, err := platformsim.ParseAuthorisation([]byte("channels:\n  \"350100000001\": {addresses: [10.0.0.0/8]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	l2 := newLab(t, false, func(so *platformsim.StartOptions, _ *platform.Config) { so.Authorise = far })
	_, err = l2.client.CardAuth(ctx, zhangsanCard)
	wantClass(t, err, platform.ClassRejected, protocol.CodeNoChannel)
}
