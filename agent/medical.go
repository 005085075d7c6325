package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sscagent/sscagent/agent/localapi"
	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/queue"
	"github.com/sscagent/sscagent/records"
)

// Medical settlement on the physical card (7.2.5 c, docs/agent.md "Medical
// settlement"): the kiosk application posts the amounts and the holder's PIN; the agent
// reads the card (internal authentication), opens DF04, verifies the PIN, and debits
// the purse with MAC1 from the PSAM (or the platform's HSM). The pending debit is on
// disk before DEBIT is sent; a card pulled before it answered is settled on its next
// insertion with GET TRANSACTION PROOF, never debited again. Every settlement that
// reached INITIALIZE FOR PURCHASE ends in a C.4 record saying whether the card was
// debited. The PIN is never logged, stored or put in an event; the agent's copies are
// zeroed after use.

var _ localapi.MedicalService = apiServices{}

// Event kinds of medical settlements.
const (
	KindMedicalDebited    event.Kind = "medical.debited"     // the card was debited (answer or proof)
	KindMedicalPending    event.Kind = "medical.pending"     // pulled during DEBIT: insert the card again
	KindMedicalNotDebited event.Kind = "medical.not-debited" // the settlement ended without a debit
	KindMedicalRefused    event.Kind = "medical.refused"     // refused before anything began (PIN, card, reader)
)

// Prompt codes of medical settlements.
const (
	CodeMedicalDebited    prompt.Code = 100700 // settled: the card debited and the debit verified
	CodeMedicalPending    prompt.Code = 100701 // the card left during the debit: insert it again
	CodeMedicalNotDebited prompt.Code = 100702 // nothing was debited
	CodeMedicalUnverified prompt.Code = 100703 // debited, MAC2/TAC not verified yet
)

func init() {
	t := func(zh, en string) prompt.Text { return prompt.Text{ZH: zh, EN: en} }
	prompt.Register(
		prompt.Message{Code: CodeMedicalDebited, Holder: t("结算成功", "Settlement complete"),
			Operator:   t("医保结算成功，卡内已扣款", "Medical settlement complete; the card was debited"),
			Maintainer: t("DEBIT FOR PURCHASE 成功，MAC2已验证，TAC已保存", "DEBIT FOR PURCHASE done, MAC2 verified, TAC kept")},
		prompt.Message{Code: CodeMedicalPending, Holder: t("卡片过早拔出，请重新插卡以确认结算结果", "The card was removed too early, please insert it again to confirm the settlement"),
			Operator:   t("扣款时卡片被拔出，结果未知；请持卡人重新插卡，系统将确认是否已扣款，不会重复扣款", "The card left during the debit; ask the holder to insert it again: the agent confirms whether it was debited and never debits twice"),
			Maintainer: t("DEBIT FOR PURCHASE 无应答，待下次插卡 GET TRANSACTION PROOF", "No answer to DEBIT FOR PURCHASE; GET TRANSACTION PROOF on the next insertion")},
		prompt.Message{Code: CodeMedicalNotDebited, Holder: t("结算未完成，未扣款", "The settlement did not go through; nothing was debited"),
			Operator:   t("医保结算未完成，卡内未扣款，可重新发起", "Medical settlement not done; nothing was debited; it may be started again"),
			Maintainer: t("未扣款(卡片拒绝、认证失败或交易凭证不存在)", "Not debited (card refused, authentication failed, or no transaction proof)")},
		prompt.Message{Code: CodeMedicalUnverified, Holder: t("结算成功", "Settlement complete"),
			Operator:   t("卡内已扣款，但扣款凭证(MAC2/TAC)暂未验证，请核对后处理", "The card was debited but its proof (MAC2/TAC) is not verified yet; check it"),
			Maintainer: t("已扣款，MAC2/TAC未能验证", "Debited; MAC2/TAC could not be verified")},
	)
}

// medicalState is the agent's settlement journal, opened on first use.
type medicalState struct {
	once sync.Once
	j    *medicalJournal
	err  error
	mu   sync.Mutex // one settlement at a time
}

