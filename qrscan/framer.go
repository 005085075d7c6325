package qrscan

import "bytes"

// Terminator says how a scanner's byte stream is cut into frames (one frame, one code).
type Terminator string

// Terminators.
const (
	// TermAny ends a frame at CR or LF; CRLF therefore ends one frame (empty frames are
	// skipped). The default: it works with every scanner's factory suffix.
	TermAny Terminator = "any"
	// TermCR ends a frame at CR; LF is data.
	TermCR Terminator = "cr"
	// TermLF ends a frame at LF; CR is data.
	TermLF Terminator = "lf"
	// TermCRLF ends a frame at LF and removes the CR before it; a lone CR is data.
	TermCRLF Terminator = "crlf"
	// TermSuffix ends a frame at a configured byte (ETX 0x03 with STX/ETX framing, TAB, ...).
	TermSuffix Terminator = "suffix"
	// TermIdle ends a frame when no byte arrives for the idle gap (scanners set to send
	// no suffix at all).
	TermIdle Terminator = "idle"
)

// Terminators lists the valid terminators.
var Terminators = []Terminator{TermAny, TermCR, TermLF, TermCRLF, TermSuffix, TermIdle}

// FrameStatus says what the framer hands to its FrameFunc.
type FrameStatus uint8

// Frame statuses.
const (
	// FrameOK is a complete, non-empty frame.
	FrameOK FrameStatus = iota
	// FrameOverlong reports a line that outgrew the line buffer; its bytes are dropped up
	// to the next terminator (or idle gap) and not handed over.
	FrameOverlong
	// FrameStale reports a partial frame discarded by Idle in a terminated mode.
	FrameStale
)

// FrameFunc receives frames. data is valid only until it returns; for FrameOverlong it
// is nil, for FrameStale it holds the discarded partial frame.
type FrameFunc func(data []byte, st FrameStatus)

// Framer cuts a byte stream into frames with a bounded buffer. It is not safe for
// concurrent use; one scanner connection owns one Framer.
type Framer struct {
	term    Terminator
	suffix  byte
	maxLine int
	buf     []byte
	// skipping is true inside an overlong line: bytes are dropped until it ends.
	skipping bool
}

// NewFramer returns a framer for terminator t (suffix is the byte for TermSuffix) that
// buffers at most maxLine bytes of one frame. The values must be valid (Framing.Validate).
func NewFramer(t Terminator, suffix byte, maxLine int) *Framer {
	return &Framer{term: t, suffix: suffix, maxLine: maxLine, buf: make([]byte, 0, min(maxLine, 512))}
}

// index returns the position of the first terminator byte in p, or -1.
func (f *Framer) index(p []byte) int {
	switch f.term {
	case TermCR:
		return bytes.IndexByte(p, '\r')
	case TermLF, TermCRLF:
		return bytes.IndexByte(p, '\n')
	case TermSuffix:
		return bytes.IndexByte(p, f.suffix)
	}
	return -1 // TermIdle; TermAny is handled by Feed
}

// Feed consumes p and calls emit for every frame it completes.
func (f *Framer) Feed(p []byte, emit FrameFunc) {
	// For TermAny, lf caches the position of the next LF in p (-1: none left, -2: not
	// searched yet), so the search for CR before it stays linear even on hostile input
	// such as a chunk of CR-separated one-byte lines. Two memchr scans beat IndexAny.
	lf := -2
	for len(p) > 0 {
		var i int
		if f.term == TermAny {
			if lf == -2 {
				lf = bytes.IndexByte(p, '\n')
			}
			end := len(p)
			if lf >= 0 {
				end = lf
			}
			if i = bytes.IndexByte(p[:end], '\r'); i < 0 {
				i = lf
			}
		} else {
			i = f.index(p)
		}
		if i < 0 {
			f.add(p, emit)
			return
		}
		f.add(p[:i], emit)
		f.end(emit)
		p = p[i+1:]
		if lf >= 0 {
			if lf -= i + 1; lf < 0 {
				lf = -2 // the LF itself was consumed
			}
		}
	}
}

// add appends to the current frame, or starts skipping when the line outgrows maxLine.
func (f *Framer) add(p []byte, emit FrameFunc) {
	if f.skipping || len(p) == 0 {
		return
	}
	if len(f.buf)+len(p) > f.maxLine {
		f.skipping = true
		f.buf = f.buf[:0]
		emit(nil, FrameOverlong)
		return
	}
	if need := len(f.buf) + len(p); need > cap(f.buf) {
		// Grow by doubling but never past maxLine: the buffer is the scanner's memory bound.
		nb := make([]byte, len(f.buf), min(f.maxLine, max(2*cap(f.buf), need)))
		copy(nb, f.buf)
		f.buf = nb
	}
	f.buf = append(f.buf, p...)
}

// end completes the current frame.
func (f *Framer) end(emit FrameFunc) {
	if f.skipping {
		f.skipping = false
		return
	}
	b := f.buf
	if f.term == TermCRLF && len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	if len(b) > 0 {
		emit(b, FrameOK)
	}
	f.buf = f.buf[:0]
}

// Pending reports whether a frame is in progress (bytes buffered or an overlong line
// being skipped), i.e. whether Idle would do anything.
func (f *Framer) Pending() bool { return len(f.buf) > 0 || f.skipping }

// Idle tells the framer that no byte arrived for the idle gap. With TermIdle it ends the
// frame; otherwise a partial frame is discarded as FrameStale, so noise cannot prefix
// the next code. Either way an overlong line being skipped is over.
func (f *Framer) Idle(emit FrameFunc) {
	if f.term == TermIdle {
		f.end(emit)
		return
	}
	if f.skipping {
		f.skipping = false
		return
	}
	if len(f.buf) > 0 {
		emit(f.buf, FrameStale)
		f.buf = f.buf[:0]
	}
}
