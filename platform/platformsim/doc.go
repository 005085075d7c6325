// Package platformsim is the sandbox one-card-pass application platform: a server that
// speaks the same protocol as the real platform (package protocol,
// docs/platform-protocol.md) so that sscagent can be tested for real, over HTTP and
// HTTPS, in tests (in-process) and in the demo ("sscsim platform").
//
// It verifies every request as a platform must (format, channel, SM2 signature,
// timestamp window, replayed requestId within twice the window, SM4 fields) and signs
// every answer. Behind that it behaves like a platform:
//
//   - a person and card registry (持卡库) seeded from a JSON file (DefaultSeed: the
//     shared test identities), answering card authentication, with lost, frozen and
//     expired cards refused;
//   - the HSM half of the two-step card authentication, through a CardHSM supplied by
//     the card path's sandbox;
//   - e-card codes it issues itself (IssueQR, POST /_sim/ecard/qrcode) that expire
//     after a minute and are single use;
//   - a payment ledger: micropay succeeds, fails (balance), or stays USERPAYING while
//     the holder "enters the password" (amounts above PasswordAbove) until confirmed or
//     UserPaying passes; orders can be queried and reversed (a paid order is refunded,
//     a reversed or closed order never succeeds later, reversing an unknown order
//     closes its number); merchant codes for 主扫 that a holder pays via
//     POST /_sim/ecard/pay-merchant;
//   - backflow intake that validates each record with package records and
//     de-duplicates by record id (a duplicate is answered "duplicate" and counted).
//
// GET /_sim/ledger shows what it accepted. Faults (Fault) are injected from options,
// flags or POST /_sim/faults: latency, HTTP errors, busy and other msgCodes, dropped
// connections before or after processing, answers delayed past the client's timeout
// after processing, malformed bodies, bad signatures, a wrong requestId echo, stale
// response timestamps, reversal recall; per operation, for the next N calls or at a
// seeded rate, so tests are exact. SetClockOffset (POST /_sim/clock) skews its clock.
//
// Control endpoints answer loopback clients only unless a bearer token is configured.
// The sandbox holds test identities and test keys only: it is never a production
// platform.
package platformsim