func (a *Agent) medicalJournal() (*medicalJournal, error) {
	a.med.once.Do(func() {
		a.med.j, a.med.err = openMedicalJournal(filepath.Join(a.Config().Agent.StateDir, medicalFile), a.log.With("component", "medical"))
	})
	return a.med.j, a.med.err
}

func (a *Agent) closeMedical() {
	if a.med.j != nil {
		if err := a.med.j.Close(); err != nil {
			a.log.Error("closing the medical journal", "err", err)
		}
	}
}

// beijing is the zone of 交易时间.
var beijing = time.FixedZone("CST", 8*3600)

// SettleMedical implements localapi.MedicalService.
func (s apiServices) SettleMedical(ctx context.Context, r localapi.MedicalSettleRequest) (localapi.MedicalSettleResult, error) {
	defer r.PIN.Zero()
	a := s.a
	j, err := a.medicalJournal()
	if err != nil {
		return localapi.MedicalSettleResult{}, fmt.Errorf("%w: %w", localapi.ErrUnavailable, err)
	}
	if r.SettlementID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		r.SettlementID = "M" + hex.EncodeToString(b[:])
	}
	a.med.mu.Lock()
	defer a.med.mu.Unlock()
	prev, err := j.get(r.SettlementID)
	switch {
	case err == nil && prev.State != settlePending:
		return settleView(prev), nil // a retry of a settlement that ended
	case err != nil && !errors.Is(err, errNoSettlement):
		return localapi.MedicalSettleResult{}, fmt.Errorf("%w: %w", localapi.ErrUnavailable, err)
	}
	m, scene, reader, err := a.medicalReader(r.Reader)
	if err != nil {
		return a.refused(scene, reader, r.SettlementID, err), nil
	}
	sc, _ := a.sceneNamed(scene)
	var out *localapi.MedicalSettleResult
	err = m.WithCard(a.sceneContext(ctx, scene), reader, func(ctx context.Context, cs *readers.CardSession) error {
		p, err := card.OpenPurse(ctx, cs.Card, cs.ATR, cs.Result.Basic)
		if err != nil {
			return err
		}
		if pend, err := j.pendingFor(cs.Result.Basic.CardID); err != nil {
			return err
		} else if pend != nil {
			if err := a.recoverSettlement(ctx, j, p, cs, pend); err != nil {
				return err
			}
			if pend.ID == r.SettlementID {
				v := settleView(pend)
				out = &v
				return nil
			}
		}
		if prev != nil { // pending on another card: that card must come back
			return &card.Error{Code: card.CodeMismatch, Op: "settle", Err: errors.New("the settlement is pending on another card")}
		}
		v, err := a.purchase(ctx, j, p, cs, sc, r)
		out = v
		return err
	})
	if err != nil {
		return a.refused(scene, reader, r.SettlementID, err), nil
	}
	out.Reader = reader
	return *out, nil
}

// purchase runs one settlement on an open purse. Errors before INITIALIZE FOR PURCHASE
// are refusals (nothing began, no record); after it, the settlement ends in the journal
// and a C.4 record.
func (a *Agent) purchase(ctx context.Context, j *medicalJournal, p *card.Purse, cs *readers.CardSession, sc Scene,
	r localapi.MedicalSettleRequest) (*localapi.MedicalSettleResult, error) {
	if cs.Purchase == nil {
		return nil, &card.Error{Code: card.CodeNoPSAM, Op: "settle", Err: errors.New("no PSAM with the purchase key and no HSM")}
	}
	if err := p.VerifyPIN(ctx, r.PIN); err != nil {
		return nil, err
	}
	r.PIN.Zero()
	amounts := card.Amounts{Account: uint32(r.AccountPay), Self: uint32(r.SelfPay), Fund: uint32(r.FundPay)}
	pur, err := p.Initialize(ctx, amounts, cs.TerminalNo, time.Now().In(beijing))
	if err != nil {
		return nil, err
	}
	typ := r.SettlementType
	if typ == "" {
		typ = "03" // 门诊支付
	}
	b := &cs.Result.Basic
	s := &settlement{ID: r.SettlementID, Scene: sc.Name, Reader: cs.Result.Reader, State: settlePending, AuthBy: cs.Purchase.Name(),
		Purchase: *pur, HolderID: b.SSN.Clear(), HolderName: b.Name.Clear(), Type: typ, Created: time.Now()}
	s.TermSeq, s.MAC1, err = cs.Purchase.PurchaseMAC1(ctx, pur)
	if err != nil {
		s.State, s.Reason = settleNotDebited, reasonOf("MAC1", err)
		return a.endSettlement(ctx, j, s)
	}
	if err := j.put(ctx, s); err != nil {
		return nil, err // DEBIT not sent: nothing happened
	}
	proof, err := p.Debit(ctx, pur, s.TermSeq, s.MAC1)
	if err != nil {
		if _, answered := apdu.StatusOf(err); answered {
			s.State, s.Reason = settleNotDebited, reasonOf("DEBIT", err)
			return a.endSettlement(ctx, j, s)
		}
		a.emit(KindMedicalPending, s.Scene, s.Reader, false, CodeMedicalPending, err.Error(), settleData(s))
		v := settleView(s)
		return &v, nil
	}
	s.State, s.TAC, s.MAC2 = settleDebited, proof.TAC, proof.MAC2
	a.verify(ctx, cs, s)
	return a.endSettlement(ctx, j, s)
}

