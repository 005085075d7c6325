package agent

import (
	"context"
	"errors"
	"time"

	"github.com/sscagent/sscagent/agent/gate"
	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/qrscan"
	"github.com/sscagent/sscagent/queue"
	"github.com/sscagent/sscagent/records"
)

// The pipeline: one holder's read goes through these steps, in this order, each in a
// function of its own (docs/agent.md):
//
//	admit        the queue has room for the record this scene owes (else: refused)
//	read         the card is read and authenticated by the PSAM or the HSM (cards only)
//	authenticate the platform authenticates the card (卡鉴权) or decodes the e-card code
//	record       identity scenes: the C.3 record is made, validated and stored (fsync)
//	act          identity: the gate opens (once, never retried); kiosk, medical: the
//	             result is handed to the application (GET /v1/reads/{id})
//
// Every step publishes an event with the 8.4 prompts of its outcome. Payment codes take
// the payment path instead (payment.go).

// Media of a read.
const (
	mediumCard  = "card"  // a physical card in a reader
	mediumECard = "ecard" // an e-card code scanned
	mediumNHSA  = "nhsa"  // a medical insurance e-voucher scanned (medical scenes)
)

// readTimeout bounds the platform and record steps of one read after the card was read.
const stepTimeout = 30 * time.Second

// attempt is one read going through the pipeline.
type attempt struct {
	s      *sceneRun
	source string
	medium string
	start  time.Time

	card     *card.Result             // read step (cards)
	code     mask.Value               // the scanned code (e-card, voucher): a secret
	ecard    *platform.ECardIdentity  // authenticate step (e-card)
	cardAuth *platform.CardAuthResult // authenticate step (card)
	id, name mask.Value               // the holder once known
	authTime time.Time
	authErr  error
	authSeq  uint64 // the authentication event's sequence number

	readDur, authDur time.Duration // the card read (hardware) and the platform call
}

// ms is a duration in milliseconds with microsecond precision, for events.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (at *attempt) ecardMedium() bool { return at.medium == mediumECard }

// cardInserted runs the pipeline for a card inserted into one of the scene's readers.
func (a *Agent) cardInserted(ctx context.Context, s *sceneRun, in readers.Insertion) {
	ctx = platform.WithApplicationNo(ctx, s.cfg.ApplicationNo)
	at := &attempt{s: s, source: in.Reader, medium: mediumCard, start: time.Now()}
	if !a.admit(at) || !a.readCard(ctx, at) {
		return
	}
	if s.cfg.Kind == SceneMedical {
		a.recoverOnInsert(ctx, s, at) // a debit left pending when this card was pulled
	}
	a.finish(ctx, at)
}

// scanned runs the pipeline (or the payment path) for a code from one of the scene's
// scanners.
func (a *Agent) scanned(ctx context.Context, s *sceneRun, sc qrscan.Scan) {
	ctx = platform.WithApplicationNo(ctx, s.cfg.ApplicationNo)
	at := &attempt{s: s, source: sc.Source, medium: mediumECard, start: time.Now(), code: sc.Code}
	switch {
	case s.cfg.Kind == ScenePayment:
		a.payScan(ctx, s, sc)
		return
	case s.cfg.Kind == SceneMedical && sc.Class == qrscan.ClassNHSA:
		at.medium = mediumNHSA
		if a.admit(at) {
			a.handOver(at)
		}
		return
	case sc.Class != qrscan.ClassESSC:
		a.emit(KindScanIgnored, s.cfg.Name, sc.Source, false, CodeNotECard, "",
			map[string]any{"class": string(sc.Class), "length": len(sc.Code.Clear())})
		return
	}
	if a.admit(at) {
		a.finish(ctx, at)
	}
}

// finish runs the steps after the read: authenticate, then record and act.
func (a *Agent) finish(ctx context.Context, at *attempt) {
	if !a.authenticate(ctx, at) {
		return
	}
	switch at.s.cfg.Kind {
	case SceneIdentity:
		if at.authErr == nil {
			if a.record(ctx, at) {
				a.openGate(ctx, at)
			}
		} else if at.medium == mediumCard {
			// The card was read and authenticated on the terminal: the failed
			// authentication is recorded with its 业务处理状态.
			a.record(ctx, at)
		}
	case SceneMedical, SceneKiosk:
		// handOver already ran inside authenticate, before the event that names it.
	}
}

