package agent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sscagent/sscagent/card"
)

// For the external tests (upgrade fixtures).
var (
	MarkStateDir   = markStateDir
	ParseStateMark = func(b []byte) (int, error) { m, err := parseStateMark(b); return m.Schema, err }
)

// OweSettlementRecord makes stateDir's medical journal hold settlement id as a restart
// between journaling its outcome and queuing its record leaves it: final, its record
// owed. A settlement not in the journal is written debited (张三, ¥148.50, 门诊支付).
func OweSettlementRecord(stateDir, id, scene string) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	j, err := openMedicalJournal(filepath.Join(stateDir, medicalFile), slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer j.Close()
	s, err := j.get(id)
	if errors.Is(err, errNoSettlement) {
		now := time.Now()
		s, err = &settlement{ID: id, Scene: scene, Reader: "Virtual Card Reader 00 00", State: settleDebited, AuthBy: "psam",
			Purchase: card.Purchase{Algorithm: card.AlgSM4, CardID: "350100D15600000500000001", Amounts: card.Amounts{Account: 3650, Self: 1200, Fund: 10000}, Time: now},
			Verified: true, HolderID: "350102199003077898", HolderName: "张三", Type: "03", Created: now, Ended: now}, nil
	}
	if err != nil {
		return err
	}
	s.RecordOwed, s.RecordID = true, ""
	return j.put(context.Background(), s)
}