// verify checks MAC2 (and the TAC) with the settlement's authority.
func (a *Agent) verify(ctx context.Context, cs *readers.CardSession, s *settlement) {
	if cs.Purchase == nil || cs.Purchase.Name() != s.AuthBy {
		s.VerifyErr = "the authority of the purchase is not available"
		return
	}
	err := cs.Purchase.CheckPurchase(ctx, &s.Purchase, s.TermSeq, s.MAC2, s.TAC)
	s.Verified = err == nil
	if err != nil {
		s.VerifyErr = reasonOf("verify", err)
	}
}

// recoverSettlement ends a pending settlement with GET TRANSACTION PROOF.
func (a *Agent) recoverSettlement(ctx context.Context, j *medicalJournal, p *card.Purse, cs *readers.CardSession, s *settlement) error {
	proof, found, err := p.TransactionProof(ctx, s.Purchase.Type, s.Purchase.CardSeq)
	if err != nil {
		return err
	}
	s.Recovered = true
	if found {
		s.State, s.TAC, s.MAC2 = settleDebited, proof.TAC, proof.MAC2
		a.verify(ctx, cs, s)
	} else {
		s.State, s.Reason = settleNotDebited, "GET TRANSACTION PROOF: 卡内无该笔交易(9406)"
	}
	_, err = a.endSettlement(ctx, j, s)
	return err
}

// endSettlement records a final settlement: journal, C.4 record, event. The outcome is
// journaled (with its time and the clock correction in force) before its record is
// queued: a restart between the two leaves the settlement owing its record, which
// reconcileMedical queues at the next start, rebuilt from the journal into the same
// record under the same idempotency key.
func (a *Agent) endSettlement(ctx context.Context, j *medicalJournal, s *settlement) (*localapi.MedicalSettleResult, error) {
	ctx = context.WithoutCancel(ctx)
	s.Ended = time.Now()
	clock := a.recordClock()
	s.ClockOffset, s.ClockSkewed, s.RecordOwed = clock.offset, clock.skewed, true
	if err := j.put(ctx, s); err != nil {
		return nil, err
	}
	if err := a.recordSettlement(ctx, j, s); err != nil {
		return nil, err
	}
	v := settleView(s)
	kind, ok := KindMedicalDebited, true
	if s.State != settleDebited {
		kind, ok = KindMedicalNotDebited, false
	}
	a.emit(kind, s.Scene, s.Reader, ok, settleCode(s), s.Reason, settleData(s))
	return &v, nil
}

// recordSettlement queues the C.4 record a final settlement owes and journals that it
// was queued. A record that could not be stored stays owed (record.failed now, another
// try at the next start); errors are the journal's.
func (a *Agent) recordSettlement(ctx context.Context, j *medicalJournal, s *settlement) error {
	sc, _ := a.sceneNamed(s.Scene)
	clock := recordClock{offset: s.ClockOffset, skewed: s.ClockSkewed}
	data := map[string]any{"kind": "payment", "settlementId": s.ID}
	clock.note(data)
	id, _, err := a.putRecord(ctx, s.Scene, s.Reader,
		queue.Entry{Lane: queue.LaneMoney, Kind: string(records.KindPayment), Reserve: true}, medicalRecord(a.Config(), sc, s, clock),
		"medical-"+s.ID, data)
	if err != nil {
		a.emit(KindRecordFailed, s.Scene, s.Reader, false, promptOf(err, CodeRecordInvalid), err.Error(),
			map[string]any{"kind": "payment", "settlementId": s.ID})
		return nil
	}
	s.RecordID, s.RecordOwed = id, false
	return j.put(ctx, s)
}

