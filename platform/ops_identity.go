package platform

import (
	"context"
	"fmt"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/platform/protocol"
)

// CardAuthRequest is the physical card authentication (实体社会保障卡鉴权, 7.1.1) of
// a card the terminal has read.
type CardAuthRequest struct {
	IDNumber    string // 社会保障号码, required
	Name        string // 姓名
	CardNo      string // 卡号, required
	CardID      string // 卡识别码, required
	RegionCode  string // 发卡地区行政区划代码
	CardVersion string // 规范版本
	ATR         string // ATR historical bytes, hex
	ExpiryDate  string // 卡有效期 YYYYMMDD
	// AuthMode says how the terminal authenticated the card: psam, hsm or none.
	AuthMode string
}

// CardAuthResult is a card the platform found valid.
type CardAuthResult struct {
	CardStatus string
	Name       mask.Value
	RegionCode string
	ExpiryDate string
	RequestID  string
}

// CardAuth asks the platform whether a card is valid. A lost, frozen, unknown or
// mismatched card is a ClassRejected error carrying the platform's msgCode.
func (c *Client) CardAuth(ctx context.Context, r CardAuthRequest) (CardAuthResult, error) {
	var d protocol.Data
	d.Set("idNumber", r.IDNumber)
	d.Set("name", r.Name)
	d.Set("cardNo", r.CardNo)
	d.Set("cardId", r.CardID)
	d.Set("regionCode", r.RegionCode)
	d.Set("cardVersion", r.CardVersion)
	d.Set("atr", r.ATR)
	d.Set("expiryDate", r.ExpiryDate)
	d.Set("authMode", r.AuthMode)
	var in inputCheck
	in.pattern("idNumber", r.IDNumber, reIDNumber, "18 characters: 17 digits and a digit or X")
	in.pattern("cardNo", r.CardNo, reCardNo, "9 letters or digits")
	in.pattern("cardId", r.CardID, reCardID, "32 letters or digits")
	in.optional("regionCode", r.RegionCode, reRegion, "6 digits")
	in.optional("authMode", r.AuthMode, reAuthMode, "psam, hsm or none")
	in.text("name", r.Name, 0, 60)
	if err := in.err(protocol.OpCardAuth); err != nil {
		return CardAuthResult{}, err
	}
	rep, err := c.Call(ctx, protocol.OpCardAuth, d)
	if err != nil {
		return CardAuthResult{}, err
	}
	res := CardAuthResult{
		CardStatus: rep.Result.Get("cardStatus"),
		Name:       mask.Of(mask.KindName, rep.Result.Get("name")),
		RegionCode: rep.Result.Get("regionCode"),
		ExpiryDate: rep.Result.Get("expiryDate"),
		RequestID:  rep.RequestID,
	}
	if res.CardStatus != "normal" {
		return res, c.unverified(rep, fmt.Errorf("msgCode 000000 with cardStatus %q", res.CardStatus))
	}
	return res, nil
}

// InternalAuthRequest is the platform half of the HSM two-step card authentication
// (卡内部认证): the Step-1 string of iReadCardBas_HSM_Step1 (reference/domain.md §2.5).
type InternalAuthRequest struct {
	// Step1 is the '|'-separated Step-1 output. Required.
	Step1 string
	// DeviceNo is the reader's 32-character 终端设备号, when known.
	DeviceNo string
}

// InternalAuthResult carries the pKey for iReadCardBas_HSM_Step2.
type InternalAuthResult struct {
	PKey      string
	RequestID string
}

// CardInternalAuth sends Step 1 of the HSM two-step and returns the pKey for Step 2.
func (c *Client) CardInternalAuth(ctx context.Context, r InternalAuthRequest) (InternalAuthResult, error) {
	var d protocol.Data
	d.Set("step1", r.Step1)
	d.Set("deviceNo", r.DeviceNo)
	var in inputCheck
	in.text("step1", r.Step1, 1, 1024)
	in.text("deviceNo", r.DeviceNo, 0, 64)
	if err := in.err(protocol.OpCardInternalAuth); err != nil {
		return InternalAuthResult{}, err
	}
	rep, err := c.Call(ctx, protocol.OpCardInternalAuth, d)
	if err != nil {
		return InternalAuthResult{}, err
	}
	return InternalAuthResult{PKey: rep.Result.Get("pKey"), RequestID: rep.RequestID}, nil
}

// ECardDecodeRequest is an e-card QR code to decode and authenticate (7.1.2).
type ECardDecodeRequest struct {
	// QRCode is the scanned code, verbatim. Required; it is encrypted on the wire.
	QRCode string
	// BusinessType is 01 查询, 02 缴费支付, 03 其他 or 04 异地就医 (optional).
	BusinessType string
}

// ECardIdentity is the holder behind an e-card code.
type ECardIdentity struct {
	IDNumber   mask.Value
	Name       mask.Value
	RegionCode string
	// SignLevel is "1" (一级签发: identity only) or "2" (二级签发: payment enabled).
	SignLevel string
	CardNo    string
	RequestID string
}

// PaymentEnabled reports whether the e-card may pay (二级签发).
func (e ECardIdentity) PaymentEnabled() bool { return e.SignLevel == "2" }

// DecodeECard decodes and authenticates an e-card QR code. An invalid, expired or used
// code is a ClassRejected error.
func (c *Client) DecodeECard(ctx context.Context, r ECardDecodeRequest) (ECardIdentity, error) {
	var d protocol.Data
	d.Set("qrCode", r.QRCode)
	d.Set("businessType", r.BusinessType)
	var in inputCheck
	in.text("qrCode", r.QRCode, 1, 4096)
	in.optional("businessType", r.BusinessType, reBusinessType, "01, 02, 03 or 04")
	if err := in.err(protocol.OpECardDecode); err != nil {
		return ECardIdentity{}, err
	}
	rep, err := c.Call(ctx, protocol.OpECardDecode, d)
	if err != nil {
		return ECardIdentity{}, err
	}
	id := ECardIdentity{
		IDNumber:   mask.Of(mask.KindIDNumber, rep.Result.Get("idNumber")),
		Name:       mask.Of(mask.KindName, rep.Result.Get("name")),
		RegionCode: rep.Result.Get("regionCode"),
		SignLevel:  rep.Result.Get("signLevel"),
		CardNo:     rep.Result.Get("cardNo"),
		RequestID:  rep.RequestID,
	}
	if id.SignLevel != "1" && id.SignLevel != "2" {
		return id, c.unverified(rep, fmt.Errorf("signLevel %q", id.SignLevel))
	}
	return id, nil
}
