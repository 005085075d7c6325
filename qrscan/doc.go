// Package qrscan turns what QR scanners send into scans the agent can trust: one Scan
// {code, class, source, time} per code read, and nothing a scanner sends can hurt the
// agent.
//
// # Pipeline
//
// Each configured scanner is a Scanner. Its Run reads a byte stream from the device
// (qrscan/serial for RS-232, USB CDC and ptys; qrscan/hid for Linux keyboard wedges;
// standard input for the demo) and passes it through:
//
//	bytes -> Framer (terminator or idle gap, bounded line buffer)
//	      -> strip prefix/suffix -> length, control bytes, UTF-8
//	      -> de-duplication (sliding window) -> rate limit (token bucket)
//	      -> Classifier -> Options.Out
//
// A device that disappears (USB replug, pty closed) is reopened with backoff; Run only
// returns when its context ends (or a finite source such as stdin ends: ErrEnded).
//
// # Secrets and hostile input
//
// A code is a secret: Scan.Code is a mask.Value that prints as "<secret len=N id=...>";
// only Clear() yields the text, for the call that forwards it. Nothing here logs a code
// or a rejected frame; rejected input is counted (Stats) and summarised in the log at
// most once a minute, by reason and count only.
//
// Memory per scanner is fixed: the framer's buffer never exceeds framing.maxLine, reads
// use two buffers of 4 KiB, the de-duplication table holds 32 hashes. A 1 MB line, NUL
// bytes, invalid UTF-8 and binary noise are rejected and counted; a flood is cut down by
// the rate limit before classification, and a full consumer queue drops scans (counted
// as busy) instead of queueing stale single-use codes.
//
// # Classification
//
// Classes (essc, nhsa, text, unknown) are assigned from the shape of the text only, by
// ordered, configurable rules; the e-card payload is never parsed. See DefaultRules and
// docs/qrscan.md.
package qrscan
