package cardsim

import (
	"github.com/emmansun/gmsm/sm3"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/psam"
)

// Key names of the test roots.
const (
	KeyIRK = "IRK"    // internal authentication (card key 00)
	KeyRK  = "RKSSSE" // SSSE read control (card key 0A): unlocks EF06 of gen-3 cards
)

// TestRootKey is the sandbox's national root key for a card key and algorithm: the
// first 16 bytes of SM3("sscagent test root key|" + name + "|" + alg.Name()).
func TestRootKey(name string, alg card.Algorithm) []byte {
	h := sm3.Sum([]byte("sscagent test root key|" + name + "|" + alg.Name()))
	return h[:16]
}

// CardKey is the key of one card: the test root diversified by the card's factors in
// three levels.
func CardKey(name string, alg card.Algorithm, region string, hist []byte) ([]byte, error) {
	f, err := psam.Factors(region, hist, 3)
	if err != nil {
		return nil, err
	}
	return psam.DeriveKey(alg, TestRootKey(name, alg), f...)
}

// rootAtLevel is the root a PSAM of region holds at the given level: 3 the national
// root, 2 the province's, 1 the city's.
func rootAtLevel(name string, alg card.Algorithm, region string, level int) ([]byte, error) {
	k := TestRootKey(name, alg)
	var err error
	if level <= 2 {
		if k, err = psam.Diversify(alg, k, psam.ProvinceFactor(region)); err != nil {
			return nil, err
		}
	}
	if level <= 1 {
		if k, err = psam.Diversify(alg, k, psam.CityFactor(region)); err != nil {
			return nil, err
		}
	}
	return k, nil
}
