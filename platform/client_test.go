package platform_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/tlspin"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/platform/protocol"
)

// These tests run the client against the sandbox platform over real HTTP and HTTPS on
// loopback: real TLS, real signatures both ways, real SM4.

const (
	zhangsan = "350102199003077898" // gen-3 card, e-card with payment
	lisi     = "350121198511160027" // gen-2 card, e-card identity only
	wangwu   = "350103197001011235" // e-card with payment, balance 300.00
	zhaoliu  = "350203199512304560" // lost card
	qianqi   = "11010519491231002X" // not registered
	channel  = platformsim.DefaultChannel
)

type lab struct {
	sb     *platformsim.Sandbox
	cfg    platform.Config
	client *platform.Client

	mu        sync.Mutex // guards exchanges
	exchanges []platform.Exchange
}

type labOption func(*platformsim.StartOptions, *platform.Config)

func newLab(t testing.TB, https bool, opts ...labOption) *lab {
	t.Helper()
	so := platformsim.StartOptions{}
	l := &lab{}
	for _, o := range opts {
		o(&so, &platform.Config{})
	}
	sb, err := platformsim.Start(context.Background(), t.TempDir(), so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sb.Close(); err != nil {
			t.Error(err)
		}
	})
	l.sb = sb
	l.cfg = sb.ClientConfig(channel, https)
	for _, o := range opts {
		o(&platformsim.StartOptions{}, &l.cfg)
	}
	l.client = l.newClient(t, l.cfg)
	return l
}

