package readers

import (
	"time"

	"github.com/sscagent/sscagent/psam"
)

// EventKind names what happened; the names follow the event package's dotted style.
type EventKind string

// Event kinds.
const (
	ServiceUp      EventKind = "readers.service-up"   // the reader service is reachable
	ServiceDown    EventKind = "readers.service-down" // it stopped; readers are gone until it is back
	ReaderAttached EventKind = "reader.attached"
	ReaderRemoved  EventKind = "reader.removed"
	CardInserted   EventKind = "card.inserted" // in a holder reader (or a PSAM slot)
	CardRemoved    EventKind = "card.removed"
	PSAMReady      EventKind = "psam.ready"   // opened: terminal number and serial read
	PSAMFailed     EventKind = "psam.failed"  // present but not usable (Err says why)
	PSAMRemoved    EventKind = "psam.removed" // the PSAM in use left its slot
)

// Event is one change of the readers. It carries no personal data.
type Event struct {
	Kind   EventKind
	Time   time.Time
	Reader string
	Role   Role
	// ATR is the card's or PSAM's answer to reset (inserted, PSAM ready).
	ATR []byte
	// PSAM describes the PSAM (PSAM ready).
	PSAM *psam.Info
	// Err is the cause (PSAM failed, service down).
	Err error
	// Carried marks a card inserted event for the card that was in the reader when the
	// reader service was lost: waiters do not hand it out (it was not presented again).
	Carried bool
}

// ReaderInfo is one reader as the manager sees it.
type ReaderInfo struct {
	Name        string `json:"name"`
	Role        Role   `json:"role"`
	Contactless bool   `json:"contactless"`
	Present     bool   `json:"cardPresent"`
	Mute        bool   `json:"mute,omitempty"`
	// ATR is the card's answer to reset in hex when Present.
	ATR string `json:"atr,omitempty"`
}

// PSAMHealth is the PSAM's state.
type PSAMHealth struct {
	// Present: a card is in a PSAM slot.
	Present bool `json:"present"`
	// Usable: it is open and its files were read.
	Usable     bool   `json:"usable"`
	Reader     string `json:"reader,omitempty"`
	TerminalNo string `json:"terminalNo,omitempty"`
	Serial     string `json:"serial,omitempty"`
	Test       bool   `json:"test,omitempty"`
	// Error says why a present PSAM is not usable.
	Error string `json:"error,omitempty"`
}

// Health is the manager's state for telemetry and status pages.
type Health struct {
	// Service: the reader subsystem is reachable.
	Service bool `json:"service"`
	// HolderReaders counts the attached holder-card readers.
	HolderReaders int          `json:"holderReaders"`
	Readers       []ReaderInfo `json:"readers"`
	PSAM          PSAMHealth   `json:"psam"`
	// HSM: the HSM two-step is configured.
	HSM         bool      `json:"hsm"`
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
}
