package platformsim

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/platform/protocol"
)

type qrCode struct {
	idNumber string
	expires  time.Time
	used     bool
}

func (st *state) cardAuth(d protocol.Data, now time.Time) (protocol.Data, string, string) {
	p := st.reg.person(d.Get("idNumber"))
	if p == nil {
		return fail(protocol.CodePersonUnknown)
	}
	card, holder := st.reg.cardByNo(d.Get("cardNo"))
	if card == nil {
		return fail(protocol.CodeCardUnknown)
	}
	if holder != p || !matchCardID(card.CardID, d.Get("cardId")) || (d.Get("name") != "" && d.Get("name") != p.Name) {
		return fail(protocol.CodeCardMismatch)
	}
	switch card.Status {
	case "lost":
		return fail(protocol.CodeCardLost)
	case "frozen", "cancelled":
		return fail(protocol.CodeCardAbnormal)
	}
	if card.ExpiryDate != "" && card.ExpiryDate < now.In(protocol.Beijing).Format("20060102") {
		return fail(protocol.CodeCardExpired)
	}
	var r protocol.Data
	r.Set("cardStatus", "normal")
	r.Set("name", p.Name)
	r.Set("regionCode", card.RegionCode)
	r.Set("expiryDate", card.ExpiryDate)
	return r, protocol.CodeOK, ""
}

func (st *state) internalAuth(hsm CardHSM, d protocol.Data) (protocol.Data, string, string) {
	if hsm == nil {
		return fail(protocol.CodeHSMNotSupported)
	}
	step1 := d.Get("step1")
	fields := strings.Split(step1, "|")
	if len(fields) < 8 {
		return fail(protocol.CodeHSMBadStep1)
	}
	card, _ := st.reg.cardByID(fields[3]) // 卡识别码
	if card == nil {
		return fail(protocol.CodeCardUnknown)
	}
	switch card.Status {
	case "lost":
		return fail(protocol.CodeCardLost)
	case "frozen", "cancelled":
		return fail(protocol.CodeCardAbnormal)
	}
	pKey, err := hsm.InternalAuth(step1)
	switch {
	case errors.Is(err, ErrUnknownCard):
		return fail(protocol.CodeCardUnknown)
	case err != nil:
		return fail(protocol.CodeHSMBadStep1)
	}
	var r protocol.Data
	r.Set("pKey", pKey)
	return r, protocol.CodeOK, ""
}

// issueQR makes a fresh single-use e-card code for a registered e-card holder.
func (st *state) issueQR(idNumber string, now time.Time, life time.Duration) (string, time.Time, error) {
	p := st.reg.person(idNumber)
	if p == nil || p.ECard == nil {
		return "", time.Time{}, fmt.Errorf("%s is not a registered e-card holder", mask.IDNumber(idNumber))
	}
	var b [25]byte
	_, _ = rand.Read(b[:])
	code := "ESSC" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
	exp := now.Add(life)
	st.qr[code] = &qrCode{idNumber: idNumber, expires: exp}
	for c, q := range st.qr { // forget codes long expired
		if now.Sub(q.expires) > time.Hour {
			delete(st.qr, c)
		}
	}
	return code, exp, nil
}

// useQR checks and consumes an e-card code.
func (st *state) useQR(code string, now time.Time) (*Person, string) {
	q, ok := st.qr[code]
	switch {
	case !ok:
		return nil, protocol.CodeQRInvalid
	case q.used:
		return nil, protocol.CodeQRUsed
	case !now.Before(q.expires):
		return nil, protocol.CodeQRExpired
	}
	q.used = true
	return st.reg.person(q.idNumber), ""
}

func (st *state) ecardDecode(d protocol.Data, now time.Time) (protocol.Data, string, string) {
	p, code := st.useQR(d.Get("qrCode"), now)
	if p == nil {
		return fail(code)
	}
	var r protocol.Data
	r.Set("idNumber", p.IDNumber)
	r.Set("name", p.Name)
	r.Set("regionCode", p.ECard.RegionCode)
	r.Set("signLevel", p.ECard.SignLevel)
	if len(p.Cards) > 0 {
		r.Set("cardNo", p.Cards[0].CardNo)
	}
	return r, protocol.CodeOK, ""
}
