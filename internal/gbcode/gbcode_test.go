package gbcode

import (
	"errors"
	"testing"
)

func TestIDNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"11010519491231002X", nil}, // the GB 11643 example
		{"11010519491231002x", nil},
		{"440524188001010014", nil},
		{"110105194912310021", ErrCheckDigit},
		{"11010519491231002", ErrLength},
		{"1101051949123100AX", ErrCharacter},
		{"11010519491231002Y", ErrCharacter},
	} {
		if err := IDNumber(tc.in); !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
			t.Errorf("IDNumber(%q) = %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestCreditCode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"91350100M000100Y43", nil},
		{"911100001000013580", nil},
		{"91350100M000100Y44", ErrCheckDigit},
		{"91350100M000100I43", ErrCharacter},
		{"9135", ErrLength},
	} {
		if err := CreditCode(tc.in); !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
			t.Errorf("CreditCode(%q) = %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestRegionCode(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"110105", true}, {"440300", true}, {"820000", true},
		{"010105", false}, {"990000", false}, {"11010", false}, {"11010a", false},
	} {
		if err := RegionCode(tc.in); (err == nil) != tc.ok {
			t.Errorf("RegionCode(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func FuzzCodes(f *testing.F) {
	f.Add("11010519491231002X")
	f.Add("91350100M000100Y43")
	f.Add("110105")
	f.Fuzz(func(t *testing.T, s string) {
		// Must never panic; a valid ID number stays valid with a lowercase x.
		if IDNumber(s) == nil && len(s) == 18 && s[17] == 'X' {
			if err := IDNumber(s[:17] + "x"); err != nil {
				t.Fatalf("lowercase x rejected: %v", err)
			}
		}
		_ = CreditCode(s)
		_ = RegionCode(s)
	})
}
