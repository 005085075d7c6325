package qrscan

import (
	"time"

	"github.com/sscagent/sscagent/internal/mask"
)

// Scan is one code read by a scanner. The code is a secret: Code prints, logs and
// marshals as "<secret len=N id=XXXXXXXX>"; Code.Clear() is for the call that forwards it.
type Scan struct {
	// Code is the scanned text after framing and prefix/suffix stripping.
	Code mask.Value `json:"code"`
	// Class is what the classification rules made of it.
	Class Class `json:"class"`
	// Source is the name of the scanner that read it.
	Source string `json:"source"`
	// Time is when its last byte arrived.
	Time time.Time `json:"time"`
}

// Class says what was scanned. The class comes from the shape of the text only (length,
// character set, prefix); the e-card payload is never parsed.
type Class string

// Classes.
const (
	// ClassESSC is an electronic social security card code (电子社保卡二维码): opaque,
	// forwarded verbatim to the platform for decoding.
	ClassESSC Class = "essc"
	// ClassNHSA is a medical insurance e-voucher (医保电子凭证) code, handed to the
	// settlement application.
	ClassNHSA Class = "nhsa"
	// ClassText is human-readable text (a URL, words): never an e-card code.
	ClassText Class = "text"
	// ClassUnknown is anything else: product barcodes, third-party payment codes.
	ClassUnknown Class = "unknown"
)

// Classes lists the valid classes.
var Classes = []Class{ClassESSC, ClassNHSA, ClassText, ClassUnknown}

// Status is a scanner's connection state, reported on every change.
type Status struct {
	// Scanner is the scanner's name.
	Scanner string
	// Connected is true while the device is open.
	Connected bool
	// Err is why the device closed or could not be opened; nil on connect.
	Err error
	// Time is when the change happened.
	Time time.Time
}

// Reason says why a frame was not delivered as a scan.
type Reason uint8

// Reasons a frame is rejected or dropped. The first group is bad input from the device;
// the second is normal operation (scanners repeat, people scan twice, the agent is busy).
const (
	ReasonOverlong    Reason = iota + 1 // the line outgrew the line buffer before its terminator
	ReasonTooLong                       // the code is longer than maxCodeLength
	ReasonBinary                        // NUL or another control character
	ReasonInvalidUTF8                   // not valid UTF-8
	ReasonStale                         // a partial line was left without its terminator
	ReasonDuplicate                     // the same code within the de-duplication window
	ReasonRateLimited                   // over the scanner's rate limit
	ReasonBusy                          // the consumer's queue was full
)

var reasonNames = [...]string{"", "overlong", "tooLong", "binary", "invalidUTF8", "stale",
	"duplicate", "rateLimited", "busy"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) && r != 0 {
		return reasonNames[r]
	}
	return "unknown"
}

// BadInput reports whether the reason is a fault of the device or what it read (as
// opposed to de-duplication, rate limiting and back-pressure).
func (r Reason) BadInput() bool { return r >= ReasonOverlong && r <= ReasonStale }

// Reject is a frame that did not become a scan. It carries no content.
type Reject struct {
	Scanner string
	Reason  Reason
	// Length is the frame's length in bytes (0 for overlong lines, which are not kept).
	Length int
	Time   time.Time
}
