package agent

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"time"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/payment"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/queue"
	"github.com/sscagent/sscagent/records"
)

// 业务处理状态 of the C.3 records the agent writes. The standard leaves the field open
// (成功, 失败, 未响应 等); the agent writes these three, by the platform's outcome class.
const (
	statusOK         = "成功"  // the platform authenticated the holder
	statusRefused    = "失败"  // the platform refused (lost card, unknown holder, ...)
	statusNoResponse = "未响应" // no verified answer: unreachable, unknown, unverifiable
)

// businessStatus is the 业务处理状态 for the outcome of an authentication.
func businessStatus(authErr error) string {
	switch platform.ClassOf(authErr) {
	case platform.ClassSuccess:
		return statusOK
	case platform.ClassRejected:
		return statusRefused
	}
	return statusNoResponse
}

// encode validates a record the agent made and returns its canonical JSON, checked
// once more the way the platform's intake reads it (records.Parse): a record that
// would be refused there is never queued.
func encode(rec records.Record) ([]byte, error) {
	body, err := records.Encode(rec)
	if err != nil {
		return nil, err
	}
	if _, err := records.Parse(rec.Kind(), body); err != nil {
		return nil, err
	}
	return body, nil
}

// putRecord validates rec (encode) and stores it as e (with idemKey, when set, as the
// idempotency key). A record the agent owes (the business is done) that fails its own
// Appendix C check is neither lost nor uploaded: it goes to quarantine as built (JSON,
// for a person to correct and release), the log says why, and the alarm event
// record.quarantined names each field and rule that failed; quarantined reports it and
// the business goes on (the gate opens, the holder reads that it succeeded: the fault
// is the terminal's). Errors are the queue's.
func (a *Agent) putRecord(ctx context.Context, scene, source string, e queue.Entry, rec records.Record, idemKey string, data map[string]any) (id string, quarantined bool, err error) {
	body, err := encode(rec)
	var ve *records.ValidationError
	switch {
	case errors.As(err, &ve):
		raw, jerr := json.Marshal(rec)
		if jerr != nil {
			return "", false, err
		}
		e.Body, e.Quarantine = raw, ve.Error()
	case err != nil:
		return "", false, err
	default:
		e.Body = body
	}
	if idemKey != "" {
		id, _, err = a.queue.PutIdempotent(ctx, e, idemKey)
	} else {
		id, err = a.queue.Put(ctx, e)
	}
	if err != nil || ve == nil {
		return id, false, err
	}
	fields := make([]map[string]string, 0, len(ve.Fields))
	for _, f := range ve.Fields {
		fields = append(fields, map[string]string{"field": f.Field, "rule": f.Rule, "reason": f.Reason})
	}
	d := maps.Clone(data)
	if d == nil {
		d = map[string]any{}
	}
	d["recordId"], d["fields"] = id, fields
	a.log.Error("record quarantined: it failed the Appendix C check (the business itself succeeded)",
		"recordId", id, "scene", scene, "err", mask.Text(ve.Error()))
	a.emit(KindRecordQuarantined, scene, source, false, CodeRecordQuarantined, "", d)
	return id, true, nil
}

// credential builds the C.3 record of an identity read. holder is who was read;
// ecard selects 电子社会保障卡二维码扫码认证 over 实体社会保障卡鉴权.
func credential(cfg Config, sc Scene, ecard bool, id, name mask.Value, authTime, businessTime time.Time, status string) *records.Credential {
	rc := cfg.Records
	typ := "01" // 实体社会保障卡鉴权
	if ecard {
		typ = "02" // 电子社会保障卡二维码扫码认证
	}
	c := &records.Credential{
		AccessNo:           cfg.Platform.ChannelNo,
		CredentialType:     typ,
		RegionCode:         cfg.Terminal.Region,
		Scene:              sc.Label,
		InstitutionName:    cfg.Terminal.Institution,
		InstitutionAddress: rc.InstitutionAddress,
		AuthTime:           records.FormatDateTime(authTime),
		BusinessTime:       records.FormatDateTime(businessTime),
		BusinessStatus:     status,
		CoordinateSystem:   rc.CoordinateSystem,
		Longitude:          rc.Longitude,
		Latitude:           rc.Latitude,
		InstitutionType:    rc.InstitutionType,
		Channel:            rc.Channel,
		SocialSecurityNo:   id.Clear(),
		Name:               name.Clear(),
		CreditCode:         cfg.Terminal.CreditCode,
	}
	if c.InstitutionType == "" {
		if v, ok := records.InstitutionTypeOf(cfg.Terminal.CreditCode); ok {
			c.InstitutionType = v.Code
		}
	}
	return c
}

// paymentRecord builds the C.4 record of a paid order. Its 支付完成时间 is the
// platform's; without one, when the order ended on the terminal's clock, corrected.
func paymentRecord(cfg Config, sc Scene, o payment.Order, p payer, clock recordClock) *records.Payment {
	method := "04" // 电子社会保障卡展码被扫支付
	if sc.Payment.Method == MethodMerchantQR {
		method = "05" // 电子社会保障卡主扫支付
	}
	paid := p.paidTime
	if paid.IsZero() {
		paid = clock.at(o.Finished)
	}
	amount := records.Amount(o.Amount).String()
	if p.amount != "" {
		amount = p.amount // a merchant code without an amount: what the holder paid
	}
	rc := cfg.Records
	return &records.Payment{
		AccessNo:              cfg.Platform.ChannelNo,
		BusinessSerialNo:      o.No,
		RegionCode:            cfg.Terminal.Region,
		CardType:              "电子社会保障卡",
		MerchantName:          sc.Payment.MerchantName,
		MerchantID:            sc.Payment.MerchantID,
		PaymentScene:          sc.Label,
		OrderDescription:      o.Subject,
		Amount:                amount,
		PaidTime:              records.FormatDateTime(paid),
		SettlementMethod:      method,
		SettlementType:        sc.Payment.SettlementType,
		PayerSocialSecurityNo: p.id.Clear(),
		PayerName:             p.name.Clear(),
		TerminalInfo:          cfg.Terminal.Manufacturer + " " + cfg.Terminal.Model,
		CoordinateSystem:      rc.CoordinateSystem,
		Longitude:             rc.Longitude,
		Latitude:              rc.Latitude,
	}
}
