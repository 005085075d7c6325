package version

import "testing"

func TestFromBinary(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"\x00\x01sscagent-version=v1.3.0;\x00rest", "v1.3.0", true},
		{"sscagent-version=;sscagent-version=v2.0.0-rc.1;", "v2.0.0-rc.1", true},
		{"sscagent-version=v1 2;", "", false},
		{"sscagent-version=v1.3.0", "", false},
		{"nothing here", "", false},
	} {
		got, ok := FromBinary([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("FromBinary(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzFromBinary(f *testing.F) {
	f.Add([]byte("xx sscagent-version=v1.3.0; yy"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, ok := FromBinary(b); ok && (v == "" || len(v) > 64 || !printable([]byte(v))) {
			t.Fatalf("%q", v)
		}
	})
}
