// Package card reads the social security card (社会保障卡) the way the national reader
// interface does it (读写终端接口, iReadCardBas; spec 7.1.1, 7.2.5): it selects the SSSE
// application, reads the issuer data (EF05) and the holder's basic information (EF06),
// authenticates the card through an Authority (a PSAM, or the platform's HSM in two
// steps), and returns a typed result and the national 11-field string.
//
// # Generations
//
// The card's 规范版本 (EF05 record 03) gives its generation: "1.xx"/"2.xx" cards let
// anyone read EF06; "3.xx" cards protect EF06 with the RKSSSE key, so the terminal
// first proves it holds the key with EXTERNAL AUTHENTICATE. The block cipher comes from
// the SSSE FCI (9F0C ... 86 01 xx: 01 DES/3DES, 02 SSF33, 03 SM4), or from the region
// when the FCI does not say.
//
// # Trust
//
// Data read from a card counts as authenticated only after INTERNAL AUTHENTICATE: the
// card answers a random challenge with its individual IRK key and an Authority (PSAM
// compare, or the platform's card internal-auth service) confirms the answer. Result
// says whether that happened; a read that could not authenticate fails with the national
// code instead of returning unauthenticated data, unless the caller asked for an
// unauthenticated diagnostic read.
//
// # Errors
//
// Every failure is an *Error carrying the national code of the reader interface (表
// A.1: -1 wrong card type ... -2204, and -SW for a card status word) and the spec 8.4
// prompt (holder, operator and maintainer texts, prompt codes 2xxxxx) to show.
//
// # APDUs
//
// A read takes as few commands as the card allows: one SELECT, one READ RECORD "P1 to
// last" per file by short file identifier (falling back to one record at a time on cards
// that refuse it), one INTERNAL AUTHENTICATE, and for gen-3 cards one GET CHALLENGE and
// one EXTERNAL AUTHENTICATE: 4 commands for a gen-2 card, 6 for gen 3. Result counts
// them.
package card