func (l *lab) newClient(t testing.TB, cfg platform.Config) *platform.Client {
	t.Helper()
	c, err := platform.New(cfg, platform.Options{TerminalID: "SSC-TEST-0001", Observe: func(e platform.Exchange) {
		l.mu.Lock()
		l.exchanges = append(l.exchanges, e)
		l.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func (l *lab) last() platform.Exchange {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.exchanges[len(l.exchanges)-1]
}

func (l *lab) qr(t testing.TB, id string) string {
	t.Helper()
	code, _, err := l.sb.IssueQR(id)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func (l *lab) fault(t testing.TB, spec string) {
	t.Helper()
	f, err := platformsim.ParseFault(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.sb.AddFaults(f); err != nil {
		t.Fatal(err)
	}
}

func wantClass(t testing.TB, err error, want platform.Class, msgCode string) {
	t.Helper()
	if got := platform.ClassOf(err); got != want {
		t.Fatalf("class %s, want %s (err %v)", got, want, err)
	}
	var e *platform.Error
	if err != nil && errors.As(err, &e) && e.MsgCode != msgCode {
		t.Fatalf("msgCode %q, want %q (err %v)", e.MsgCode, msgCode, err)
	}
}

var zhangsanCard = platform.CardAuthRequest{IDNumber: zhangsan, Name: "张三", CardNo: "D10000017",
	CardID: "350100D156000005300000016A5F3C21", RegionCode: "350100", CardVersion: "3.00", AuthMode: "psam"}

func TestCardAuthOverHTTPS(t *testing.T) {
	l := newLab(t, true)
	ctx := context.Background()
	res, err := l.client.CardAuth(ctx, zhangsanCard)
	if err != nil {
		t.Fatal(err)
	}
	if res.CardStatus != "normal" || res.Name.Clear() != "张三" || res.RegionCode != "350100" {
		t.Fatalf("%+v", res)
	}
	if s := fmt.Sprint(res); strings.Contains(s, "张三") {
		t.Fatalf("printed result shows the name: %s", s)
	}
	// On the wire the ID number and the name are SM4 ciphertext.
	if ex := l.last(); bytes.Contains(ex.Request, []byte(zhangsan)) || bytes.Contains(ex.Request, []byte("张三")) ||
		bytes.Contains(ex.Response, []byte("张三")) {
		t.Fatalf("personal data in clear on the wire:\n%s\n%s", ex.Request, ex.Response)
	}

	for name, tc := range map[string]struct {
		req  platform.CardAuthRequest
		code string
	}{
		"lost card": {platform.CardAuthRequest{IDNumber: zhaoliu, CardNo: "B30000036", CardID: "350200D156000005300000030A0B0C0D"}, protocol.CodeCardLost},
		"unknown":   {platform.CardAuthRequest{IDNumber: qianqi, CardNo: "D10000017", CardID: zhangsanCard.CardID}, protocol.CodePersonUnknown},
		"no card":   {platform.CardAuthRequest{IDNumber: zhangsan, CardNo: "X00000019", CardID: zhangsanCard.CardID}, protocol.CodeCardUnknown},
		"mismatch":  {platform.CardAuthRequest{IDNumber: lisi, CardNo: "D10000017", CardID: zhangsanCard.CardID}, protocol.CodeCardMismatch},
		"wrong name": {func() platform.CardAuthRequest {
			r := zhangsanCard
			r.Name = "张四"
			return r
		}(), protocol.CodeCardMismatch},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := l.client.CardAuth(ctx, tc.req)
			wantClass(t, err, platform.ClassRejected, tc.code)
			if platform.PromptFor(err) == platform.CodeRejected {
				t.Errorf("no specific prompt for %s", tc.code)
			}
		})
	}
	if link := l.client.Link(); !link.Up() || link.ConsecutiveFailures != 0 || link.ByClass["rejected"] != 5 {
		t.Fatalf("link %+v", link)
	}
}

func TestECardCodesAreSingleUseAndExpire(t *testing.T) {
	l := newLab(t, false)
	ctx := context.Background()
	code := l.qr(t, zhangsan)
	id, err := l.client.DecodeECard(ctx, platform.ECardDecodeRequest{QRCode: code, BusinessType: "01"})
	if err != nil {
		t.Fatal(err)
	}
	if id.IDNumber.Clear() != zhangsan || id.Name.Clear() != "张三" || !id.PaymentEnabled() || id.CardNo != "D10000017" {
		t.Fatalf("%+v", id)
	}
	if bytes.Contains(l.last().Request, []byte(code)) {
		t.Fatal("e-card code in clear on the wire")
	}
	_, err = l.client.DecodeECard(ctx, platform.ECardDecodeRequest{QRCode: code})
	wantClass(t, err, platform.ClassRejected, protocol.CodeQRUsed)
	_, err = l.client.DecodeECard(ctx, platform.ECardDecodeRequest{QRCode: "ESSC-NOT-ISSUED-0000000000"})
	wantClass(t, err, platform.ClassRejected, protocol.CodeQRInvalid)

	old := l.qr(t, lisi)
	// 61 s later on the platform's clock the code has expired. The client's timestamps
	// are then a minute behind, still inside the window.
	l.sb.SetClockOffset(61 * time.Second)
	_, err = l.client.DecodeECard(ctx, platform.ECardDecodeRequest{QRCode: old})
	wantClass(t, err, platform.ClassRejected, protocol.CodeQRExpired)
	id, err = l.client.DecodeECard(ctx, platform.ECardDecodeRequest{QRCode: l.qr(t, lisi)})
	if err != nil || id.PaymentEnabled() {
		t.Fatalf("李四 is identity only: %+v %v", id, err)
	}
	// The client's clock is the platform's: the local time plus the offset it learned.
	now, off, skewed := l.client.Clock()
	if off < 59*time.Second || off > 63*time.Second || skewed {
		t.Fatalf("clock offset %s skewed %v, want about 61s, not skewed (window 300s)", off, skewed)
	}
	if d := now.Sub(time.Now().Add(61 * time.Second)); d < -3*time.Second || d > 3*time.Second {
		t.Fatalf("Clock() = %s, %s from local time + 61s", now, d)
	}
}

func TestMicropayQueryReverse(t *testing.T) {
	l := newLab(t, true)
	ctx := context.Background()
	c := l.client
	pay := func(order, amount, id string) (platform.PaymentResult, error) {
		return c.Micropay(ctx, platform.MicropayRequest{OrderNo: order, Amount: amount, QRCode: l.qr(t, id), Subject: "挂号费"})
	}

	// A small payment succeeds at once.
	res, err := pay("T1-0001", "12.50", zhangsan)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != platform.TradeSuccess || res.TradeNo == "" || res.Amount != "12.50" || res.PaidTime.IsZero() ||
		res.PayerID.Clear() != zhangsan || res.PayerName.Clear() != "张三" {
		t.Fatalf("%+v", res)
	}
	if got := l.sb.Balance(zhangsan); got != "4987.50" {
		t.Fatalf("balance %s", got)
	}
	q, err := c.QueryOrder(ctx, "T1-0001")
	if err != nil || q.State != platform.TradeSuccess || q.TradeNo != res.TradeNo {
		t.Fatalf("query %+v %v", q, err)
	}

	// The same request again (an answer was lost): the same order, not a second charge,
	// even though the code is now used.
	again, err := c.Micropay(ctx, platform.MicropayRequest{OrderNo: "T1-0001", Amount: "12.50", QRCode: "other", Subject: "挂号费"})
	wantClass(t, err, platform.ClassRejected, protocol.CodeOrderConflict) // another code: another payment
	_ = again

	// Declined: not enough money. Nothing charged; FAILED is a result, not an error.
	res, err = pay("T1-0002", "500.00", wangwu)
	if err != nil || res.State != platform.TradeFailed || res.FailReason == "" || res.TradeNo != "" {
		t.Fatalf("%+v %v", res, err)
	}
	// Identity-only e-card: a business rejection.
	_, err = pay("T1-0003", "1.00", lisi)
	wantClass(t, err, platform.ClassRejected, protocol.CodePayNotEnabled)

	// Above 1000.00 the holder must enter a password: USERPAYING until confirmed.
	res, err = pay("T1-0004", "1200.00", zhangsan)
	if err != nil || res.State != platform.TradeUserPaying {
		t.Fatalf("%+v %v", res, err)
	}
	if q, err = c.QueryOrder(ctx, "T1-0004"); err != nil || q.State != platform.TradeUserPaying {
		t.Fatalf("%+v %v", q, err)
	}
	confirm(t, l, "T1-0004")
	if q, err = c.QueryOrder(ctx, "T1-0004"); err != nil || q.State != platform.TradeSuccess || q.PayerName.Clear() != "张三" {
		t.Fatalf("%+v %v", q, err)
	}

	// Reverse a paid order: refunded; the order can never succeed again.
	rv, err := c.Reverse(ctx, "T1-0004")
	if err != nil || rv.State != platform.TradeReversed || rv.Recall || rv.Action != "refund" {
		t.Fatalf("%+v %v", rv, err)
	}
	if got := l.sb.Balance(zhangsan); got != "4987.50" {
		t.Fatalf("balance after refund %s", got)
	}
	_, err = pay("T1-0004", "1200.00", zhangsan)
	wantClass(t, err, platform.ClassRejected, protocol.CodeOrderConflict)

	// Reversing an order the platform never saw closes its number: a delayed micropay
	// with it can never succeed.
	rv, err = c.Reverse(ctx, "T1-0005")
	if err != nil || rv.State != platform.TradeClosed || rv.Recall {
		t.Fatalf("%+v %v", rv, err)
	}
	_, err = pay("T1-0005", "1.00", zhangsan)
	wantClass(t, err, platform.ClassRejected, protocol.CodeOrderConflict)
	if q, err = c.QueryOrder(ctx, "T1-0005"); err != nil || q.State != platform.TradeClosed {
		t.Fatalf("%+v %v", q, err)
	}
	_, err = c.QueryOrder(ctx, "T1-9999")
	wantClass(t, err, platform.ClassRejected, protocol.CodeOrderNotFound)

	led := l.sb.Ledger()
	if p := led.Payments[channel+"/T1-0004"]; p.State != "REVERSED" || len(p.History) != 3 {
		t.Fatalf("ledger %+v", p)
	}
}

func confirm(t testing.TB, l *lab, order string) {
	t.Helper()
	body := fmt.Sprintf(`{"channelNo":%q,"orderNo":%q}`, channel, order)
	resp, err := http.Post(l.sb.URL(false)+"/_sim/pay/confirm", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 {
		t.Fatalf("confirm: %s %s", resp.Status, b)
	}
}

func TestMerchantQR(t *testing.T) {
	l := newLab(t, false)
	ctx := context.Background()
	m, err := l.client.MerchantQR(ctx, platform.MerchantQRRequest{OrderNo: "T2-0001", Subject: "停车费", Expire: 2 * time.Minute})
	if err != nil || m.QRContent == "" || m.ExpireTime.IsZero() {
		t.Fatalf("%+v %v", m, err)
	}
	q, err := l.client.QueryOrder(ctx, "T2-0001")
	if err != nil || q.State != platform.TradeNotPay {
		t.Fatalf("%+v %v", q, err)
	}
	body := fmt.Sprintf(`{"qrContent":%q,"idNumber":%q,"amount":"8.00"}`, m.QRContent, wangwu)
	resp, err := http.Post(l.sb.URL(false)+"/_sim/ecard/pay-merchant", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if q, err = l.client.QueryOrder(ctx, "T2-0001"); err != nil || q.State != platform.TradeSuccess || q.Amount != "8.00" {
		t.Fatalf("%+v %v", q, err)
	}
}

const credential = `{"accessNo":"350100000001","credentialType":"电子社会保障卡二维码扫码认证","regionCode":"350100",
"scene":"人力资源和社会保障应用","institutionName":"示例市人社局","institutionAddress":"示例路1号",
"authTime":"2026-11-24 10:00:00","businessTime":"2026-11-24 10:01:00","businessStatus":"成功",
"coordinateSystem":"GCJ-02","longitude":"119.2965","latitude":"26.0745","institutionType":"企业",
"channel":"自助终端","socialSecurityNo":"350102199003077898","name":"张三","creditCode":"91350100M000100Y43"}`

func TestBackflow(t *testing.T) {
	l := newLab(t, true)
	ctx := context.Background()
	recs := []platform.BackflowRecord{
		{RecordID: "SSC-TEST-0001-1", Kind: "credential", Record: []byte(credential)},
		{RecordID: "SSC-TEST-0001-2", Kind: "credential", Record: []byte(strings.Replace(credential, "10:01:00", "10:02:00", 1))},
		{RecordID: "SSC-TEST-0001-3", Kind: "credential", Record: []byte(strings.Replace(credential, "350102199003077898", "350102199003077899", 1))},
	}
	acks, err := l.client.SubmitRecords(ctx, recs)
	if err != nil {
		t.Fatal(err)
	}
	want := []platform.RecordStatus{platform.RecordAccepted, platform.RecordAccepted, platform.RecordRejected}
	for i, a := range acks {
		if a.RecordID != recs[i].RecordID || a.Status != want[i] {
			t.Fatalf("ack %d: %+v", i, a)
		}
	}
	if !strings.Contains(acks[2].Reason, "socialSecurityNo") || strings.Contains(acks[2].Reason, "350102199003077899") {
		t.Fatalf("reason %q", acks[2].Reason)
	}
	if bytes.Contains(l.last().Request, []byte("张三")) {
		t.Fatal("record in clear on the wire")
	}
	// Sent again: duplicates, which count as stored.
	acks, err = l.client.SubmitRecords(ctx, recs[:2])
	if err != nil || acks[0].Status != platform.RecordDuplicate || !acks[0].Stored() || !acks[1].Stored() {
		t.Fatalf("%+v %v", acks, err)
	}
	led := l.sb.Ledger()
	if r := led.Records["SSC-TEST-0001-1"]; r.Received != 2 || r.Duplicates != 1 || r.TerminalID != "SSC-TEST-0001" || r.Kind != "credential" {
		t.Fatalf("ledger %+v", r)
	}
	if len(led.Records) != 2 || len(led.RejectedRecords) != 1 {
		t.Fatalf("ledger %d records, %d rejected", len(led.Records), len(led.RejectedRecords))
	}
	// The client refuses a batch it cannot send, without sending it.
	_, err = l.client.SubmitRecords(ctx, []platform.BackflowRecord{recs[0], recs[0]})
	wantClass(t, err, platform.ClassRejected, "")
	if !errors.Is(err, platform.ErrInvalidRequest) {
		t.Fatal(err)
	}
}

// TestFaults runs every injected fault and checks its class; none may be success.
func TestFaults(t *testing.T) {
	l := newLab(t, true)
	ctx := context.Background()
	auth := func() error { _, err := l.client.CardAuth(ctx, zhangsanCard); return err }
	for _, tc := range []struct {
		fault string
		class platform.Class
		code  string
	}{
		{"cardAuth:latency:delay=50ms:count=1", platform.ClassSuccess, ""},
		{"cardAuth:http:status=503:count=1", platform.ClassUnknown, ""},
		{"cardAuth:http:status=404:count=1", platform.ClassUnknown, ""},
		{"cardAuth:msgCode:code=900008:count=1", platform.ClassRetryable, protocol.CodeBusy},
		{"cardAuth:msgCode:code=999999:count=1", platform.ClassUnknown, protocol.CodeSystemError},
		{"cardAuth:msgCode:code=123456:count=1", platform.ClassRejected, "123456"},
		{"cardAuth:dropBefore:count=1", platform.ClassUnknown, ""},
		{"cardAuth:dropAfter:count=1", platform.ClassUnknown, ""},
		{"cardAuth:malformed:count=1", platform.ClassUnverified, ""},
		{"cardAuth:badSignature:count=1", platform.ClassUnverified, ""},
		{"cardAuth:wrongRequestId:count=1", platform.ClassUnverified, ""},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			l.fault(t, tc.fault)
			err := auth()
			wantClass(t, err, tc.class, tc.code)
			if err != nil && platform.PromptFor(err) == 0 {
				t.Fatal("no prompt")
			}
			// The fault was used up: the next call succeeds.
			if err := auth(); err != nil {
				t.Fatalf("after the fault: %v", err)
			}
		})
	}
	if st := l.sb.Faults(); len(st.Rules) != 0 || st.Fired[platformsim.FaultBadSignature] != 1 {
		t.Fatalf("faults %+v", st)
	}
	link := l.client.Link()
	if link.ByClass["unverified"] != 3 || link.ByClass["unknown"] != 5 || !link.Up() {
		t.Fatalf("link %+v", link)
	}
}

// TestUnknownOutcomeThenQuery: the platform charged the order and the answer was lost
// (or came too late); the client reports unknown, and a query tells the truth.
func TestUnknownOutcomeThenQuery(t *testing.T) {
	l := newLab(t, false)
	ctx := context.Background()
	l.fault(t, "micropay:dropAfter:count=1")
	_, err := l.client.Micropay(ctx, platform.MicropayRequest{OrderNo: "T3-0001", Amount: "3.00", QRCode: l.qr(t, zhangsan), Subject: "x"})
	wantClass(t, err, platform.ClassUnknown, "")
	q, err := l.client.QueryOrder(ctx, "T3-0001")
	if err != nil || q.State != platform.TradeSuccess {
		t.Fatalf("%+v %v", q, err)
	}

	// Dropped before processing: unknown for the client, and the query shows the
	// platform never had it.
	l.fault(t, "micropay:dropBefore:count=1")
	_, err = l.client.Micropay(ctx, platform.MicropayRequest{OrderNo: "T3-0002", Amount: "3.00", QRCode: l.qr(t, zhangsan), Subject: "x"})
	wantClass(t, err, platform.ClassUnknown, "")
	_, err = l.client.QueryOrder(ctx, "T3-0002")
	wantClass(t, err, platform.ClassRejected, protocol.CodeOrderNotFound)

	// An answer slower than the client's timeout, after processing.
	cfg := l.cfg
	cfg.Timeout = 300e6
	slow := l.newClient(t, cfg)
	l.fault(t, "micropay:delayAfter:delay=5s:count=1")
	start := time.Now()
	_, err = slow.Micropay(ctx, platform.MicropayRequest{OrderNo: "T3-0003", Amount: "3.00", QRCode: l.qr(t, zhangsan), Subject: "x"})
	wantClass(t, err, platform.ClassUnknown, "")
	if time.Since(start) > 3*time.Second {
		t.Fatal("the client did not give up at its timeout")
	}
	if q, err := l.client.QueryOrder(ctx, "T3-0003"); err != nil || q.State != platform.TradeSuccess {
		t.Fatalf("%+v %v", q, err)
	}
	// A reversal whose platform asks to call again.
	l.fault(t, "reverse:recall:count=1")
	rv, err := l.client.Reverse(ctx, "T3-0003")
	if err != nil || !rv.Recall || rv.State != platform.TradeSuccess {
		t.Fatalf("%+v %v", rv, err)
	}
	rv, err = l.client.Reverse(ctx, "T3-0003")
	if err != nil || rv.Recall || rv.State != platform.TradeReversed {
		t.Fatalf("%+v %v", rv, err)
	}
}

// TestNothingSentIsRetryable: failures before the request is written.
func TestNothingSentIsRetryable(t *testing.T) {
	l := newLab(t, true)
	ctx := context.Background()
	call := func(cfg platform.Config) error {
		c := l.newClient(t, cfg)
		_, err := c.CardAuth(ctx, zhangsanCard)
		return err
	}

	refused := l.cfg
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused.BaseURL = "https://" + ln.Addr().String()
	ln.Close()
	wantClass(t, call(refused), platform.ClassRetryable, "")

	dns := l.cfg
	dns.BaseURL = "https://platform.invalid"
	wantClass(t, call(dns), platform.ClassRetryable, "")

	// A certificate the client does not trust: the handshake fails before anything is
	// written.
	otherCA := l.cfg
	otherCA.CAFile = writeOtherCert(t)
	err := call(otherCA)
	wantClass(t, err, platform.ClassRetryable, "")
	if !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("%v", err)
	}

	// A server that accepts and never completes the TLS handshake: a timeout before
	// sending.
	hang := l.cfg
	hang.Timeout = 300e6
	hang.BaseURL = "https://" + silentServer(t)
	wantClass(t, call(hang), platform.ClassRetryable, "")

	// Plain HTTP to the same silent server: the request is written, then the timeout.
	sent := l.cfg
	sent.Timeout = 300e6
	sent.CAFile = ""
	sent.BaseURL = "http://" + silentServer(t)
	wantClass(t, call(sent), platform.ClassUnknown, "")

	if link := l.client.Link(); link.Calls != 0 {
		t.Fatalf("the lab client made calls: %+v", link)
	}
}

// silentServer accepts connections, reads what comes and never answers.
func silentServer(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	return ln.Addr().String()
}

func tlsTrusting(t testing.TB, caFile string) *tls.Config {
	t.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	return &tls.Config{RootCAs: pool}
}

func writeOtherCert(t testing.TB) string {
	t.Helper()
	kd, err := platformsim.OpenKeyDir(t.TempDir(), []string{channel}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return kd.CertFile
}

// TestStaleTimestamp: the platform's clock is 20 minutes ahead. The first attempt is
// refused (900003, nothing done); the client adopts the signed time and succeeds on
// the second attempt with a new requestId.
func TestStaleTimestamp(t *testing.T) {
	l := newLab(t, false)
	ctx := context.Background()
	l.sb.SetClockOffset(20 * time.Minute)
	var d protocol.Data
	for k, v := range map[string]string{"idNumber": zhangsan, "cardNo": "D10000017", "cardId": zhangsanCard.CardID} {
		d.Set(k, v)
	}
	rep, err := l.client.Call(ctx, protocol.OpCardAuth, d)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Attempts != 2 {
		t.Fatalf("attempts %d", rep.Attempts)
	}
	link := l.client.Link()
	if off := link.ClockOffset; off < 20*time.Minute-2*time.Second || off > 20*time.Minute+2*time.Second || !link.ClockSkewed {
		t.Fatalf("offset %s skewed %v", off, link.ClockSkewed)
	}
	l.mu.Lock()
	n := len(l.exchanges)
	a, b := l.exchanges[n-2], l.exchanges[n-1]
	l.mu.Unlock()
	if a.RequestID == b.RequestID {
		t.Fatal("the retry reused the requestId")
	}
	// Now in step: one attempt.
	if rep, err = l.client.Call(ctx, protocol.OpCardAuth, d); err != nil || rep.Attempts != 1 {
		t.Fatalf("%v %v", rep, err)
	}
	// A difference beyond maxClockOffset is reported, not adopted.
	cfg := l.cfg
	cfg.MaxClockOffset = 600e9
	strict := l.newClient(t, cfg)
	_, err = strict.Call(ctx, protocol.OpCardAuth, d)
	wantClass(t, err, platform.ClassRetryable, protocol.CodeStaleTimestamp)
	if !errors.Is(err, platform.ErrStaleTimestamp) || platform.PromptFor(err) != platform.CodeClock || !strict.Link().ClockSkewed {
		t.Fatalf("%v", err)
	}
}

// TestStaleResponse: an answer whose (signed) timestamp is 10 minutes old is not
// accepted; the client learns the offset from it all the same, and the platform's
// stale-timestamp refusal of the next request sets it right again.
func TestStaleResponse(t *testing.T) {
	l := newLab(t, false)
	ctx := context.Background()
	l.fault(t, "cardAuth:staleResponse:skew=-10m:count=1")
	_, err := l.client.CardAuth(ctx, zhangsanCard)
	wantClass(t, err, platform.ClassUnverified, "")
	if !strings.Contains(err.Error(), "outside") {
		t.Fatal(err)
	}
	res, err := l.client.CardAuth(ctx, zhangsanCard)
	if err != nil || res.CardStatus != "normal" {
		t.Fatalf("%+v %v", res, err)
	}
	if off := l.client.Link().ClockOffset; off > 2*time.Second || off < -2*time.Second {
		t.Fatalf("offset %s", off)
	}
}

// TestReplayAndTamper sends a captured request again, and altered.
func TestReplayAndTamper(t *testing.T) {
	l := newLab(t, true)
	ctx := context.Background()
	if _, err := l.client.CardAuth(ctx, zhangsanCard); err != nil {
		t.Fatal(err)
	}
	ex := l.last()
	send := func(body []byte) *protocol.Response {
		t.Helper()
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsTrusting(t, l.cfg.CAFile)}}
		resp, err := hc.Post(ex.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		r, fields, err := protocol.ParseResponse(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		pub, _ := os.ReadFile(l.cfg.PlatformPublicKey)
		pk, _ := protocol.ParsePublicKey(pub)
		if err := (protocol.Scheme{}).VerifyFields(pk, fields); err != nil {
			t.Fatalf("refusal not signed: %v", err)
		}
		return r
	}
	if r := send(ex.Request); r.MsgCode != protocol.CodeReplay || r.RequestID != ex.RequestID {
		t.Fatalf("replay answered %+v", r)
	}
	// One byte of data changed (inside the cardNo): the signature fails.
	body := bytes.Replace(ex.Request, []byte("D10000017"), []byte("D10000018"), 1)
	if bytes.Equal(body, ex.Request) {
		t.Fatal("no change")
	}
	if r := send(body); r.MsgCode != protocol.CodeBadSignature {
		t.Fatalf("tampered request answered %+v", r)
	}
	if got := l.sb.Ledger().Answers; got[protocol.CodeReplay] != 1 || got[protocol.CodeBadSignature] != 1 {
		t.Fatalf("answers %v", got)
	}
}

func TestMsgCodeOverride(t *testing.T) {
	l := newLab(t, false, func(_ *platformsim.StartOptions, c *platform.Config) {
		c.MsgCodes = map[string]string{"123456": "retryable", "100003": "unknown"}
	})
	ctx := context.Background()
	l.fault(t, "cardAuth:msgCode:code=123456:count=1")
	_, err := l.client.CardAuth(ctx, zhangsanCard)
	wantClass(t, err, platform.ClassRetryable, "123456")
	_, err = l.client.CardAuth(ctx, platform.CardAuthRequest{IDNumber: zhaoliu, CardNo: "B30000036", CardID: "350200D156000005300000030A0B0C0D"})
	wantClass(t, err, platform.ClassUnknown, protocol.CodeCardLost)
}

func TestInvalidRequestsAreNotSent(t *testing.T) {
	l := newLab(t, false)
	ctx := context.Background()
	for name, f := range map[string]func() error{
		"amount": func() error {
			_, err := l.client.Micropay(ctx, platform.MicropayRequest{OrderNo: "A1", Amount: "12.5", QRCode: "x", Subject: "x"})
			return err
		},
		"zero": func() error {
			_, err := l.client.Micropay(ctx, platform.MicropayRequest{OrderNo: "A1", Amount: "0.00", QRCode: "x", Subject: "x"})
			return err
		},
		"order": func() error { _, err := l.client.QueryOrder(ctx, "with space"); return err },
		"id": func() error {
			_, err := l.client.CardAuth(ctx, platform.CardAuthRequest{IDNumber: "123", CardNo: "D10000017", CardID: zhangsanCard.CardID})
			return err
		},
		"subject": func() error {
			_, err := l.client.Micropay(ctx, platform.MicropayRequest{OrderNo: "A1", Amount: "1.00", QRCode: "x", Subject: "a\nb"})
			return err
		},
		"required": func() error { _, err := l.client.Call(ctx, protocol.OpMicropay, protocol.Data{}); return err },
		"unknown":  func() error { _, err := l.client.Call(ctx, "teleport", protocol.Data{}); return err },
	} {
		err := f()
		if platform.ClassOf(err) != platform.ClassRejected || !errors.Is(err, platform.ErrInvalidRequest) {
			t.Errorf("%s: %v", name, err)
		}
		if platform.PromptFor(err) != platform.CodeInvalidRequest {
			t.Errorf("%s: prompt %v", name, platform.PromptFor(err))
		}
	}
	if n := len(l.sb.Ledger().Answers); n != 0 {
		t.Fatalf("the platform received %d requests", n)
	}
}

func TestTestKeysNeedATestTerminal(t *testing.T) {
	sb, err := platformsim.Start(context.Background(), t.TempDir(), platformsim.StartOptions{TestKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	cfg := sb.ClientConfig(channel, true)
	if _, err := platform.New(cfg, platform.Options{TerminalID: "T"}); !errors.Is(err, platform.ErrTestKey) {
		t.Fatalf("test keys accepted on a production terminal: %v", err)
	}
	c, err := platform.New(cfg, platform.Options{TerminalID: "T", AllowTestKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CardAuth(context.Background(), zhangsanCard); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	l := newLab(t, true)
	ctx := context.Background()
	codes := make([]string, 16)
	for i := range codes {
		codes[i] = l.qr(t, zhangsan)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 16 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := l.client.CardAuth(ctx, zhangsanCard)
			errs <- err
		}()
		go func() {
			defer wg.Done()
			r, err := l.client.Micropay(ctx, platform.MicropayRequest{OrderNo: fmt.Sprintf("C-%d", i), Amount: "1.00", QRCode: codes[i], Subject: "x"})
			if err == nil && r.State != platform.TradeSuccess {
				err = fmt.Errorf("state %s", r.State)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := l.sb.Balance(zhangsan); got != "4984.00" {
		t.Fatalf("balance %s", got)
	}
	if link := l.client.Link(); link.Calls != 32 || link.ByClass["success"] != 32 {
		t.Fatalf("%+v", link)
	}
}

func TestSeededRateFaultsRepeat(t *testing.T) {
	run := func() string {
		l := newLab(t, false, func(so *platformsim.StartOptions, _ *platform.Config) { so.Seed = 42 })
		l.fault(t, "cardAuth:http:status=502:rate=0.5")
		var b strings.Builder
		for range 24 {
			_, err := l.client.CardAuth(context.Background(), zhangsanCard)
			b.WriteString(platform.ClassOf(err).String()[:1])
		}
		return b.String()
	}
	a, b := run(), run()
	if a != b || !strings.Contains(a, "s") || !strings.Contains(a, "u") {
		t.Fatalf("runs differ or do not mix: %s %s", a, b)
	}
}

func TestConfigFilesMissing(t *testing.T) {
	l := newLab(t, false)
	cfg := l.cfg
	cfg.SM4Key = "/nonexistent/sm4.key"
	if _, err := platform.New(cfg, platform.Options{TerminalID: "T"}); err == nil || !strings.Contains(err.Error(), "platform.sm4Key") {
		t.Fatalf("%v", err)
	}
	cfg = l.cfg
	_ = os.Chmod(string(cfg.PrivateKey), 0o644)
	if _, err := platform.New(cfg, platform.Options{TerminalID: "T"}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("%v", err)
	}
	_ = os.Chmod(string(cfg.PrivateKey), 0o600)
	cfg.CAFile = filepath.Join(t.TempDir(), "none.pem")
	if _, err := platform.New(cfg, platform.Options{TerminalID: "T"}); err == nil || !strings.Contains(err.Error(), "caFile") {
		t.Fatalf("%v", err)
	}
}

// hsmFunc is a CardHSM for tests of the platform side of the two-step.
type hsmFunc func(step1 string) (string, error)

func (f hsmFunc) InternalAuth(step1 string) (string, error) { return f(step1) }

func TestCardInternalAuth(t *testing.T) {
	step1 := func(cardID string) string {
		return "350100|00814A444686605199000001AC|03|" + cardID + "|32D9E876ADB31BBF|DBF7A936D0D18C9E|98B4D293D091C331|E603E2CAADAF02B6|"
	}
	var (
		mu  sync.Mutex // guards got
		got string
	)
	hsm := hsmFunc(func(s string) (string, error) {
		mu.Lock()
		got = s
		mu.Unlock()
		if strings.Contains(s, "|BAD|") {
			return "", errors.New("cannot process")
		}
		return "F4A0CF965BDCEA30DBF7A936D0D18C9E|774A08EDF447A1DEE603E2CAADAF02B6|", nil
	})
	l := newLab(t, true, func(so *platformsim.StartOptions, _ *platform.Config) { so.HSM = hsm })
	ctx := context.Background()
	res, err := l.client.CardInternalAuth(ctx, platform.InternalAuthRequest{Step1: step1(zhangsanCard.CardID)})
	mu.Lock()
	hsmGot := got
	mu.Unlock()
	if err != nil || res.PKey != "F4A0CF965BDCEA30DBF7A936D0D18C9E|774A08EDF447A1DEE603E2CAADAF02B6|" || hsmGot != step1(zhangsanCard.CardID) {
		t.Fatalf("%+v %v (HSM got %q)", res, err, hsmGot)
	}
	_, err = l.client.CardInternalAuth(ctx, platform.InternalAuthRequest{Step1: step1("350200D156000005300000030A0B0C0D")})
	wantClass(t, err, platform.ClassRejected, protocol.CodeCardLost)
	_, err = l.client.CardInternalAuth(ctx, platform.InternalAuthRequest{Step1: step1("350100D156000005999999990A0B0C0D")})
	wantClass(t, err, platform.ClassRejected, protocol.CodeCardUnknown)
	_, err = l.client.CardInternalAuth(ctx, platform.InternalAuthRequest{Step1: strings.Replace(step1(zhangsanCard.CardID), "|03|", "|BAD|", 1)})
	wantClass(t, err, platform.ClassRejected, protocol.CodeHSMBadStep1)
	_, err = l.client.CardInternalAuth(ctx, platform.InternalAuthRequest{Step1: "too|short|"})
	wantClass(t, err, platform.ClassRejected, protocol.CodeHSMBadStep1)

	// Without an HSM the platform does not offer the two-step.
	plain := newLab(t, false)
	_, err = plain.client.CardInternalAuth(ctx, platform.InternalAuthRequest{Step1: step1(zhangsanCard.CardID)})
	wantClass(t, err, platform.ClassRejected, protocol.CodeHSMNotSupported)
	if platform.PromptFor(err) != platform.CodeHSMRefused {
		t.Fatal(platform.PromptFor(err))
	}
}

// TestPinnedPlatformKey runs against the sandbox's real TLS server: the pin of its own
// key lets calls through; a pin of another key fails the handshake, before anything is
// sent.
func TestPinnedPlatformKey(t *testing.T) {
	l := newLab(t, true)
	pemBytes, err := os.ReadFile(l.cfg.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	good := l.cfg
	good.TLS.PinSPKI = []string{tlspin.String(tlspin.Of(cert))}
	if _, err := l.newClient(t, good).CardAuth(ctx, zhangsanCard); err != nil {
		t.Fatalf("pinned to its own key: %v", err)
	}
	bad := l.cfg
	bad.TLS.PinSPKI = []string{strings.Repeat("ab", 32)}
	_, err = l.newClient(t, bad).CardAuth(ctx, zhangsanCard)
	wantClass(t, err, platform.ClassRetryable, "")
	if !strings.Contains(err.Error(), "pinned SPKI") {
		t.Fatalf("err = %v, want the pin mismatch", err)
	}
}
