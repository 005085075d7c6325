// Package cardsim is the sandbox's card hardware: a virtual social security card, a
// virtual PSAM and the platform-side HSM, all computing with the published test keys
// below. They are test instruments. Their ATRs carry the test marker (historical bytes
// T2-T5 "TEST"), and a terminal refuses them unless its configuration says it is a test
// terminal (terminal.test).
//
// # Emulators
//
// Card is an ISO/IEC 7816-4 card driven by a Profile: ATR, the SSSE application with its
// FCI, the EF05 and EF06 records, INTERNAL and EXTERNAL AUTHENTICATE with keys derived
// from the test root keys, single-use challenges, T=0 behaviour (61xx, 6Cxx) when its
// ATR offers only T=0, and status words for every wrong command. PSAM is the matching
// PSAM: environments sx1 (DES) and sx3 (SM4) with DF01, files 0015 and 0016, DELIVERY
// SESSION KEY (BF DE), CIPHER DATA (80 FA) and INITIALIZE ENVIRONMENT (BF EC). Both are
// ICCs: Serve connects one to a vpcd virtual reader of pcscd (the real PC/SC stack), and
// drivers/simreader holds one in process.
//
// # Test keys
//
// The national root key of each card key is
//
//	root(name, alg) = the first 16 bytes of SM3("sscagent test root key|" + name + "|" + alg)
//
// with name "IRK" (internal authentication, card key 00) or "RKSSSE" (EF06 read control,
// card key 0A) and alg "DES" or "SM4" (a DES root is a double-length 3DES key). A card's
// key is diversified from it in three levels (province, city, card) exactly as
// psam.DeriveKey does, with the factors of its 卡识别码 and ATR. A virtual PSAM holds the
// roots at the level it is configured for (3: national roots; 2: the provincial root
// of its own region; 1: its city root). HSM holds the national roots. docs/card.md
// has the key values for the shipped profiles, so another implementation can be checked
// against them.
package cardsim
