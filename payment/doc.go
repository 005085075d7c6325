// Package payment is the closed loop of an e-card payment (spec 7.2.3 被扫: the terminal
// scans the holder's 电子社保卡 payment code): a persisted state machine in which every
// order ends SUCCESS, FAILED, REVERSED or NEEDS_MANUAL, whatever fails in between,
// restarts of the agent included. It is the POS "reversal file first" discipline applied
// to the one-card-pass platform.
//
// # States
//
//	CREATED ──code──▶ SENT ──paid──────────────────────────────▶ SUCCESS
//	   │               │ ──refused / nothing sent──────────────▶ FAILED
//	   │cancel         │ ──user paying──▶ QUERYING ──paid──────▶ SUCCESS
//	   ▼               │                   │ ──closed──────────▶ FAILED
//	 FAILED            └──timeout/unknown──▶ UNKNOWN ──▶ QUERYING
//	                                       │ deadline or cancel
//	                                       ▼
//	                                   REVERSING ──reversed────▶ REVERSED
//	                                       └──attempts spent───▶ NEEDS_MANUAL
//
// What each state means:
//
//   - CREATED: the order (order number, amount, subject) is on disk; it waits for a code.
//   - SENT: the code's SM3 hash and the state are fsynced before the pay call is made, so
//     a crash during the call is seen at the next start. The code itself is never stored.
//   - UNKNOWN: the pay call's outcome is unknown (timeout after sending, an unverifiable
//     answer, a 5xx); a pay is never sent again, the outcome is queried.
//   - QUERYING: the order is queried every QueryInterval until QueryFor after sending.
//   - REVERSING: written before the first reverse call; reverse closes an unpaid order and
//     refunds a paid one; retried ReverseAttempts times, ReverseInterval apart.
//   - NEEDS_MANUAL: reverse could not be completed; the order is listed for a person to
//     settle with the platform (money may have been taken).
//
// # Rules
//
//   - The order number is terminal id + "-" + a persisted counter (16 digits), reused for
//     every call about that order and never for another (internal/boltstore counters).
//   - An e-card code is submitted at most once, ever: Pay refuses a code whose hash is
//     already known (ErrCodeUsed), and a pay call is never repeated.
//   - On start, Run resumes every order a previous run left open: CREATED orders fail
//     (their code, if any, was never sent), SENT ones are queried (the call may have
//     reached the platform), QUERYING and REVERSING continue where they were.
//   - A cashier cancel fails a CREATED order at once, and sends any order whose outcome is
//     open to REVERSING after one last query. A cancel can lose the race with a payment
//     that completes; the order is then SUCCESS and a refund is separate business.
//
// The one-card-pass platform's side of these rules (reverse of an unknown order number
// closes it so that a late pay is refused; query by order number; idempotent reverse) is
// documented in docs/queue.md with the timings.
package payment