// reconcileMedical queues the records of settlements that ended but whose record was
// not queued (a restart fell between the two, or the queue refused it). It runs at
// start, before any part, when a journal exists.
func (a *Agent) reconcileMedical(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(a.Config().Agent.StateDir, medicalFile)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	j, err := a.medicalJournal()
	if err != nil {
		return err
	}
	owed, err := j.owingRecords()
	if err != nil {
		return err
	}
	for _, s := range owed {
		a.log.Info("medical settlement ended before its record was queued; queuing it now", "settlement", s.ID, "state", s.State)
		if err := a.recordSettlement(ctx, j, s); err != nil {
			return err
		}
	}
	return nil
}

// recoverOnInsert settles a pending debit of a card inserted into a medical scene's
// reader.
func (a *Agent) recoverOnInsert(ctx context.Context, sr *sceneRun, at *attempt) {
	j, err := a.medicalJournal()
	if err != nil {
		return
	}
	if pend, err := j.pendingFor(at.card.Basic.CardID); err != nil || pend == nil {
		return
	}
	a.med.mu.Lock()
	defer a.med.mu.Unlock()
	err = sr.cards.WithCard(ctx, at.source, func(ctx context.Context, cs *readers.CardSession) error {
		pend, err := j.pendingFor(cs.Result.Basic.CardID)
		if err != nil || pend == nil {
			return err
		}
		p, err := card.OpenPurse(ctx, cs.Card, cs.ATR, cs.Result.Basic)
		if err != nil {
			return err
		}
		return a.recoverSettlement(ctx, j, p, cs, pend)
	})
	if err != nil {
		a.log.Warn("pending medical settlement not recovered yet", "reader", at.source, "err", err)
	}
}

// medicalReader picks the reader of a settlement: the one named, or the first holder
// reader of a medical scene with a card.
func (a *Agent) medicalReader(name string) (*readers.Manager, string, string, error) {
	a.mu.Lock()
	m, scenes := a.gen.cards, a.gen.cfg.Scenes
	a.mu.Unlock()
	if m == nil {
		return nil, "", name, &card.Error{Code: card.CodeReaderConnect, Prompt: card.PromptNoReader, Op: "settle",
			Err: errors.New("this terminal reads no cards")}
	}
	first := ""
	for _, ri := range m.Health().Readers {
		i := ownerOf(scenes, ri.Name)
		if ri.Role != readers.RoleHolder || i < 0 || scenes[i].Kind != SceneMedical || (name != "" && ri.Name != name) {
			continue
		}
		if ri.Present {
			return m, scenes[i].Name, ri.Name, nil
		}
		if first == "" {
			first = ri.Name
		}
	}
	if first == "" {
		return nil, "", name, &card.Error{Code: card.CodeReaderConnect, Prompt: card.PromptNoReader, Op: "settle",
			Err: fmt.Errorf("no holder reader %q of a medical scene", name)}
	}
	return nil, "", first, &card.Error{Code: card.CodeNoCard, Op: "settle", Err: errors.New("no card in the medical scene's readers")}
}

// sceneNamed returns the scene called name.
func (a *Agent) sceneNamed(name string) (Scene, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.gen.cfg.Scenes {
		if s.Name == name {
			return s, true
		}
	}
	return Scene{}, false
}

// refused is the answer (and event) of a settlement that did not begin.
func (a *Agent) refused(scene, reader, id string, err error) localapi.MedicalSettleResult {
	ce := card.AsError("settle", err)
	code := ce.PromptCode()
	if pc := platform.PromptFor(err); pc != 0 && !errors.As(err, new(*card.Error)) {
		code = pc
	}
	a.emit(KindMedicalRefused, scene, reader, false, code, ce.Error(), map[string]any{"settlementId": id, "code": int(ce.Code)})
	p := promptsOf(code)
	return localapi.MedicalSettleResult{SettlementID: id, State: settleNotDebited, Code: int(ce.Code), Meaning: ce.Code.Meaning(),
		Reader: reader, Prompts: p}
}