// admit refuses new business when the queue has no room for the record the scene owes:
// identity and kiosk scenes owe C.3 records, medical scenes C.4 records.
func (a *Agent) admit(at *attempt) bool {
	lane := queue.LaneIdentity
	if at.s.cfg.Kind == SceneMedical {
		lane = queue.LaneMoney
	}
	err := a.queue.Accepting(lane)
	if err == nil {
		return true
	}
	a.emit(KindQueueFull, at.s.cfg.Name, at.source, false, promptOf(err, prompt.CodeDiskFull), err.Error(),
		map[string]any{"lane": lane.String(), "medium": at.medium})
	return false
}

// readCard reads the card with the PSAM or HSM authentication.
func (a *Agent) readCard(ctx context.Context, at *attempt) bool {
	t0 := time.Now()
	res, err := at.s.cards.Read(ctx, at.source, readers.ReadOptions{})
	at.readDur = time.Since(t0)
	if err != nil {
		if ctx.Err() != nil {
			return false // stopping
		}
		ce := card.AsError("read", err)
		a.emit(KindCardRead, at.s.cfg.Name, at.source, false, ce.PromptCode(), ce.Error(),
			map[string]any{"code": int(ce.Code), "meaning": ce.Code.Meaning()})
		return false
	}
	at.card, at.id, at.name = res, res.Basic.SSN, res.Basic.Name
	a.emit(KindCardRead, at.s.cfg.Name, at.source, true, CodeCardRead, "", cardData(res))
	return true
}

// cardData is the masked view of a card read for events.
func cardData(res *card.Result) map[string]any {
	b := &res.Basic
	return map[string]any{"idNumber": b.SSN.String(), "name": b.Name.String(), "cardNo": b.CardNo.String(),
		"region": b.Region(), "version": b.Version, "authenticated": res.Authenticated, "authBy": res.AuthBy,
		"durationMs": res.Duration.Milliseconds()}
}

// authenticate asks the platform: card authentication (卡鉴权) for a card, decoding for
// an e-card code. It publishes auth.<class>, where each class of outcome has its own
// kind and prompt. It reports false when nothing more is to be done (stopping).
func (a *Agent) authenticate(ctx context.Context, at *attempt) bool {
	sc := at.s.cfg
	at.authTime = time.Now()
	switch at.medium {
	case mediumCard:
		res, err := a.link.cardAuth(ctx, cardAuthRequest(at.card))
		at.authErr = err
		if err == nil {
			at.cardAuth = &res
		}
	case mediumECard:
		id, err := a.link.decodeECard(ctx, platform.ECardDecodeRequest{QRCode: at.code.Clear(), BusinessType: sc.ECardBusinessType})
		at.authErr = err
		if err == nil {
			at.ecard = &id
			at.id, at.name = id.IDNumber, id.Name
		}
	}
	at.authDur = time.Since(at.authTime)
	if platform.IsCanceled(at.authErr) && ctx.Err() != nil {
		return false
	}
	data := map[string]any{"medium": at.medium, "class": platform.ClassOf(at.authErr).String(), "authMs": ms(at.authDur)}
	if at.medium == mediumCard {
		data["readMs"] = ms(at.readDur)
	}
	if at.id.Clear() != "" {
		data["idNumber"], data["name"] = at.id.String(), at.name.String()
	}
	var pe *platform.Error
	if errors.As(at.authErr, &pe) {
		data["msgCode"], data["requestId"] = pe.MsgCode, pe.RequestID
	}
	if at.authErr != nil {
		a.emit(authKind(at.authErr), sc.Name, at.source, false, platform.PromptFor(at.authErr), at.authErr.Error(), data)
		return true
	}
	code := CodeAuthOK
	if sc.Kind == SceneMedical || sc.Kind == SceneKiosk {
		data["readId"] = a.handOver(at)
		code = CodeReadReady
	}
	ev := a.emit(KindAuthSucceeded, sc.Name, at.source, true, code, "", data)
	at.authSeq = ev.Seq
	return true
}

// authKind is the event kind of a failed authentication's class.
func authKind(err error) event.Kind {
	switch platform.ClassOf(err) {
	case platform.ClassRejected:
		return KindAuthRejected
	case platform.ClassRetryable:
		return KindAuthUnavailable
	case platform.ClassUnverified:
		return KindAuthUnverified
	}
	return KindAuthUnknown
}

