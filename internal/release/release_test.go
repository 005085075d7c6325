package release

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/internal/signing"
)

func signedFixture(t *testing.T, alg signing.Algorithm, body []byte) (*signing.PrivateKey, Manifest, Signed) {
	t.Helper()
	k, err := signing.Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Describe(bytes.NewReader(body), "v1.2.3", "linux", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Sign(k, m)
	if err != nil {
		t.Fatal(err)
	}
	m.KeyID = k.Public().ID()
	return k, m, s
}

func TestSignVerifyAndRefusals(t *testing.T) {
	body := []byte("#!/bin/true\nan artifact\n")
	for _, alg := range []signing.Algorithm{signing.SM2, signing.Ed25519} {
		t.Run(string(alg), func(t *testing.T) {
			k, want, s := signedFixture(t, alg, body)
			ring := signing.Keyring{k.Public()}
			got, err := Verify(ring, s)
			if err != nil || got != want {
				t.Fatalf("Verify = %+v, %v; want %+v", got, err, want)
			}
			d := NewDigest()
			d.Write(body)
			if err := d.Check(got); err != nil {
				t.Fatal(err)
			}
			// Every refusal, with the error a terminal reports.
			other, _ := signing.Generate(alg)
			flipped := bytes.Clone(s.Signature)
			flipped[len(flipped)/2] ^= 1
			tampered := bytes.Replace(s.Manifest, []byte(`"v1.2.3"`), []byte(`"v1.2.4"`), 1)
			for name, c := range map[string]struct {
				ring signing.Keyring
				s    Signed
				want error
			}{
				"unknown key":     {signing.Keyring{other.Public()}, s, signing.ErrUnknownKey},
				"bad signature":   {ring, Signed{s.Manifest, flipped}, signing.ErrBadSignature},
				"edited manifest": {ring, Signed{tampered, s.Signature}, signing.ErrBadSignature},
				"no manifest":     {ring, Signed{nil, s.Signature}, ErrManifest},
			} {
				if _, err := Verify(c.ring, c.s); !errors.Is(err, c.want) {
					t.Errorf("%s: %v, want %v", name, err, c.want)
				}
			}
			d = NewDigest()
			d.Write(append(bytes.Clone(body), 'x'))
			if err := d.Check(got); !errors.Is(err, ErrDigest) || !strings.Contains(err.Error(), "size") || !strings.Contains(err.Error(), "SM3") {
				t.Errorf("longer artifact: %v", err)
			}
		})
	}
}

// OpenSSL checks the files independently: the digests in the manifest and the
// signature over it.
func TestFilesOpenSSL(t *testing.T) {
	labtest.Require(t, "openssl")
	dir := t.TempDir()
	art := filepath.Join(dir, "sscagent")
	body := bytes.Repeat([]byte("sscagent binary "), 1000)
	os.WriteFile(art, body, 0o755)
	k, m, s := signedFixture(t, signing.SM2, body)
	if err := WriteFiles(art, s); err != nil {
		t.Fatal(err)
	}
	pub, _ := k.Public().MarshalPEM()
	os.WriteFile(filepath.Join(dir, "pub.pem"), pub, 0o644)
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("openssl", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := run("dgst", "-sm3", "-verify", filepath.Join(dir, "pub.pem"), "-sigopt", "distid:"+signing.DefaultSignerID,
		"-signature", SignaturePath(art), ManifestPath(art)); !strings.Contains(out, "Verified OK") {
		t.Fatalf("openssl: %s", out)
	}
	if out := run("dgst", "-sm3", "-r", art); !strings.HasPrefix(out, m.SM3+" ") {
		t.Fatalf("openssl sm3 %q, manifest %s", out, m.SM3)
	}
	if out := run("dgst", "-sha256", "-r", art); !strings.HasPrefix(out, m.SHA256+" ") {
		t.Fatalf("openssl sha256 %q, manifest %s", out, m.SHA256)
	}
	back, err := ReadFiles(art)
	if err != nil || !bytes.Equal(back.Manifest, s.Manifest) || !bytes.Equal(back.Signature, s.Signature) {
		t.Fatalf("ReadFiles: %v", err)
	}
	if _, err := ReadFiles(filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "release sign") {
		t.Fatalf("missing files: %v", err)
	}
}

func TestParseRejects(t *testing.T) {
	good := `{"v":1,"name":"sscagent","kind":"binary","version":"v1","goos":"linux","goarch":"amd64","size":1,` +
		`"sha256":"` + strings.Repeat("a", 64) + `","sm3":"` + strings.Repeat("b", 64) + `","keyId":"0123456789abcdef"}`
	if _, err := Parse([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"", "{}", "[]", good + "{}", strings.Replace(good, `"v":1`, `"v":2`, 1),
		strings.Replace(good, `"size":1`, `"size":0`, 1), strings.Replace(good, `"kind":"binary"`, `"kind":"deb"`, 1),
		strings.Replace(good, `"goos":"linux"`, `"goos":"../x"`, 1), strings.Replace(good, `"version":"v1"`, `"version":"v 1"`, 1),
		strings.Replace(good, `{"v":1`, `{"extra":true,"v":1`, 1), strings.Replace(good, `"keyId":"0123456789abcdef"`, `"keyId":"x"`, 1),
		strings.Replace(good, strings.Repeat("a", 64), strings.Repeat("A", 64), 1),
	} {
		if _, err := Parse([]byte(bad)); !errors.Is(err, ErrManifest) {
			t.Errorf("Parse(%q) = %v, want ErrManifest", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	m := Manifest{V: 1, Name: "sscagent", Kind: KindBinary, Version: "v1", GOOS: "linux", GOARCH: "arm64", Size: 9,
		SHA256: strings.Repeat("0", 64), SM3: strings.Repeat("1", 64), KeyID: strings.Repeat("2", 16)}
	f.Add(m.Marshal())
	m.Kind, m.Package = KindDeb, "1.3.0-1"
	f.Add(m.Marshal())
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Parse(b)
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid manifest: %v", err)
		}
		again, err := Parse(got.Marshal())
		if err != nil || again != got {
			t.Fatalf("round trip: %+v %v", again, err)
		}
	})
}

func TestPackageManifest(t *testing.T) {
	k, _ := signing.Generate(signing.Ed25519)
	m, err := DescribePackage(strings.NewReader("a package"), KindDeb, "v1.3.0", "1.3.0-1", "arm64")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Sign(k, m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(signing.Keyring{k.Public()}, s)
	if err != nil || got.Kind != KindDeb || got.Package != "1.3.0-1" || got.GOOS != "linux" || !IsPackage(got.Kind) {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	for name, mut := range map[string]func(*Manifest){
		"package without version": func(m *Manifest) { m.Package = "" },
		"binary with package":     func(m *Manifest) { m.Kind = KindBinary },
		"package for windows":     func(m *Manifest) { m.GOOS = "windows" },
		"unknown kind":            func(m *Manifest) { m.Kind = "msi" },
	} {
		bad := got
		mut(&bad)
		if err := bad.Validate(); !errors.Is(err, ErrManifest) {
			t.Errorf("%s: Validate = %v, want ErrManifest", name, err)
		}
	}
	// A binary's manifest has no "package" field: older terminals still parse it.
	b, _ := Describe(strings.NewReader("x"), "v1", "linux", "amd64")
	if bytes.Contains(b.Marshal(), []byte(`"package"`)) {
		t.Fatalf("binary manifest %s names a package", b.Marshal())
	}
}
