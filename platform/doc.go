// Package platform is sscagent's client of the one-card-pass application platform
// (一卡通应用平台, spec 8.1.1 and Appendix D): it signs, encrypts and sends one request
// per call, verifies the answer and returns a classified outcome.
//
// # Two layers
//
// Client is the direct layer (tailscale's Direct): Call, and the typed operations on
// top of it (CardAuth, CardInternalAuth, DecodeECard, Micropay, QueryOrder, Reverse,
// MerchantQR, SubmitRecords), make exactly one signed request. They never retry on
// their own, with two exceptions that cannot cause a second action on the platform:
// Go's transport may resend a request none of which was written, and a request the
// platform refused for a stale timestamp (it did nothing) is sent once more with the
// corrected clock and a new requestId. Retries, backoff, queries and queues belong to
// the callers (the payment state machine, the backflow uploader).
//
// # Outcome classes
//
// Every call ends in exactly one Class (ClassOf):
//
//	success     msgCode 000000 in an answer that verified, with a sensible result
//	rejected    a verified business rejection (or a request the client refused to
//	            send); retrying cannot help
//	retryable   nothing reached the platform (connect, DNS, TLS, timeout before the
//	            request was fully written: net/http/httptrace WroteRequest), or the
//	            platform verifiably said "busy" or refused our timestamp
//	unknown     sent, and no verified answer (timeout after sending, reset, a non-2xx
//	            HTTP answer that is not a signed envelope, a redirect), or a verified
//	            "system error" or replay code: the platform may have acted
//	unverified  an answer that failed a check: signature, requestId echo, timestamp
//	            window, envelope or result format. Never success; possibly forged
//
// msgCodes map to classes through the table in protocol (docs/platform-protocol.md),
// overridable per code in platform.msgCodes; unknown codes are rejections with the
// code kept in Error.MsgCode.
//
// # Anti-replay and the clock
//
// Every attempt gets a fresh 32-hex requestId. An answer must carry the platform's
// signature, echo our requestId and have a timestamp within platform.timestampWindow
// (default ±300 s) of our corrected clock. Because a signed answer echoing a fresh
// requestId cannot be a replay, its time is authentic: the client learns the
// platform's clock offset from such answers only (never from an unsigned one), applies
// it to request timestamps, and reports it in Link (ClockOffset, ClockSkewed).
//
// # Personal data
//
// The sensitive fields of each operation (ID number, name, QR code, backflow records)
// travel SM4-encrypted inside data and result; in result structs they are mask.Values.
// Logs carry the operation, requestId, class and msgCode, never personal data.
package platform
