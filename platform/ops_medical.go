package platform

import (
	"context"
	"fmt"
	"regexp"

	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/platform/protocol"
)

// MedicalPurchase is one DF04 purchase as the platform's HSM sees it (the HSM variant
// of 7.2.5 c, iDoDebit_HSM_Step1): the card's key factors, the card's answer to
// INITIALIZE FOR PURCHASE and the amounts. Hex fields are upper or lower case.
type MedicalPurchase struct {
	CardID     string // 卡识别码, 32 characters
	ATR        string // ATR historical bytes, hex
	Algorithm  string // 01 DES | 03 SM4
	CardRandom string // 伪随机数, 8 hex digits
	CardSeq    string // 医疗消费交易序号, 4 hex digits
	KeyVersion string // 2 hex digits, optional
	AccountPay string // 个人账户支付, yuan with two decimals
	SelfPay    string // 个人自付
	FundPay    string // 统筹基金支付
	TransType  string // 交易类型, "2" 医疗结算
	TerminalNo string // 终端机编号, 12 digits
	TransTime  string // 交易时间 YYYYMMDDHHMMSS
}

// MedicalAuthResult is the HSM's half of the purchase: the 终端交易序号 and MAC1.
type MedicalAuthResult struct {
	TerminalSeq string // 8 hex digits
	MAC1        string // 8 hex digits
	RequestID   string
}

var (
	reAlgorithm = regexp.MustCompile(`^0[13]$`)
	reHex       = map[int]*regexp.Regexp{2: regexp.MustCompile(`^[0-9A-Fa-f]{2}$`),
		4: regexp.MustCompile(`^[0-9A-Fa-f]{4}$`), 8: regexp.MustCompile(`^[0-9A-Fa-f]{8}$`)}
	reATRHex    = regexp.MustCompile(`^([0-9A-Fa-f]{2}){1,15}$`)
	reTerminal  = regexp.MustCompile(`^[0-9]{12}$`)
	reTransTime = regexp.MustCompile(`^[0-9]{14}$`)
	reTransType = regexp.MustCompile(`^[0-9]$`)
	reAmountOK  = regexp.MustCompile(`^(0|[1-9][0-9]{0,7})\.[0-9]{2}$`)
)

func (r MedicalPurchase) data(in *inputCheck) protocol.Data {
	var d protocol.Data
	set := func(k, v string) { d.Set(k, v) }
	set("cardId", r.CardID)
	set("atr", r.ATR)
	set("algorithm", r.Algorithm)
	set("cardRandom", r.CardRandom)
	set("cardSeq", r.CardSeq)
	set("keyVersion", r.KeyVersion)
	set("accountPay", r.AccountPay)
	set("selfPay", r.SelfPay)
	set("fundPay", r.FundPay)
	set("transType", r.TransType)
	set("terminalNo", r.TerminalNo)
	set("transTime", r.TransTime)
	in.pattern("cardId", r.CardID, reCardID, "32 letters or digits")
	in.pattern("atr", r.ATR, reATRHex, "1-15 bytes in hex")
	in.pattern("algorithm", r.Algorithm, reAlgorithm, "01 or 03")
	in.pattern("cardRandom", r.CardRandom, reHex[8], "8 hex digits")
	in.pattern("cardSeq", r.CardSeq, reHex[4], "4 hex digits")
	in.optional("keyVersion", r.KeyVersion, reHex[2], "2 hex digits")
	for _, a := range [][2]string{{"accountPay", r.AccountPay}, {"selfPay", r.SelfPay}, {"fundPay", r.FundPay}} {
		in.pattern(a[0], a[1], reAmountOK, `yuan with exactly two decimals, e.g. "12.50"`)
	}
	in.pattern("transType", r.TransType, reTransType, "one digit")
	in.pattern("terminalNo", r.TerminalNo, reTerminal, "12 digits")
	in.pattern("transTime", r.TransTime, reTransTime, "YYYYMMDDHHMMSS")
	return d
}

// MedicalPurchaseAuth asks the platform's HSM for MAC1 of an initialised purchase
// (卡鉴权及消费交易认证). The call only computes; it may be repeated with the same data.
func (c *Client) MedicalPurchaseAuth(ctx context.Context, r MedicalPurchase) (MedicalAuthResult, error) {
	var in inputCheck
	d := r.data(&in)
	if err := in.err(protocol.OpMedicalPurchaseAuth); err != nil {
		return MedicalAuthResult{}, err
	}
	rep, err := c.Call(ctx, protocol.OpMedicalPurchaseAuth, d)
	if err != nil {
		return MedicalAuthResult{}, err
	}
	res := MedicalAuthResult{TerminalSeq: rep.Result.Get("terminalSeq"), MAC1: rep.Result.Get("mac1"), RequestID: rep.RequestID}
	if !reHex[8].MatchString(res.TerminalSeq) || !reHex[8].MatchString(res.MAC1) {
		return res, c.unverified(rep, fmt.Errorf("terminalSeq %q and mac1 %q are not 8 hex digits", res.TerminalSeq, res.MAC1))
	}
	return res, nil
}

// MedicalPurchaseVerify asks the platform to verify the card's MAC2 and TAC of a
// purchase (消费交易结算验证). A mismatch is a ClassRejected error with msgCode 100010.
func (c *Client) MedicalPurchaseVerify(ctx context.Context, r MedicalPurchase, terminalSeq, mac2, tac string) (string, error) {
	var in inputCheck
	d := r.data(&in)
	d.Set("terminalSeq", terminalSeq)
	d.Set("mac2", mac2)
	d.Set("tac", tac)
	in.pattern("terminalSeq", terminalSeq, reHex[8], "8 hex digits")
	in.pattern("mac2", mac2, reHex[8], "8 hex digits")
	in.pattern("tac", tac, reHex[8], "8 hex digits")
	if err := in.err(protocol.OpMedicalPurchaseVerify); err != nil {
		return "", err
	}
	rep, err := c.Call(ctx, protocol.OpMedicalPurchaseVerify, d)
	if err != nil {
		return "", err
	}
	if v := rep.Result.Get("verified"); v != "Y" {
		return rep.RequestID, c.unverified(rep, fmt.Errorf("msgCode 000000 with verified %q", v))
	}
	return rep.RequestID, nil
}

// CodePurchaseMAC: the platform found the card's MAC2 or TAC wrong (msgCode 100010).
const CodePurchaseMAC prompt.Code = 400109

func init() {
	byMsgCode[protocol.CodePurchaseMAC] = CodePurchaseMAC
	prompt.Register(prompt.Message{Code: CodePurchaseMAC,
		Holder:     prompt.Text{ZH: "结算未通过验证，请联系工作人员", EN: "The settlement could not be verified, please ask staff for help"},
		Operator:   prompt.Text{ZH: "平台校验消费交易MAC2/TAC失败，请核对卡内交易明细后人工处理", EN: "The platform found the purchase MAC2/TAC wrong; check the card's transaction log and settle by hand"},
		Maintainer: prompt.Text{ZH: "消费交易结算验证返回100010(MAC2或TAC不符)", EN: "medicalPurchaseVerify answered 100010 (MAC2 or TAC mismatch)"}})
}
