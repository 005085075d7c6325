package release

import "testing"

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
		ok   bool
	}{
		{"v1.2.3", "v1.2.3", 0, true},
		{"v1.2.3", "1.2.4", -1, true},
		{"v1.10.0", "v1.9.9", 1, true},
		{"v2.0.0", "v1.99.99", 1, true},
		{"v1.0.0-rc.1", "v1.0.0", -1, true},
		{"v1.0.0-rc.2", "v1.0.0-rc.10", -1, true},
		{"v1.0.0-alpha", "v1.0.0-alpha.1", -1, true},
		{"v1.0.0-1", "v1.0.0-alpha", -1, true},
		{"v0.0.1-test.a", "v0.0.2-test.b", -1, true},
		{"v1.0.0+build.5", "v1.0.0", 0, true},
		{"dev", "v1.0.0", 0, false},
		{"v1.0", "v1.0.0", 0, false},
		{"v01.0.0", "v1.0.0", 0, false},
		{"v1.0.0-", "v1.0.0", 0, false},
	} {
		got, ok := CompareVersions(tc.a, tc.b)
		if got != tc.want || ok != tc.ok {
			t.Errorf("CompareVersions(%q, %q) = %d, %v; want %d, %v", tc.a, tc.b, got, ok, tc.want, tc.ok)
		}
		if back, _ := CompareVersions(tc.b, tc.a); tc.ok && back != -tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, not the opposite", tc.b, tc.a, back)
		}
	}
}

func FuzzCompareVersions(f *testing.F) {
	for _, s := range []string{"v1.2.3", "1.0.0-rc.1", "dev", "v0.0.1-test.a", "v1.0.0+x"} {
		f.Add(s, "v1.2.3")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ok1 := CompareVersions(a, b)
		ba, ok2 := CompareVersions(b, a)
		if ok1 != ok2 || (ok1 && ab != -ba) {
			t.Fatalf("%q vs %q: %d/%v and %d/%v", a, b, ab, ok1, ba, ok2)
		}
		if aa, ok := CompareVersions(a, a); ok && aa != 0 {
			t.Fatalf("%q differs from itself", a)
		}
	})
}
