package agent

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/internal/mask"
)

// readTTL is how long a read stays available to the application at GET /v1/reads/{id}.
// The application fetches it when the event naming it arrives; after that the holder's
// data is dropped from the agent's memory.
const readTTL = 2 * time.Minute

// readResult is what a kiosk or medical scene hands to the application: the holder's
// data in clear, as the national reader interface gives it to business systems. It is
// served only on the loopback API with the bearer token, never in events or logs.
type readResult struct {
	ID     string    `json:"id"`
	Scene  string    `json:"scene"`
	Source string    `json:"source"`
	Medium string    `json:"medium"` // card, ecard or nhsa
	Time   time.Time `json:"time"`
	// IReadCardBas is the national 11-field string of a card (UTF-8), unmasked.
	IReadCardBas string       `json:"iReadCardBas,omitempty"`
	Card         *cardFields  `json:"card,omitempty"`
	ECard        *ecardFields `json:"ecard,omitempty"`
	// Voucher is a scanned NHSA e-voucher code, for the settlement application.
	Voucher string `json:"voucher,omitempty"`
	// RequestID is the platform request that authenticated the holder.
	RequestID string    `json:"requestId,omitempty"`
	Expires   time.Time `json:"expires"`
}

// Disclosed implements localapi.Disclosure: every read names its holder in clear (a
// voucher read carries the holder's e-voucher).
func (r readResult) Disclosed() (string, string, bool) {
	switch {
	case r.Card != nil:
		return r.ID, mask.IDNumber(r.Card.SocialSecurityNo), true
	case r.ECard != nil:
		return r.ID, mask.IDNumber(r.ECard.SocialSecurityNo), true
	}
	return r.ID, "", true
}

// cardFields is a card read (EF05, EF06 and the read's authentication).
type cardFields struct {
	Region           string `json:"region"`
	SocialSecurityNo string `json:"socialSecurityNo"`
	Name             string `json:"name"`
	CardNo           string `json:"cardNo"`
	CardID           string `json:"cardId"`
	Version          string `json:"version"`
	IssueDate        string `json:"issueDate"`
	ExpiryDate       string `json:"expiryDate"`
	Sex              string `json:"sex"`
	Nation           string `json:"nation"`
	BirthDate        string `json:"birthDate"`
	Authenticated    bool   `json:"authenticated"`
	AuthBy           string `json:"authBy"`
	TerminalNo       string `json:"terminalNo"`
	DeviceNo         string `json:"deviceNo,omitempty"`
}

func cardFieldsOf(res *card.Result) *cardFields {
	b := &res.Basic
	return &cardFields{Region: b.Region(), SocialSecurityNo: b.SSN.Clear(), Name: b.Name.Clear(), CardNo: b.CardNo.Clear(),
		CardID: b.CardID, Version: b.Version, IssueDate: b.IssueDate, ExpiryDate: b.ExpiryDate, Sex: b.Sex, Nation: b.Nation,
		BirthDate: b.BirthDate.Clear(), Authenticated: res.Authenticated, AuthBy: res.AuthBy, TerminalNo: res.TerminalNo,
		DeviceNo: res.DeviceNo}
}

// ecardFields is the holder behind an e-card code.
type ecardFields struct {
	SocialSecurityNo string `json:"socialSecurityNo"`
	Name             string `json:"name"`
	Region           string `json:"region"`
	SignLevel        string `json:"signLevel"`
	PaymentEnabled   bool   `json:"paymentEnabled"`
	CardNo           string `json:"cardNo,omitempty"`
}

// readStore keeps the recent reads for the application, each for ttl.
type readStore struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex // guards m
	m  map[string]readResult
}

func newReadStore(ttl time.Duration) *readStore {
	return &readStore{ttl: ttl, now: time.Now, m: map[string]readResult{}}
}

// put stores r under a new random id and returns the id.
func (s *readStore) put(r readResult) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	r.ID = hex.EncodeToString(b[:])
	now := s.now()
	r.Expires = now.Add(s.ttl)
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, old := range s.m {
		if now.After(old.Expires) {
			delete(s.m, id)
		}
	}
	s.m[r.ID] = r
	return r.ID
}

// get returns the read with id while it has not expired.
func (s *readStore) get(id string) (readResult, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[id]
	if !ok || s.now().After(r.Expires) {
		delete(s.m, id)
		return readResult{}, false
	}
	return r, true
}
