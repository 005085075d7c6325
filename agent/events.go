package agent

import (
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/prompt"
)

// Event kinds the agent publishes (docs/agent.md has the table with each kind's data).
// The card reader manager's own kinds (readers.*, reader.*, card.inserted,
// card.removed, psam.*) are forwarded as they are.
const (
	KindCardRead          event.Kind = "card.read"        // a card was read (ok) or could not be (national code)
	KindScanIgnored       event.Kind = "scan.ignored"     // a scan that leads nowhere in its scene
	KindAuthSucceeded     event.Kind = "auth.succeeded"   // the platform authenticated the holder
	KindAuthRejected      event.Kind = "auth.rejected"    // the platform refused (lost card, bad code, ...)
	KindAuthUnavailable   event.Kind = "auth.unavailable" // the platform was not reached (nothing happened)
	KindAuthUnknown       event.Kind = "auth.unknown"     // sent, no answer (the platform may have acted)
	KindAuthUnverified    event.Kind = "auth.unverified"  // an answer that failed verification (an alarm)
	KindGateOpened        event.Kind = "gate.opened"
	KindGateFailed        event.Kind = "gate.failed"
	KindRecordQueued      event.Kind = "record.queued"      // a record is durable in the queue
	KindRecordFailed      event.Kind = "record.failed"      // a record could not be stored
	KindRecordQuarantined event.Kind = "record.quarantined" // operator alarm: a record owed failed the App. C check and waits in quarantine
	KindQueueFull         event.Kind = "queue.full"         // new business refused at the disk cap
	KindVoucher           event.Kind = "voucher.scanned"    // medical: an NHSA e-voucher for the application
	KindFaceVerified      event.Kind = "face.verified"      // a face verification answered (ok: pass)
	KindLoginStarted      event.Kind = "login.started"      // a login code to show as a QR code
	KindLoginEnded        event.Kind = "login.ended"        // a login authorised (ok), expired, refused or unanswered
	KindPaymentQR         event.Kind = "payment.merchant-qr"
	KindPaymentExpired    event.Kind = "payment.expired"        // no code within codeTimeout
	KindPaymentRecorded   event.Kind = "payment.recorded"       // the C.4 record of a paid order is queued
	KindPayerPending      event.Kind = "payment.record-pending" // the C.4 record waits for the payer
	KindRefundPending     event.Kind = "refund.pending"         // a refund sent, or its outcome being queried
	KindRefundSucceeded   event.Kind = "refund.succeeded"       // the platform confirmed the refund
	KindRefundFailed      event.Kind = "refund.failed"          // refused or not delivered: nothing refunded
	KindRefundNeedsManual event.Kind = "refund.needs-manual"    // outcome not confirmed in time: a person checks
	KindRefundRecorded    event.Kind = "refund.recorded"        // the C.4 record of a refund is queued
	KindPlatformDown      event.Kind = "platform.down"
	KindPlatformUp        event.Kind = "platform.up"
	KindScannerUp         event.Kind = "scanner.connected"
	KindScannerDown       event.Kind = "scanner.disconnected"
	KindPartFailed        event.Kind = "part.failed"
	KindReady             event.Kind = "agent.ready"
	KindStopping          event.Kind = "agent.stopping"
	KindApplied           event.Kind = "config.applied"
	KindPlainSecrets      event.Kind = "secrets.plain" // a non-test terminal's secrets are plain files a copy of the disk reveals
)

// emit publishes one event with the prompts of code (in Chinese, as every audience
// reads them first) and data, which must already be masked. The cause, a Go error's
// text, goes to the log only (masked): operators read the 8.4 text and its code.
func (a *Agent) emit(kind event.Kind, scene, source string, ok bool, code prompt.Code, cause string, data map[string]any) event.Event {
	a.countRead(kind, scene, ok, data)
	src := source
	if scene != "" {
		src = scene + "/" + source
	}
	a.logCause(kind, src, ok, code, cause)
	return a.events.Publish(event.Event{Kind: kind, Scene: scene, Source: source, OK: ok, Prompts: promptsOf(code), Data: data})
}