func settleCode(s *settlement) prompt.Code {
	switch {
	case s.State == settlePending:
		return CodeMedicalPending
	case s.State == settleNotDebited:
		return CodeMedicalNotDebited
	case !s.Verified:
		return CodeMedicalUnverified
	}
	return CodeMedicalDebited
}

func settleView(s *settlement) localapi.MedicalSettleResult {
	p := promptsOf(settleCode(s))
	v := localapi.MedicalSettleResult{SettlementID: s.ID, State: s.State, Reader: s.Reader, AuthBy: s.AuthBy,
		Verified: s.Verified, Recovered: s.Recovered, RecordID: s.RecordID, Prompts: p}
	if s.State == settleDebited {
		v.TAC = fmt.Sprintf("%X", s.TAC)
		if !s.Recovered {
			bal := int64(s.Purchase.Balance) - int64(s.Purchase.Amounts.Account)
			v.Balance = &bal
		}
	}
	return v
}

// settleData is the event view of a settlement (no personal data, no PIN).
func settleData(s *settlement) map[string]any {
	a := s.Purchase.Amounts
	return map[string]any{"settlementId": s.ID, "state": s.State, "authBy": s.AuthBy, "accountPay": a.Account,
		"selfPay": a.Self, "fundPay": a.Fund, "recovered": s.Recovered, "verified": s.Verified, "recordId": s.RecordID,
		"cardSeq": s.Purchase.CardSeq}
}

// reasonOf names a failure for the record and the operator: the platform's msgCode or
// the card's national code and meaning.
func reasonOf(step string, err error) string {
	var pe *platform.Error
	if errors.As(err, &pe) {
		if pe.MsgCode != "" {
			return fmt.Sprintf("%s：平台返回%s", step, pe.MsgCode)
		}
		return fmt.Sprintf("%s：平台未应答或结果未知(%s)", step, platform.ClassOf(err))
	}
	ce := card.AsError(step, err)
	return fmt.Sprintf("%s：%s(%d)", step, ce.Code.Meaning(), int(ce.Code))
}

// medicalRecord is the C.4 record of a final settlement: the amount debited (0.00 when
// none), and in 订单名称或描述 the three amounts, the TAC and what happened.
func medicalRecord(cfg Config, sc Scene, s *settlement, clock recordClock) *records.Payment {
	a := s.Purchase.Amounts
	total := records.Amount(0)
	what := "未扣款：" + s.Reason
	if s.State == settleDebited {
		total = records.Amount(a.Total())
		what = "已扣款"
		if !s.Verified {
			what += "，MAC2/TAC未验证"
		}
	}
	if s.Recovered {
		what += "（拔卡后重新插卡经交易凭证确认）"
	}
	desc := fmt.Sprintf("医疗费用结算 个人账户支付%s 个人自付%s 统筹基金支付%s TAC %X 终端交易序号%08X 卡交易序号%d %s %s",
		records.Amount(a.Account), records.Amount(a.Self), records.Amount(a.Fund), s.TAC, s.TermSeq, s.Purchase.CardSeq, s.AuthBy, what) + clock.text()
	rc := cfg.Records
	return &records.Payment{AccessNo: cfg.Platform.ChannelNo, BusinessSerialNo: s.ID, RegionCode: cfg.Terminal.Region,
		CardType: "实体社会保障卡", PaymentScene: sc.Label, OrderDescription: desc, Amount: total.String(),
		PaidTime: records.FormatDateTime(clock.at(s.Ended)), SettlementMethod: "03", SettlementType: s.Type,
		PayerSocialSecurityNo: s.HolderID, PayerName: s.HolderName,
		TerminalInfo:     cfg.Terminal.Manufacturer + " " + cfg.Terminal.Model,
		CoordinateSystem: rc.CoordinateSystem, Longitude: rc.Longitude, Latitude: rc.Latitude}
}
