// Package protocol is the wire format shared by sscagent and the one-card-pass
// application platform (spec 8.1.1, Appendix D), written once for both sides: the
// client in package platform and the sandbox in platform/platformsim.
//
// It covers
//
//   - the request and response envelopes of Appendix D and a strict parser for them
//     (every envelope value is a JSON string, spec 8.1.1.1 d; duplicate keys, trailing
//     data and keys outside [A-Za-z0-9_] are refused);
//   - Data, the decoded "data" and "result": strings, and lists of flat string objects
//     for backflow, with deterministic encoding and SM4 encryption of named fields;
//   - the canonical string that is signed: every envelope field except "signature",
//     sorted by key, "key=value" joined with "&", fields with an empty value left out,
//     values verbatim;
//   - SM2 signatures with SM3 and a signer ID (default "1234567812345678"), encoded as
//     base64 of the DER SEQUENCE{r, s} by default, or raw r||s, or hex, per Scheme;
//   - SM4 encryption of single sensitive values (CBC with a random IV in front by
//     default; ECB and GCM for platforms that need them);
//   - the operation table (paths, parameters, which ones are sensitive) and the msgCode
//     table (what each code means for the caller);
//   - SM2 key files (PKCS#8 and SubjectPublicKeyInfo PEM) and the well-known test keys
//     of the sandbox, which production terminals refuse.
//
// docs/platform-protocol.md states the same rules with worked vectors that OpenSSL 3
// verifies; the tests check the vectors against this package, against the openssl
// command line, and against the document, whose commands they run.
package protocol
