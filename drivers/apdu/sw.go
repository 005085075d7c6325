package apdu

import (
	"errors"
	"fmt"
)

// SW is a status word (SW1 SW2). An SW is itself an error value, so a caller can test a
// command's failure with errors.Is(err, apdu.SWFileNotFound).
type SW uint16

// Status words used by the social security card and PSAM (card spec part 5, table 5).
const (
	SWOK                  SW = 0x9000
	SWWrongLength         SW = 0x6700
	SWInvalidState        SW = 0x6901
	SWIncompatibleFile    SW = 0x6981
	SWSecurityStatus      SW = 0x6982
	SWAuthBlocked         SW = 0x6983
	SWRefDataInvalid      SW = 0x6984
	SWConditions          SW = 0x6985
	SWNoCurrentEF         SW = 0x6986
	SWSMDataWrong         SW = 0x6988
	SWWrongData           SW = 0x6A80
	SWFuncNotSupported    SW = 0x6A81
	SWFileNotFound        SW = 0x6A82
	SWRecordNotFound      SW = 0x6A83
	SWWrongP1P2           SW = 0x6A86
	SWRefNotFound         SW = 0x6A88
	SWWrongOffset         SW = 0x6B00
	SWINSNotSupported     SW = 0x6D00
	SWCLANotSupported     SW = 0x6E00
	SWNoDiagnosis         SW = 0x6F00
	SWMACInvalid          SW = 0x9302
	SWAppLocked           SW = 0x9303
	SWInsufficientFunds   SW = 0x9401
	SWCounterMax          SW = 0x9402
	SWKeyIndexUnsupported SW = 0x9403
	SWMACUnavailable      SW = 0x9406
)

// SW1 and SW2 are the two bytes.
func (sw SW) SW1() byte { return byte(sw >> 8) }

// SW2 is the second status byte.
func (sw SW) SW2() byte { return byte(sw) }

// Retries returns the counter of a 63Cx status word (tries left) and true, or 0 and
// false for any other status word.
func (sw SW) Retries() (int, bool) {
	if sw&0xFFF0 == 0x63C0 {
		return int(sw & 0x0F), true
	}
	return 0, false
}

// String formats the status word as four hex digits.
func (sw SW) String() string { return fmt.Sprintf("%04X", uint16(sw)) }

// Error describes the status word: "6A82 file not found".
func (sw SW) Error() string {
	return sw.String() + " " + sw.Meaning()
}

// Meaning is the status word's meaning in English (card spec part 5, table 5).
func (sw SW) Meaning() string {
	if m, ok := swMeanings[sw]; ok {
		return m
	}
	switch sw.SW1() {
	case 0x61:
		return fmt.Sprintf("%d more bytes available", int(sw.SW2()))
	case 0x6C:
		return fmt.Sprintf("wrong Le, %d bytes available", int(sw.SW2()))
	case 0x62, 0x63:
		if n, ok := sw.Retries(); ok {
			return fmt.Sprintf("verification failed, %d tries left", n)
		}
		return "warning"
	}
	return "unknown status"
}

var swMeanings = map[SW]string{
	SWOK:                  "success",
	SWWrongLength:         "wrong length",
	SWInvalidState:        "invalid state",
	SWIncompatibleFile:    "command incompatible with file structure",
	SWSecurityStatus:      "security status not satisfied",
	SWAuthBlocked:         "authentication method blocked",
	SWRefDataInvalid:      "reference data invalid or no challenge",
	SWConditions:          "conditions of use not satisfied",
	SWNoCurrentEF:         "no current EF",
	SWSMDataWrong:         "secure messaging data wrong",
	SWWrongData:           "wrong data field",
	SWFuncNotSupported:    "function not supported",
	SWFileNotFound:        "file not found",
	SWRecordNotFound:      "record not found",
	SWWrongP1P2:           "wrong P1 P2",
	SWRefNotFound:         "key or reference data not found",
	SWWrongOffset:         "offset outside the EF",
	SWINSNotSupported:     "instruction not supported",
	SWCLANotSupported:     "class not supported",
	SWNoDiagnosis:         "no precise diagnosis",
	SWMACInvalid:          "MAC invalid",
	SWAppLocked:           "application permanently locked",
	SWInsufficientFunds:   "insufficient funds",
	SWCounterMax:          "counter at maximum",
	SWKeyIndexUnsupported: "key index not supported",
	SWMACUnavailable:      "MAC or TAC unavailable",
}

// StatusError is a command that completed with a status word other than 9000.
type StatusError struct {
	SW      SW
	Command string // the command's name, e.g. "READ RECORD"
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("apdu: %s: status %s", e.Command, e.SW.Error())
}

// Is makes errors.Is(err, apdu.SWFileNotFound) true for a StatusError carrying 6A82.
func (e *StatusError) Is(target error) bool {
	sw, ok := target.(SW)
	return ok && sw == e.SW
}

// StatusOf returns the status word of a *StatusError in err's chain.
func StatusOf(err error) (SW, bool) {
	var se *StatusError
	if errors.As(err, &se) {
		return se.SW, true
	}
	return 0, false
}