// cardAuthRequest is the platform request for a card read.
func cardAuthRequest(res *card.Result) platform.CardAuthRequest {
	b := &res.Basic
	mode := res.AuthBy
	if mode == "" {
		mode = "none"
	}
	return platform.CardAuthRequest{IDNumber: b.SSN.Clear(), Name: b.Name.Clear(), CardNo: b.CardNo.Clear(),
		CardID: b.CardID, RegionCode: b.Region(), CardVersion: b.Version, ATR: apdu.HexUpper(b.ATRHistorical),
		ExpiryDate: b.ExpiryDate, AuthMode: mode}
}

// record stores the C.3 record of an identity read (its 业务处理状态 from the
// authentication's outcome) and reports whether it is durable (in the queue, or in
// quarantine with an operator alarm when it failed the Appendix C check). Once the platform was
// asked, the record is owed: it is written even while the agent stops.
func (a *Agent) record(ctx context.Context, at *attempt) bool {
	sc := at.s.cfg
	clock := a.recordClock()
	rec := credential(a.Config(), sc, at.ecardMedium(), at.id, at.name, clock.at(at.authTime), clock.at(time.Now()), businessStatus(at.authErr))
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stepTimeout)
	defer cancel()
	t0 := time.Now()
	data := map[string]any{"kind": "credential", "businessStatus": rec.BusinessStatus}
	clock.note(data)
	id, quarantined, err := a.putRecord(rctx, sc.Name, at.source,
		queue.Entry{Lane: queue.LaneIdentity, Kind: string(records.KindCredential)}, rec, "", data)
	stored := time.Since(t0)
	if err != nil {
		a.emit(KindRecordFailed, sc.Name, at.source, false, promptOf(err, CodeRecordInvalid), err.Error(),
			map[string]any{"kind": "credential"})
		return false
	}
	if quarantined {
		return true // the holder was authenticated: the gate opens, the alarm is out
	}
	data["recordId"], data["storeMs"], data["pipelineMs"] = id, ms(stored), ms(time.Since(at.start))
	a.emit(KindRecordQueued, sc.Name, at.source, true, CodeRecordQueued, "", data)
	return true
}

// openGate opens the scene's gate once. A failure is reported, never retried.
func (a *Agent) openGate(ctx context.Context, at *attempt) {
	sc := at.s.cfg
	if sc.Gate.Kind == "" || sc.Gate.Kind == gate.KindNone {
		return
	}
	err := at.s.gate.Open(ctx, gate.Trigger{TerminalID: a.Config().Terminal.ID, Scene: sc.Name, Event: at.authSeq, Time: time.Now()})
	if err != nil {
		a.emit(KindGateFailed, sc.Name, at.source, false, CodeGateFailed, err.Error(), map[string]any{"gate": string(sc.Gate.Kind)})
		return
	}
	a.emit(KindGateOpened, sc.Name, at.source, true, CodeGateOpened, "", map[string]any{"gate": string(sc.Gate.Kind)})
}

// handOver makes the read available to the application (kiosk, medical) and returns
// its id; an NHSA voucher is handed over with its own event.
func (a *Agent) handOver(at *attempt) string {
	r := readResult{Scene: at.s.cfg.Name, Source: at.source, Medium: at.medium, Time: at.start}
	switch at.medium {
	case mediumCard:
		r.Card = cardFieldsOf(at.card)
		if line, err := at.card.IReadCardBas(card.UTF8); err == nil {
			r.IReadCardBas = string(line)
		}
		if at.cardAuth != nil {
			r.RequestID = at.cardAuth.RequestID
		}
	case mediumECard:
		e := at.ecard
		r.ECard = &ecardFields{SocialSecurityNo: e.IDNumber.Clear(), Name: e.Name.Clear(), Region: e.RegionCode,
			SignLevel: e.SignLevel, PaymentEnabled: e.PaymentEnabled(), CardNo: e.CardNo}
		r.RequestID = e.RequestID
	case mediumNHSA:
		r.Voucher = at.code.Clear()
	}
	id := a.reads.put(r)
	if at.medium == mediumNHSA {
		a.emit(KindVoucher, at.s.cfg.Name, at.source, true, CodeVoucher, "", map[string]any{"readId": id})
	}
	return id
}

// promptOf returns the prompt code an error carries (queue full, card, platform), or
// def.
func promptOf(err error, def prompt.Code) prompt.Code {
	var coded interface{ PromptCode() prompt.Code }
	if errors.As(err, &coded) {
		return coded.PromptCode()
	}
	return def
}
