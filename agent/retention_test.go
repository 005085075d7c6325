package agent

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sscagent/sscagent/card"
)

// TestMedicalRetention: past the retention only settlements that owe nothing go; a
// pending one (the card's answer unknown) and a debited one whose record is not queued
// stay however old they are.
func TestMedicalRetention(t *testing.T) {
	j, err := openMedicalJournal(filepath.Join(t.TempDir(), medicalFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()
	old, recent := time.Now().Add(-60*24*time.Hour), time.Now().Add(-time.Hour)
	for _, s := range []settlement{
		{ID: "pending-old", State: settlePending, Created: old, Purchase: card.Purchase{Algorithm: card.AlgSM4, CardID: "C1"}},
		{ID: "debited-unrecorded", State: settleDebited, Ended: old, Purchase: card.Purchase{Algorithm: card.AlgSM4, CardID: "C2"}},
		{ID: "debited-recorded", State: settleDebited, Ended: old, RecordID: "T1-1", Purchase: card.Purchase{Algorithm: card.AlgSM4, CardID: "C3"}, HolderName: "张三"},
		{ID: "not-debited-old", State: settleNotDebited, Ended: old, Purchase: card.Purchase{Algorithm: card.AlgSM4, CardID: "C4"}},
		{ID: "not-debited-recent", State: settleNotDebited, Ended: recent, Purchase: card.Purchase{Algorithm: card.AlgSM4, CardID: "C5"}},
	} {
		if err := j.put(ctx, &s); err != nil {
			t.Fatal(err)
		}
	}
	n, err := j.prune(ctx, time.Now().Add(-30*24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2", n, err)
	}
	for id, kept := range map[string]bool{"pending-old": true, "debited-unrecorded": true, "debited-recorded": false,
		"not-debited-old": false, "not-debited-recent": true} {
		if _, err := j.get(id); (err == nil) != kept {
			t.Errorf("%s: kept %v, want %v", id, err == nil, kept)
		}
	}
	if p, err := j.pendingFor("C1"); err != nil || p == nil {
		t.Fatalf("the pending index lost C1: %v %v", p, err)
	}
}
